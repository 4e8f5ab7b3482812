"""Keeps the stage_stays table in step with the audit trail (rules: domain/stays.py).

`record()` runs for every event the move service writes (services/orders._record), in the same
transaction: it ends the open stays the move ends and begins the new ones, so a report never has to
replay history. The open stays of an order are read once per transaction and kept in the session.

An event dated before the order's latest stay began (a late carrier event, a back-dated correction)
cannot simply be appended: the order's stays are rebuilt from its events, exactly as a replay would
give them. `rebuild_all()` does that for every order (the migration that adds the table, the
`rebuild-stays` command, the benchmark's seeded history).
"""
from __future__ import annotations

import datetime as dt
from itertools import groupby

from sqlalchemy import delete, event as sa_event, insert, select
from sqlalchemy.orm import Session

from ..domain.stays import StayBook, is_move
from ..extensions import db
from ..models import Event, Job, Order, StageStay
from ..settings import current_settings

BOOKS = "inktrail_stay_books"  # session.info key: order id -> StayBook of this transaction
CHUNK = 500  # orders per rebuild round


def _order_scope() -> set[str]:
    return {s.key for s in current_settings().lifecycle.stages if s.scope == "order"}


def _make_orm(order_id: int):
    def make(job_id, stage, at, scan_id, method):
        stay = StageStay(order_id=order_id, job_id=job_id, stage=stage, entered_at=at, scan_id=scan_id, method=method)
        db.session.add(stay)
        return stay
    return make


def record(order: Order, job: Job | None, ev: Event) -> None:
    """Applies one new event of `order` to its stays (same transaction, nothing committed here)."""
    if not is_move(ev):
        return
    session = db.session()
    books = session.info.setdefault(BOOKS, {})
    with session.no_autoflush:
        jobs = {j.id: (j.created_at, j.method) for j in order.jobs if j.id is not None}
        if job is not None and job.id is not None:
            jobs[job.id] = (job.created_at, job.method)
        book = books.get(order.id)
        if book is None:
            open_stays = session.scalars(select(StageStay).where(StageStay.order_id == order.id,
                                                                 StageStay.left_at.is_(None))).all()
            book = books[order.id] = StayBook(_order_scope(), jobs, _make_orm(order.id), open_stays)
        else:
            book.jobs.update(jobs)
        latest = book.latest_entry()
        if latest is None or ev.at >= latest:
            book.apply(ev)
            return
    # Out of time order: rebuild this order's stays from its events (the new one included).
    session.flush()
    books[order.id] = rebuild_order(order.id)


def rebuild_order(order_id: int) -> StayBook:
    """Replaces the order's stays with those its events give; returns the book of its open stays."""
    session = db.session()
    session.execute(delete(StageStay).where(StageStay.order_id == order_id).execution_options(synchronize_session=False))
    for stay in list(session.identity_map.values()):
        if isinstance(stay, StageStay) and stay.order_id == order_id:
            session.expunge(stay)
    jobs = {job_id: (created, method) for job_id, created, method in
            session.execute(select(Job.id, Job.created_at, Job.method).where(Job.order_id == order_id))}
    book = StayBook(_order_scope(), jobs, _make_orm(order_id))
    for ev in session.execute(select(Event.job_id, Event.at, Event.kind, Event.from_stage, Event.to_stage,
                                     Event.scan_id)
                              .where(Event.order_id == order_id, Event.to_stage.is_not(None))
                              .order_by(Event.at, Event.id)):
        book.apply(ev)
    return book


class _Row:
    __slots__ = ("order_id", "job_id", "stage", "entered_at", "left_at", "ended_by", "scan_id", "method")

    def __init__(self, order_id, job_id, stage, entered_at, scan_id, method):
        self.order_id, self.job_id, self.stage, self.entered_at = order_id, job_id, stage, entered_at
        self.scan_id, self.method, self.left_at, self.ended_by = scan_id, method, None, None

    def row(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}


def rebuild_all(conn) -> int:
    """Rebuilds every order's stays from the events, in rounds of CHUNK orders; returns the stays written.
    `conn` is a Connection (the migration's) or a Session's connection."""
    scope = _order_scope()
    stays_table, events, jobs_table = StageStay.__table__, Event.__table__, Job.__table__
    conn.execute(delete(stays_table))
    written = 0
    last = 0
    while True:
        ids = list(conn.scalars(select(Order.__table__.c.id).where(Order.__table__.c.id > last)
                                .order_by(Order.__table__.c.id).limit(CHUNK)))
        if not ids:
            return written
        last = ids[-1]
        jobs: dict[int, dict[int, tuple]] = {i: {} for i in ids}
        for job_id, order_id, created, method in conn.execute(
                select(jobs_table.c.id, jobs_table.c.order_id, jobs_table.c.created_at, jobs_table.c.method)
                .where(jobs_table.c.order_id.in_(ids))):
            jobs[order_id][job_id] = (created, method)
        rows: list[_Row] = []
        evs = conn.execute(select(events.c.order_id, events.c.job_id, events.c.at, events.c.kind,
                                  events.c.from_stage, events.c.to_stage, events.c.scan_id)
                           .where(events.c.order_id.in_(ids), events.c.to_stage.is_not(None))
                           .order_by(events.c.order_id, events.c.at, events.c.id))
        for order_id, order_events in groupby(evs, key=lambda e: e.order_id):
            def make(job_id, stage, at, scan_id, method, _order_id=order_id):
                row = _Row(_order_id, job_id, stage, at, scan_id, method)
                rows.append(row)
                return row
            book = StayBook(scope, jobs[order_id], make)
            for ev in order_events:
                book.apply(ev)
        if rows:
            conn.execute(insert(stays_table), [r.row() for r in rows])
            written += len(rows)


def _forget(session, *args) -> None:
    session.info.pop(BOOKS, None)


for _name in ("after_commit", "after_rollback", "after_soft_rollback"):
    sa_event.listen(Session, _name, _forget)
