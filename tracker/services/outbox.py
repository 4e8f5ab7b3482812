"""The outbox: messages for the outside world written in the same transaction as the change that needs
them, sent after the commit by the scheduler's outbox job, retried with backoff, never sent twice once
done. Each kind has a `send(payload) -> result` that does the I/O (and touches no database: no
transaction is open while it runs) and an optional `apply(payload, result)` that records the outcome,
registered by services/handlers.py: this module knows no kind."""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Callable

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import OutboxMessage, utcnow

log = logging.getLogger("tracker.outbox")
HANDLERS: dict[str, tuple[Callable[[dict], object], Callable[[dict, object], None] | None]] = {}
MAX_ATTEMPTS = 12
BACKOFF_FIRST = 30
BACKOFF_MAX = 6 * 3600


class RetryLater(Exception):
    """A handler's way to say: not now (the provider is rate limiting), try again after `seconds`."""

    def __init__(self, message: str, seconds: float | None = None):
        super().__init__(message)
        self.seconds = seconds


class GiveUp(Exception):
    """A handler's way to say: this will never work (the mail server refused the address for good):
    park the message as failed now instead of retrying it MAX_ATTEMPTS times."""


def register(kind: str, send: Callable[[dict], object], apply: Callable[[dict, object], None] | None = None) -> None:
    """What sends a message of `kind` (and records its outcome); services/handlers.py calls this."""
    HANDLERS[kind] = (send, apply)


def enqueue(kind: str, dedupe_key: str, payload: dict, *, order_id: int | None = None) -> OutboxMessage:
    """Adds a message once: the same dedupe key again returns the existing one."""
    existing = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key))
    if existing is not None:
        return existing
    msg = OutboxMessage(kind=kind, dedupe_key=dedupe_key, payload=json.dumps(payload), order_id=order_id,
                        next_attempt_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(msg)
    except IntegrityError:
        return db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key))
    return msg


def backoff(attempts: int) -> int:
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1))


def process_outbox(limit: int = 100) -> dict:
    """Sends what is due, one message at a time, committing around each send (no I/O in a transaction)."""
    summary = {"sent": 0, "retry": 0, "failed": 0}
    ids = list(db.session.scalars(
        select(OutboxMessage.id).where(OutboxMessage.status == "pending",
                                       or_(OutboxMessage.next_attempt_at.is_(None),
                                           OutboxMessage.next_attempt_at <= utcnow()))
        .order_by(OutboxMessage.id).limit(limit)))
    db.session.commit()
    for msg_id in ids:
        msg = db.session.get(OutboxMessage, msg_id)
        if msg is None or msg.status != "pending":
            continue
        send, apply = HANDLERS.get(msg.kind, (None, None))
        payload = json.loads(msg.payload or "{}")
        msg.attempts = (msg.attempts or 0) + 1
        attempts = msg.attempts
        db.session.commit()
        try:
            if send is None:
                raise RuntimeError(f"no handler for {msg.kind!r}")
            result = send(payload)
        except RetryLater as exc:
            msg = db.session.get(OutboxMessage, msg_id)
            msg.last_error = str(exc)[:2000]
            msg.next_attempt_at = utcnow() + dt.timedelta(seconds=exc.seconds or backoff(attempts))
            summary["retry"] += 1
        except Exception as exc:  # the handler's own failure: retried, and finally parked as failed
            db.session.rollback()
            msg = db.session.get(OutboxMessage, msg_id)
            msg.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            if attempts >= MAX_ATTEMPTS or isinstance(exc, GiveUp):
                msg.status = "failed"
                summary["failed"] += 1
            else:
                msg.next_attempt_at = utcnow() + dt.timedelta(seconds=backoff(attempts))
                summary["retry"] += 1
            log.warning("outbox %s #%s failed (attempt %s): %s", msg.kind, msg.id, attempts, exc)
        else:
            if apply is not None:
                apply(payload, result)
            msg = db.session.get(OutboxMessage, msg_id)
            msg.status, msg.done_at, msg.last_error = "done", utcnow(), None
            summary["sent"] += 1
        db.session.commit()
    return summary
