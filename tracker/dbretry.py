"""A busy or restarting database: which errors are worth trying again, one unit of work tried again on a
fresh connection, and DatabaseBusy (answered 503 with Retry-After by errors.py) when it stays busy.

What is retried where (measured, see docs/RELIABILITY.md):
- SQLite "database is locked": SQLite itself already waited (busy_timeout, 5 s, set in tracker/__init__.py)
  before saying so; a short lock never reaches this module. Trying again would keep a web thread for
  another 5 s, so a lock that outlasts busy_timeout becomes a 503 at once.
- PostgreSQL: a connection that died (a restart, pg_terminate_backend, a failover) or a transaction the
  server aborted (serialization failure, deadlock) is tried again, twice, on a fresh connection (a pooled
  connection idle for a second is pinged before use: tracker/__init__.ping_after_idle). Only units of work
  that are safe to run twice go through here: a scan keyed by the tablet's scan ID, a webhook keyed by its
  delivery; never one that talks to the network (a printer, a carrier) inside its transaction.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from typing import Callable, TypeVar

from sqlalchemy.exc import DBAPIError

from .extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_AFTER_SECONDS = 5
ATTEMPTS = 3
PAUSES = (0.05, 0.25)  # before the second and the third attempt
BUSY_MESSAGE = ("The database is busy right now; nothing was saved. "
                f"Try again in {RETRY_AFTER_SECONDS} seconds.")

# SQLSTATEs (PostgreSQL) of a transaction that failed through no fault of its own: class 08 (connection
# exception) is matched by its prefix.
_TRANSIENT_SQLSTATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available
    "57P01",  # admin_shutdown: the server is stopping or pg_terminate_backend
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now: the server is starting
    "53300",  # too_many_connections
}


class DatabaseBusy(Exception):
    """The database stayed busy or unreachable: nothing of this request was saved; the sender may retry."""

    def __init__(self, message: str = BUSY_MESSAGE, retry_after: int = RETRY_AFTER_SECONDS):
        super().__init__(message)
        self.message, self.retry_after = message, retry_after


def sqlite_locked(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    if not isinstance(orig, sqlite3.OperationalError):
        return False
    text = str(orig).lower()
    return "locked" in text or "busy" in text


def transient(exc: BaseException) -> bool:
    """True for an error that says the database was busy or away, not that the request was wrong."""
    if isinstance(exc, DatabaseBusy):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or sqlite_locked(exc):
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith("08") or sqlstate in _TRANSIENT_SQLSTATES
    try:
        import psycopg
    except ImportError:  # pragma: no cover (psycopg is in requirements.txt)
        return False
    # A connection that broke or could not be made has no SQLSTATE: "server closed the connection
    # unexpectedly", "connection refused", "consuming input failed".
    return isinstance(orig, psycopg.OperationalError)


def describe(exc: BaseException) -> str:
    """One line for the log: the driver's first line, never the statement or its parameters (a token's
    hash, a customer's address)."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0][:200]
    return f"{orig.__class__.__name__}: {first}"


def unit_of_work(work: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """Runs work() and commits. A transient database error rolls back everything it did and, for a lost
    connection or an aborted transaction, runs it again from the start on a fresh connection; when that
    still fails (or SQLite stayed locked past its busy timeout) raises DatabaseBusy. Any other exception
    goes to the caller as it was (its transaction still open, for the caller to roll back).

    work() must be safe to run twice and must not talk to the network."""
    for attempt in range(1, attempts + 1):
        try:
            result = work()
            db.session.commit()
            return result
        except DBAPIError as exc:
            rollback_quietly()
            if not transient(exc):
                raise
            if attempt == attempts or sqlite_locked(exc):
                log.warning("database busy, answered 503 after %d attempt(s): %s", attempt, describe(exc))
                raise DatabaseBusy() from exc
            log.info("database error, trying again (attempt %d of %d): %s", attempt + 1, attempts, describe(exc))
            time.sleep(PAUSES[min(attempt - 1, len(PAUSES) - 1)])
    raise AssertionError("unreachable")  # pragma: no cover


def rollback_quietly() -> None:
    try:
        db.session.rollback()
    except DBAPIError:  # the connection is gone: the session lets go of it all the same
        db.session.close()
