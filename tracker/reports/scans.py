"""Scan discipline: are moves scanned at the stations, or made by hand on the board? (issue 9)

Read from the period only, counted by the database where it can be: events through ix_events_at, scans
through ix_scans_received_at, stage stays (for work left open) through ix_stage_stays_entered.

- A *move* is an event of kind advance, skip or rework made by a person (source scan, board, web or api;
  never carrier, system or import), whose scan (if any) was not undone. A job's move counts once per job;
  an order's own event counts only when it is a move of the order as one (packing, the ship-out check,
  unpacking), not the order following its jobs (that event repeats a job's move).
- A move's *stage* is the stage it moved into; its *stations* are the configured scan stations that move
  into that stage ([[stations]] moves_to). Moves are grouped by stage, because a move on the board has no
  station of its own.
- A *missed scan* at a station: a move of kind skip that jumped over the station's stage.
- *Left open at the end of the day*: a job (an order, for an order-wide stage such as packing) that
  entered a work stage during a day of the shop's time zone and was still in that stage at midnight that
  night. Work stages are the people stages except the first (orders wait there before work starts) and
  the last (a labelled parcel waits for the carrier). Only days that have ended count.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

from sqlalchemy import func, select

from ..domain.lifecycle import LAST_PEOPLE_STAGE
from ..extensions import db
from ..models import Event, Scan, StageStay, utcnow
from ..settings import current_settings
from . import Chart, Period, Report, Result, Series, Table, register
from .sql import bucket, day_ends
from .stats import rate

MOVE_KINDS = ("advance", "skip", "rework")
PEOPLE_SOURCES = ("scan", "board", "web", "api")
HAND = "by hand"
NO_STATION = "(no scan station)"
TOP_REASONS = 5



def reason_of(message: str) -> str:
    """A refusal's message with the codes in it taken out, so the same reason counts together:
    "A1001A is in Received; Pre-production comes next" -> "… is in Received; Pre-production comes next"."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message or "")
    text = re.sub(r"\b[A-Z]{0,4}\d[0-9A-Z]*\b", "…", text)
    return text.strip() or "(no message)"


def _stations_by_stage() -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for key, station in current_settings().stations.items():
        found[station.moves_to].append(key)
    return found


def _is_counted_move(m: "_Moves", lc) -> bool:
    """Moves by people (kind, source and undone scans are filtered by the query): a job's move always
    counts; an order's event only when it is not the order following its jobs between job stages."""
    if not m.order_level:
        return True
    return not all(s in lc and lc.get(s).scope == "job" for s in (m.from_stage, m.to_stage))


def _skipped(ev, lc) -> list[str]:
    if ev.from_stage not in lc or ev.to_stage not in lc:
        return []
    lo, hi = lc.index(ev.from_stage), lc.index(ev.to_stage)
    return [s.key for s in lc.stages[lo + 1:hi]]


class _Moves:
    """One group of like moves, counted by the database: (kind, from, to, source, actor, order-level)."""
    __slots__ = ("kind", "from_stage", "to_stage", "source", "actor", "order_level", "n")

    def __init__(self, kind, from_stage, to_stage, source, actor, order_level, n):
        self.kind, self.from_stage, self.to_stage, self.source, self.actor = kind, from_stage, to_stage, source, actor
        self.order_level, self.n = bool(order_level), n


def _move_groups(period: Period) -> list[_Moves]:
    """The period's moves by people, grouped and counted in the database (the period can hold a hundred
    thousand events; the groups are a few hundred). Undone scans are left out."""
    order_level = Event.job_id.is_(None)
    cols = (Event.kind, Event.from_stage, Event.to_stage, Event.source, Event.actor, order_level)
    return [_Moves(*row) for row in db.session.execute(
        select(*cols, func.count())
        .outerjoin(Scan, Scan.id == Event.scan_id)
        .where(Event.at >= period.start_utc, Event.at < period.end_utc, Event.kind.in_(MOVE_KINDS),
               Event.source.in_(PEOPLE_SOURCES), Scan.undone_at.is_(None))
        .group_by(*cols))]


