"""Carrier tracking: webhooks stored raw before they are acknowledged, then processed; polling as the
fallback; every carrier event kept once; the shipment's status derived from all its events (it never goes
back); the order moved with its shipments; carrier alerts raised and closed."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

from sqlalchemy import bindparam, select, update

from ..domain import carrier_status as cs
from ..domain import polling, providers
from ..domain.lifecycle import CANCELLED, LAST_PEOPLE_STAGE
from ..domain.refusals import Forbidden, NotFound, Refused, Unauthorized, Unprocessable
from ..extensions import db
from ..integrations.jsontext import storable
from ..models import Counter, Shipment, TrackingEvent, WebhookDelivery, utcnow
from ..settings import ProviderSettings, current_settings
from . import orders as order_service
from .alerts import close_alerts_except, close_shipment_alerts, raise_alert
from .orders import Actor
from .outbox import RetryLater, enqueue
from .rows import insert_new

log = logging.getLogger("tracker.tracking")
CARRIER = Actor("carrier", None)
# Aggregators track any carrier (their webhooks need a registration); a carrier's own API tracks its own.
AGGREGATORS, OWN_CARRIER = providers.AGGREGATORS, providers.OWN_CARRIER
KEPT_HEADERS = ("content-type", "user-agent", "x-hmac-signature", "shippo-auth-signature", "aftership-hmac-sha256",
                "x-shopify-webhook-id", "x-shopify-topic", "x-shopify-shop-domain", "x-shopify-hmac-sha256",
                "x-shopify-api-version", "x-shopify-triggered-at")  # never the UPS credential: it is the secret itself
# A marketplace's webhook (Shopify's) is verified, stored and processed by its own service, registered here
# by services/handlers.py: name -> the module (its receive_webhook(headers, body), process_delivery(delivery)).
MARKETPLACE_WEBHOOKS: dict[str, object] = {}


def _providers():
    from ..integrations.carriers import PROVIDERS

    return PROVIDERS


def provider_config(name: str) -> ProviderSettings | None:
    """A provider's settings when it is switched on (its credentials are set), else None."""
    cfg = current_settings().providers.get(name)
    return cfg if cfg is not None and cfg.switched_on else None


def provider_for(carrier: str | None) -> str | None:
    """Which provider tracks a parcel: an aggregator when one is set up, else the carrier's own API."""
    for name in AGGREGATORS:
        if provider_config(name):
            return name
    own = OWN_CARRIER.get(carrier or "")
    return own if own and provider_config(own) else None


# -- webhooks --------------------------------------------------------------------------------------

class WebhookRefused(Refused):
    """A delivery refused; its kind (below) gives the status to answer. What the refusal wrote (a bad
    signature's count, an unreadable body kept for a look) is meant to stay: the caller commits before it
    answers, where other refusals are rolled back."""


class WebhookNotSetUp(WebhookRefused, NotFound):
    pass


class BadSignature(WebhookRefused, Unauthorized):
    pass


class WrongSender(WebhookRefused, Forbidden):
    pass


class UnreadableDelivery(WebhookRefused, Unprocessable):
    pass


def _count(name: str) -> None:
    row = db.session.get(Counter, name)
    if row is None:
        db.session.add(Counter(name=name, value=1))
    else:
        row.value += 1


