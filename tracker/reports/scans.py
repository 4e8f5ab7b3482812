"""Scan discipline: are moves scanned at the stations, or made by hand on the board? (issue 9)

Read from the period only: events through ix_events_at, scans through ix_scans_received_at.

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

from sqlalchemy import select

from ..domain.lifecycle import LAST_PEOPLE_STAGE
from ..extensions import db
from ..models import Event, Scan, utcnow
from ..settings import current_settings
from . import Chart, Period, Report, Result, Series, Table, register
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


def _is_counted_move(ev, lc) -> bool:
    if ev.kind not in MOVE_KINDS or ev.source not in PEOPLE_SOURCES or ev.undone:
        return False
    if ev.job_id is not None:
        return True
    in_job_stages = all(s in lc and lc.get(s).scope == "job" for s in (ev.from_stage, ev.to_stage))
    return not in_job_stages  # an order event between job stages is the order following its jobs


def _skipped(ev, lc) -> list[str]:
    if ev.from_stage not in lc or ev.to_stage not in lc:
        return []
    lo, hi = lc.index(ev.from_stage), lc.index(ev.to_stage)
    return [s.key for s in lc.stages[lo + 1:hi]]


def compute(period: Period) -> Result:
    settings = current_settings()
    lc = settings.lifecycle
    by_stage_stations = _stations_by_stage()
    events = list(db.session.execute(
        select(Event.id, Event.order_id, Event.job_id, Event.at, Event.kind, Event.from_stage, Event.to_stage,
               Event.source, Event.actor, Event.station, Scan.undone_at.is_not(None).label("undone"))
        .outerjoin(Scan, Scan.id == Event.scan_id)
        .where(Event.at >= period.start_utc, Event.at < period.end_utc)
        .order_by(Event.at, Event.id)))

    moves = [ev for ev in events if _is_counted_move(ev, lc)]
    stage_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # stage -> [by scan, by hand]
    operator_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    skips: dict[tuple[str, str], int] = defaultdict(int)
    missed: dict[str, int] = defaultdict(int)
    for ev in moves:
        i = 0 if ev.source == "scan" else 1
        stage_counts[ev.to_stage][i] += 1
        operator_counts[ev.actor or "(unknown)"][i] += 1
        if ev.kind == "skip":
            for stage in _skipped(ev, lc):
                skips[(stage, ev.actor or "(unknown)")] += 1
                for station in by_stage_stations.get(stage, ()):
                    missed[station] += 1

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

    # Refused scans, by station, from the scans of the period.
    scans = db.session.execute(select(Scan.station, Scan.ok, Scan.message)
                               .where(Scan.received_at >= period.start_utc, Scan.received_at < period.end_utc))
    per_station: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # station -> [scans, refused]
    reasons: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for station, ok, message in scans:
        per_station[station][0] += 1
        if not ok:
            per_station[station][1] += 1
            reasons[station][reason_of(message)] += 1
    refused_rows = [(station, n, refused, rate(refused, n))
                    for station, (n, refused) in sorted(per_station.items())]
    reason_rows = [(station, reason, n)
                   for station in sorted(reasons)
                   for reason, n in sorted(reasons[station].items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS]]

    open_rows = _left_open(events, lc, period)

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
    total = len(moves)
    by_scan = sum(c[0] for c in stage_counts.values())
    summary = (("Moves by people", str(total)),
               ("Share by scan", f"{rate(by_scan, total)}%" if total else "–"),
               ("Missed scans", str(sum(missed.values()))),
               ("Refused scans", str(sum(r[2] for r in refused_rows))))
    return Result(tables=tables, charts=[chart], summary=summary)


def _left_open(events, lc, period: Period) -> list[tuple]:
    """(day, stage, count, unit) rows. Every change that can end a stay begun in the period happens before
    that day's midnight, inside the period, so the period's events are all that is needed."""
    work = [s for s in lc.people_stages()[1:] if s.key != LAST_PEOPLE_STAGE]
    work_keys = {s.key for s in work}
    # Each subject's stage changes in time order: ("job", id) for job stages, ("order", id) for order stages.
    changes: dict[tuple[str, int], list] = defaultdict(list)
    # An order's own moves (packing, cancelling, ...) carry its jobs along without a job event: they end
    # its jobs' stays too. (An order event between two job stages only follows its jobs.)
    order_moves: dict[int, list] = defaultdict(list)
    for ev in events:
        if ev.from_stage == ev.to_stage:
            continue
        if ev.job_id is not None:
            changes[("job", ev.job_id)].append(ev)
        else:
            changes[("order", ev.order_id)].append(ev)
            if not all(s in lc and lc.get(s).scope == "job" for s in (ev.from_stage, ev.to_stage)):
                order_moves[ev.order_id].append(ev)
    now = utcnow()
    tz = period.tz
    left: dict[tuple[dt.date, str], set] = defaultdict(set)
    for subject, evs in changes.items():
        kind = subject[0]
        for ev in evs:
            stage = ev.to_stage
            if ev.undone or stage not in work_keys or (lc.get(stage).scope == "job") != (kind == "job"):
                continue
            day = ev.at.astimezone(tz).date()
            midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0),
                                           tzinfo=tz).astimezone(dt.timezone.utc)
            if midnight > now:
                continue
            later = [e for e in evs if (e.at, e.id) > (ev.at, ev.id) and e.at < midnight]
            if kind == "job":
                later += [e for e in order_moves.get(ev.order_id, ()) if (e.at, e.id) > (ev.at, ev.id)
                          and e.at < midnight]
            if not later:
                left[(day, stage)].add(subject)
    rows = []
    for (day, stage), subjects in sorted(left.items(), key=lambda kv: (kv[0][0], lc.index(kv[0][1]))):
        rows.append((day, lc.label(stage), len(subjects), "jobs" if lc.get(stage).scope == "job" else "orders"))
    return rows


register(Report(
    name="scan-discipline",
    title="Scan discipline",
    description="How many moves are scanned at the stations and how many are made by hand; skipped stages, "
                "missed and refused scans, and work left open at the end of the day.",
    compute=compute,
    order=30,
))
