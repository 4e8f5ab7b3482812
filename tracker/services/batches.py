"""Batches: a gang sheet or a press run, in a press's queue. Scanning the batch code moves all its jobs."""
from __future__ import annotations

from sqlalchemy import func, select

from ..domain.codes import parse_scan
from ..domain.lifecycle import CANCELLED
from ..domain.refusals import Conflict, Invalid, NotFound
from ..extensions import db
from ..models import Batch, Job
from ..settings import current_settings
from .orders import Actor, next_number, record_note

MAX_BATCH_JOBS = 500


def create_batch(job_codes: list[str], *, station: str | None, actor: Actor, name: str | None = None) -> Batch:
    """Groups jobs into a new batch at the end of `station`'s queue. Refuses unknown, finished or
    cancelled jobs, naming each."""
    settings = current_settings()
    lc = settings.lifecycle
    if station is not None and station not in settings.stations:
        raise NotFound(f"there is no station {station!r}", "station")
    codes = []
    for raw in job_codes:
        parsed = parse_scan(raw)
        if parsed.kind != "job":
            raise Invalid(f"{raw.strip()!r} is not a job code", "jobs")
        if parsed.code not in codes:
            codes.append(parsed.code)
    if not codes:
        raise Invalid("a batch needs at least one job", "jobs")
    if len(codes) > MAX_BATCH_JOBS:
        raise Invalid(f"a batch holds at most {MAX_BATCH_JOBS} jobs", "jobs")
    jobs = {j.code: j for j in db.session.scalars(select(Job).where(Job.code.in_(codes)))}
    missing = [c for c in codes if c not in jobs]
    if missing:
        raise NotFound(f"no such job: {', '.join(missing)}", "jobs")
    done = [c for c in codes if jobs[c].stage == CANCELLED or lc.get(jobs[c].stage).scope != "job"]
    if done:
        raise Conflict(f"already past production or cancelled: {', '.join(done)}", "jobs")
    number = next_number("batch", 1)
    position = (db.session.scalar(select(func.max(Batch.position)).where(Batch.station == station,
                                                                         Batch.closed_at.is_(None))) or 0) + 1
    batch = Batch(code=f"{settings.scanning.batch_prefix}{number}", name=(name or "").strip()[:120] or None,
                  station=station, position=position, created_by=actor.name)
    db.session.add(batch)
    db.session.flush()
    for i, code in enumerate(codes):
        job = jobs[code]
        job.batch_id, job.batch_position = batch.id, i
    for order in {jobs[c].order for c in codes}:
        mine = [c for c in codes if jobs[c].order is order]
        record_note(order, kind="batch", actor=actor, source="web",
                    note=f"{', '.join(mine)} added to {batch.code}" + (f" ({station} queue)" if station else ""))
    db.session.flush()
    return batch


def open_batches() -> list[Batch]:
    return list(db.session.scalars(select(Batch).where(Batch.closed_at.is_(None))
                                   .order_by(Batch.station, Batch.position)))