def _delivery_key(provider: str, body: bytes) -> str:
    """The provider's delivery id when the body has one (EasyPost evt_..., AfterShip event_id), else a
    hash of the body: a redelivery of the same event is the same key either way."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to read
        data = None
    if isinstance(data, dict):
        ident = data.get("event_id") if provider == "aftership" else data.get("id") if provider == "easypost" else None
        # An id no column can hold (a NUL, a lone surrogate) is no id: the body's hash keys it instead.
        if isinstance(ident, (str, int)) and str(ident) and storable(str(ident)) == str(ident):
            return f"{provider}:{ident}"[:120]
    return f"{provider}:sha256:{hashlib.sha256(body).hexdigest()}"


def receive_webhook(provider: str, headers, body: bytes, query) -> tuple[int, bool]:
    """Verifies and stores one delivery. Returns (delivery id, created); raises WebhookRefused."""
    if provider in MARKETPLACE_WEBHOOKS:
        return _marketplace(provider).receive_webhook(headers, body)
    module = _providers().get(provider)
    if module is None or not hasattr(module, "verify"):
        raise WebhookNotSetUp(f"no webhook for {provider!r}")
    cfg = current_settings().providers.get(provider)
    if cfg is None or not cfg.webhook_secret:
        raise WebhookNotSetUp(f"{provider} webhooks are not set up (no webhook_secret)")
    if not module.verify(headers, body, query, cfg):
        _count(f"webhook_rejected:{provider}")  # the count is all a bad signature changes (the caller commits it)
        raise BadSignature("missing or bad signature")
    return store_delivery(provider, _delivery_key(provider, body), headers, body)


def _marketplace(provider: str):
    return MARKETPLACE_WEBHOOKS[provider]


def store_delivery(provider: str, key: str, headers, body: bytes, *, error: str | None = None) -> tuple[int, bool]:
    """Stores a verified delivery once per key. Returns (delivery id, created). With `error` it is stored
    already processed (kept for inspection only: a body that cannot be read)."""
    kept = {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS}
    # One statement on the hot path: insert unless the key is there, and say which happened.
    values = {"provider": provider, "dedupe_key": key, "headers": json.dumps(kept), "body": body,
              "received_at": utcnow(), "attempts": 0, "error": None, "processed_at": None}
    if error is not None:
        values.update(error=error[:2000], processed_at=utcnow())

    def store(conn) -> tuple[int, bool]:
        new_id = insert_new(WebhookDelivery.__table__, "dedupe_key", values, returning="id", conn=conn).scalar()
        return (new_id, True) if new_id is not None else (conn.scalar(_DELIVERY_BY_KEY, {"key": key}), False)

    if not db.session.registry.has() or db.session().get_transaction() is None:
        # Nothing of this request is open in the session (the webhook's hot path): stored and committed in
        # a transaction of its own, straight on a connection (the session's machinery was a tenth of a
        # delivery's answer), before anything is acknowledged.
        if db.engine.dialect.name == "postgresql":
            # One statement needs no transaction around it: autocommit sends the INSERT alone (durable when
            # it answers), not BEGIN, INSERT and COMMIT, three round trips.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                return store(conn)
        with db.engine.begin() as conn:
            return store(conn)
    return store(db.session.connection())


_DELIVERY_BY_KEY = select(WebhookDelivery.id).where(WebhookDelivery.dedupe_key == bindparam("key"))


def process_delivery(delivery_id: int) -> None:
    """Parses a stored delivery and applies it. Idempotent: a processed delivery is skipped."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.processed_at is not None:
        return
    apply_delivery(delivery)
    db.session.flush()


def apply_delivery(delivery: WebhookDelivery, *, savepoint: bool = True) -> None:
    """Applies one unprocessed delivery. A delivery that is about something else or cannot be read is
    marked so (not retried). With `savepoint` its writes are inside a savepoint of their own and any other
    error rolls them back and propagates (the caller counts the attempt); without, an error propagates
    with the writes half done, and the caller rolls its whole transaction back (the batch's fast path).
    The delivery's own row is written once, after."""
    from ..integrations.carriers import UnsupportedEvent

    error = update_ = None
    try:
        if delivery.provider not in MARKETPLACE_WEBHOOKS:  # reading the body writes nothing
            update_ = _providers()[delivery.provider].parse_webhook(delivery.body)
        if update_ is not None and not savepoint:
            ingest_update(update_, delivery_id=delivery.id, via="webhook")
        else:
            with db.session.begin_nested():
                if update_ is None:
                    _marketplace(delivery.provider).process_delivery(delivery)
                else:
                    ingest_update(update_, delivery_id=delivery.id, via="webhook")
    except UnsupportedEvent as exc:  # a real delivery about something else (a batch, a label): nothing to do
        if update_ is not None and not savepoint:
            raise  # raised while writing: the caller redoes the batch with savepoints
        error = f"ignored: {exc}"[:2000]
    except ValueError as exc:  # malformed: kept for inspection, not retried
        if update_ is not None and not savepoint:
            raise
        error = f"unreadable: {exc}"[:2000]
    delivery.attempts = (delivery.attempts or 0) + 1
    if error is not None:
        delivery.error = error
    delivery.processed_at = utcnow()


# -- events, shipments, orders -----------------------------------------------------------------------

