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


def _code(text: str | None) -> str | None:
    """A code as stored (upper case, no stray spaces); None for text no code has: a NUL (a URL's %00),
    which PostgreSQL refuses even in a comparison."""
    code = (text or "").strip().upper()
    return None if "\x00" in code else code


def get_order(code: str, *, parcel_events: bool = False) -> Order | None:
    """The order with its jobs and parcels; `parcel_events`: each parcel's carrier events too, in one
    more statement for all of them (the order page lists them)."""
    code = _code(code)
    shipments = selectinload(Order.shipments)
    if parcel_events:
        shipments = shipments.selectinload(Shipment.events)
    return None if code is None else db.session.scalar(
        select(Order).where(Order.code == code).options(selectinload(Order.jobs), shipments))


def get_job(code: str) -> Job | None:
    code = _code(code)
    return None if code is None else db.session.scalar(select(Job).where(Job.code == code))


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
                  "stage": j.stage, "stage_entered_at": iso(j.stage_entered_at), "proof_state": j.proof_state,
                  "waiting_for_customer_since": iso(j.waiting_since)} for j in order.jobs],
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


HISTORY_DAYS = 120  # how far back the shop's own history counts for the estimate
HISTORY_ROWS = 20_000
CARRIER_NAMES = {"ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHL"}


def typical_stage_hours(lc, calendar, now: dt.datetime | None = None) -> dict:
    """stage key -> eta.Typical: the median open hours (of `calendar`, the shop's work calendar) orders
    spent in each people-moved stage over the last HISTORY_DAYS (order-level moves only), or the stage's
    SLA while fewer than eta.MIN_SAMPLES."""
    from .domain import eta

    since = (now or utcnow()) - dt.timedelta(days=HISTORY_DAYS)
    rows = db.session.execute(
        select(Event.order_id, Event.to_stage, Event.at)
        .where(Event.job_id.is_(None), Event.to_stage.is_not(None), Event.at >= since)
        .order_by(Event.order_id, Event.at, Event.id).limit(HISTORY_ROWS)).all()
    samples = eta.stage_samples(((r[0], r[1], r[2]) for r in rows), calendar)
    return {s.key: eta.typical(samples.get(s.key, []), s.sla_hours) for s in lc.people_stages()}


def typical_transit_hours(carrier: str | None, now: dt.datetime | None = None):
    """eta.Typical: the median hours from the carrier's first scan to delivery of this shop's recent
    delivered parcels of that carrier, or 3 days while fewer than eta.MIN_SAMPLES."""
    from .domain import eta

    since = (now or utcnow()) - dt.timedelta(days=HISTORY_DAYS)
    stmt = (select(Shipment.activated_at, Shipment.delivered_at)
            .where(Shipment.activated_at.is_not(None), Shipment.delivered_at.is_not(None),
                   Shipment.delivered_at >= since).order_by(Shipment.delivered_at.desc()).limit(500))
    if carrier:
        stmt = stmt.where(Shipment.carrier == carrier)
    hours = [(b - a).total_seconds() / 3600 for a, b in db.session.execute(stmt).all() if b >= a]
    return eta.typical(hours, eta.DEFAULT_TRANSIT_DAYS * 24)


def _public_location(location: str | None, order: Order) -> str | None:
    """"BOISE, ID 83702" -> "Boise, ID"; nothing when it is the customer's own city (their ship-to)."""
    if not location:
        return None
    parts = [p.strip() for p in location.split(",") if p.strip()]
    if not parts:
        return None
    city = parts[0]
    if order.ship_city and city.casefold() == order.ship_city.strip().casefold():
        return None
    region = parts[1].split()[0] if len(parts) > 1 and parts[1].split() else None
    city = city.title() if city.isupper() else city
    return f"{city}, {region}" if region else city


class EstimateHistory:
    """The shop's typical stage and transit times, read once and reused for many orders (a sweep over
    every open order must not read the history again for each one)."""

    def __init__(self, now: dt.datetime | None = None):
        self.now = now
        self._stages = None
        self._transit: dict = {}

    def stages(self, lc, calendar):
        if self._stages is None:
            self._stages = typical_stage_hours(lc, calendar, self.now)
        return self._stages

    def transit(self, carrier: str | None):
        if carrier not in self._transit:
            self._transit[carrier] = typical_transit_hours(carrier, self.now)
        return self._transit[carrier]


SHARED_HISTORY_SECONDS = 300


def shared_history() -> EstimateHistory:
    """The shop's typical times for single-order views (the public page, an order's page), read at most
    once every SHARED_HISTORY_SECONDS per process. Reading them takes up to 20,000 moves and a business-
    hours sum for each (about 100 ms); they are medians over HISTORY_DAYS and barely move in minutes, so
    every view in between reuses them. A settings reload or a clock that went back starts afresh."""
    from flask import current_app

    now, settings = utcnow(), current_settings()
    cached = current_app.extensions.get("inktrail_estimate_history")
    if (cached is None or cached[1] is not settings or now < cached[0]
            or (now - cached[0]).total_seconds() >= SHARED_HISTORY_SECONDS):
        cached = (now, settings, EstimateHistory())
        current_app.extensions["inktrail_estimate_history"] = cached
    return cached[2]


