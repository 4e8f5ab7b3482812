"""The outbox: messages for the outside world written in the same transaction as the change that needs
them, sent after the commit by the scheduler's outbox job (tracker/workers/outbox.py), retried with backoff, never sent twice once
done. Each kind has a `send(payload) -> result` that does the I/O (and touches no database: no
transaction is open while it runs) and an optional `apply(payload, result)` that records the outcome,
registered by services/handlers.py: this module knows no kind."""
from __future__ import annotations

import json
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import OutboxMessage, utcnow

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
