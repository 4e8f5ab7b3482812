"""Artwork approval: how long customers take to answer proofs, how many rounds a job needs, and what is
waiting for a customer now (issue 19).

Read from the proofs table only, by the time a proof was posted (ix_proofs_state_posted for the open
ones, the period's rows otherwise):

- A proof *answered* in the period was posted in it and approved or sent back with changes; its wait is
  posted -> answered, in clock hours (the customer's time, which stall checks and estimates leave out).
- *Rounds* of a job: the versions posted for it in the period (1 = approved at the first try).
- *Waiting now* lists every proof still pending, whatever the period, oldest first.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from ..domain.proofs import APPROVED, CHANGES_ASKED, PENDING
from ..extensions import db
from ..models import Job, Order, Proof, utcnow
from . import Chart, Period, Report, Result, Series, Table, register
from .stats import hours, rate, summary


def compute(period: Period) -> Result:
    rows = db.session.execute(
        select(Proof.job_id, Proof.version, Proof.state, Proof.posted_at, Proof.answered_at, Job.method)
        .join(Job, Job.id == Proof.job_id)
        .where(Proof.posted_at >= period.start_utc, Proof.posted_at < period.end_utc)
        .order_by(Proof.posted_at, Proof.id)).all()
    waits: list[float] = []
    by_method: dict[str, list[float]] = defaultdict(list)
    approved = changes = 0
    versions: dict[int, int] = defaultdict(int)
    method_of: dict[int, str] = {}
    for job_id, version, state, posted, answered, method in rows:
        versions[job_id] += 1
        method_of[job_id] = method
        if state in (APPROVED, CHANGES_ASKED) and answered is not None:
            wait = hours(answered - posted)
            waits.append(wait)
            by_method[method].append(wait)
            approved += state == APPROVED
            changes += state == CHANGES_ASKED
    _, med, p90 = summary(waits)
    method_rows = []
    for method in sorted(by_method, key=lambda m: (-len(by_method[m]), m)):
        count, m_med, m_p90 = summary(by_method[method])
        jobs = [j for j, m in method_of.items() if m == method]
        rounds = sum(versions[j] for j in jobs) / len(jobs) if jobs else None
        method_rows.append((method, count, m_med, m_p90, round(rounds, 2) if rounds else None))
    round_counts: dict[int, int] = defaultdict(int)
    for count in versions.values():
        round_counts[count] += 1
    round_rows = [(k, v, rate(v, len(versions))) for k, v in sorted(round_counts.items())]

    now = utcnow()
    pending = db.session.execute(
        select(Job.code, Proof.version, Proof.posted_at, Proof.reminded_at, Order.code)
        .join(Job, Job.id == Proof.job_id).join(Order, Order.id == Proof.order_id)
        .where(Proof.state == PENDING, Order.stage != "cancelled")
        .order_by(Proof.posted_at).limit(500)).all()
    pending_rows = [(job, order, version, posted.astimezone(period.tz).strftime("%Y-%m-%d %H:%M"),
                     round(hours(now - posted), 1), "yes" if reminded else "no")
                    for job, version, posted, reminded, order in pending]

    tables = [
        Table(key="by_method", title="Customer's time to answer, by method",
              columns=("Method", "Proofs answered", "Median hours", "90th percentile hours", "Versions per job"),
              rows=method_rows,
              note="Clock hours from posting a proof to the customer's answer; this time is not counted "
                   "against the stage's SLA."),
        Table(key="rounds", title="Versions needed per job", columns=("Versions", "Jobs", "Share %"),
              rows=round_rows),
        Table(key="waiting", title="Waiting for the customer now",
              columns=("Job", "Order", "Version", "Posted", "Hours waiting", "Reminded"), rows=pending_rows,
              note="Every proof still unanswered, whatever the dates chosen above."),
    ]
    chart = Chart(kind="bar", title="Median hours until the customer answered, by method",
                  labels=[r[0] for r in method_rows], series=[Series("Median hours", [r[2] for r in method_rows])],
                  unit="h")
    figures = (("Proofs posted", str(len(rows))),
               ("Approved", str(approved)),
               ("Changes requested", str(changes)),
               ("Median hours to answer", f"{med:g}" if med is not None else "–"),
               ("90th percentile hours", f"{p90:g}" if p90 is not None else "–"),
               ("Waiting now", str(len(pending_rows))))
    return Result(tables=tables, charts=[chart] if method_rows else [], summary=figures)


register(Report(
    name="proofs",
    title="Artwork approval",
    description="How long customers take to answer proofs, how many versions jobs need, and what waits now.",
    compute=compute,
    order=25,
))
