"""Order intake and every stage move. Each function flushes; the caller (view, job, CLI) commits."""
from __future__ import annotations

import datetime as dt
from collections import namedtuple
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import bindparam, event as sa_event, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..domain import lifecycle as rules
from ..domain.codes import job_code, new_public_token, order_code
from ..domain.intake import SHIP_TO_ATTRS, OrderDraft
from ..domain.refusals import Invalid, NotFound
from ..extensions import db
from ..models import Counter, Event, Job, Order, utcnow
from ..settings import current_settings
from . import events, stays
from .rows import Plain, connection


@dataclass(frozen=True)
class Actor:
    """Who did it: a person's username and role, or a system name with no role."""

    name: str | None
    role: str | None = None


SYSTEM = Actor("system", None)


def next_number(name: str, first: int) -> int:
    """The next value of a named counter. The row is updated in place, so two concurrent writers
    serialise on it and no number is handed out twice, even after rollbacks of other rows."""
    stmt = update(Counter).where(Counter.name == name).values(value=Counter.value + 1).returning(Counter.value)
    value = db.session.execute(stmt).scalar()
    if value is None:
        try:
            with db.session.begin_nested():
                db.session.execute(insert(Counter).values(name=name, value=first))
            return first
        except IntegrityError:
            value = db.session.execute(stmt).scalar()
    return value


def find_by_external_ref(channel: str, external_ref: str) -> Order | None:
    return db.session.scalar(select(Order).where(Order.channel == channel, Order.external_ref == external_ref))


def create_order(draft: OrderDraft, *, actor: Actor, source: str, at: dt.datetime | None = None) -> tuple[Order, bool]:
    """Creates an order with one job per item. Returns (order, created); the same channel and
    external_ref again returns the existing order and created=False."""
    if draft.external_ref:
        existing = find_by_external_ref(draft.channel, draft.external_ref)
        if existing is not None:
            return existing, False
    settings = current_settings()
    now = at or utcnow()
    first_stage = settings.lifecycle.stages[0].key
    # The number is taken before the savepoint, not inside it: with SQLite's Python driver a SAVEPOINT
    # that opens the transaction is committed by its RELEASE, so the caller's rollback would not undo
    # the order. The counter UPDATE opens a real transaction first. A lost race on external_ref keeps
    # the number it took: a gap, never a reuse.
    number = next_number("order", settings.shop.first_order_number)
    code = order_code(settings.shop.order_prefix, number)
    try:
        with db.session.begin_nested():
            order = Order(
                code=code, channel=draft.channel, external_ref=draft.external_ref, external_name=draft.external_name,
                customer_name=draft.customer_name, customer_email=draft.customer_email,
                customer_phone=draft.customer_phone, ship_city=draft.ship_city,
                ship_region=draft.ship_region, ship_country=draft.ship_country, ship_name=draft.ship_name,
                ship_company=draft.ship_company, ship_street1=draft.ship_street1, ship_street2=draft.ship_street2,
                ship_postal=draft.ship_postal,
                due_date=draft.due_date, rush=draft.rush, notes=draft.notes,
                stage=first_stage, stage_entered_at=now, public_token=new_public_token(),
                created_at=now, updated_at=now,
            )
            order.jobs = [
                Job(code=job_code(code, i), position=i, description=item.description, method=item.method,
                    quantity=item.quantity, stage=first_stage, stage_entered_at=now, created_at=now,
                    external_ref=item.external_ref)
                for i, item in enumerate(draft.items)
            ]
            db.session.add(order)
            db.session.flush()
            count = len(draft.items)
            _record(order, None, kind="create", from_stage=None, to_stage=first_stage, actor=actor,
                    source=source, at=now, note=f"Order received: {count} item{'s' if count != 1 else ''}")
            write_trail()
    except IntegrityError:
        # Another request created the same channel + external_ref between our check and insert.
        if draft.external_ref:
            existing = find_by_external_ref(draft.channel, draft.external_ref)
            if existing is not None:
                return existing, False
        raise
    events.announce("order_received", order=order, actor=actor, source=source)  # labels, the customer's notice
    return order, True


PENDING_EVENTS = "inktrail_pending_events"  # session.info key: the audit events recorded, not yet written


# An audit event as a row to insert (the stays' rules read its fields as attributes).
_EventRow = namedtuple("_EventRow", "order_id job_id at kind from_stage to_stage source actor station note scan_id")


