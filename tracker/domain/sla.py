"""Time-in-stage against a stage's SLA: open hours of the shop's business calendar, or wall-clock hours
without one."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .calendar import BusinessCalendar


def is_stalled(sla_hours: float | None, entered_at: dt.datetime | None, now: dt.datetime,
               calendar: BusinessCalendar | None = None) -> bool:
    """More than `sla_hours` in the stage: open hours of `calendar`, or wall-clock hours without one."""
    if not sla_hours or entered_at is None:
        return False
    if calendar is None:
        return now - entered_at > dt.timedelta(hours=sla_hours)
    return calendar.hours_between(entered_at, now) > sla_hours


def stall_cutoff(sla_hours: float | None, now: dt.datetime,
                 calendar: BusinessCalendar | None = None) -> dt.datetime | None:
    """The moment before which entering a stage means stalled at `now` (None: the stage has no SLA), so
    `is_stalled(h, e, now, cal)` is `e < stall_cutoff(h, now, cal)`: one calendar walk per stage, then
    a comparison per card."""
    if not sla_hours:
        return None
    if calendar is None:
        return now - dt.timedelta(hours=sla_hours)
    return calendar.subtract_hours(now, sla_hours)


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

