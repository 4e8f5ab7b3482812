"""Artwork proofs: which files a proof may be, and what a customer's answer does. Pure: no Flask, no database.

A proof is posted for one job; versions count up per job. The customer answers the pending (latest)
version once: approve, or request changes with a comment. Any other answer (to an older version, a
second answer, an answer after the order was cancelled) changes nothing and says why.
"""
from __future__ import annotations

from dataclasses import dataclass

from .lifecycle import CANCELLED
from .refusals import Conflict, Invalid, NotFound, Refused, TooLarge

APPROVE, CHANGES = "approve", "changes"
ANSWERS = (APPROVE, CHANGES)
# Proof states: pending (awaiting the customer), approved, changes (changes asked for), superseded (a newer
# version came before an answer).
PENDING, APPROVED, CHANGES_ASKED, SUPERSEDED = "pending", "approved", "changes", "superseded"
STATE_WORDS = {PENDING: "waiting for the customer", APPROVED: "approved", CHANGES_ASKED: "changes requested",
               SUPERSEDED: "replaced by a newer version"}
COMMENT_MAX = 2000
NOTE_MAX = 2000
FILENAME_MAX = 200

# What a proof may be, told by its first bytes (never by its name or the browser's word for it): images a
# phone shows inline, and PDF. SVG is refused: it can carry script, and it is served on the public page.
TYPES = {"png": ("image/png", "PNG image"), "jpg": ("image/jpeg", "JPEG image"),
         "webp": ("image/webp", "WebP image"), "pdf": ("application/pdf", "PDF")}
ACCEPTED_WORDS = "a PNG, JPEG or WebP image, or a PDF"


class ProofRefused(Refused):
    """A proof or an answer the rules refuse; its kind gives the status every surface answers (400 invalid,
    404 not found, 409 conflict with the job's state, 413 too large); `field` the input at fault."""


class ProofInvalid(ProofRefused, Invalid):
    pass


class ProofNotFound(ProofRefused, NotFound):
    pass


class ProofConflict(ProofRefused, Conflict):
    pass


class ProofTooLarge(ProofRefused, TooLarge):
    pass


def proof_type(content: bytes) -> str | None:
    """The proof's type ("png", "jpg", "webp", "pdf") by its content, or None when it is none of them."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if content.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if len(content) >= 12 and content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "webp"
    # A PDF's header may follow a few bytes of junk (the format allows up to 1024).
    if b"%PDF-" in content[:1024]:
        return "pdf"
    return None


def check_upload(content: bytes, *, max_bytes: int) -> str:
    """The type of an uploaded proof file, or ProofRefused saying what is wrong with it."""
    if not content:
        raise ProofInvalid("the file is empty: choose the proof's image or PDF", "file")
    if len(content) > max_bytes:
        raise ProofTooLarge(f"the file is too large: a proof may be {round(max_bytes / 1024 / 1024, 1):g} MB at most "
                                "(export it smaller or as a JPEG)", "file")
    kind = proof_type(content)
    if kind is None:
        raise ProofInvalid(f"the file is not {ACCEPTED_WORDS} (it was checked by its content, not its name)",
                           "file")
    return kind


def postable_refusal(lc, *, job_code: str, job_stage: str, order_stage: str, proof_stage: str) -> str | None:
    """Why no proof may be posted for this job now, or None: a proof is approved before printing, so the job
    must be cancelled neither itself nor with its order, and not past the proof stage."""
    if order_stage == CANCELLED or job_stage == CANCELLED:
        return f"{job_code} is cancelled; a proof needs a job that is still being made"
    if job_stage not in lc or lc.index(job_stage) > lc.index(proof_stage):
        return (f"{job_code} is already past {lc.label(proof_stage)} (now {lc.label(job_stage)}); "
                "a proof is approved before printing")
    return None


def check_postable(lc, **kw) -> None:
    refusal = postable_refusal(lc, **kw)
    if refusal:
        raise ProofConflict(refusal)


def clean_text(value: str | None, *, field: str, max_len: int) -> str | None:
    text = (value or "").strip()
    if len(text) > max_len:
        raise ProofInvalid(f"the {field} is too long (at most {max_len} characters)", field)
    return text or None


@dataclass(frozen=True)
class AnswerPlan:
    """What an answer does: `apply` False means nothing changes and `message` says why; else the proof
    takes `state` and, with `move_to`, the job moves on."""

    apply: bool
    message: str
    state: str | None = None
    move_to: str | None = None


def plan_answer(*, answer: str, comment: str | None, version: int, state: str, latest_version: int,
                cancelled: bool, job_stage: str, proof_stage: str, next_stage: str | None,
                moves_on: bool) -> AnswerPlan:
    """The customer's answer to proof `version` (in `state`), the job's latest being `latest_version`."""
    if answer not in ANSWERS:
        raise ProofInvalid("answer with approve or changes", "answer")
    if answer == CHANGES and not comment:
        raise ProofInvalid("say what should change, so the shop can make the next version", "comment")
    if cancelled:
        return AnswerPlan(False, "This order was cancelled, so the proof needs no answer. Nothing was changed.")
    if version < latest_version or state == SUPERSEDED:
        return AnswerPlan(False, f"This is version {version}; version {latest_version} is newer. "
                                 "Please answer the newest version. Nothing was changed.")
    if state == APPROVED:
        return AnswerPlan(False, f"You already approved version {version}. Nothing was changed.")
    if state == CHANGES_ASKED:
        return AnswerPlan(False, f"You already asked for changes to version {version}; the shop has your "
                                 "comment and will send a new version. Nothing was changed.")
    if answer == CHANGES:
        return AnswerPlan(True, f"Thank you: the shop has your comment on version {version} and will send a "
                                "new version.", CHANGES_ASKED)
    move_to = next_stage if moves_on and job_stage == proof_stage else None
    return AnswerPlan(True, f"Thank you: version {version} is approved" +
                      (" and goes to print." if move_to else "."), APPROVED, move_to)
