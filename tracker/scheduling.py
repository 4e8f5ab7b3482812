"""The APScheduler instance. It is started in exactly one place (app.py, or the `tracker scheduler`
command), never in create_app(), and only by the process that holds the scheduler lock: a file lock
with SQLite, a PostgreSQL advisory lock with PostgreSQL. A second process simply runs without one."""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import threading
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .jobs import JOBS, run_job
from .locks import MIGRATION_LOCK_FILE, MIGRATION_LOCK_KEY, SCHEDULER_LOCK_FILE, SCHEDULER_LOCK_KEY

log = logging.getLogger("tracker.scheduler")


class SchedulerLock:
    """Held for the life of the process that runs the scheduler."""

    def __init__(self, app):
        self.app = app
        self._fh = None
        self._pg = None

    def acquire(self) -> bool:
        uri = self.app.config["SQLALCHEMY_DATABASE_URI"]
        if uri.startswith("postgresql"):
            from .extensions import db

            with self.app.app_context():
                conn = db.engine.connect()
            got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({SCHEDULER_LOCK_KEY})").scalar()
            conn.commit()
            if got:
                self._pg = conn
            else:
                conn.close()
            return bool(got)
        path = Path(self.app.instance_path) / SCHEDULER_LOCK_FILE
        fh = open(path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return True

    def release(self) -> None:
        if self._fh:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
        if self._pg is not None:
            # The connection goes back to the pool rather than closing, so unlock explicitly.
            try:
                self._pg.exec_driver_sql(f"SELECT pg_advisory_unlock({SCHEDULER_LOCK_KEY})")
                self._pg.commit()
            finally:
                self._pg.close()
                self._pg = None


def _run_in_app(app, name):
    with app.app_context():
        run_job(name, scheduled=True)


def build_scheduler(app) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone=dt.timezone.utc,
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
    )
    now = dt.datetime.now(dt.timezone.utc)
    for spec in JOBS.values():
        if spec.daily_at is not None:
            from .settings import current_settings

            with app.app_context():
                at, tz = spec.daily_at(), current_settings().shop.tz
            # A run delayed by a sleeping computer still happens if it wakes within 12 h.
            scheduler.add_job(_run_in_app, CronTrigger(hour=at.hour, minute=at.minute, timezone=tz),
                              args=[app, spec.name], id=spec.name, name=spec.name, replace_existing=True,
                              misfire_grace_time=12 * 3600)
            continue
        first = now + dt.timedelta(seconds=spec.every_seconds) if spec.name == "heartbeat" else now
        scheduler.add_job(_run_in_app, IntervalTrigger(seconds=spec.every_seconds), args=[app, spec.name],
                          id=spec.name, name=spec.name, next_run_time=first, replace_existing=True)
    return scheduler




@contextlib.contextmanager
def migration_lock(app):
    """Held while `python app.py` upgrades the database, so that processes started together (several
    web processes, a service manager restarting them all) migrate one after the other instead of racing
    on CREATE TABLE: the first does the work and the others find nothing to do. It waits for the lock."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgresql"):
        from .extensions import db

        with app.app_context():
            conn = db.engine.connect()
        try:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
            conn.commit()
            yield
        finally:
            try:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
                conn.commit()
            finally:
                conn.close()
        return
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    with open(Path(app.instance_path) / MIGRATION_LOCK_FILE, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


STANDBY_SECONDS = float(os.environ.get("TRACKER_SCHEDULER_STANDBY_SECONDS", "15"))


class SchedulerHandle:
    """This process's part in running the scheduler: the running scheduler and its lock, or, for a
    process that lost the race and was started with standby=True, a thread that tries the lock again
    every STANDBY_SECONDS and takes over when the process holding it dies."""

    def __init__(self, app):
        self.app = app
        self.scheduler: BackgroundScheduler | None = None
        self.lock: SchedulerLock | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.scheduler is not None

    def try_start(self) -> bool:
        lock = SchedulerLock(self.app)
        if not lock.acquire():
            return False
        with self.app.app_context():
            run_job("heartbeat")  # so /healthz shows a live scheduler from the first request on
        scheduler = build_scheduler(self.app)
        scheduler.start()
        self.scheduler, self.lock = scheduler, lock
        return True

    def stand_by(self) -> None:
        def watch():
            while not self._stop.wait(STANDBY_SECONDS):
                try:
                    if self.try_start():
                        log.warning("the process that ran the scheduler has gone; this one took it over")
                        return
                except Exception:  # the database is briefly unreachable: try again next time
                    log.exception("could not take the scheduler over; trying again in %s s", STANDBY_SECONDS)

        self._thread = threading.Thread(target=watch, name="inktrail-scheduler-standby", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = False) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=wait)
            self.scheduler = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def start_scheduler(app, *, standby: bool = False) -> SchedulerHandle:
    """Starts the scheduler if this process wins the lock. Otherwise, with standby=True, keeps trying in
    the background so that the scheduler moves to this process when the one running it dies."""
    handle = SchedulerHandle(app)
    if handle.try_start():
        log.info("scheduler started with jobs: %s", ", ".join(JOBS))
        return handle
    if standby:
        log.warning("another process runs the scheduler; this one serves web requests and stands by to take over")
        handle.stand_by()
    else:
        log.warning("another process runs the scheduler; this one serves web requests only")
    return handle
