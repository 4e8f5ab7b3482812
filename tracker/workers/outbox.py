"""The outbox sent: the scheduler's outbox job runs this loop, which commits around each send (no I/O
inside a transaction). Queuing a message and the kinds' senders are services/outbox.py's and
services/handlers.py's."""
from __future__ import annotations

import datetime as dt
import json
import logging

from sqlalchemy import or_, select

from ..extensions import db
from ..models import OutboxMessage, utcnow
from ..services.outbox import HANDLERS, MAX_ATTEMPTS, GiveUp, RetryLater, backoff

log = logging.getLogger("tracker.outbox")


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
