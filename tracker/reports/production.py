"""Production reports (issue 9): stage times, throughput, work in progress, lead time and on-time rate.

All four read the audit trail (events) and replay it. The events of the period are found through
ix_events_at; the orders they belong to are then replayed from their own first event (through
ix_events_order_id_id), so the cost follows the orders active in the period, not the whole history.

The replay, in the shop's words:
- a job's stays in the job stages (received .. qc) begin and end at its own moves; when the order is
  packed, unpacked, moved on as a whole or cancelled (one event for the order), every job follows it;
- an order's stays in the order stages (packaging, labeled, the carrier's stages) begin and end at the
  order's moves;
- events that change no stage (a note, a QC fail noted while the job stays on press) are not moves.
"""
from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select

from ..domain.lifecycle import CANCELLED, FINAL_STAGE, QC_STAGE
from ..extensions import db
from ..models import Event, Job, Order
from ..settings import current_settings
from . import Chart, Period, Report, Result, Series, Table, register
from .stats import days, hours, iso_week, share, summary

CHUNK = 500  # ids per IN (...) list


@dataclass
class Stay:
    stage: str
    entered: dt.datetime
    left: dt.datetime | None = None
    ended_by: str | None = None  # the stage it left for


@dataclass
class OrderHistory:
    id: int
    code: str
    channel: str
    created_at: dt.datetime
    due_date: dt.date | None
    stays: list[Stay] = field(default_factory=list)
    jobs: dict[int, "JobHistory"] = field(default_factory=dict)

    def first_entry(self, stages: set[str]) -> dt.datetime | None:
        return next((s.entered for s in self.stays if s.stage in stages), None)


@dataclass
class JobHistory:
    id: int
    method: str
    created_at: dt.datetime
    stays: list[Stay] = field(default_factory=list)


def _chunks(ids):
    ids = sorted(ids)
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _is_move(ev) -> bool:
    return ev.to_stage is not None and ev.from_stage != ev.to_stage


def orders_with_events(start: dt.datetime, end: dt.datetime | None) -> set[int]:
    """Orders with any event in [start, end) (end None: up to now): an indexed range read of events.at."""
    stmt = select(Event.order_id).where(Event.at >= start)
    if end is not None:
        stmt = stmt.where(Event.at < end)
    return set(db.session.scalars(stmt.distinct()))


def replay(order_ids: set[int], until: dt.datetime) -> dict[int, OrderHistory]:
    """Each order's and job's stays, from the orders' events before `until`."""
    lc = current_settings().lifecycle
    order_scope = {s.key for s in lc.stages if s.scope == "order"}
    histories: dict[int, OrderHistory] = {}
    for ids in _chunks(order_ids):
        for o in db.session.execute(select(Order.id, Order.code, Order.channel, Order.created_at, Order.due_date)
                                    .where(Order.id.in_(ids))):
            histories[o.id] = OrderHistory(o.id, o.code, o.channel, o.created_at, o.due_date)
        for j in db.session.execute(select(Job.id, Job.order_id, Job.method, Job.created_at)
                                    .where(Job.order_id.in_(ids))):
            histories[j.order_id].jobs[j.id] = JobHistory(j.id, j.method, j.created_at)
        events = db.session.execute(
            select(Event.order_id, Event.job_id, Event.at, Event.kind, Event.from_stage, Event.to_stage)
            .where(Event.order_id.in_(ids), Event.at < until).order_by(Event.order_id, Event.at, Event.id))
        for ev in events:
            if _is_move(ev):
                _apply(histories[ev.order_id], ev, order_scope)
    return histories


def _enter(stays: list[Stay], stage: str, at: dt.datetime) -> None:
    if stays and stays[-1].left is None:
        stays[-1].left, stays[-1].ended_by = at, stage
    stays.append(Stay(stage, at))


def _apply(order: OrderHistory, ev, order_scope: set[str]) -> None:
    if ev.job_id is not None:
        job = order.jobs.get(ev.job_id)
        if job is not None:
            _enter(job.stays, ev.to_stage, ev.at)
        return
    _enter(order.stays, ev.to_stage, ev.at)
    if ev.kind == "create":
        # The order's first event places the jobs made with it; a job added later has its own create event.
        for job in order.jobs.values():
            if not job.stays and job.created_at <= ev.at:
                _enter(job.stays, ev.to_stage, ev.at)
        return
    if ev.to_stage == CANCELLED or ev.to_stage in order_scope or ev.from_stage in order_scope:
        # Packing, unpacking, moving on as a whole, cancelling: one event for the order, the jobs follow.
        for job in order.jobs.values():
            current = job.stays[-1].stage if job.stays else None
            if current not in (CANCELLED, ev.to_stage):
                _enter(job.stays, ev.to_stage, ev.at)


def _local_day(at: dt.datetime, tz) -> dt.date:
    return at.astimezone(tz).date()


def _in(period: Period, at: dt.datetime | None) -> bool:
    return at is not None and period.start_utc <= at < period.end_utc


# -- stage times -------------------------------------------------------------------------------------