def _record(order: Order, job: Job | None, *, kind: str, from_stage: str | None, to_stage: str | None,
            actor: Actor, source: str, at: dt.datetime, station: str | None = None, note: str | None = None,
            scan_id: int | None = None) -> None:
    """Records one audit event, and the stage stays it begins and ends; write_trail() stores them (each
    function here does before it returns), a move's events in one INSERT and its stays in one more."""
    if source not in rules.SOURCES:
        raise ValueError(f"unknown event source {source!r}")
    row = _EventRow(order_id=order.id, job_id=job.id if job else None, at=at, kind=kind, from_stage=from_stage,
                    to_stage=to_stage, source=source, actor=actor.name, station=station, note=note, scan_id=scan_id)
    db.session().info.setdefault(PENDING_EVENTS, []).append(row)
    if not stays.record(order, job, row):  # dated before the order's latest stay: rebuilt from the events
        write_trail()
        stays.rebuild(order.id)


_INSERT_EVENT = insert(Event.__table__)


PENDING_SETS = "inktrail_pending_sets"  # session.info key: (table, columns) -> rows of a stage move's UPDATEs
SET_OBJECTS = "inktrail_set_objects"  # session.info key: the objects _set() changed in this transaction


def _set(obj: Order | Job, **values) -> None:
    """Sets an order's or a job's columns for a move: on the object at once (as committed: the session's
    unit of work has nothing to flush for it) and in the table by write_trail(), with the other rows of
    the same shape in one UPDATE. An object not in the table yet is set the ordinary way; a Plain row (a
    scan's, read by Core) is set as it is, and written the same way."""
    plain = isinstance(obj, Plain)  # a row a scan read by Core (services/rows.py): nothing tracks it
    if not plain and not inspect(obj).persistent:
        for name, value in values.items():
            setattr(obj, name, value)
        return
    info = db.session().info
    for name, value in values.items():
        (setattr if plain else set_committed_value)(obj, name, value)
    if not plain:
        info.setdefault(SET_OBJECTS, set()).add(obj)  # a rollback expires them: the unit of work does not know them
    table = type(obj).__table__
    updates = info.setdefault(PENDING_SETS, {})
    rows = updates.setdefault((table.name, tuple(values)), {})
    rows[obj.id] = {"_id": obj.id, **values}  # a later move of the same row in this transaction wins


@lru_cache(maxsize=32)
def _set_statement(table_name: str, columns: tuple[str, ...]):
    table = db.metadata.tables[table_name]
    return update(table).where(table.c.id == bindparam("_id")).values({c: bindparam(c) for c in columns})


def _write_sets(session) -> None:
    updates = session.info.pop(PENDING_SETS, None)
    for (table_name, columns), rows in (updates or {}).items():
        connection(session).execute(_set_statement(table_name, columns), list(rows.values()))


def write_trail(session=None) -> None:
    """Writes the audit events, stage stays and stage moves recorded in this transaction and not written yet."""
    session = session or db.session()
    _write_sets(session)
    rows = session.info.pop(PENDING_EVENTS, None)
    if rows:
        # executemany: one statement, compiled once (a list in .values() is compiled anew each time)
        connection(session).execute(_INSERT_EVENT, [r._asdict() for r in rows])
    stays.write(session)


def _written_before_commit(session) -> None:
    # Every function here writes its trail before it returns; this only makes sure a caller that recorded
    # through _record() directly still commits what it recorded.
    if session.info.get(PENDING_EVENTS) or session.info.get(PENDING_SETS) or stays.pending(session):
        write_trail(session)


def _forget_pending(session, *args) -> None:
    """A rollback (a savepoint's too): nothing recorded is written, and what _set() put on objects as
    committed is read again from the database (the unit of work would only expire what it tracked)."""
    session.info.pop(PENDING_EVENTS, None)
    session.info.pop(PENDING_SETS, None)
    for obj in session.info.pop(SET_OBJECTS, ()):
        if obj in session:
            session.expire(obj)


def _committed(session) -> None:
    session.info.pop(SET_OBJECTS, None)


sa_event.listen(Session, "before_commit", _written_before_commit)
sa_event.listen(Session, "after_commit", _committed)
for _name in ("after_rollback", "after_soft_rollback"):
    sa_event.listen(Session, _name, _forget_pending)


def _flush() -> None:
    write_trail()
    db.session.flush()


def _note(note: str | None) -> str | None:
    note = (note or "").strip()
    return note[:2000] or None


def _active_jobs(order: Order) -> list[Job]:
    return [j for j in order.jobs if j.stage != rules.CANCELLED]