def ingest_update(update_, *, delivery_id: int | None = None, via: str = "webhook") -> Shipment | None:
    """Stores each event once and re-derives the shipment it belongs to (if one has the number yet)."""
    number, received = update_.tracking_number, utcnow()
    rows = {}
    for ev in update_.events:
        norm = cs.normalise(update_.provider, ev.code, ev.sub_code, ev.description)
        key = (f"{update_.provider}:{ev.provider_event_id}" if ev.provider_event_id else
               cs.event_key(ev.carrier or update_.carrier or "", number,
                            f"{update_.provider}:{ev.code}:{ev.sub_code}", ev.occurred_at))[:100]
        rows.setdefault(key, dict(
            key=key, provider=update_.provider, carrier=ev.carrier or update_.carrier, tracking_number=number,
            code=(ev.code or "")[:60] or None, sub_code=(ev.sub_code or "")[:60] or None,
            description=(ev.description or "")[:2000], status=norm.status, exception=norm.exception,
            occurred_at=ev.occurred_at, location=(ev.location or "")[:200] or None, delivery_id=delivery_id,
            shipment_id=None, received_at=received))
    if rows:  # each event once: one statement skips those already stored (by this or a concurrent delivery)
        db.session.flush()
        insert_new(TrackingEvent.__table__, "key", list(rows.values()))
    shipment = _match(update_.carrier, number)
    if shipment is None:
        return None
    if update_.est_delivery:
        shipment.est_delivery = update_.est_delivery
    if getattr(update_, "public_url", None):
        shipment.public_url = update_.public_url[:500]
    now = utcnow()
    shipment.last_heard_at = now
    attach_events(shipment)
    recompute_shipment(shipment)
    shipment.next_poll_at = polling.next_poll(shipment.status, now=now, shipment_id=shipment.id,
                                              after_webhook=via == "webhook")
    return shipment


_SHIPMENTS_BY_NUMBER = select(Shipment).where(Shipment.tracking_number == bindparam("number"))


def _match(carrier: str | None, number: str) -> Shipment | None:
    rows = list(db.session.scalars(_SHIPMENTS_BY_NUMBER, {"number": number}))
    if len(rows) > 1 and carrier:
        rows = [s for s in rows if s.carrier == carrier] or rows
    return rows[0] if rows else None


def attach_events(shipment: Shipment) -> int:
    """Gives a shipment the events that arrived for its number before it existed."""
    result = db.session.execute(update(TrackingEvent).where(TrackingEvent.tracking_number == shipment.tracking_number,
                                                            TrackingEvent.shipment_id.is_(None))
                                .values(shipment_id=shipment.id))
    if result.rowcount:
        db.session.expire(shipment, ["events"])
    return result.rowcount or 0


def _state_of(s: Shipment) -> cs.ShipmentState:
    return cs.ShipmentState(status=s.status, exception=s.exception, active=s.activated_at is not None,
                            activated_at=s.activated_at, delivered_at=s.delivered_at,
                            last_event_at=s.last_event_at, final=bool(s.final))


def recompute_shipment(shipment: Shipment) -> cs.ShipmentState:
    from .notifications import shipment_changed, shipment_state

    before = shipment_state(shipment)
    was_active = shipment.activated_at is not None
    had_exception = shipment.exception is not None
    db.session.flush()
    events = db.session.scalars(select(TrackingEvent).where(TrackingEvent.shipment_id == shipment.id))
    state = cs.derive_state(cs.TrackingEventIn(key=e.key, occurred_at=e.occurred_at, status=e.status,
                                               exception=e.exception) for e in events)
    shipment.status, shipment.exception, shipment.final = state.status, state.exception, state.final
    if shipment.voided_at is not None:
        shipment.final = True  # a voided label is not followed any more, whatever its events say
    shipment.activated_at, shipment.delivered_at, shipment.last_event_at = (state.activated_at, state.delivered_at,
                                                                            state.last_event_at)
    _carrier_alerts_for(shipment, had_exception=had_exception)
    sync_order(shipment.order)
    if shipment.is_return or shipment.voided_at is not None:
        return state  # the customer and the marketplace hear only of the parcels on their way to them
    shipment_changed(shipment, before)  # the customer's e-mail and the shop's webhook, sent after the commit
    if not was_active and shipment.activated_at is not None:
        from .marketplace_push import shipment_activated

        shipment_activated(shipment)  # the marketplace's fulfillment, queued for after the commit
    return state