def stay_durations(histories, period: Period):
    """(stage, method or None, week of the stay's end, hours) for each stay that ended in the period:
    job stays in the job stages, order stays in the order stages. Stays ended by a cancellation are left
    out (the work was abandoned, not done)."""
    lc = current_settings().lifecycle
    job_scope = {s.key for s in lc.stages if s.scope == "job"}
    order_scope = {s.key for s in lc.stages if s.scope == "order"}
    out = []
    for order in histories.values():
        for job in order.jobs.values():
            for s in job.stays:
                if s.stage in job_scope and _in(period, s.left) and s.ended_by != CANCELLED:
                    out.append((s.stage, job.method, iso_week(_local_day(s.left, period.tz)), hours(s.left - s.entered)))
        for s in order.stays:
            if s.stage in order_scope and _in(period, s.left) and s.ended_by != CANCELLED:
                out.append((s.stage, None, iso_week(_local_day(s.left, period.tz)), hours(s.left - s.entered)))
    return out


def stage_times(period: Period) -> Result:
    lc = current_settings().lifecycle
    histories = replay(orders_with_events(period.start_utc, period.end_utc), period.end_utc)
    stays = stay_durations(histories, period)
    by_stage, by_method, by_week = defaultdict(list), defaultdict(list), defaultdict(list)
    for stage, method, week, h in stays:
        by_stage[stage].append(h)
        if method is not None:
            by_method[(stage, method)].append(h)
        by_week[(stage, week)].append(h)
    shown = [s for s in lc.stages if s.key != FINAL_STAGE]
    rank = {s.key: s.index for s in lc.stages}
    stage_rows = [(s.label, *summary(by_stage.get(s.key, []))) for s in shown]
    method_rows = [(lc.label(st), m, *summary(v)) for (st, m), v in
                   sorted(by_method.items(), key=lambda kv: (rank[kv[0][0]], kv[0][1]))]
    week_rows = [(lc.label(st), w, *summary(v)) for (st, w), v in
                 sorted(by_week.items(), key=lambda kv: (rank[kv[0][0]], kv[0][1]))]
    cols = ("Stays", "Median (h)", "90th percentile (h)")
    note = ("Wall-clock hours from entering a stage to the next move, for stays that ended in the period; "
            "nights and weekends count.")
    charted = [r for r in stage_rows if r[1]]
    return Result(
        summary=(("Stays measured", str(len(stays))),),
        charts=(Chart("bar", "Time in each stage: median and 90th percentile",
                      [r[0] for r in charted],
                      [Series("Median", [r[2] for r in charted]), Series("90th percentile", [r[3] for r in charted])],
                      unit="hours"),),
        tables=(Table("by-stage", "By stage", ("Stage", *cols), stage_rows, note),
                Table("by-method", "By stage and method (job stages)", ("Stage", "Method", *cols), method_rows,
                      "Packing, labelling and the carrier's stages are done to whole orders, so they have no "
                      "single method and are not listed here."),
                Table("by-week", "By stage and ISO week (the week the stay ended)", ("Stage", "Week", *cols),
                      week_rows)),
    )


# -- throughput --------------------------------------------------------------------------------------

def throughput(period: Period) -> Result:
    lc = current_settings().lifecycle
    carrier = {s.key for s in lc.carrier_stages()}
    histories = replay(orders_with_events(period.start_utc, period.end_utc), period.end_utc)
    counts = {d: [0, 0, 0] for d in period.days()}

    def count(at, i):
        if _in(period, at):
            counts[_local_day(at, period.tz)][i] += 1

    for order in histories.values():
        for job in order.jobs.values():
            count(next((s.entered for s in job.stays if s.stage == QC_STAGE), None), 0)
        count(order.first_entry(carrier), 1)
        count(order.first_entry({FINAL_STAGE}), 2)
    rows = [(d, *c) for d, c in counts.items()]
    totals = [sum(r[i] for r in rows) for i in (1, 2, 3)]
    names = ("Jobs finished production", "Orders handed to the carrier", "Orders delivered")
    return Result(
        summary=tuple(zip(names, map(str, totals))),
        charts=(Chart("line", "Per day", [d.strftime("%b %d") for d in counts],
                      [Series(n, [r[i + 1] for r in rows]) for i, n in enumerate(names)], unit="count"),),
        tables=(Table("per-day", "Per day", ("Date", *names), rows,
                      "A job counts on the day it first reached QC; an order on the day it first reached a carrier "
                      "stage (picked up or later), and on the day it was delivered. Days are the shop's local days."),),
    )


# -- work in progress --------------------------------------------------------------------------------