def _follow_jobs(order: Order, *, kind: str, actor: Actor, source: str, at: dt.datetime,
                 station: str | None, note: str | None, scan_id: int | None = None) -> None:
    """Re-derives the order's stage from its jobs and records the change, if any."""
    lc = current_settings().lifecycle
    new = rules.derived_order_stage(lc, [j.stage for j in _active_jobs(order)], order.stage)
    if new != order.stage:
        _record(order, None, kind=kind, from_stage=order.stage, to_stage=new, actor=actor, source=source,
                at=at, station=station, note=note, scan_id=scan_id)
        _set(order, stage=new, stage_entered_at=at, updated_at=at)
    else:
        _set(order, updated_at=at)


def move_job(job: Job, to: str, *, actor: Actor, source: str, station: str | None = None,
             note: str | None = None, at: dt.datetime | None = None, kind: str | None = None,
             scan_id: int | None = None) -> rules.MovePlan:
    """Moves one job; raises MoveRefused with the reason when the rules say no. `kind` names a back
    move more exactly in the audit trail (qc_fail, undo) once the rules have allowed it."""
    lc = current_settings().lifecycle
    order = job.order
    note = _note(note)
    plan = rules.plan_job_move(lc, job_code=job.code, job_stage=job.stage, order_stage=order.stage,
                               to=to, role=actor.role, reason=note)
    now = at or utcnow()
    kind = kind or plan.kind
    _record(order, job, kind=kind, from_stage=job.stage, to_stage=to, actor=actor, source=source,
            at=now, station=station, note=note, scan_id=scan_id)
    _set(job, stage=to, stage_entered_at=now)
    _follow_jobs(order, kind=kind, actor=actor, source=source, at=now, station=station, note=note, scan_id=scan_id)
    _flush()
    return plan


def move_order(order: Order, to: str | None, *, actor: Actor, source: str, station: str | None = None,
               note: str | None = None, at: dt.datetime | None = None, kind: str | None = None,
               scan_id: int | None = None) -> rules.OrderMovePlan:
    """Moves the whole order (to=None: one stage on). Within the job stages this brings the jobs that
    are behind up to `to`; from packaging on the order moves as one and its jobs follow it."""
    lc = current_settings().lifecycle
    note = _note(note)
    jobs = {j.code: j for j in _active_jobs(order)}
    plan = rules.plan_order_move(lc, order_code=order.code, order_stage=order.stage,
                                 job_stages={c: j.stage for c, j in jobs.items()}, to=to,
                                 role=actor.role, reason=note, source=source)
    now = at or utcnow()
    target = lc.get(plan.to_stage)
    if target.scope == "job" and lc.get(order.stage).scope == "job":
        for code, job_plan in plan.job_plans.items():
            job = jobs[code]
            _record(order, job, kind=kind or job_plan.kind, from_stage=job.stage, to_stage=plan.to_stage,
                    actor=actor, source=source, at=now, station=station, note=note, scan_id=scan_id)
            _set(job, stage=plan.to_stage, stage_entered_at=now)
        _follow_jobs(order, kind=kind or plan.kind, actor=actor, source=source, at=now, station=station, note=note,
                     scan_id=scan_id)
    else:
        # One event for the order; its jobs follow it (the order event covers them).
        _record(order, None, kind=kind or plan.kind, from_stage=order.stage, to_stage=plan.to_stage, actor=actor,
                source=source, at=now, station=station, note=note, scan_id=scan_id)
        for job in jobs.values():
            if job.stage != plan.to_stage:
                _set(job, stage=plan.to_stage, stage_entered_at=now)
        _set(order, stage=plan.to_stage, stage_entered_at=now, updated_at=now)
    _flush()
    return plan


def cancel_order(order: Order, *, actor: Actor, source: str, reason: str | None,
                 at: dt.datetime | None = None) -> None:
    lc = current_settings().lifecycle
    reason = _note(reason)
    rules.plan_cancel(lc, order_code=order.code, order_stage=order.stage, role=actor.role, source=source,
                      reason=reason)
    now = at or utcnow()
    _record(order, None, kind="cancel", from_stage=order.stage, to_stage=rules.CANCELLED, actor=actor,
            source=source, at=now, note=reason)
    for job in order.jobs:
        _set(job, stage=rules.CANCELLED, stage_entered_at=now)
    _set(order, stage=rules.CANCELLED, stage_entered_at=now, updated_at=now, cancelled_at=now)
    _flush()


def record_reprint(job: Job, *, actor: Actor, source: str, reason: str, station: str | None = None,
                   scan_id: int | None = None, at: dt.datetime | None = None) -> None:
    """A QC fail for a job that is still on press: no stage change, but the reprint is on the record."""
    now = at or utcnow()
    _record(job.order, job, kind="qc_fail", from_stage=job.stage, to_stage=job.stage, actor=actor, source=source,
            at=now, station=station, note=f"QC fail: {reason}", scan_id=scan_id)
    _flush()


