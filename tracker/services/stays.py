"""Keeps the stage_stays table in step with the audit trail (rules: domain/stays.py).

`record()` runs for every event the move service writes (services/orders._record), in the same
transaction: it ends the open stays the move ends and begins the new ones, so a report never has to
replay history. The open stays of an order are read once per transaction and kept in the session (plain
rows, not ORM objects: the hot path of a scan writes them with Core statements); `write()` stores what
changed, one UPDATE and one INSERT however many stays a move touched.

An event dated before the order's latest stay began (a late carrier event, a back-dated correction)
cannot simply be appended: the order's stays are rebuilt from its events, exactly as a replay would
give them. `rebuild_all()` does that for every order (the migration that adds the table, the
`rebuild-stays` command, the benchmark's seeded history).
"""
from __future__ import annotations

import datetime as dt
from itertools import groupby

from sqlalchemy import bindparam, delete, event as sa_event, insert, select, update
from sqlalchemy.orm import Session

from ..domain.stays import StayBook, is_move
from ..extensions import db
from ..models import Event, Job, Order, StageStay
from ..settings import current_settings
from .rows import connection

BOOKS = "inktrail_stay_books"  # session.info key: order id -> _Ledger of this transaction
CHUNK = 500  # orders per rebuild round


def _order_scope() -> set[str]:
    return {s.key for s in current_settings().lifecycle.stages if s.scope == "order"}


class _Stay:
    """One stay as a plain row: read from the table (with its id, `stored`), begun by a move in this
    transaction and written by the next write() (then without an id: a later end in the same transaction
    finds it by its subject, whose one open stay it is), or made by a rebuild."""

    __slots__ = ("id", "order_id", "job_id", "stage", "entered_at", "left_at", "ended_by", "scan_id", "method",
                 "stored")
    COLUMNS = ("order_id", "job_id", "stage", "entered_at", "left_at", "ended_by", "scan_id", "method")

    def __init__(self, order_id, job_id, stage, entered_at, scan_id, method, *, id=None, stored=False):
        self.id, self.order_id, self.job_id, self.stage, self.entered_at = id, order_id, job_id, stage, entered_at
        self.scan_id, self.method, self.left_at, self.ended_by, self.stored = scan_id, method, None, None, stored

    def row(self) -> dict:
        return {k: getattr(self, k) for k in self.COLUMNS}


class _Ledger:
    """One order's stays in this transaction: its StayBook (the open stays), and what the book's moves
    began and ended that write() has not stored yet."""

    def __init__(self, order_id: int, jobs: dict, open_stays: list[_Stay]):
        self.begun: list[_Stay] = []
        self.ended: list[_Stay] = []

        def make(job_id, stage, at, scan_id, method):
            stay = _Stay(order_id, job_id, stage, at, scan_id, method)
            self.begun.append(stay)
            return stay

        self.book = StayBook(_order_scope(), jobs, make, open_stays)


_t = StageStay.__table__
_OPEN_STAYS = select(_t.c.id, _t.c.order_id, _t.c.job_id, _t.c.stage, _t.c.entered_at, _t.c.scan_id,
                     _t.c.method).where(_t.c.order_id == bindparam("order_id"), _t.c.left_at.is_(None))
_ENDED = {"left_at": bindparam("_left_at"), "ended_by": bindparam("_ended_by")}
_END_BY_ID = update(_t).where(_t.c.id == bindparam("_id")).values(**_ENDED)
_END_BY_SUBJECT = update(_t).where(_t.c.order_id == bindparam("_order_id"),
                                   _t.c.job_id.is_not_distinct_from(bindparam("_job_id")),
                                   _t.c.left_at.is_(None)).values(**_ENDED)
_INSERT = insert(_t)  # run with a list of rows: executemany, one statement compiled once


def _ledger(session, order: Order, job: Job | None) -> _Ledger:
    ledgers = session.info.setdefault(BOOKS, {})
    jobs = {j.id: (j.created_at, j.method) for j in order.jobs if j.id is not None}
    if job is not None and job.id is not None:
        jobs[job.id] = (job.created_at, job.method)
    ledger = ledgers.get(order.id)
    if ledger is not None:
        ledger.book.jobs.update(jobs)
        return ledger
    open_stays = [_Stay(r.order_id, r.job_id, r.stage, r.entered_at, r.scan_id, r.method, id=r.id, stored=True)
                  for r in connection(session).execute(_OPEN_STAYS, {"order_id": order.id})]
    ledger = ledgers[order.id] = _Ledger(order.id, jobs, open_stays)
    return ledger