def sync_order(order) -> None:
    """Moves the order with its shipments, one stage at a time, each an audit event from the carrier."""
    if order.stage == CANCELLED:
        return
    lc = current_settings().lifecycle
    target = cs.order_carrier_stage([_state_of(s) for s in order.live_shipments])
    if target is None or target not in lc or order.stage not in lc:
        return
    if target == LAST_PEOPLE_STAGE:
        return  # a label alone is moved by whoever linked it (scan, page, API), not by the carrier
    while lc.index(order.stage) < lc.index(target):
        nxt = lc.next_key(order.stage)
        if lc.index(nxt) < lc.index(LAST_PEOPLE_STAGE):
            nxt = LAST_PEOPLE_STAGE
        order_service.move_order(order, nxt, actor=CARRIER, source="carrier", note=_carrier_note(order, nxt))


def _carrier_note(order, stage: str) -> str | None:
    latest = max((s for s in order.live_shipments if s.last_event_at), key=lambda s: s.last_event_at, default=None)
    if latest is None:
        return None
    ev = db.session.scalar(select(TrackingEvent).where(TrackingEvent.shipment_id == latest.id)
                           .order_by(TrackingEvent.occurred_at.desc()).limit(1))
    return f"{latest.carrier.upper()} {latest.tracking_number}: {ev.description}"[:300] if ev else None


def on_shipment_added(shipment: Shipment) -> None:
    """Called when a shipment is linked: picks its provider, asks for webhooks, plans the first poll,
    and takes any events that came before it."""
    provider = shipment.provider or provider_for(shipment.carrier)
    shipment.provider = provider
    now = utcnow()
    if provider:
        shipment.next_poll_at = now + dt.timedelta(seconds=polling.spread(shipment.id or 1, 3600))
        if provider in AGGREGATORS and shipment.registered_at is None:
            enqueue("register_tracking", f"register:{provider}:{shipment.carrier}:{shipment.tracking_number}",
                    {"shipment_id": shipment.id, "provider": provider, "tracking_number": shipment.tracking_number,
                     "carrier": shipment.carrier}, order_id=shipment.order_id)
    attach_events(shipment)
    recompute_shipment(shipment)


def send_registration(payload: dict):
    from ..integrations.http import ProviderError

    cfg = provider_config(payload["provider"])
    if cfg is None:
        raise RetryLater(f"{payload['provider']} is not set up", seconds=3600)
    try:
        return _providers()[payload["provider"]].register(cfg, payload["tracking_number"], payload.get("carrier"))
    except ProviderError as exc:
        if exc.retryable:
            raise RetryLater(str(exc), seconds=exc.retry_after) from None
        raise


def apply_registration(payload: dict, ref) -> None:
    shipment = db.session.get(Shipment, payload["shipment_id"])
    if shipment is not None:
        shipment.provider_ref = str(ref)[:100] if ref else shipment.provider_ref
        shipment.registered_at = utcnow()




# -- polling ---------------------------------------------------------------------------------------

def due_for_poll(limit: int, now: dt.datetime) -> list[tuple[int, str, str, str]]:
    """The shipments whose next poll is due, soonest first: (id, provider, tracking number, carrier)."""
    return [(s.id, s.provider, s.tracking_number, s.carrier) for s in db.session.scalars(
        select(Shipment).where(Shipment.final.is_(False), Shipment.provider.is_not(None),
                               Shipment.next_poll_at.is_not(None), Shipment.next_poll_at <= now)
        .order_by(Shipment.next_poll_at).limit(limit))]


def poll_budget(run_seconds: int) -> dict[str, int]:
    """How many calls each provider may take in a round of `run_seconds`, by its rate limit."""
    return {name: max(1, int(getattr(mod, "RATE_LIMIT_PER_MINUTE", 60) * run_seconds / 60))
            for name, mod in _providers().items()}


def fetch_update(provider: str, cfg: ProviderSettings, number: str, carrier: str):
    """Asks the provider for the parcel's status (a network call: no transaction may be open)."""
    return _providers()[provider].fetch(cfg, number, carrier)


