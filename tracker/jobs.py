"""Scheduled work. Each job is a plain function run inside an app context; the scheduler and
`flask --app app tracker run-job NAME` both call it through run_job(), which records the run."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable

from .extensions import db
from .models import SchedulerJob, utcnow

log = logging.getLogger("tracker.jobs")


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[[], object]
    every_seconds: int
    doc: str
    # Daily jobs run at a time of day in the shop's time zone (read from settings when the scheduler
    # starts) instead of every `every_seconds`.
    daily_at: Callable[[], dt.time] | None = None

    def next_run(self, now: dt.datetime) -> dt.datetime:
        if self.daily_at is None:
            return now + dt.timedelta(seconds=self.every_seconds)
        from .settings import current_settings

        tz = current_settings().shop.tz
        at = self.daily_at()
        local = now.astimezone(tz)
        candidate = dt.datetime.combine(local.date(), at, tzinfo=tz)
        if candidate <= local:
            candidate = dt.datetime.combine(local.date() + dt.timedelta(days=1), at, tzinfo=tz)
        return candidate.astimezone(dt.timezone.utc)


def heartbeat():
    """Proves the scheduler is alive; /healthz reads its last run."""
    return "ok"


JOBS: dict[str, JobSpec] = {}


def register(name: str, every_seconds: int, doc: str, daily_at: Callable[[], dt.time] | None = None):
    def decorator(func):
        JOBS[name] = JobSpec(name, func, every_seconds, doc, daily_at)
        return func

    return decorator


register("heartbeat", 30, "records that the scheduler is alive (shown by /healthz)")(heartbeat)


@register("print-queue", 5, "prints queued labels; an offline printer is retried with backoff")
def print_queue():
    from .workers.printing import process_print_queue

    return process_print_queue()


def _state(name: str) -> SchedulerJob:
    row = db.session.get(SchedulerJob, name)
    if row is None:
        row = SchedulerJob(name=name, runs=0)
        db.session.add(row)
    return row


def run_job(name: str, *, scheduled: bool = False):
    """Runs one job now and records start, finish and error. Errors are logged and stored, never raised
    from a scheduled run (the job simply runs again next time)."""
    spec = JOBS[name]
    started = utcnow()
    row = _state(name)
    row.last_started_at = started
    db.session.commit()
    try:
        result = spec.func()
        db.session.commit()
        error = None
    except Exception as exc:
        db.session.rollback()
        log.exception("job %s failed", name)
        result, error = None, f"{exc.__class__.__name__}: {exc}"[:2000]
        if not scheduled:
            _finish(name, error, spec)
            raise
    _finish(name, error, spec)
    return result


def _finish(name: str, error: str | None, spec: JobSpec) -> None:
    row = _state(name)
    now = utcnow()
    row.last_finished_at = now
    row.last_error = error
    row.runs = (row.runs or 0) + 1
    row.next_run_at = spec.next_run(now)
    db.session.commit()


@register("process-webhooks", 5, "processes stored carrier webhooks that were not processed yet (crash recovery)")
def process_webhooks():
    from flask import current_app

    from .workers.webhooks import process_pending_or_wake

    return process_pending_or_wake(current_app._get_current_object())


@register("poll-carriers", 60, "polls shipments whose provider has not reported for a while")
def poll_carriers():
    from .workers.polling import poll_carriers as poll

    return poll()


@register("outbox", 10, "sends queued messages to the outside world (tracker registrations, later mail)")
def outbox():
    from .workers.outbox import process_outbox

    return process_outbox()


@register("carrier-alerts", 300, "raises and closes carrier alerts: no pickup scan, no movement, exceptions")
def carrier_alerts():
    from .services.tracking import carrier_alert_sweep

    return carrier_alert_sweep()


@register("delay-notices", 1800, "tells customers before they notice: estimate past the promised date, a stalled job")
def delay_notices():
    from .services.notifications import delay_sweep

    return delay_sweep()


@register("stall-sweep", 300, "raises one alert per stalled job or order (past its stage's SLA) and closes moved ones")
def stall_sweep():
    from .services.alerts import stall_sweep as sweep

    return sweep()


@register("proof-reminders", 900, "reminds the customer once of a proof left unanswered for [proofs] remind_after_hours")
def proof_reminders():
    from .services.proofs import remind_sweep

    return remind_sweep()


@register("risk-sweep", 900, "raises an alert for each order whose remaining work says it will miss its due date")
def risk_sweep():
    from .services.alerts import risk_sweep as sweep

    return sweep()


@register("end-of-day", 600, "after closing: packed with no label, labeled with no carrier scan, rush not started")
def end_of_day():
    from .services.alerts import end_of_day_sweep

    return end_of_day_sweep()


@register("daily-digest", 600, "emails the managers' morning digest once a day, after [alerts] digest_time")
def daily_digest():
    from .services.alerts import daily_digest as digest

    return digest()


def _housekeeping_time() -> dt.time:
    from .settings import current_settings

    return current_settings().housekeeping.at


@register("housekeeping", 86400, "nightly: removes finished queue rows and old label files, tidies the database",
          daily_at=_housekeeping_time)
def housekeeping():
    from .workers.housekeeping import run_housekeeping

    return run_housekeeping()


@register("etsy-orders", 600, "fetches paid, unshipped Etsy receipts as orders (when [marketplaces.etsy] is set up)")
def etsy_orders():
    from .workers.etsy import poll_receipts

    return poll_receipts()


def _backup_time() -> dt.time:
    from .settings import current_settings

    return current_settings().backup.at


@register("backup", 86400, "nightly: backs the database up to [backup] directory and removes backups past keep_days",
          daily_at=_backup_time)
def backup():
    from .services.backup import nightly_backup

    return nightly_backup()
