"""Read models: what pages and the API show. No writes here."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import contains_eager, selectinload

from .domain.codes import parse_scan
from .domain.lifecycle import CANCELLED, FINAL_STAGE
from .domain.sla import due_range
from .extensions import db
from .models import Alert, Batch, Event, Job, Order, Shipment, utcnow
from .settings import current_settings


def iso(value):
    return value.isoformat() if value is not None else None


def tracking_url(order: Order) -> str:
    return f"{current_settings().shop.public_url}/t/{order.public_token}"


def get_order(code: str) -> Order | None:
    return db.session.scalar(
        select(Order).where(Order.code == (code or "").strip().upper())
        .options(selectinload(Order.jobs), selectinload(Order.shipments))
    )


def get_job(code: str) -> Job | None:
    return db.session.scalar(select(Job).where(Job.code == (code or "").strip().upper()))


def order_events(order: Order) -> list[Event]:
    return list(db.session.scalars(
        select(Event).where(Event.order_id == order.id).options(selectinload(Event.job)).order_by(Event.id)
    ))


def order_alerts(order: Order) -> list[Alert]:
    return list(db.session.scalars(select(Alert).where(Alert.order_id == order.id, Alert.closed_at.is_(None))
                                   .order_by(Alert.since)))


def event_json(ev: Event) -> dict:
    return {"at": iso(ev.at), "kind": ev.kind, "from": ev.from_stage, "to": ev.to_stage, "source": ev.source,
            "actor": ev.actor, "station": ev.station, "job_id": ev.job.code if ev.job else None, "note": ev.note}


def shipment_json(s: Shipment, *, with_events: bool = False) -> dict:
    data = {"carrier": s.carrier, "tracking_number": s.tracking_number, "service": s.service,
            "provider": s.provider, "status": s.status, "exception": s.exception, "active": s.activated_at is not None,
            "created_at": iso(s.created_at), "activated_at": iso(s.activated_at), "delivered_at": iso(s.delivered_at),
            "last_event_at": iso(s.last_event_at), "est_delivery": iso(s.est_delivery)}
    if with_events:
        data["events"] = [{"at": iso(e.occurred_at), "status": e.status, "exception": e.exception,
                           "description": e.description, "location": e.location} for e in s.events]
    return data


def order_json(order: Order, *, with_events: bool = True) -> dict:
    lc = current_settings().lifecycle
    data = {
        "order_id": order.code,
        "stage": order.stage,
        "stage_label": lc.label(order.stage),
        "stage_entered_at": iso(order.stage_entered_at),
        "tracking_url": tracking_url(order),
        "channel": order.channel,
        "external_ref": order.external_ref,
        "customer": {"name": order.customer_name, "email": order.customer_email, "phone": order.customer_phone},
        "due_date": iso(order.due_date),
        "rush": order.rush,
        "notes": order.notes,
        "created_at": iso(order.created_at),
        "cancelled_at": iso(order.cancelled_at),
        "jobs": [{"job_id": j.code, "description": j.description, "method": j.method, "quantity": j.quantity,
                  "stage": j.stage, "stage_entered_at": iso(j.stage_entered_at)} for j in order.jobs],
        "shipments": [shipment_json(s, with_events=with_events) for s in order.shipments],
    }
    if with_events:
        data["events"] = [event_json(e) for e in order_events(order)]
    return data


PAGE_SIZE = 50


def search_orders(q: str = "", stage: str = "", page: int = 1):
    """Orders for the list page: newest first; q matches order ID, job ID, customer or external ref."""
    stmt = select(Order).options(selectinload(Order.jobs))
    q = (q or "").strip()
    if q:
        parsed = parse_scan(q)
        # contains(autoescape): a % or _ typed into the search box is a character, not a wildcard.
        conditions = [func.lower(Order.customer_name).contains(q.lower(), autoescape=True),
                      func.lower(Order.external_ref).contains(q.lower(), autoescape=True),
                      Order.code == parsed.code]
        if parsed.kind in ("order", "job"):
            conditions.append(Order.code == parsed.order_code)
        stmt = stmt.where(or_(*conditions))
    if stage == "open":
        stmt = stmt.where(Order.stage.not_in(["delivered", CANCELLED]))
    elif stage:
        stmt = stmt.where(Order.stage == stage)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = list(db.session.scalars(stmt.order_by(Order.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return rows, total


def stage_counts() -> dict[str, int]:
    rows = db.session.execute(select(Order.stage, func.count()).group_by(Order.stage))
    return {stage: n for stage, n in rows}


# -- the board --------------------------------------------------------------------------------------

BOARD_COLUMN_LIMIT = 40
BOARD_EXPANDED_LIMIT = 500


@dataclass(frozen=True)
class BoardFilters:
    method: str = ""
    channel: str = ""
    due: str = ""
    rush: bool = False
    q: str = ""
    expand: tuple[str, ...] = ()

    def as_args(self) -> dict:
        args = {"method": self.method, "channel": self.channel, "due": self.due, "rush": "1" if self.rush else "",
                "q": self.q, "expand": ",".join(self.expand)}
        return {k: v for k, v in args.items() if v}

    @property
    def active(self) -> bool:
        return bool(self.method or self.channel or self.due or self.rush or self.q)


def board_version() -> int:
    """Changes whenever anything on the board could have: every change writes an audit event, so the
    newest event's id is the board's version. One primary-key lookup, however large the history."""
    return db.session.scalar(select(func.max(Event.id))) or 0


def _order_filters(stmt, f: BoardFilters, today: dt.date):
    if f.channel:
        stmt = stmt.where(Order.channel == f.channel)
    if f.rush:
        stmt = stmt.where(Order.rush.is_(True))
    if f.due:
        low, high = due_range(f.due, today)
        stmt = stmt.where(Order.due_date.is_not(None))
        if low is not None:
            stmt = stmt.where(Order.due_date >= low)
        if high is not None:
            stmt = stmt.where(Order.due_date <= high)
    if f.q:
        q = f.q.strip()
        parsed = parse_scan(q)
        conditions = [func.lower(Order.customer_name).contains(q.lower(), autoescape=True),
                      Order.code.startswith(parsed.code, autoescape=True)]
        if parsed.kind == "job":
            conditions.append(Order.code == parsed.order_code)  # a job code finds its order's cards
        stmt = stmt.where(or_(*conditions))
    return stmt


def board_columns(f: BoardFilters | None = None) -> list[dict]:
    """One column per stage people move: jobs in the job stages, whole orders from packaging on, most
    urgent first (rush, then due date); then a Shipped lane that counts the carrier stages. Every query
    reads rows by stage (indexed), so the cost follows active work, not the size of the history."""
    f = f or BoardFilters()
    settings = current_settings()
    lc = settings.lifecycle
    today = utcnow().astimezone(settings.shop.tz).date()
    urgent = (Order.rush.desc(), Order.due_date.is_(None), Order.due_date, Order.id)
    columns = []
    for stage in lc.people_stages():
        limit = BOARD_EXPANDED_LIMIT if stage.key in f.expand else BOARD_COLUMN_LIMIT
        if stage.scope == "job":
            stmt = select(Job).join(Job.order).where(Job.stage == stage.key)
            if f.method:
                stmt = stmt.where(Job.method == f.method)
            stmt = _order_filters(stmt, f, today)
            count = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
            order_by = urgent + (Job.position,)
            if stage.key == "production":
                # Each press's queue in order: batched jobs by press and batch position, then the rest.
                stmt = stmt.outerjoin(Batch, Job.batch_id == Batch.id)
                order_by = (Batch.station.is_(None), Batch.station, Batch.position, Job.batch_position) + order_by
                cards = list(db.session.scalars(stmt.options(contains_eager(Job.order), selectinload(Job.batch))
                                                .order_by(*order_by).limit(limit)))
            else:
                cards = list(db.session.scalars(stmt.options(contains_eager(Job.order)).order_by(*order_by).limit(limit)))
        else:
            stmt = select(Order).where(Order.stage == stage.key)
            if f.method:
                stmt = stmt.where(Order.jobs.any(Job.method == f.method))
            stmt = _order_filters(stmt, f, today)
            count = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
            cards = list(db.session.scalars(stmt.options(selectinload(Order.jobs)).order_by(*urgent).limit(limit)))
        columns.append({"stage": stage, "count": count, "cards": cards, "kind": stage.scope})
    carrier = [s for s in lc.carrier_stages() if s.key != FINAL_STAGE]
    counts = dict(db.session.execute(
        _order_filters(select(Order.stage, func.count()).where(Order.stage.in_([s.key for s in carrier])), f, today)
        .group_by(Order.stage)).all())
    start_of_day = dt.datetime.combine(today, dt.time(0), tzinfo=settings.shop.tz).astimezone(dt.timezone.utc)
    delivered_today = db.session.scalar(_order_filters(
        select(func.count()).select_from(Order).where(Order.stage == FINAL_STAGE, Order.stage_entered_at >= start_of_day),
        f, today))
    lanes = [(s, counts.get(s.key, 0)) for s in carrier] + [(lc.get(FINAL_STAGE), delivered_today)]
    columns.append({"stage": None, "kind": "shipped", "lanes": lanes, "count": sum(n for _, n in lanes),
                    "delivered_label": "Delivered today"})
    return columns


# -- the public tracking view ---------------------------------------------------------------------

CUSTOMER_WORDS = {
    "received": "Order received", "preproduction": "Artwork approved", "production": "Printing",
    "qc": "Quality check", "packaging": "Packed", "labeled": "Label created", "picked_up": "Picked up by the carrier",
    "in_transit": "In transit", "out_for_delivery": "Out for delivery", "delivered": "Delivered",
}


def public_view(order: Order) -> dict:
    """What a customer may see: first name at most, no email, phone or address."""
    lc = current_settings().lifecycle
    reached = {}
    for ev in db.session.scalars(select(Event).where(Event.order_id == order.id, Event.job_id.is_(None))
                                 .order_by(Event.id)):
        if ev.to_stage and ev.to_stage in lc:
            reached.setdefault(ev.to_stage, ev.at)
    here = lc.index(order.stage) if order.stage in lc else -1
    steps = [{"key": s.key, "label": CUSTOMER_WORDS.get(s.key, s.label), "done": s.index <= here,
              "current": s.index == here, "at": iso(reached.get(s.key))} for s in lc.stages]
    active = [s for s in order.shipments if s.activated_at is not None]
    return {
        "order_id": order.code,
        # split() on any whitespace: a tab, newline or no-break space must not carry the last name along.
        "customer_first_name": order.customer_name.split()[0] if (order.customer_name or "").split() else None,
        "stage": order.stage,
        "stage_label": CUSTOMER_WORDS.get(order.stage, lc.label(order.stage)),
        "cancelled": order.stage == CANCELLED,
        "due_date": iso(order.due_date),
        "steps": steps,
        "shipments": [{"carrier": s.carrier, "tracking_number": s.tracking_number, "status": s.status} for s in active],
        "label_waiting": any(s.activated_at is None for s in order.shipments),
    }