def poll_failed(shipment_id: int, exc) -> None:
    """The provider's refusal or silence: the next poll after a growing wait (or its Retry-After)."""
    shipment = db.session.get(Shipment, shipment_id)
    shipment.poll_failures = (shipment.poll_failures or 0) + 1
    shipment.last_poll_error = str(exc)[:500]
    shipment.next_poll_at = polling.after_error(shipment.poll_failures, now=utcnow(), retry_after=exc.retry_after)
    db.session.flush()


def poll_answered(update_, shipment_id: int) -> Shipment:
    """Stores what a poll brought, like a webhook's events, and sets the next poll."""
    shipment = ingest_update(update_, via="poll") or db.session.get(Shipment, shipment_id)
    shipment.poll_failures, shipment.last_poll_error = 0, None
    if shipment.next_poll_at is None and not shipment.final:
        shipment.next_poll_at = polling.next_poll(shipment.status, now=utcnow(), shipment_id=shipment.id)
    db.session.flush()
    return shipment


# -- carrier alerts ---------------------------------------------------------------------------------

def _carrier_alerts_for(shipment: Shipment, *, had_exception: bool = True) -> None:
    """Alerts that follow from an event at once: an exception, a return."""
    code = shipment.order.code if shipment.order else ""
    current = (f"exception:{shipment.id}:{shipment.exception}:{shipment.last_event_at}"
               if shipment.exception and not shipment.final else None)
    # An exception that a newer normal event (or the delivery) cleared is over now, not at the next sweep.
    # (A parcel that never had one has none to close: no query on the common webhook.)
    if had_exception or current is not None:
        close_shipment_alerts("carrier_exception", shipment.id, keep=current)
    if current is not None:
        raise_alert("carrier_exception", current,
                    message=f"{code}: {shipment.carrier.upper()} {shipment.tracking_number} reports "
                            f"{shipment.exception.replace('_', ' ')}",
                    since=shipment.last_event_at or utcnow(), order_id=shipment.order_id, shipment_id=shipment.id)
    if shipment.status == "returned":
        raise_alert("carrier_return", f"returned:{shipment.id}",
                    message=f"{code}: {shipment.carrier.upper()} {shipment.tracking_number} is being returned to the shop",
                    since=shipment.last_event_at or utcnow(), order_id=shipment.order_id, shipment_id=shipment.id)


def carrier_alert_sweep(now: dt.datetime | None = None) -> dict:
    """Time-based carrier alerts: a label with no carrier scan after `label_no_scan_days` working days; no movement for
    `no_movement_days`; and closes exception alerts that a newer normal event cleared."""
    now = now or utcnow()
    cfg = current_settings().tracking
    tz = current_settings().shop.tz
    stale = now - dt.timedelta(days=cfg.no_movement_days)
    keep = {"label_no_scan": set(), "no_movement": set(), "carrier_exception": set()}
    open_shipments = db.session.scalars(select(Shipment).where(Shipment.final.is_(False)))
    for s in open_shipments:
        code = s.order.code if s.order else ""
        if s.order and s.order.stage == CANCELLED:
            continue
        if s.activated_at is None and \
                current_settings().work_calendar.add_days(s.created_at, cfg.label_no_scan_days) <= now:
            key = f"label_no_scan:{s.id}"
            keep["label_no_scan"].add(key)
            raise_alert("label_no_scan", key, since=s.created_at, order_id=s.order_id, shipment_id=s.id,
                        message=f"{code}: label {s.tracking_number} created {s.created_at.astimezone(tz):%a %b %d} "
                                "and the carrier has not scanned it")
        if s.activated_at is not None and s.last_event_at and s.last_event_at <= stale:
            key = f"no_movement:{s.id}:{s.last_event_at.isoformat()}"
            keep["no_movement"].add(key)
            raise_alert("no_movement", key, since=s.last_event_at, order_id=s.order_id, shipment_id=s.id,
                        message=f"{code}: no carrier movement on {s.tracking_number} for "
                                f"{cfg.no_movement_days:g} days")
        if s.exception:
            keep["carrier_exception"].add(f"exception:{s.id}:{s.exception}:{s.last_event_at}")
    closed = sum(close_alerts_except(kind, keys, now=now) for kind, keys in keep.items())
    db.session.flush()
    return {"open": sum(len(k) for k in keep.values()), "closed": closed}
