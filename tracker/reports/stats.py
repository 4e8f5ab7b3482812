"""The arithmetic the reports share. Pure: no Flask, no database, unit-tested alone.

Percentiles use linear interpolation between closest ranks (Hyndman & Fan type 7, the default of numpy,
Excel's PERCENTILE.INC and PostgreSQL's percentile_cont): for n sorted values the p-th percentile sits at
rank h = (n - 1) * p / 100, between values[floor(h)] and values[ceil(h)]. The median is the 50th.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Iterable, Sequence

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 28
PRESET_DAYS = (7, 28, 90)


def percentile(values: Iterable[float], p: float) -> float | None:
    """The p-th percentile (0..100) by linear interpolation; None for no values."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    if not 0 <= p <= 100:
        raise ValueError("p is a percentage, 0 to 100")
    h = (len(xs) - 1) * p / 100
    lo, hi = math.floor(h), math.ceil(h)
    return xs[lo] + (xs[hi] - xs[lo]) * (h - lo)


def median(values: Iterable[float]) -> float | None:
    return percentile(values, 50)


def summary(values: Sequence[float], digits: int = 1) -> tuple[int, float | None, float | None]:
    """(count, median, 90th percentile), rounded for display."""
    return len(values), _round(median(values), digits), _round(percentile(values, 90), digits)


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def hours(delta: dt.timedelta) -> float:
    """Wall-clock hours (nights, weekends and closed days count)."""
    return delta.total_seconds() / 3600


def days(delta: dt.timedelta) -> float:
    """Wall-clock days, fractional: 36 hours is 1.5 days."""
    return delta.total_seconds() / 86400


def iso_week(day: dt.date) -> str:
    """ISO 8601 week label: 2026-W07 (the ISO year, which differs from the calendar year around New Year)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def rate(part: int, whole: int) -> float | None:
    """part / whole as a percentage with one decimal; None when there is nothing to divide by."""
    return round(100.0 * part / whole, 1) if whole else None


def share(part: int, whole: int) -> str:
    """'7 of 8 (87.5%)'; '–' when there is nothing to count."""
    if not whole:
        return "–"
    return f"{part} of {whole} ({round(100 * part / whole, 1):g}%)"


def resolve_range(raw_from: str | None, raw_to: str | None, today: dt.date) -> tuple[dt.date, dt.date, str | None]:
    """(first, last, problem) for the dates a person typed. Both empty: the default range (the last 28
    days, today included) with no problem. A date that cannot be read, a reversed range or one longer
    than MAX_RANGE_DAYS gives the default range and a sentence saying why."""
    default = (today - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1), today)
    raw_from, raw_to = (raw_from or "").strip(), (raw_to or "").strip()
    if not raw_from and not raw_to:
        return (*default, None)
    try:
        first = dt.date.fromisoformat(raw_from) if raw_from else default[0]
        last = dt.date.fromisoformat(raw_to) if raw_to else today
    except ValueError:
        return (*default, "The dates could not be read (use YYYY-MM-DD); showing the last 28 days.")
    if first > last:
        return (*default, "The start date is after the end date; showing the last 28 days.")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        return (*default, f"A report covers at most {MAX_RANGE_DAYS} days; showing the last 28 days. "
                          "Choose a shorter range.")
    return first, last, None