def compute(period: Period) -> Result:
    settings = current_settings()
    lc = settings.lifecycle
    by_stage_stations = _stations_by_stage()
    moves = [m for m in _move_groups(period) if _is_counted_move(m, lc)]
    stage_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # stage -> [by scan, by hand]
    operator_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    skips: dict[tuple[str, str], int] = defaultdict(int)
    missed: dict[str, int] = defaultdict(int)
    for m in moves:
        i = 0 if m.source == "scan" else 1
        stage_counts[m.to_stage][i] += m.n
        operator_counts[m.actor or "(unknown)"][i] += m.n
        if m.kind == "skip":
            for stage in _skipped(m, lc):
                skips[(stage, m.actor or "(unknown)")] += m.n
                for station in by_stage_stations.get(stage, ()):
                    missed[station] += m.n

    def stations_label(stage: str) -> str:
        return ", ".join(by_stage_stations.get(stage, ())) or NO_STATION

    def stage_order(stage: str) -> tuple:
        return (lc.index(stage) if stage in lc else len(lc.stages), stage)

    stage_rows = []
    for stage in sorted(stage_counts, key=stage_order):
        scan_n, hand_n = stage_counts[stage]
        stage_rows.append((lc.label(stage), stations_label(stage), scan_n + hand_n, scan_n, hand_n,
                           rate(scan_n, scan_n + hand_n)))
    operator_rows = []
    for actor in sorted(operator_counts, key=lambda a: (-sum(operator_counts[a]), a)):
        scan_n, hand_n = operator_counts[actor]
        operator_rows.append((actor, scan_n + hand_n, scan_n, hand_n, rate(scan_n, scan_n + hand_n)))
    skip_rows = [(lc.label(stage), stations_label(stage), actor, n)
                 for (stage, actor), n in sorted(skips.items(), key=lambda kv: (stage_order(kv[0][0]), -kv[1],
                                                                                  kv[0][1]))]
    missed_rows = [(key, lc.label(st.moves_to), missed.get(key, 0)) for key, st in settings.stations.items()]

    # Scans and refused scans by station, counted by the database; the refusals' messages read one by one.
    in_period = (Scan.received_at >= period.start_utc, Scan.received_at < period.end_utc)
    per_station: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # station -> [scans, refused]
    for station, ok, n in db.session.execute(select(Scan.station, Scan.ok, func.count()).where(*in_period)
                                             .group_by(Scan.station, Scan.ok)):
        per_station[station][0] += n
        if not ok:
            per_station[station][1] += n
    reasons: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for station, message in db.session.execute(select(Scan.station, Scan.message)
                                               .where(*in_period, Scan.ok.is_(False))):
        reasons[station][reason_of(message)] += 1
    refused_rows = [(station, n, refused, rate(refused, n))
                    for station, (n, refused) in sorted(per_station.items())]
    reason_rows = [(station, reason, n)
                   for station in sorted(reasons)
                   for reason, n in sorted(reasons[station].items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS]]

    open_rows = _left_open(lc, period)

    tables = [
        Table("by_stage", "Moves by scan and by hand, by stage",
              ("Stage moved into", "Scan stations", "Moves", "By scan", "By hand", "Share by scan %"), stage_rows,
              note="Moves by people (scan, board, web, API) in the period; an undone scan is not counted."),
        Table("by_operator", "Moves by scan and by hand, by person",
              ("Person", "Moves", "By scan", "By hand", "Share by scan %"), operator_rows),
        Table("skips", "Skipped stages", ("Stage skipped", "Scan stations", "Person", "Moves that skipped it"),
              skip_rows),
        Table("missed", "Missed scans by station", ("Station", "Stage", "Missed scans"), missed_rows,
              note="A job moved past the station's stage without entering it (a skip)."),
        Table("refused", "Refused scans by station", ("Station", "Scans", "Refused", "Refused %"), refused_rows),
        Table("refusal_reasons", "Why scans were refused", ("Station", "Reason", "Scans"), reason_rows,
              note=f"The {TOP_REASONS} most frequent reasons at each station; codes in the message are shown as …"),
        Table("left_open", "Left open at the end of the day", ("Day", "Stage", "Left open", "Counted as"),
              open_rows,
              note="Entered the stage that day (shop time) and still in it at midnight; days not over yet "
                   "are not counted."),
    ]
    charted = [r for r in stage_rows if r[1] != NO_STATION]
    chart = Chart("bar", "Share of moves made by scan, by station", [f"{r[1]} ({r[0]})" for r in charted],
                  [Series("By scan", [r[5] for r in charted])], unit="%")
    total = sum(m.n for m in moves)
    by_scan = sum(c[0] for c in stage_counts.values())
    summary = (("Moves by people", str(total)),
               ("Share by scan", f"{rate(by_scan, total)}%" if total else "–"),
               ("Missed scans", str(sum(missed.values()))),
               ("Refused scans", str(sum(r[2] for r in refused_rows))))
    return Result(tables=tables, charts=[chart], summary=summary)


def _left_open(lc, period: Period) -> list[tuple]:
    """(day, stage, count, unit) rows, from the stage stays that began in the period: a stay in a work
    stage that had not ended by the midnight after it began (a job's own stays for the job stages, the
    order's for the order-wide stages); a stay begun by a scan that was undone stands for nothing."""
    work = [s for s in lc.people_stages()[1:] if s.key != LAST_PEOPLE_STAGE]
    work_keys = {s.key for s in work}
    now = utcnow()
    day_list, ends = period.days(), day_ends(period)
    left: dict[tuple[dt.date, str], int] = defaultdict(int)
    s = StageStay
    began, ended = bucket(s.entered_at, ends), bucket(s.left_at, ends)  # local day indexes
    for order_level, stage, first, last, n in db.session.execute(
            select(s.job_id.is_(None), s.stage, began, ended, func.count())
            .outerjoin(Scan, Scan.id == s.scan_id)
            .where(s.stage.in_(work_keys), s.entered_at >= period.start_utc, s.entered_at < period.end_utc,
                   Scan.undone_at.is_(None))
            .group_by(s.job_id.is_(None), s.stage, began, ended)):
        if (lc.get(stage).scope == "order") != bool(order_level):
            continue
        # Still there at the midnight after the day it began (ends[first]), if that midnight has passed.
        if ends[first] <= now and (last is None or last > first):
            left[(day_list[first], stage)] += n
    rows = []
    for (day, stage), n in sorted(left.items(), key=lambda kv: (kv[0][0], lc.index(kv[0][1]))):
        rows.append((day, lc.label(stage), n, "jobs" if lc.get(stage).scope == "job" else "orders"))
    return rows


register(Report(
    name="scan-discipline",
    title="Scan discipline",
    description="How many moves are scanned at the stations and how many are made by hand; skipped stages, "
                "missed and refused scans, and work left open at the end of the day.",
    compute=compute,
    order=30,
))
