"""The scheduler runs in exactly one process: two real `python app.py` servers on the same database, started
together, both serve; one runs the scheduler and the other says so. Kill the winner and a new process
takes the lock (the file lock goes with the process, the advisory lock with its database session).

SQLite: the processes share one instance folder (its database and its scheduler.lock). PostgreSQL: they
share the TRACKER_TEST_DATABASE_URL database, in a schema of their own (search_path) that the migrations
build like a new shop's; the tests' own tables (emptied between tests) are not touched. The advisory lock
is per database, so another scheduler on that database while this runs (a second test run) would fail it."""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, text

from tests.conftest import PG_URL, TEST_CONFIG, build_app
from tracker.extensions import db
from tracker.locks import SCHEDULER_LOCK_KEY
from tracker.scheduling import SchedulerLock
from tracker.settings import normalise_database_url

ROOT = Path(__file__).resolve().parent.parent
LOSER_LINE = "another process runs the scheduler; this one serves web requests"
TAKEOVER_LINE = "the process that ran the scheduler has gone; this one took it over"
WINNER_LINE = "scheduler started with jobs:"
START_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Shop:
    """The shared database (and instance folder) the processes run against."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.instance = tmp_path / "instance"
        self.schema = None
        if PG_URL:
            self.schema = f"sched_once_{secrets.token_hex(4)}"
            self._admin(f"CREATE SCHEMA {self.schema}")

    def url(self, name: str) -> str | None:
        if not PG_URL:
            return None  # the default: instance/tracker.db
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options={quote(f'-csearch_path={self.schema}')}&application_name=inktrail-{name}"

    def env(self, name: str) -> dict:
        env = {**os.environ, "TRACKER_INSTANCE_PATH": str(self.instance), "TRACKER_CONFIG": str(TEST_CONFIG),
               "PYTHONUNBUFFERED": "1", "TRACKER_SCHEDULER_STANDBY_SECONDS": "0.5"}
        env.pop("TRACKER_DATABASE_URL", None)
        if self.url(name):
            env["TRACKER_DATABASE_URL"] = self.url(name)
        return env

    def query(self, sql: str, **params):
        url = normalise_database_url(self.url("test")) if PG_URL else f"sqlite:///{self.instance / 'tracker.db'}"
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql), params).all()
        finally:
            engine.dispose()

    def runs(self) -> dict[str, int]:
        return dict(self.query("SELECT name, runs FROM scheduler_jobs"))

    def lock_holder(self) -> str | None:
        """Who holds the scheduler lock: the application name of the session holding the advisory lock
        (PostgreSQL), or the pid written in instance/scheduler.lock by the process holding the file lock."""
        if PG_URL:
            rows = self.query("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                              "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :key "
                              "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database "
                              "WHERE datname = current_database())", key=SCHEDULER_LOCK_KEY)
            return rows[0][0].removeprefix("inktrail-") if rows else None
        import fcntl

        path = self.instance / "scheduler.lock"
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return path.read_text().strip()  # held: by the pid written in it
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            return None

    def close(self) -> None:
        if self.schema:
            self._admin(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")

    @staticmethod
    def _admin(sql: str) -> None:
        engine = create_engine(normalise_database_url(PG_URL))
        try:
            with engine.connect() as conn:
                conn.execute(text(sql))
                conn.commit()
        finally:
            engine.dispose()


class Server:
    """One `python app.py --port N` process; its output goes to a file (a full pipe would stall it)."""

    def __init__(self, shop: Shop, name: str):
        self.name, self.port = name, _free_port()
        self.log_path = shop.tmp_path / f"{name}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "app.py", "--port", str(self.port)], cwd=ROOT,
                                     env=shop.env(name), stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def ident(self) -> str:
        return self.name if PG_URL else str(self.proc.pid)

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as resp:
                return json.load(resp)
        except OSError:
            return None

    def wait_healthy(self, deadline: float) -> dict:
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log}")
            report = self.health()
            if report is not None:
                return report
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not answer /healthz in {START_SECONDS}s:\n{self.log}")

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode


def wait_until(check, what: str, seconds: float = 15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def test_two_processes_one_scheduler_and_the_lock_passes_on_when_the_winner_dies(tmp_path):
    shop = Shop(tmp_path)
    servers: list[Server] = []
    try:
        # No migration first: both processes find an empty database and upgrade it one after the other
        # (app.py holds a migration lock), rather than racing on CREATE TABLE.
        # Both start at once and race for the lock.
        servers += [Server(shop, "a"), Server(shop, "b")]
        deadline = time.monotonic() + START_SECONDS
        reports = [s.wait_healthy(deadline) for s in servers]
        assert all(r["database"]["ok"] for r in reports)
        winners = [s for s in servers if WINNER_LINE in s.log]
        losers = [s for s in servers if LOSER_LINE in s.log]
        assert len(winners) == 1 and len(losers) == 1 and winners[0] is not losers[0], [s.log for s in servers]
        (winner,), (loser,) = winners, losers
        assert shop.lock_holder() == winner.ident

        # The scheduler's work happened once: at start it runs the heartbeat and every interval job once
        # (the long ones, 5 minutes and more, cannot have run again since).
        long_jobs = ("stall-sweep", "carrier-alerts", "delay-notices", "end-of-day")
        runs = wait_until(lambda: (r := shop.runs()) and all(r.get(j) for j in long_jobs) and r, "the first round")
        assert runs["heartbeat"] >= 1
        for job in long_jobs:
            assert runs[job] == 1, (job, runs)
        # The process without a scheduler still sees the winner's heartbeat (it is in the database).
        seen = loser.health()["scheduler"]
        assert seen["running"] is True and seen["jobs"]["heartbeat"]["runs"] >= 1

        # The winner dies without a chance to clean up: its lock goes with it, and the process standing by
        # takes the scheduler over by itself (it tries the lock every TRACKER_SCHEDULER_STANDBY_SECONDS).
        assert winner.stop(signal.SIGKILL) == -signal.SIGKILL
        wait_until(lambda: shop.lock_holder() == loser.ident, "the standby to take the scheduler over")
        wait_until(lambda: TAKEOVER_LINE in loser.log, "the standby to say it took over")
        wait_until(lambda: shop.runs()["delay-notices"] == 2, "the new scheduler's first round")
        # A process started now finds the scheduler taken and stands by in turn.
        third = Server(shop, "c")
        servers.append(third)
        third.wait_healthy(time.monotonic() + START_SECONDS)
        assert LOSER_LINE in third.log and WINNER_LINE not in third.log, third.log
        assert shop.lock_holder() == loser.ident
    finally:
        codes = {s.name: s.stop() for s in servers}
        shop.close()
    # The survivors stop cleanly on SIGTERM (systemd, docker), and the lock is free again.
    for s in (loser, third):
        assert codes[s.name] == 0, s.log
        assert "Inktrail stopped." in s.log
    assert "Traceback" not in loser.log
    assert shop.lock_holder() is None


def test_scheduler_lock_two_apps_on_one_database(tmp_path):
    """In one process, two app objects (two engines on PostgreSQL; one instance folder on SQLite)."""
    first, second = build_app(tmp_path), build_app(tmp_path)
    assert first.config["SQLALCHEMY_DATABASE_URI"] == second.config["SQLALCHEMY_DATABASE_URI"]
    a, b = SchedulerLock(first), SchedulerLock(second)
    try:
        assert a.acquire() is True
        assert b.acquire() is False
        assert SchedulerLock(first).acquire() is False  # the same app again: still one holder
        a.release()
        assert b.acquire() is True
        assert a.acquire() is False
        b.release()
        assert a.acquire() is True
    finally:
        a.release()
        b.release()
        for app in (first, second):
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
