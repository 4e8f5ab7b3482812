"""What /healthz reports: the database answers; the scheduler's jobs ran recently; carrier webhooks
waiting to be processed."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, text

from ..extensions import db
from ..models import SchedulerJob, WebhookDelivery, utcnow

HEARTBEAT_SECONDS = 30


def health_report() -> dict:
    report = {"ok": True, "database": {"ok": True, "dialect": db.engine.dialect.name},
              "scheduler": {"running": False, "jobs": {}}, "webhooks": {"pending": 0, "oldest_pending_at": None}}
    try:
        db.session.execute(text("SELECT 1"))
        rows = list(db.session.scalars(select(SchedulerJob)))
        # Stored and acknowledged, not processed yet (a burst being worked off; a growing number says the
        # processing is stuck). Both read the pending index only.
        pending, oldest = db.session.execute(select(func.count(), func.min(WebhookDelivery.received_at))
                                             .where(WebhookDelivery.processed_at.is_(None))).one()
    except Exception as exc:  # the database is down: say so rather than fail
        db.session.rollback()
        report["ok"] = False
        report["database"] = {"ok": False, "error": exc.__class__.__name__}
        return report
    report["webhooks"] = {"pending": pending, "oldest_pending_at": oldest.isoformat() if oldest else None}
    now = utcnow()
    for row in rows:
        report["scheduler"]["jobs"][row.name] = {
            "last_started_at": row.last_started_at.isoformat() if row.last_started_at else None,
            "last_finished_at": row.last_finished_at.isoformat() if row.last_finished_at else None,
            "next_run_at": row.next_run_at.isoformat() if row.next_run_at else None,
            "last_error": row.last_error,
            "runs": row.runs,
        }
    beat = next((r for r in rows if r.name == "heartbeat"), None)
    running = bool(beat and beat.last_finished_at and
                   now - beat.last_finished_at < dt.timedelta(seconds=3 * HEARTBEAT_SECONDS))
    report["scheduler"]["running"] = running
    report["scheduler"]["last_heartbeat"] = beat.last_finished_at.isoformat() if beat and beat.last_finished_at else None
    return report


def scheduler_running(now: dt.datetime | None = None) -> bool:
    """True while the heartbeat job has run in the last three beats (one primary-key read)."""
    beat = db.session.get(SchedulerJob, "heartbeat")
    return bool(beat and beat.last_finished_at and
                (now or utcnow()) - beat.last_finished_at < dt.timedelta(seconds=3 * HEARTBEAT_SECONDS))