def public_estimate(order: Order, now: dt.datetime | None = None, history: EstimateHistory | None = None):
    """eta.Estimate for an order still on its way, else None (delivered or cancelled). `history` shares
    the shop's typical times across many orders; without it (and without `now`) the process's
    shared_history() serves."""
    from .domain import eta

    settings = current_settings()
    lc, tz = settings.lifecycle, settings.shop.tz
    explicit_now, now = now, now or utcnow()
    history = history or (shared_history() if explicit_now is None else EstimateHistory(now))
    if order.stage in (CANCELLED, FINAL_STAGE) or order.stage not in lc:
        return None
    active = [s for s in order.live_shipments if s.activated_at is not None and s.delivered_at is None]
    carrier = (active or order.live_shipments or [None])[0]
    carrier = carrier.carrier if carrier is not None else None
    estimates = [s.est_delivery for s in active if s.est_delivery]
    common = dict(now=now, tz=tz, calendar=settings.work_calendar, promised=order.due_date,
                  transit=history.transit(carrier))
    if estimates:
        return eta.estimate_delivery(carrier_estimate=max(estimates), **common)
    if active:
        return eta.estimate_delivery(picked_up_at=min(s.activated_at for s in active), **common)
    here = lc.get(order.stage)
    if here.mover != "people":  # the carrier has it by its events, though no parcel says so: transit only
        return eta.estimate_delivery(picked_up_at=order.stage_entered_at, **common)
    people = [s.key for s in lc.people_stages()]
    # Time the customer held a proof is not the shop's: the stage's clock starts that much later (while a
    # proof is pending, the estimate counts as if the answer came now).
    entered = max([order.stage_entered_at] + [j.shop_entered_at(now) for j in order.jobs if j.stage == order.stage])
    return eta.estimate_delivery(current_stage=order.stage, stage_entered_at=entered,
                                 remaining_stages=people[people.index(order.stage) + 1:],
                                 stage_typical=history.stages(lc, common["calendar"]), **common)


def public_view(order: Order) -> dict:
    """What a customer may see: first name at most, no email, phone, address or notes."""
    from .domain.carriers import tracking_url as carrier_tracking_url
    from .domain.lifecycle import FIRST_CARRIER_STAGE, LAST_PEOPLE_STAGE
    from .models import TrackingEvent

    lc = current_settings().lifecycle
    reached = {}
    for ev in db.session.scalars(select(Event).where(Event.order_id == order.id, Event.job_id.is_(None))
                                 .order_by(Event.id)):
        if ev.to_stage and ev.to_stage in lc:
            reached.setdefault(ev.to_stage, ev.at)
    here = lc.index(order.stage) if order.stage in lc else -1
    steps = [{"key": s.key, "label": CUSTOMER_WORDS.get(s.key, s.label), "done": s.index <= here,
              "current": s.index == here, "at": iso(reached.get(s.key))} for s in lc.stages]
    active = [s for s in order.live_shipments if s.activated_at is not None]
    delivered = order.stage == FINAL_STAGE
    # The journey in four-plus steps for the page: production stages, then "On its way", then "Delivered".
    production = [s for s in steps if lc.get(s["key"]).mover == "people" and s["key"] != LAST_PEOPLE_STAGE]
    shipped_at = min([s.activated_at for s in active], default=None) or reached.get(FIRST_CARRIER_STAGE)
    on_way_done = here >= lc.index(FIRST_CARRIER_STAGE) or bool(active)
    delivered_at = max([s.delivered_at for s in active if s.delivered_at], default=None) or reached.get(FINAL_STAGE)
    journey = [dict(s, current=False) for s in production] + [
        {"key": "on_its_way", "label": "On its way", "done": on_way_done, "current": False, "at": iso(shipped_at)},
        {"key": FINAL_STAGE, "label": "Delivered", "done": delivered, "current": False, "at": iso(delivered_at)}]
    done = [i for i, s in enumerate(journey) if s["done"]]
    if done and order.stage != CANCELLED:
        journey[done[-1]]["current"] = True

    events = []
    if active:
        by_id = {s.id: s for s in active}
        for ev in db.session.scalars(select(TrackingEvent).where(TrackingEvent.shipment_id.in_(list(by_id)))
                                     .order_by(TrackingEvent.occurred_at.desc(), TrackingEvent.id.desc())):
            events.append({"at": iso(ev.occurred_at), "description": ev.description or CUSTOMER_WORDS.get(ev.status, ""),
                           "location": _public_location(ev.location, order), "status": ev.status,
                           "tracking_number": by_id[ev.shipment_id].tracking_number})
    est = public_estimate(order)
    proofs = public_proofs(order)
    waiting = order.stage != CANCELLED and any(p["state"] == "pending" for p in proofs)
    if order.stage == CANCELLED:
        headline = "Cancelled"
    elif waiting:
        headline = "Your proof is ready for your approval"
    elif delivered:
        headline = "Delivered"
    elif order.stage == LAST_PEOPLE_STAGE and not active:
        headline = "Packed and ready to ship"
    elif active and here < lc.index(FIRST_CARRIER_STAGE):
        headline = "On its way"
    else:
        headline = CUSTOMER_WORDS.get(order.stage, lc.label(order.stage))
    return {
        "order_id": order.code,
        # split() on any whitespace: a tab, newline or no-break space must not carry the last name along.
        "customer_first_name": order.customer_name.split()[0] if (order.customer_name or "").split() else None,
        "stage": order.stage,
        "stage_label": CUSTOMER_WORDS.get(order.stage, lc.label(order.stage)),
        "headline": headline,
        "cancelled": order.stage == CANCELLED,
        "delivered": delivered,
        "delivered_at": iso(delivered_at) if delivered else None,
        "due_date": iso(order.due_date),
        "promised": iso(order.due_date),
        "estimated_delivery": iso(est.date) if est else None,
        "estimate_source": est.source if est else None,
        "late": bool(est and est.late),
        "steps": steps,
        "journey": journey,
        "shipments": [{"carrier": s.carrier, "tracking_number": s.tracking_number, "status": s.status} for s in active],
        "parcels": [{"carrier": s.carrier, "carrier_name": CARRIER_NAMES.get(s.carrier, s.carrier.title()),
                     "tracking_number": s.tracking_number,
                     "tracking_url": carrier_tracking_url(s.carrier, s.tracking_number),
                     "status": s.status, "status_label": CUSTOMER_WORDS.get(s.status, s.status.replace("_", " ").capitalize())}
                    for s in active],
        "carrier_events": events,
        "label_waiting": any(s.activated_at is None for s in order.live_shipments),
        "proofs": proofs,
        "waiting_for_you": waiting,
    }