def record(order: Order, job: Job | None, ev) -> bool:
    """Applies one new event of `order` (an Event, or anything with its fields) to the order's stays in this
    transaction's book; write() stores the changes. Returns False when the event is dated before the
    order's latest stay began (a late carrier event, a back-dated correction): then the event must be
    stored and the order's stays rebuilt (rebuild()), which the audit trail does."""
    if not is_move(ev):
        return True
    session = db.session()
    with session.no_autoflush:
        ledger = _ledger(session, order, job)
        book = ledger.book
        latest = book.latest_entry()
        if latest is not None and ev.at < latest:
            return False
        before = dict(book.open)
        book.apply(ev)
        ledger.ended.extend(stay for key, stay in before.items() if book.open.get(key) is not stay and stay.stored)
    return True


def pending(session) -> bool:
    """Whether record() changed stays in this session that write() has not stored yet."""
    return any(ledger.begun or ledger.ended for ledger in (session.info.get(BOOKS) or {}).values())


def write(session=None) -> None:
    """Stores what record() changed in this transaction: the ended stays (one UPDATE, run for each) and the
    new ones (one INSERT)."""
    session = session or db.session()
    by_id, by_subject, begun = [], [], []
    for ledger in (session.info.get(BOOKS) or {}).values():
        for stay in ledger.ended:
            ended = {"_left_at": stay.left_at, "_ended_by": stay.ended_by}
            if stay.id is not None:
                by_id.append({"_id": stay.id, **ended})
            else:
                by_subject.append({"_order_id": stay.order_id, "_job_id": stay.job_id, **ended})
        begun.extend(ledger.begun)
        ledger.begun, ledger.ended = [], []
    conn = connection(session) if by_id or by_subject or begun else None
    if by_id:
        conn.execute(_END_BY_ID, by_id)
    if by_subject:
        conn.execute(_END_BY_SUBJECT, by_subject)
    if begun:
        conn.execute(_INSERT, [stay.row() for stay in begun])
        for stay in begun:
            stay.stored = True


def rebuild(order_id: int) -> None:
    """Rebuilds one order's stays from its stored events (after an event out of time order; the caller
    has written its trail, that event included)."""
    session = db.session()
    session.flush()
    session.info.setdefault(BOOKS, {}).pop(order_id, None)
    rebuild_order(order_id)


def rebuild_order(order_id: int) -> None:
    """Replaces the order's stays with those its stored events give."""
    session = db.session()
    session.execute(delete(StageStay).where(StageStay.order_id == order_id).execution_options(synchronize_session=False))
    for stay in list(session.identity_map.values()):
        if isinstance(stay, StageStay) and stay.order_id == order_id:
            session.expunge(stay)
    jobs = {job_id: (created, method) for job_id, created, method in
            session.execute(select(Job.id, Job.created_at, Job.method).where(Job.order_id == order_id))}
    rows: list[_Stay] = []

    def make(job_id, stage, at, scan_id, method):
        rows.append(_Stay(order_id, job_id, stage, at, scan_id, method))
        return rows[-1]

    book = StayBook(_order_scope(), jobs, make)
    for ev in session.execute(select(Event.job_id, Event.at, Event.kind, Event.from_stage, Event.to_stage,
                                     Event.scan_id)
                              .where(Event.order_id == order_id, Event.to_stage.is_not(None))
                              .order_by(Event.at, Event.id)):
        book.apply(ev)
    if rows:
        session.execute(_INSERT, [r.row() for r in rows])


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
        rows: list[_Stay] = []
        evs = conn.execute(select(events.c.order_id, events.c.job_id, events.c.at, events.c.kind,
                                  events.c.from_stage, events.c.to_stage, events.c.scan_id)
                           .where(events.c.order_id.in_(ids), events.c.to_stage.is_not(None))
                           .order_by(events.c.order_id, events.c.at, events.c.id))
        for order_id, order_events in groupby(evs, key=lambda e: e.order_id):
            def make(job_id, stage, at, scan_id, method, _order_id=order_id):
                row = _Stay(_order_id, job_id, stage, at, scan_id, method)
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