def work_in_progress(period: Period) -> Result:
    lc = current_settings().lifecycle
    people = [s for s in lc.people_stages()]
    keys = {s.key for s in people}
    # Orders that could have a job in a people stage during the period: those with events from the period
    # start on, and those whose jobs are in a people stage now (unmoved since before the period).
    ids = orders_with_events(period.start_utc, None)
    ids |= set(db.session.scalars(select(Job.order_id).where(Job.stage.in_(keys)).distinct()))
    histories = replay(ids, period.end_utc)
    day_list = period.days()
    ends = [dt.datetime.combine(d + dt.timedelta(days=1), dt.time(0), tzinfo=period.tz).astimezone(dt.timezone.utc)
            for d in day_list]
    counts = {d: defaultdict(int) for d in day_list}
    for order in histories.values():
        for job in order.jobs.values():
            for s in job.stays:
                if s.stage not in keys:
                    continue
                # The days whose end falls within the stay: entered < end of day <= left.
                lo = bisect_right(ends, s.entered)
                hi = len(ends) if s.left is None else bisect_right(ends, s.left)
                for d in day_list[lo:hi]:
                    counts[d][s.stage] += 1
    rows = [(d, *[counts[d][s.key] for s in people], sum(counts[d].values())) for d in day_list]
    return Result(
        summary=(("Jobs in progress at the end of the period", str(rows[-1][-1] if rows else 0)),),
        charts=(Chart("line", "Jobs in each stage at the end of each day", [d.strftime("%b %d") for d in day_list],
                      [Series(s.label, [r[i + 1] for r in rows]) for i, s in enumerate(people)], unit="jobs"),),
        tables=(Table("per-day", "Jobs in each stage at the end of each day", ("Date", *[s.label for s in people], "Total"),
                      rows, "Counted at midnight, shop time, from the moves on record. Packed orders count "
                      "each of their jobs; cancelled jobs leave the count."),),
    )


# -- lead time and on-time rate ----------------------------------------------------------------------

def lead_time(period: Period) -> Result:
    lc = current_settings().lifecycle
    carrier = {s.key for s in lc.carrier_stages()}
    histories = replay(orders_with_events(period.start_utc, period.end_utc), period.end_utc)
    handed, delivered = [], []  # (order, completed at, days)
    for order in histories.values():
        at = order.first_entry(carrier)
        if _in(period, at):
            handed.append((order, at, days(at - order.created_at)))
        at = order.first_entry({FINAL_STAGE})
        if _in(period, at):
            delivered.append((order, at, days(at - order.created_at)))

    def grouped(key):
        groups = defaultdict(lambda: ([], []))
        for i, rows in enumerate((handed, delivered)):
            for order, at, d in rows:
                groups[key(order, at)][i].append(d)
        return [(k, *summary(h), *summary(v)) for k, (h, v) in sorted(groups.items())]

    by_week = grouped(lambda o, at: iso_week(_local_day(at, period.tz)))
    by_channel = grouped(lambda o, at: o.channel)

    def on_time(rows):
        due = [(o, _local_day(at, period.tz)) for o, at, _ in rows if o.due_date is not None]
        return sum(1 for o, day in due if day <= o.due_date), len(due), due

    ok_d, n_d, due_d = on_time(delivered)
    ok_h, n_h, _ = on_time(handed)
    late = sorted(((o.code, o.channel, o.due_date, day, (day - o.due_date).days) for o, day in due_d
                   if day > o.due_date), key=lambda r: (-r[4], r[0]))
    cols = ("Handed to carrier: orders", "median (days)", "90th percentile (days)",
            "Delivered: orders", "median (days)", "90th percentile (days)")
    h_all, d_all = summary([d for *_, d in handed]), summary([d for *_, d in delivered])
    return Result(
        summary=(("Orders handed to the carrier", str(h_all[0])),
                 ("Median days, order to carrier", "–" if h_all[1] is None else f"{h_all[1]:g}"),
                 ("Orders delivered", str(d_all[0])),
                 ("Median days, order to delivery", "–" if d_all[1] is None else f"{d_all[1]:g}"),
                 ("Delivered on time", share(ok_d, n_d)),
                 ("Shipped on time", share(ok_h, n_h))),
        charts=(Chart("bar", "Median lead time by week of completion", [r[0] for r in by_week],
                      [Series("Order to carrier", [r[2] for r in by_week]),
                       Series("Order to delivery", [r[5] for r in by_week])], unit="days"),),
        tables=(Table("by-week", "By ISO week of completion", ("Week", *cols), by_week,
                      "Wall-clock days from the order's creation to its first carrier stage (handed over) and to "
                      "delivery, for orders that reached it in the period, grouped by the week they reached it."),
                Table("by-channel", "By channel", ("Channel", *cols), by_channel),
                Table("late", "Delivered late", ("Order", "Channel", "Due", "Delivered", "Days late"), late,
                      "Orders delivered in the period after their due date (shop-local dates).")),
    )


register(Report("stage-times", "Time in each stage",
                "How long jobs and orders stay in each stage: median and 90th percentile, by stage, method and week.",
                stage_times, order=10))
register(Report("throughput", "Throughput",
                "Jobs finished production, orders handed to the carrier and orders delivered, per day.",
                throughput, order=11))
register(Report("work-in-progress", "Work in progress",
                "How many jobs were in each stage at the end of each day.", work_in_progress, order=12))
register(Report("lead-time", "Lead time and on-time rate",
                "Days from order to carrier and to delivery, by week and channel; the share delivered by the due date.",
                lead_time, order=13))