def record_job_event(job: Job, *, kind: str, actor: Actor, source: str, note: str, at: dt.datetime | None = None,
                     station: str | None = None) -> None:
    """An audit event about one job that changes no stage (a proof posted or answered)."""
    _record(job.order, job, kind=kind, from_stage=job.stage, to_stage=job.stage, actor=actor, source=source,
                 at=at or utcnow(), station=station, note=_note(note))
    _flush()


def record_note(order: Order, *, kind: str, actor: Actor, source: str, note: str, station: str | None = None,
                at: dt.datetime | None = None) -> None:
    """An audit event that changes no stage (a shipment linked, a label printed)."""
    _record(order, None, kind=kind, from_stage=order.stage, to_stage=order.stage, actor=actor, source=source,
                 at=at or utcnow(), station=station, note=_note(note))
    _flush()


def update_ship_to(order: Order, ship: dict, *, actor: Actor, source: str) -> list[str]:
    """Sets the order's ship-to address (intake.parse_ship_to's attributes; None clears a field) and
    records which parts changed, without the values (the timeline is not where an address is kept).
    Returns the changed parts' words."""
    changed = [(attr, words) for attr, _, words in SHIP_TO_ATTRS.values() if getattr(order, attr) != ship[attr]]
    if not changed:
        return []
    for attr, _ in changed:
        setattr(order, attr, ship[attr])
    order.updated_at = utcnow()
    words = [w for _, w in changed]
    record_note(order, kind="note", actor=actor, source=source, note="Ship-to address changed: " + ", ".join(words))
    return words


def move_card(code: str, to: str | None, *, actor: Actor, source: str = "board") -> str:
    """A board card dropped on a column (or its advance button): a job card moves its job within the job
    stages and packs its order from there; an order card moves the order. Returns what happened."""
    from ..domain.codes import parse_scan

    lc = current_settings().lifecycle
    parsed = parse_scan(code)
    if parsed.kind == "job":
        job = db.session.scalar(select(Job).where(Job.code == parsed.code))
        if job is None:
            raise NotFound(f"there is no job {parsed.code}", field="code")
        target = to or (lc.next_key(job.stage) if job.stage in lc else None)
        if target is None:
            raise rules.MoveRefused(f"{job.code} has no next stage")
        if lc.get(target).scope == "job":
            move_job(job, target, actor=actor, source=source)
            return f"{job.code} → {lc.label(target)}"
        move_order(job.order, target, actor=actor, source=source)
        return f"{job.order.code} → {lc.label(target)}"
    if parsed.kind == "order":
        order = db.session.scalar(select(Order).where(Order.code == parsed.code))
        if order is None:
            raise NotFound(f"there is no order {parsed.code}", field="code")
        move_order(order, to, actor=actor, source=source)
        return f"{order.code} → {lc.label(order.stage)}"
    raise Invalid(f"{code!r} is not an order or job code" if code.strip() else "no card was given to move",
                  field="code")


def add_job(order: Order, item, *, actor: Actor, source: str, note: str | None = None,
            at: dt.datetime | None = None) -> Job:
    """Appends one job to an order after intake (an item added on the marketplace), in the first stage,
    with the next job code. Only while the order's jobs still move on their own: once it is packed (or
    cancelled) a new item is a person's decision, so this refuses with the reason. `item` is an ItemDraft."""
    lc = current_settings().lifecycle
    if order.stage == rules.CANCELLED:
        raise rules.MoveRefused(f"{order.code} is cancelled")
    if order.stage in lc and lc.get(order.stage).scope != "job":
        raise rules.MoveRefused(f"{order.code} is already in {lc.label(order.stage)}: "
                                "a new item cannot be added to it")
    now = at or utcnow()
    first_stage = lc.stages[0].key
    position = max((j.position for j in order.jobs), default=-1) + 1
    job = Job(code=job_code(order.code, position), position=position, description=item.description,
              method=item.method, quantity=item.quantity, stage=first_stage, stage_entered_at=now, created_at=now,
              external_ref=item.external_ref)
    order.jobs.append(job)
    db.session.flush()
    note = _note(note) or f"Item added: {item.quantity} × {item.description}"
    _record(order, job, kind="create", from_stage=None, to_stage=first_stage, actor=actor, source=source, at=now,
            note=note)
    _follow_jobs(order, kind="add_job", actor=actor, source=source, at=now, station=None, note=note)
    _flush()
    events.announce("job_added", order=order, job=job, actor=actor, source=source)  # its label, as at intake
    return job
