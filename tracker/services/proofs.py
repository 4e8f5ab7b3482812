"""Artwork proofs (docs/PROOFS.md): staff post a proof for a job, the customer approves it or asks for
changes on the tracking link, an unanswered proof is reminded. Each function flushes; the caller commits.

The file is written (and synced) under instance/proofs before its row is flushed, so a committed proof
always has its file; a rollback after the write leaves a file no row names, which housekeeping removes.
While a proof is pending the job waits for the customer (Job.waiting_since); that time is kept apart from
the shop's own (Job.customer_wait), so stall checks and estimates count only the shop's time.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..domain import proofs as rules
from ..domain.lifecycle import CANCELLED
from ..domain.proofs import ProofConflict, ProofNotFound
from ..extensions import db
from ..models import Job, Order, Proof, utcnow
from ..settings import current_settings
from . import orders as order_service
from .orders import Actor

CUSTOMER = Actor("customer", None)
FOLDER = "proofs"


def folder() -> Path:
    return Path(current_app.instance_path) / FOLDER


def file_path(proof: Proof) -> Path:
    return folder() / proof.stored_as


def max_bytes() -> int:
    return int(current_settings().proofs.max_upload_mb * 1024 * 1024)


def proof_stage() -> str:
    return current_settings().proofs.stage


def _write(name: str, content: bytes) -> None:
    target = folder()
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f".{name}.part"
    with open(tmp, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target / name)


def _safe_filename(name: str | None, kind: str) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>')[:rules.FILENAME_MAX]
    return base or f"proof.{kind}"


def _start_wait(job: Job, now: dt.datetime) -> None:
    if job.wait_stay != job.stage_entered_at:  # a new stay: earlier waits belonged to another visit
        job.wait_stay, job.wait_seconds, job.waiting_since = job.stage_entered_at, 0, None
    if job.waiting_since is None:
        job.waiting_since = now


def _end_wait(job: Job, now: dt.datetime) -> None:
    if job.waiting_since is not None and job.wait_stay != job.stage_entered_at:
        job.waiting_since = None  # the job was moved on by hand while waiting: that stay's wait is over
    if job.waiting_since is None:
        return
    job.wait_seconds = (job.wait_seconds or 0) + max(int((now - job.waiting_since).total_seconds()), 0)
    job.waiting_since = None


def latest_version(job: Job) -> int:
    return db.session.scalar(select(func.max(Proof.version)).where(Proof.job_id == job.id)) or 0


def post_proof(job: Job, *, filename: str | None, content: bytes, note: str | None, actor: Actor, source: str,
               at: dt.datetime | None = None) -> Proof:
    """Stores a new version of the job's proof and asks the customer for an answer (mail from the outbox).
    An earlier version still pending is superseded. A job not yet at the proof stage is moved there."""
    lc = current_settings().lifecycle
    stage = proof_stage()
    if stage is None:
        raise ProofConflict("proofs are off: set [proofs] stage in config.toml to the stage where jobs "
                                "wait for the customer's approval")
    order = job.order
    rules.check_postable(lc, job_code=job.code, job_stage=job.stage, order_stage=order.stage, proof_stage=stage)
    note = rules.clean_text(note, field="note", max_len=rules.NOTE_MAX)
    kind = rules.check_upload(content, max_bytes=max_bytes())
    now = at or utcnow()
    if job.stage != stage:
        order_service.move_job(job, stage, actor=actor, source=source, at=now, note="A proof was posted")
    version = latest_version(job) + 1
    for older in db.session.scalars(select(Proof).where(Proof.job_id == job.id, Proof.state == rules.PENDING)):
        older.state = rules.SUPERSEDED
    content_type = rules.TYPES[kind][0]
    stored_as = f"{uuid.uuid4().hex}.{kind}"
    _write(stored_as, content)
    proof = Proof(order_id=order.id, job_id=job.id, version=version, filename=_safe_filename(filename, kind),
                  content_type=content_type, size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                  stored_as=stored_as, note=note, posted_by=actor.name, posted_at=now, state=rules.PENDING)
    db.session.add(proof)
    job.proof_state, job.proof_comment = rules.PENDING, None
    _start_wait(job, now)
    order_service.record_job_event(job, kind="proof", actor=actor, source=source, at=now,
                                   note=f"Proof v{version} posted for the customer's approval" +
                                        (f": {note}" if note else ""))
    db.session.flush()
    from .notifications import notify  # lazily, as orders does: notifications reads the outbox and settings

    notify(order, "proof_posted", dedupe=f"proof:{proof.id}", context=_mail_context(proof))
    return proof


def _mail_context(proof: Proof) -> dict:
    return {"version": proof.version, "job_description": proof.job.description, "note": proof.note}


@dataclass(frozen=True)
class Answered:
    proof: Proof
    changed: bool
    message: str


def get_proof(order: Order, proof_id) -> Proof:
    """The order's proof by id, or ProofNotFound: another order's proof is as unknown as none."""
    from . import fits_id

    proof = db.session.get(Proof, proof_id) if isinstance(proof_id, int) and fits_id(proof_id) else None
    if proof is None or proof.order_id != order.id:
        raise ProofNotFound("there is no such proof for this order")
    return proof


def answer_proof(order: Order, proof_id, *, answer: str, comment: str | None = None,
                 at: dt.datetime | None = None) -> Answered:
    """The customer's answer from the tracking link (source "customer"). A repeated or stale answer changes
    nothing and says so; an approval moves the job on when [proofs] approval_moves_on is true."""
    proof = get_proof(order, proof_id)
    job = proof.job
    lc = current_settings().lifecycle
    cfg = current_settings().proofs
    comment = rules.clean_text(comment, field="comment", max_len=rules.COMMENT_MAX)
    stage = cfg.stage or job.stage
    plan = rules.plan_answer(answer=answer, comment=comment, version=proof.version, state=proof.state,
                             latest_version=latest_version(job), cancelled=order.stage == CANCELLED,
                             job_stage=job.stage, proof_stage=stage,
                             next_stage=lc.next_key(stage) if stage in lc else None,
                             moves_on=cfg.approval_moves_on)
    if not plan.apply:
        return Answered(proof, False, plan.message)
    now = at or utcnow()
    proof.state, proof.answered_at = plan.state, now
    proof.comment = comment
    job.proof_state, job.proof_comment = plan.state, comment if plan.state == rules.CHANGES_ASKED else None
    _end_wait(job, now)
    if plan.state == rules.APPROVED:
        note = f"Proof v{proof.version} approved by the customer" + (f": {comment}" if comment else "")
    else:
        note = f"Changes requested on proof v{proof.version}: {comment}"
    order_service.record_job_event(job, kind="proof", actor=CUSTOMER, source="customer", at=now, note=note)
    if plan.move_to:
        order_service.move_job(job, plan.move_to, actor=CUSTOMER, source="customer", at=now,
                               note=f"Proof v{proof.version} approved")
    db.session.flush()
    return Answered(proof, True, plan.message)


def remind_sweep(now: dt.datetime | None = None) -> dict:
    """One reminder per proof version left unanswered for [proofs] remind_after_hours (0: never)."""
    from .notifications import notify

    hours = current_settings().proofs.remind_after_hours
    if not hours:
        return {"reminded": 0}
    now = now or utcnow()
    cutoff = now - dt.timedelta(hours=hours)
    due = db.session.scalars(select(Proof).join(Proof.order).options(selectinload(Proof.job))
                             .where(Proof.state == rules.PENDING, Proof.posted_at <= cutoff,
                                    Proof.reminded_at.is_(None), Order.stage != CANCELLED)
                             .order_by(Proof.id)).all()
    for proof in due:
        notify(proof.order, "proof_reminder", dedupe=f"proof:{proof.id}", context=_mail_context(proof))
        proof.reminded_at = now
    db.session.flush()
    return {"reminded": len(due)}


def proofs_of(order: Order) -> list[Proof]:
    """Every version posted for the order's jobs, with their jobs loaded (the order page shows each job's code)."""
    return list(db.session.scalars(select(Proof).where(Proof.order_id == order.id).options(selectinload(Proof.job))
                                   .order_by(Proof.job_id, Proof.version)))


def proof_json(proof: Proof) -> dict:
    return {"proof_id": proof.id, "job_id": proof.job.code, "version": proof.version, "state": proof.state,
            "filename": proof.filename, "content_type": proof.content_type, "size": proof.size,
            "note": proof.note, "posted_by": proof.posted_by, "posted_at": proof.posted_at.isoformat(),
            "answered_at": proof.answered_at.isoformat() if proof.answered_at else None,
            "comment": proof.comment}