def public_proofs(order: Order) -> list[dict]:
    """Each job's latest proof, as the customer may see it: the item, the version, the shop's note, the
    state and the customer's own comment (no staff names)."""
    from .models import Proof

    jobs = {j.id: j for j in order.jobs}
    latest: dict[int, Proof] = {}
    for proof in db.session.scalars(select(Proof).where(Proof.order_id == order.id).order_by(Proof.version)):
        latest[proof.job_id] = proof
    return [{"proof_id": p.id, "item": jobs[p.job_id].description if p.job_id in jobs else "",
             "version": p.version, "state": p.state, "note": p.note, "comment": p.comment,
             "is_image": p.content_type.startswith("image/"), "content_type": p.content_type,
             "posted_at": iso(p.posted_at), "answered_at": iso(p.answered_at)}
            for p in sorted(latest.values(), key=lambda p: (jobs[p.job_id].position if p.job_id in jobs else 0))]


# Outbox kinds that tell a marketplace about an order: kind -> (channel label, what it is).
MARKETPLACE_MESSAGES = {
    "shopify_fulfillment": ("Shopify", "Fulfillment with tracking"),
    "shopify_tracking_update": ("Shopify", "Tracking number update"),
}


def order_notifications(order: Order) -> list[dict]:
    """What was sent to the customer (e-mail), the shop's webhook and the marketplace for this order, oldest
    first: [{"kind", "channel", "channel_label", "status", "created_at", "done_at", "attempts", "last_error",
    "subject", "to"}]."""
    import json

    from .models import OutboxMessage

    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.order_id == order.id,
                                                          OutboxMessage.kind.in_(("email", "webhook",
                                                                                  *MARKETPLACE_MESSAGES)))
                              .order_by(OutboxMessage.id))
    out = []
    for m in rows:
        try:
            payload = json.loads(m.payload or "{}")
        except ValueError:
            payload = {}
        if m.kind in MARKETPLACE_MESSAGES:
            channel, what = MARKETPLACE_MESSAGES[m.kind]
            error = m.last_error
            if error and error.startswith(("GiveUp: ", "RetryLater: ")):
                error = error.split(": ", 1)[1]
            number = " ".join(p for p in (payload.get("company"), payload.get("number")) if p)
            out.append({"kind": m.kind, "channel": m.kind.split("_")[0], "channel_label": channel,
                        "status": m.status, "created_at": m.created_at, "done_at": m.done_at,
                        "attempts": m.attempts or 0, "last_error": error,
                        "subject": f"{what}: {number}" if number else what, "to": payload.get("order_name")})
            continue
        out.append({"kind": payload.get("kind") or m.dedupe_key.split(":")[1], "channel": m.kind,
                    "channel_label": "E-mail" if m.kind == "email" else "Webhook",
                    "status": m.status, "created_at": m.created_at, "done_at": m.done_at,
                    "attempts": m.attempts or 0, "last_error": m.last_error,
                    "subject": payload.get("subject"), "to": payload.get("to")})
    return out

