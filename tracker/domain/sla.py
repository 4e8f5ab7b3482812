"""Time-in-stage against a stage's SLA (wall-clock hours; business calendars come with the stall checks)."""
from __future__ import annotations

import datetime as dt


def is_stalled(sla_hours: float | None, entered_at: dt.datetime | None, now: dt.datetime) -> bool:
    if not sla_hours or entered_at is None:
        return False
    return now - entered_at > dt.timedelta(hours=sla_hours)
