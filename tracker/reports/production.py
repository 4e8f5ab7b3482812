"""Production reports (issue 9): stage times, throughput, work in progress, lead time and on-time rate.

All four read the stage stays (stage_stays: each job's and order's time in each stage, derived from
the audit trail by domain/stays.py and written with every move), by indexed date range: stays that
ended in the period (ix_stage_stays_left), stays that began in it (ix_stage_stays_entered).
The cost follows the work done in the period, not the whole history.

The rules, in the shop's words:
- a job's stays in the job stages (received .. qc) begin and end at its own moves; when the order is
  packed, unpacked, moved on as a whole or cancelled (one event for the order), every job follows it;
- an order's stays in the order stages (packaging, labeled, the carrier's stages) begin and end at the
  order's moves;
- events that change no stage (a note, a QC fail noted while the job stays on press) are not moves.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import aliased

from ..domain.lifecycle import CANCELLED, FINAL_STAGE, QC_STAGE
from ..extensions import db
from ..models import Order, StageStay
from ..settings import current_settings
from . import Chart, Period, Report, Result, Series, Table, register
from .sql import bucket, day_ends, hours_between
from .stats import iso_week, share, summary


def _scopes():
    lc = current_settings().lifecycle
    return ({s.key for s in lc.stages if s.scope == "job"}, {s.key for s in lc.stages if s.scope == "order"})


def first_entries(stages: set[str], period: Period, *, jobs: bool, columns=()):
    """The first time each job (jobs=True) or each order (jobs=False) entered any of `stages`, for those
    whose first entry falls in the period: a select of (day, *columns), `day` the index of the entry's
    local day in period.days(). A stay is a first entry when no earlier stay of the same subject is in
    those stages (per subject, ids follow time). `columns` may name the order's columns (joined)."""
    s, p = StageStay, aliased(StageStay)
    subject = (p.job_id == s.job_id) if jobs else and_(p.order_id == s.order_id, p.job_id.is_(None))
    earlier = exists().where(subject, p.stage.in_(stages), p.id < s.id)
    stmt = (select(bucket(s.entered_at, day_ends(period)).label("day"), *columns)
            .where(s.stage.in_(stages), s.entered_at >= period.start_utc, s.entered_at < period.end_utc,
                   s.job_id.is_not(None) if jobs else s.job_id.is_(None), ~earlier))
    if columns:
        stmt = stmt.join(Order, Order.id == s.order_id)
    return stmt


# -- stage times -------------------------------------------------------------------------------------

def stay_durations(period: Period):
    """(stage, method or None, week of the stay's end, hours) for each stay that ended in the period:
    job stays in the job stages, order stays in the order stages. Stays ended by a cancellation are left
    out (the work was abandoned, not done). The database works out the hours and the local day."""
    job_scope, order_scope = _scopes()
    weeks = [iso_week(d) for d in period.days()]
    s = StageStay
    # Found through ix_stage_stays_left alone; the scope is checked here (in SQL, an OR of the
    # scopes would lead the planner to the stage index, which spans the whole history).
    # Core rows (plain tuples): this can be a few hundred thousand rows for a long range.
    rows = db.session.connection().execute(
        select(s.stage, s.job_id.is_(None), s.method, bucket(s.left_at, day_ends(period)),
               hours_between(s.entered_at, s.left_at))
        .where(s.left_at >= period.start_utc, s.left_at < period.end_utc, s.ended_by != CANCELLED))
    return [(stage, method, weeks[day], h) for stage, order_level, method, day, h in rows
            if stage in (order_scope if order_level else job_scope)]


def stage_times(period: Period) -> Result:
    lc = current_settings().lifecycle
    stays = stay_durations(period)
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
    day_list = period.days()
    counts = {d: [0, 0, 0] for d in day_list}
    for i, (stages, jobs) in enumerate((({QC_STAGE}, True), (carrier, False), ({FINAL_STAGE}, False))):
        entries = first_entries(stages, period, jobs=jobs).subquery()
        for day, n in db.session.execute(select(entries.c.day, func.count()).group_by(entries.c.day)):
            counts[day_list[day]][i] += n
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
    day_list = period.days()
    ends = day_ends(period)
    counts = {d: defaultdict(int) for d in day_list}
    # The job stays in a people stage that overlap a day's end: those still open (found through
    # ix_stage_stays_left: left_at NULL and the stage), and those that ended after the first day's
    # end (the same index by left_at; the stage is checked here, so that the database reads the period's
    # stays only and not every stay ever in those stages); both began before the last day's end. The
    # database counts them by stage and by the days they began and ended (lo, hi: a stay is in progress
    # at the end of the days lo .. hi-1).
    s = StageStay
    lo, hi = bucket(s.entered_at, ends), bucket(s.left_at, ends)
    base = (select(s.stage, lo, hi, func.count()).where(s.job_id.is_not(None), s.entered_at < ends[-1])
            .group_by(lo, hi, s.stage))  # lo, hi first: grouping by stage first draws SQLite to the stage index
    groups = [*db.session.execute(base.where(s.left_at.is_(None), s.stage.in_(keys))),
              *db.session.execute(base.where(s.left_at >= ends[0]))]
    for stage, first, end, n in groups:
        if stage not in keys:
            continue
        for d in day_list[first:len(day_list) if end is None else end]:
            counts[d][stage] += n
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

class _OrderRow:
    __slots__ = ("code", "channel", "due_date")

    def __init__(self, code, channel, due_date):
        self.code, self.channel, self.due_date = code, channel, due_date


def lead_time(period: Period) -> Result:
    lc = current_settings().lifecycle
    carrier = {s.key for s in lc.carrier_stages()}
    day_list = period.days()
    handed, delivered = [], []  # (order, local day completed, days from the order)
    cols = (Order.code, Order.channel, Order.due_date, hours_between(Order.created_at, StageStay.entered_at) / 24)
    for rows, stages in ((handed, carrier), (delivered, {FINAL_STAGE})):
        for day, code, channel, due, d in db.session.execute(first_entries(stages, period, jobs=False, columns=cols)):
            rows.append((_OrderRow(code, channel, due), day_list[day], d))
    def grouped(key):
        groups = defaultdict(lambda: ([], []))
        for i, rows in enumerate((handed, delivered)):
            for order, day, d in rows:
                groups[key(order, day)][i].append(d)
        return [(k, *summary(h), *summary(v)) for k, (h, v) in sorted(groups.items())]

    by_week = grouped(lambda o, day: iso_week(day))
    by_channel = grouped(lambda o, day: o.channel)

    def on_time(rows):
        due = [(o, day) for o, day, _ in rows if o.due_date is not None]
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
