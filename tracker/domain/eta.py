"""When will the parcel arrive? Pure: no Flask, no database.

The carrier's own estimate wins when it has given one. Otherwise the estimate is built from how long each
remaining production stage typically takes in this shop (the median of its own recent history, or the
stage's SLA hours while history is thin), skipping weekends, plus the carrier's typical transit time
(the median of pickup -> delivered of this shop's delivered parcels, or 3 days).
"""
from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

MIN_SAMPLES = 5
DEFAULT_TRANSIT_DAYS = 3.0
SOURCE_CARRIER = "carrier"
SOURCE_HISTORY = "shop history"
SOURCE_TYPICAL = "typical times"


@dataclass(frozen=True)
class Typical:
    """A typical duration and whether it came from the shop's own history."""

    hours: float
    from_history: bool


@dataclass(frozen=True)
class Estimate:
    date: dt.date
    source: str  # "carrier" | "shop history" | "typical times"
    promised: dt.date | None

    @property
    def late(self) -> bool:
        return self.promised is not None and self.date > self.promised


def typical(samples: Sequence[float], fallback: float | None, min_samples: int = MIN_SAMPLES) -> Typical:
    """The median of `samples` when there are at least `min_samples` of them, else `fallback`
    (None fallback -> 0 hours: a stage with no SLA and no history adds nothing)."""
    if len(samples) >= min_samples:
        return Typical(float(statistics.median(samples)), True)
    return Typical(float(fallback or 0.0), False)


def business_hours_between(start: dt.datetime, end: dt.datetime, tz) -> float:
    """Hours from start to end that fall on Monday-Friday in the shop's time zone."""
    if end <= start:
        return 0.0
    a, b = start.astimezone(tz), end.astimezone(tz)
    total = dt.timedelta(0)
    day = a.date()
    while day <= b.date():
        if day.weekday() < 5:
            lo = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
            hi = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
            s, e = max(lo, a), min(hi, b)
            if e > s:
                total += e - s
        day += dt.timedelta(days=1)
    return total.total_seconds() / 3600


def add_business_hours(start: dt.datetime, hours: float, tz) -> dt.datetime:
    """`hours` of Monday-Friday time after `start` (a start on a weekend counts from Monday 00:00)."""
    local = start.astimezone(tz)
    remaining = dt.timedelta(hours=max(hours, 0.0))
    while True:
        if local.weekday() >= 5:
            local = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
            continue
        if remaining <= dt.timedelta(0):
            return local.astimezone(dt.timezone.utc)
        midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
        step = min(remaining, midnight - local)
        local += step
        remaining -= step
        if remaining <= dt.timedelta(0):
            return local.astimezone(dt.timezone.utc)


def estimate_delivery(*, now: dt.datetime, tz, promised: dt.date | None,
                      carrier_estimate: dt.date | None = None,
                      picked_up_at: dt.datetime | None = None,
                      current_stage: str | None = None, stage_entered_at: dt.datetime | None = None,
                      remaining_stages: Sequence[str] = (), stage_typical: Mapping[str, Typical] | None = None,
                      transit: Typical = Typical(DEFAULT_TRANSIT_DAYS * 24, False)) -> Estimate:
    """The delivery date, in the shop's time zone.

    - carrier_estimate: the carrier's date; used as is.
    - picked_up_at: the parcel is with the carrier: pickup + typical transit (never before today).
    - otherwise: what is left of the current stage (its typical time minus the working time already spent
      in it), then each of `remaining_stages` (the production stages after the current one, up to the
      carrier's pickup), skipping weekends; then the typical transit in calendar time.
    The source is "shop history" when any figure used came from the shop's own history.
    """
    today = now.astimezone(tz).date()
    if carrier_estimate is not None:
        return Estimate(carrier_estimate, SOURCE_CARRIER, promised)
    stage_typical = stage_typical or {}
    used_history = transit.from_history
    if picked_up_at is not None:
        arrival = (picked_up_at + dt.timedelta(hours=transit.hours)).astimezone(tz).date()
        return Estimate(max(arrival, today), SOURCE_HISTORY if used_history else SOURCE_TYPICAL, promised)
    at = now
    if current_stage is not None and current_stage in stage_typical:
        t = stage_typical[current_stage]
        used_history |= t.from_history
        spent = business_hours_between(stage_entered_at, now, tz) if stage_entered_at else 0.0
        at = add_business_hours(at, max(t.hours - spent, 0.0), tz)
    for key in remaining_stages:
        t = stage_typical.get(key)
        if t is None:
            continue
        used_history |= t.from_history
        at = add_business_hours(at, t.hours, tz)
    arrival = (at + dt.timedelta(hours=transit.hours)).astimezone(tz).date()
    return Estimate(max(arrival, today), SOURCE_HISTORY if used_history else SOURCE_TYPICAL, promised)


def stage_samples(moves: Iterable[tuple[int, str, dt.datetime]], tz) -> dict[str, list[float]]:
    """Working hours spent in each stage, from order-level moves (order id, stage entered, when), in
    order of time per order: the time in a stage is until the order's next move."""
    out: dict[str, list[float]] = {}
    last: dict[int, tuple[str, dt.datetime]] = {}
    for order_id, stage, at in moves:
        prev = last.get(order_id)
        if prev is not None and prev[0] != stage:
            out.setdefault(prev[0], []).append(business_hours_between(prev[1], at, tz))
        last[order_id] = (stage, at)
    return out
