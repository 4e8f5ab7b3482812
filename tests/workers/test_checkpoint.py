"""SQLite's WAL checkpoints in a thread of their own (tracker/workers/checkpoint.py): commits wake it, it
copies the log into the database file, the app's connections keep a writer's checkpoint only as a safety
net, and a missing or unusable file is left alone."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from tests.conftest import PG_URL, build_app
from tests.factories import make_order
from tracker.extensions import db
from tracker.workers.checkpoint import SAFETY_PAGES, Checkpointer, sqlite_file, start_checkpointer

sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite's write-ahead log")


@pytest.fixture
def served(tmp_path):
    app = build_app(tmp_path)
    checkpointer = start_checkpointer(app, interval=0)
    yield app, checkpointer
    checkpointer.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@sqlite_only
def test_a_commit_wakes_the_thread_and_the_log_is_copied_into_the_database(served):
    app, checkpointer = served
    assert checkpointer.path == sqlite_file(_engine(app))
    checkpointer.done.clear()
    with app.app_context():
        for i in range(5):
            make_order(external_ref=f"ck-{i}")
    assert checkpointer.done.wait(5), "no checkpoint after the commits"
    # A round that ran while the loop still wrote may have left its last frames (a reader's snapshot held
    # them): wait for a round begun after the last commit, twice over, as one in progress may answer first.
    for _ in range(2):
        checkpointer.done.clear()
        checkpointer.committed()
        assert checkpointer.done.wait(5)
    # with nothing else running, everything in the log was copied (busy 0, copied == log)
    busy, in_log, copied = checkpointer.last
    assert busy == 0 and in_log > 0 and copied == in_log
    assert checkpointer.thread.is_alive()


def _engine(app):
    with app.app_context():
        return db.engine


@sqlite_only
def test_the_apps_connections_checkpoint_only_as_a_safety_net(served):
    app, _ = served
    with app.app_context():
        assert db.session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == SAFETY_PAGES
        db.session.rollback()


@sqlite_only
def test_without_the_thread_sqlite_keeps_its_default(tmp_path):
    app = build_app(tmp_path)
    with app.app_context():
        assert db.session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
        db.session.rollback()
        db.engine.dispose()


@sqlite_only
def test_a_checkpoint_moves_the_log_even_with_a_reader_open(tmp_path):
    app = build_app(tmp_path)
    checkpointer = Checkpointer(sqlite_file(_engine(app)))  # no thread: this test's round is the only one
    with app.app_context():
        make_order(external_ref="ck-reader")
        db.session.remove()
    reader = sqlite3.connect(checkpointer.path)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM orders").fetchone()  # a board's read holds a snapshot
        busy, in_log, copied = checkpointer.checkpoint()
        assert busy == 0 and in_log > 0 and copied == in_log  # PASSIVE: it never waits for the reader
    finally:
        reader.close()
        with app.app_context():
            db.engine.dispose()


@sqlite_only
def test_a_missing_file_is_not_created(tmp_path):
    gone = tmp_path / "gone.db"
    checkpointer = Checkpointer(gone)
    assert checkpointer.checkpoint() is None
    assert not gone.exists()


@sqlite_only
def test_a_file_that_is_not_a_database_is_left_alone(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    checkpointer = Checkpointer(junk)
    assert checkpointer.checkpoint() is None
    assert junk.read_bytes() == b"not a database" * 100


@sqlite_only
def test_stop_ends_the_thread(tmp_path):
    checkpointer = Checkpointer(tmp_path / "x.db").start()
    checkpointer.stop()
    assert not checkpointer.thread.is_alive()


@sqlite_only
def test_nothing_to_do_for_an_in_memory_database(tmp_path):
    app = build_app(tmp_path, SQLALCHEMY_DATABASE_URI="sqlite://")
    assert start_checkpointer(app) is None


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL checkpoints by itself")
def test_nothing_to_do_on_postgresql(app):
    assert start_checkpointer(app) is None
    assert "inktrail_checkpointer" not in app.extensions
