"""Quality: how often jobs fail QC and go back on press, by method, station and operator (issue 9).

Read from the audit trail (events) of the period only, through ix_events_at:

- A job is *checked* in the period when it entered QC (an event into the qc stage) or failed QC there.
- A *QC fail* is an event of kind "qc_fail": the QC-fail scan writes one whether it sends the job back
  from QC to production or the job failed at the QC table while still on press (services/scanning.py
  _qc_fail, services/orders.py record_reprint). Each QC fail is one reprint.
- A scan that was undone (Scan.undone_at) stands for nothing: its events are left out.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from ..domain.lifecycle import QC_STAGE
from ..extensions import db
from ..models import Event, Job, Scan
from . import Chart, Period, Report, Result, Series, Table, register
from .stats import rate

QC_FAIL = "qc_fail"
NOTE_PREFIX = "QC fail:"
BY_HAND = "(by hand)"


def _reason(note: str | None) -> str:
    text = (note or "").strip()
    if text.startswith(NOTE_PREFIX):
        text = text[len(NOTE_PREFIX):].strip()
    return text or "(no reason given)"


def _rows(checked: dict, failed_jobs: dict, fails: dict) -> list[tuple]:
    rows = []
    for key in sorted(checked, key=lambda k: (-len(checked[k]), str(k))):
        n, jf, f = len(checked[key]), len(failed_jobs.get(key, ())), fails.get(key, 0)
        rows.append((key, n, jf, rate(jf, n), f, rate(f, n)))
    return rows


def compute(period: Period) -> Result:
    q = (select(Event.job_id, Event.kind, Event.from_stage, Event.to_stage, Event.station, Event.actor, Event.note,
                Job.method)
         .join(Job, Job.id == Event.job_id)
         .outerjoin(Scan, Scan.id == Event.scan_id)
         .where(Event.at >= period.start_utc, Event.at < period.end_utc, Event.job_id.is_not(None),
                Scan.undone_at.is_(None))
         .order_by(Event.at, Event.id))
    # Each dimension: value -> set of jobs checked, set of jobs failed, number of fails (reprints).
    dims = ("method", "station", "operator")
    checked = {d: defaultdict(set) for d in dims}
    failed_jobs = {d: defaultdict(set) for d in dims}
    fails = {d: defaultdict(int) for d in dims}
    all_checked, all_failed, all_fails = set(), set(), 0
    reasons: dict[tuple[str, str], int] = defaultdict(int)
    for job_id, kind, from_stage, to_stage, station, actor, note, method in db.session.connection().execute(q):
        is_fail = kind == QC_FAIL
        entered_qc = to_stage == QC_STAGE and from_stage != QC_STAGE and kind != "undo"
        if not (is_fail or entered_qc):
            continue
        keys = {"method": method, "station": station or BY_HAND, "operator": actor or "(unknown)"}
        all_checked.add(job_id)
        for d in dims:
            checked[d][keys[d]].add(job_id)
        if is_fail:
            all_failed.add(job_id)
            all_fails += 1
            reasons[(_reason(note), method)] += 1
            for d in dims:
                failed_jobs[d][keys[d]].add(job_id)
                fails[d][keys[d]] += 1

    columns = ("{}", "Jobs checked", "Jobs failed", "Fail rate %", "Reprints", "Reprints per 100 checked")
    titles = {"method": ("Method", "By print method", None),
              "station": ("Station", "By station", "The station where the job was scanned into QC or failed "
                                                   "there; moves on the board have no station."),
              "operator": ("Operator", "By operator", None)}
    tables = []
    for d in dims:
        heading, title, note = titles[d]
        tables.append(Table(key=f"by_{d}", title=title, columns=(heading, *columns[1:]),
                            rows=_rows(checked[d], failed_jobs[d], fails[d]), note=note))
    reason_totals: dict[str, int] = defaultdict(int)
    for (reason, _), n in reasons.items():
        reason_totals[reason] += n
    reason_rows = [(reason, method, n, rate(n, all_fails))
                   for (reason, method), n in sorted(reasons.items(), key=lambda kv: (-reason_totals[kv[0][0]],
                                                                                      kv[0][0], -kv[1], kv[0][1]))]
    tables.append(Table(key="reasons", title="QC fail reasons",
                        columns=("Reason", "Method", "Fails", "Share of fails %"), rows=reason_rows))
    by_method = tables[0].rows
    chart = Chart(kind="bar", title="QC fail rate by method", labels=[r[0] for r in by_method],
                  series=[Series("Fail rate", [r[3] for r in by_method])], unit="%")
    summary = (("Jobs checked", str(len(all_checked))),
               ("Jobs failed QC", str(len(all_failed))),
               ("Fail rate", f"{rate(len(all_failed), len(all_checked))}%" if all_checked else "–"),
               ("Reprints", str(all_fails)))
    return Result(tables=tables, charts=[chart], summary=summary)


register(Report(
    name="quality",
    title="Quality",
    description="QC fail and reprint rates by method, station and operator, and the reasons jobs failed.",
    compute=compute,
    order=20,
))
