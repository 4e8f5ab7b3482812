"""Time-in-stage against a stage's SLA (wall-clock hours; business calendars come with the stall checks)."""
from __future__ import annotations

import datetime as dt


def is_stalled(sla_hours: float | None, entered_at: dt.datetime | None, now: dt.datetime) -> bool:
    if not sla_hours or entered_at is None:
        return False
    return now - entered_at > dt.timedelta(hours=sla_hours)


def due_status(due: dt.date | None, today: dt.date) -> str | None:
    """late, today, week (within the next 7 days) or None: how a card colours its due date."""
    if due is None:
        return None
    if due < today:
        return "late"
    if due == today:
        return "today"
    if due <= today + dt.timedelta(days=7):
        return "week"
    return None


DUE_FILTERS = ("late", "today", "week")


def due_range(bucket: str, today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The due-date range (inclusive; None = open) a board filter means."""
    if bucket == "late":
        return None, today - dt.timedelta(days=1)
    if bucket == "today":
        return today, today
    if bucket == "week":
        return today, today + dt.timedelta(days=7)
    raise ValueError(f"unknown due filter {bucket!r}")


def add_business_days(start: dt.datetime, days: float, tz) -> dt.datetime:
    """`days` working days after `start`, skipping Saturdays and Sundays in the shop's time zone (the
    shop calendar with hours and holidays comes with the stall checks). Start on a weekend counts from
    the next Monday's midnight."""
    local = start.astimezone(tz)
    while local.weekday() >= 5:
        local = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    remaining = dt.timedelta(days=days)
    while remaining > dt.timedelta(0):
        step = min(remaining, dt.timedelta(days=1))
        local = (local + step).astimezone(tz)
        remaining -= step
        while local.weekday() >= 5:
            local = (local + dt.timedelta(days=1)).astimezone(tz)
    return local.astimezone(dt.timezone.utc)
