"""SQLite's WAL checkpoints off the request path.

SQLite in WAL mode appends every commit to the -wal file and, by default, the commit that takes the log
past 1,000 pages copies them back into the database file and syncs it (a checkpoint), inside that request:
a scan writes about 25 pages, so every fortieth scan paid for the other thirty-nine, and every scan paid a
share of it (about a tenth of a scan's time on the test machine). In the serving process this thread does
the checkpoints instead, a PASSIVE checkpoint (it never waits for a reader or a writer) shortly after
commits, on a connection of its own; the sqlite3 module lets go of Python's lock while SQLite copies, so
the copying runs on another core while requests go on.

Nothing is weakened: a checkpoint only moves committed pages from the log into the database file;
a commit is as durable as before (synchronous=NORMAL in WAL: safe against a crash of the process, the
last commits may be lost on a power cut, as before). Should this thread stop or fall behind, a writer
still checkpoints once the log passes SAFETY_PAGES (the connections' wal_autocheckpoint), so the log
never grows without bound."""
from __future__ import annotations

import logging
import sqlite3
import threading
import urllib.parse
from pathlib import Path

from sqlalchemy import event

log = logging.getLogger("tracker.checkpoint")

SAFETY_PAGES = 10_000  # about 40 MB of log: a writer checkpoints only if this thread is that far behind


class Checkpointer:
    """One thread for one SQLite database file: woken by commits, it checkpoints at most once per
    `interval` seconds while commits keep coming."""

    def __init__(self, path: Path | str, interval: float = 0.25):
        self.path = Path(path)
        self.interval = interval
        self.wake = threading.Event()
        self.done = threading.Event()  # set after each round (what waits for one, a test, clears it first)
        self._stopping = threading.Event()
        self.last: tuple[int, int, int] | None = None  # SQLite's answer: (busy, log pages, pages copied)
        self.thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> "Checkpointer":
        self.thread.start()
        return self

    def committed(self, *_args) -> None:
        self.wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self.wake.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def checkpoint(self) -> tuple[int, int, int] | None:
        """One PASSIVE checkpoint, on a connection opened for it (mode=rw: a database file that is gone or
        was replaced by a restore is never created anew here). Returns SQLite's (busy, log, copied)."""
        uri = "file:" + urllib.parse.quote(str(self.path)) + "?mode=rw"
        try:
            con = sqlite3.connect(uri, uri=True, timeout=1, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("cannot open %s to checkpoint it: %s", self.path, exc)
            return None
        try:
            row = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # busy or locked: the next round, or a writer at SAFETY_PAGES, does it
            log.info("checkpoint of %s put off: %s", self.path, exc)
            return None
        finally:
            con.close()
        self.last = tuple(row) if row else None
        return self.last

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.wake.wait()
            if self._stopping.is_set():
                break
            self.wake.clear()
            try:
                self.checkpoint()
            except Exception:  # never let the thread die: the writers' SAFETY_PAGES would take over
                log.exception("checkpoint of %s failed", self.path)
            self.done.set()
            self._stopping.wait(self.interval)  # pace: one round per interval while commits keep coming


def sqlite_file(engine) -> Path | None:
    """The database file of an SQLite engine (None for PostgreSQL or an in-memory database)."""
    if engine.dialect.name != "sqlite":
        return None
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name).resolve()


def _safety_net(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")
    cur.close()


def start_checkpointer(app, interval: float = 0.25) -> Checkpointer | None:
    """Moves the app's SQLite checkpoints to a thread (the serving process calls this once). Returns the
    Checkpointer, or None where there is nothing to do (PostgreSQL, an in-memory database)."""
    from ..extensions import db

    with app.app_context():
        engine = db.engine
    path = sqlite_file(engine)
    if path is None:
        return None
    checkpointer = Checkpointer(path, interval).start()
    event.listen(engine, "connect", _safety_net)
    event.listen(engine, "commit", checkpointer.committed)
    engine.dispose()  # connections opened before (the migration's) come back with the safety net set
    app.extensions["inktrail_checkpointer"] = checkpointer
    return checkpointer
