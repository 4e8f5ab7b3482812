"""When will the parcel arrive? Pure: no Flask, no database.

The carrier's own estimate wins when it has given one. Otherwise the estimate is built from how long each
remaining production stage typically takes in this shop (the median of its own recent history, or the
stage's SLA hours while history is thin), counted in the shop's open hours (its business calendar skips
nights, weekends and holidays), plus the carrier's typical transit time (the median of pickup -> delivered
of this shop's delivered parcels, or 3 days).
"""
from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from .calendar import BusinessCalendar

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


def estimate_delivery(*, now: dt.datetime, tz, calendar: BusinessCalendar, promised: dt.date | None,
                      carrier_estimate: dt.date | None = None,
                      picked_up_at: dt.datetime | None = None,
                      current_stage: str | None = None, stage_entered_at: dt.datetime | None = None,
                      remaining_stages: Sequence[str] = (), stage_typical: Mapping[str, Typical] | None = None,
                      transit: Typical = Typical(DEFAULT_TRANSIT_DAYS * 24, False)) -> Estimate:
    """The delivery date, in the shop's time zone (`tz`); production time counts `calendar`'s open hours.

    - carrier_estimate: the carrier's date; used as is.
    - picked_up_at: the parcel is with the carrier: pickup + typical transit (never before today).
    - otherwise: what is left of the current stage (its typical time minus the working time already spent
      in it), then each of `remaining_stages` (the production stages after the current one, up to the
      carrier's pickup), in the calendar's open hours; then the typical transit in plain elapsed time.
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
    at, from_history = work_done_at(now=now, calendar=calendar, current_stage=current_stage,
                                    stage_entered_at=stage_entered_at, remaining_stages=remaining_stages,
                                    stage_typical=stage_typical)
    used_history |= from_history
    arrival = (at + dt.timedelta(hours=transit.hours)).astimezone(tz).date()
    return Estimate(max(arrival, today), SOURCE_HISTORY if used_history else SOURCE_TYPICAL, promised)


def work_done_at(*, now: dt.datetime, calendar: BusinessCalendar, current_stage: str | None,
                 stage_entered_at: dt.datetime | None, remaining_stages: Sequence[str],
                 stage_typical: Mapping[str, Typical]) -> tuple[dt.datetime, bool]:
    """When the work left is done at the shop's typical pace: what is left of the current stage (its
    typical time minus the open hours already spent in it), then each remaining stage, in the calendar's
    open hours. Also whether any figure came from the shop's own history."""
    at, used_history = now, False
    if current_stage is not None and current_stage in stage_typical:
        t = stage_typical[current_stage]
        used_history |= t.from_history
        spent = calendar.hours_between(stage_entered_at, now) if stage_entered_at else 0.0
        at = calendar.add_hours(at, max(t.hours - spent, 0.0))
    for key in remaining_stages:
        t = stage_typical.get(key)
        if t is None:
            continue
        used_history |= t.from_history
        at = calendar.add_hours(at, t.hours)
    return at, used_history


@dataclass(frozen=True)
class Risk:
    """A due date's outlook: when the slowest piece of work is done and when the parcel would arrive."""

    code: str                # the job (or order) that finishes last
    stage: str               # where it is now
    ready_at: dt.datetime    # handed to the carrier, at the typical pace
    arrival: dt.datetime     # ready_at + the carrier's typical transit
    deadline: dt.datetime    # the end of the due date in the shop's time zone
    margin_hours: float

    @property
    def at_risk(self) -> bool:
        return self.arrival + dt.timedelta(hours=self.margin_hours) > self.deadline


def due_risk(*, now: dt.datetime, tz, calendar: BusinessCalendar, due: dt.date,
             work: Iterable[tuple[str, str, dt.datetime | None]], people_stages: Sequence[str],
             stage_typical: Mapping[str, Typical], transit: Typical, margin_hours: float = 0.0) -> Risk | None:
    """Will the order make its due date (a delivery date, as promised to the customer)? `work` lists what
    is still at the shop: (job or order code, its stage, when it entered it). Each piece finishes at the
    typical pace of its remaining stages; the last to finish decides. At risk when that arrival plus
    `margin_hours` falls after the due date. None when nothing is left at the shop."""
    deadline = dt.datetime.combine(due + dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(dt.timezone.utc)
    latest: Risk | None = None
    for code, stage, entered in work:
        if stage not in people_stages:
            continue
        ready, _ = work_done_at(now=now, calendar=calendar, current_stage=stage, stage_entered_at=entered,
                                remaining_stages=people_stages[people_stages.index(stage) + 1:],
                                stage_typical=stage_typical)
        if latest is None or ready > latest.ready_at:
            latest = Risk(code, stage, ready, ready + dt.timedelta(hours=transit.hours), deadline, margin_hours)
    return latest


def stage_samples(moves: Iterable[tuple[int, str, dt.datetime]],
                  calendar: BusinessCalendar) -> dict[str, list[float]]:
    """Open hours (of `calendar`) spent in each stage, from order-level moves (order id, stage entered,
    when), in order of time per order: the time in a stage is until the order's next move."""
    out: dict[str, list[float]] = {}
    last: dict[int, tuple[str, dt.datetime]] = {}
    for order_id, stage, at in moves:
        prev = last.get(order_id)
        if prev is not None and prev[0] != stage:
            out.setdefault(prev[0], []).append(calendar.hours_between(prev[1], at))
        last[order_id] = (stage, at)
    return out
