"""Shopify: orders in by webhook, tracking out through the outbox.

In: POST /webhooks/shopify (orders/create, orders/updated, orders/cancelled). A delivery is verified,
stored raw once per X-Shopify-Webhook-Id, answered, and processed after the commit (as carrier webhooks
are: tracking.process_delivery calls process_delivery here). An order is made once per Shopify order id
whatever arrives how often. An update changes jobs that have not started; anything it cannot apply
(a started job changed, an item removed, an item added to a packed order) becomes an audit note and a
"marketplace_change" alert for a person. A cancel cancels the order, with an alert when production had begun.

Out: when the carrier first scans a parcel of a Shopify order, a "shopify_fulfillment" outbox message
fulfills the order on Shopify with the tracking number; a corrected number later sends a
"shopify_tracking_update". Both are sent by the outbox job, retried on 429/5xx/timeouts, and parked as
failed with Shopify's own words otherwise (shown on the order page).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

from sqlalchemy import select

from ..domain.carriers import CARRIER_NAMES, tracking_url
from ..domain.lifecycle import CANCELLED, MoveRefused
from ..domain.refusals import Refused
from ..extensions import db
from ..integrations.carriers import UnsupportedEvent
from ..integrations.marketplaces import shopify as api
from ..models import Job, Order, OutboxMessage, Shipment, utcnow
from ..settings import current_settings
from .alerts import raise_alert_once
from .orders import Actor, add_job, cancel_order, create_order, find_by_external_ref, record_note
from .outbox import GiveUp, RetryLater, enqueue

log = logging.getLogger("tracker.shopify")
ACTOR = Actor("shopify", None)
SOURCE = "import"  # what an order from a marketplace is, in the audit trail (domain/lifecycle.SOURCES)
ALERT_KIND = "marketplace_change"
NOTE_KIND = "marketplace"
STARTED_AFTER = "preproduction"  # a cancel after this stage means something was already made


# -- settings --------------------------------------------------------------------------------------

def _cfg() -> api.ShopifyConfig:
    return api.load_config(current_settings().marketplaces.get("shopify"))


def webhook_config() -> api.ShopifyConfig | None:
    """[marketplaces.shopify] when webhooks can be verified (webhook_secret set), else None."""
    cfg = _cfg()
    return cfg if cfg.webhook_secret else None


def push_config() -> api.ShopifyConfig | None:
    """[marketplaces.shopify] when tracking can be sent (access_token and the shop's address set), else None."""
    cfg = _cfg()
    return cfg if cfg.access_token and (cfg.shop_domain or cfg.base_url) else None


def _today() -> dt.date:
    return utcnow().astimezone(current_settings().shop.tz).date()


def _draft(data: dict):
    s = current_settings()
    return api.parse_order(data, s.intake.method_rules, s.intake.default_method, _today(),
                           max_quantity=s.intake.max_quantity, max_items=s.intake.max_items)


# -- webhooks in -----------------------------------------------------------------------------------

def check_body(topic: str, body: bytes) -> None:
    """Raises ValueError with the reason when a delivery of this topic is not a readable order."""
    data = api.load(body)
    if topic == "orders/cancelled":
        api.order_ref(data)
    else:
        _draft(data)


def receive_webhook(headers, body: bytes) -> tuple[int, bool]:
    """Verifies and stores one delivery; returns (delivery id, created) or raises WebhookRefused:
    404 not set up, 401 missing or bad signature, 403 signed for another shop (nothing stored for
    those), 422 a signed body that is not an order (stored for inspection, not processed)."""
    from .tracking import BadSignature, UnreadableDelivery, WebhookNotSetUp, WrongSender, _count, store_delivery

    cfg = webhook_config()
    if cfg is None:
        raise WebhookNotSetUp("Shopify webhooks are not set up ([marketplaces.shopify] has no webhook_secret)")
    if not api.verify(headers, body, cfg.webhook_secret):
        _count("webhook_rejected:shopify")  # the count is all a bad signature changes (the caller commits it)
        raise BadSignature("missing or bad signature (X-Shopify-Hmac-Sha256)")
    expected = api.normalise_domain(cfg.shop_domain)
    sender = api.normalise_domain(api.header(headers, "X-Shopify-Shop-Domain"))
    if expected and sender and sender != expected:
        _count("webhook_wrong_shop:shopify")
        raise WrongSender(f"this delivery is for the shop {sender}, not {expected} "
                                  "([marketplaces.shopify] shop_domain)")
    topic = (api.header(headers, "X-Shopify-Topic") or "").strip()
    webhook_id = (api.header(headers, "X-Shopify-Webhook-Id") or "").strip()
    if webhook_id:
        key = f"shopify:{webhook_id}"[:120]
    else:
        key = "shopify:sha256:" + hashlib.sha256(topic.encode() + b"\n" + body).hexdigest()
    problem = None
    if topic in api.TOPICS:
        try:
            check_body(topic, body)
        except ValueError as exc:
            problem = str(exc)
    delivery_id, created = store_delivery("shopify", key, headers, body,
                                          error=f"unreadable: {problem}" if problem else None)
    if problem:  # kept for inspection: the caller commits before the refusal is answered
        raise UnreadableDelivery(f"not an order Inktrail can read: {problem}")
    return delivery_id, created


def process_delivery(delivery) -> None:
    """Applies one stored delivery. Called by tracking.process_delivery inside a savepoint; raises
    UnsupportedEvent for a topic Inktrail does not read, ValueError for a body that is not an order."""
    headers = json.loads(delivery.headers or "{}")
    topic = (api.header(headers, "X-Shopify-Topic") or "").strip()
    if topic not in api.TOPICS:
        raise UnsupportedEvent(f"Shopify topic {topic or '(none)'!r} is not one Inktrail reads")
    data = api.load(delivery.body)
    ref = api.order_ref(data)
    order = find_by_external_ref("shopify", ref)
    if topic == "orders/cancelled" or data.get("cancelled_at"):
        if order is None:
            raise UnsupportedEvent(f"Shopify order {ref} was cancelled but was never in Inktrail")
        reason = data.get("cancel_reason")
        cancel_from_shopify(order, reason=str(reason)[:100] if isinstance(reason, str) and reason.strip() else None)
        return
    changed_at = _changed_at(data)
    if order is not None and changed_at is not None and order.external_updated_at is not None \
            and changed_at < order.external_updated_at:
        raise UnsupportedEvent(f"Shopify order {ref}: this version ({changed_at.isoformat()}) is older than the one "
                               f"already applied ({order.external_updated_at.isoformat()})")
    draft = _draft(data)
    if order is None:  # orders/create, or an update of an order whose create has not arrived (yet)
        if not draft.items:
            raise UnsupportedEvent(f"Shopify order {draft.external_name or ref} has nothing to make")
        order, created = create_order(draft, actor=ACTOR, source=SOURCE)
        if created:
            order.external_updated_at = changed_at
        if created and draft.extra.get("warnings"):
            record_note(order, kind=NOTE_KIND, actor=ACTOR, source=SOURCE,
                        note="Read from Shopify with warnings: " + "; ".join(draft.extra["warnings"]))
        return
    if topic == "orders/updated":
        apply_update(order, draft)
        if changed_at is not None:
            order.external_updated_at = changed_at
    # A second orders/create for a known order (Shopify sends duplicates): nothing to do.


# -- updates and cancels ---------------------------------------------------------------------------

def _changed_at(data: dict) -> dt.datetime | None:
    """Shopify's updated_at (ISO 8601 with an offset), in UTC; None when absent or unreadable."""
    value = data.get("updated_at")
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(dt.timezone.utc) if parsed.tzinfo else None


def _label(order: Order) -> str:
    return f"{order.code} (Shopify {order.external_name or order.external_ref})"


def _attention(order: Order, job: Job | None, key: str, message: str) -> None:
    """An alert for a person and the same words in the audit trail, once per occurrence (key): the next
    orders/updated still shows the same difference and must not raise it again."""
    _, created = raise_alert_once(ALERT_KIND, key[:160], message=message, since=utcnow(), order_id=order.id,
                                  job_id=job.id if job else None)
    if created:
        record_note(order, kind=NOTE_KIND, actor=ACTOR, source=SOURCE, note=message)


def _differences(job: Job, item) -> list[str]:
    out = []
    if job.quantity != item.quantity:
        out.append(f"quantity {job.quantity} → {item.quantity}")
    if job.description != item.description:
        out.append(f"description {job.description!r} → {item.description!r}")
    if job.method != item.method:
        out.append(f"method {job.method} → {item.method}")
    return out


def apply_update(order: Order, draft) -> None:
    """Brings an order in line with its Shopify version, as far as the shop floor allows."""
    if order.stage == CANCELLED:
        return
    _update_order_fields(order, draft)
    lc = current_settings().lifecycle
    first_stage = lc.stages[0].key
    jobs = {j.external_ref: j for j in order.jobs if j.external_ref}
    wanted = {i.external_ref: i for i in draft.items}
    for ref, item in wanted.items():
        job = jobs.get(ref)
        if job is None:
            try:
                add_job(order, item, actor=ACTOR, source=SOURCE,
                        note=f"Item added on Shopify: {item.quantity} × {item.description}")
            except Refused as exc:
                _attention(order, None, f"shopify:added:{order.id}:{ref}",
                           f"{_label(order)}: {item.quantity} × {item.description} was added on Shopify and not "
                           f"here ({exc}); make it separately or start a new order")
            continue
        if job.stage == CANCELLED:
            continue
        diffs = _differences(job, item)
        if not diffs:
            continue
        if job.stage == first_stage:
            job.quantity, job.description, job.method = item.quantity, item.description, item.method
            record_note(order, kind=NOTE_KIND, actor=ACTOR, source=SOURCE,
                        note=f"{job.code} changed on Shopify: {'; '.join(diffs)}")
        else:
            digest = hashlib.sha256(f"{item.quantity}|{item.description}|{item.method}".encode()).hexdigest()[:12]
            _attention(order, job, f"shopify:changed:{job.id}:{digest}",
                       f"{_label(order)}: {job.code} changed on Shopify after production began, not applied: "
                       f"{'; '.join(diffs)}")
    for ref, job in jobs.items():
        if ref in wanted or job.stage == CANCELLED:
            continue
        started = job.stage != first_stage
        _attention(order, job, f"shopify:removed:{job.id}",
                   f"{_label(order)}: {job.code} ({job.quantity} × {job.description}) was removed on Shopify"
                   + (" after production began" if started else "") + ": take it off the order here")


def _update_order_fields(order: Order, draft) -> None:
    """Customer, ship-to, due date, rush and note. Shopify's value wins when it has one; an empty value
    on Shopify never clears what the shop filled in, and rush is only ever switched on from there."""
    changes = []

    def take(attr: str, new, words: str, show: bool = True) -> None:
        old = getattr(order, attr)
        if new is not None and new != old:
            setattr(order, attr, new)
            changes.append(f"{words} {old or '(none)'} → {new}" if show else f"{words} updated")

    if draft.extra.get("named"):
        take("customer_name", draft.customer_name, "customer")
    take("customer_email", draft.customer_email, "e-mail")
    take("customer_phone", draft.customer_phone, "phone")
    take("ship_city", draft.ship_city, "ship-to city")
    take("ship_region", draft.ship_region, "ship-to region")
    take("ship_country", draft.ship_country, "ship-to country")
    take("ship_name", draft.ship_name, "ship-to name", show=False)
    take("ship_company", draft.ship_company, "ship-to company", show=False)
    take("ship_street1", draft.ship_street1, "ship-to street", show=False)
    take("ship_street2", draft.ship_street2, "ship-to street (2)", show=False)
    take("ship_postal", draft.ship_postal, "ship-to postal code", show=False)
    take("due_date", draft.due_date, "due date")
    take("notes", draft.notes, "order note", show=False)
    if draft.rush and not order.rush:
        order.rush = True
        changes.append("rush on (tagged rush)")
    if changes:
        order.updated_at = utcnow()
        record_note(order, kind=NOTE_KIND, actor=ACTOR, source=SOURCE, note="Changed on Shopify: " + "; ".join(changes))


def _production_began(order: Order) -> bool:
    lc = current_settings().lifecycle
    if STARTED_AFTER not in lc:
        return any(j.stage != lc.stages[0].key for j in order.jobs if j.stage != CANCELLED)
    mark = lc.index(STARTED_AFTER)
    return any(s in lc and lc.index(s) > mark for s in [order.stage, *(j.stage for j in order.jobs)] if s != CANCELLED)


def cancel_from_shopify(order: Order, *, reason: str | None = None) -> None:
    """Cancels the order (once); tells a person when something was already made or it cannot be cancelled."""
    if order.stage == CANCELLED:
        return
    began = _production_began(order)
    try:
        cancel_order(order, actor=ACTOR, source=SOURCE,
                     reason="cancelled on Shopify" + (f" (reason: {reason})" if reason else ""))
    except MoveRefused as exc:
        _attention(order, None, f"shopify:cancel:{order.id}",
                   f"{_label(order)} was cancelled on Shopify but cannot be cancelled here: {exc}")
        return
    if began:
        _attention(order, None, f"shopify:cancel:{order.id}",
                   f"{_label(order)} was cancelled on Shopify after production began: set aside what was made")


# -- tracking out ----------------------------------------------------------------------------------

def _eligible(shipment: Shipment) -> bool:
    order = shipment.order
    return (order is not None and order.channel == "shopify" and bool(order.external_ref)
            and order.stage != CANCELLED and push_config() is not None)


def _tracking_payload(shipment: Shipment) -> dict:
    cfg = push_config() or api.ShopifyConfig()
    order = shipment.order
    return {"shipment_id": shipment.id, "order_ref": order.external_ref, "order_name": order.external_name,
            "carrier": shipment.carrier,
            "company": api.tracking_company(shipment.carrier, cfg.tracking_company),
            "number": shipment.tracking_number,
            "url": tracking_url(shipment.carrier, shipment.tracking_number) or shipment.public_url}


def _fulfillment_key(shipment_id: int) -> str:
    return f"shopify_fulfillment:{shipment_id}"


def _message(key: str) -> OutboxMessage | None:
    return db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))


def shipment_activated(shipment: Shipment) -> None:
    """The carrier scanned the parcel: queue the order's fulfillment on Shopify (once per parcel)."""
    if not _eligible(shipment) or shipment.marketplace_ref:
        return
    order = shipment.order
    for other in order.shipments:
        if other.id == shipment.id:
            continue
        msg = _message(_fulfillment_key(other.id))
        if other.marketplace_ref or (msg is not None and msg.status != "failed"):
            # Shopify closes the order's fulfillment orders with the first parcel's fulfillment.
            record_note(order, kind=NOTE_KIND, actor=ACTOR, source="system",
                        note=f"Not sent to Shopify: {shipment.tracking_number} (the order's Shopify fulfillment "
                             f"carries {other.tracking_number}; add this parcel's number there if the customer needs it)")
            return
    enqueue("shopify_fulfillment", _fulfillment_key(shipment.id), _tracking_payload(shipment), order_id=order.id)


def tracking_number_replaced(shipment: Shipment, old_number: str) -> None:
    """A parcel's number was corrected: update Shopify's fulfillment, or the fulfillment still waiting."""
    if not _eligible(shipment):
        return
    if shipment.marketplace_ref:
        _queue_tracking_update(shipment, old_number)
        return
    msg = _message(_fulfillment_key(shipment.id))
    if msg is not None and msg.status == "pending":
        # Not sent yet: it goes out with the new number. (Should the outbox be sending it this very moment,
        # the apply step sees the number differ and queues the update.)
        msg.payload = json.dumps(_tracking_payload(shipment))


def _queue_tracking_update(shipment: Shipment, old_number: str | None) -> None:
    payload = {**_tracking_payload(shipment), "fulfillment_id": shipment.marketplace_ref, "old_number": old_number}
    enqueue("shopify_tracking_update", f"shopify_tracking:{shipment.id}:{old_number}>{shipment.tracking_number}"[:160],
            payload, order_id=shipment.order_id)


def _tracking(payload: dict) -> api.TrackingInfo:
    return api.TrackingInfo(payload["company"], payload["number"], payload.get("url"))


def _outbox_error(exc: api.ShopifyError) -> Exception:
    return RetryLater(exc.message, seconds=exc.retry_after) if exc.retryable else GiveUp(exc.message)


def _send_config() -> api.ShopifyConfig:
    cfg = push_config()
    if cfg is None:
        raise RetryLater("Shopify is not set up ([marketplaces.shopify] needs access_token and shop_domain)", seconds=3600)
    return cfg


def send_fulfillment(payload: dict):
    cfg = _send_config()
    try:
        fulfillment_id = api.create_fulfillment(cfg, payload["order_ref"], _tracking(payload),
                                                notify_customer=cfg.notify_customer)
    except api.ShopifyError as exc:
        raise _outbox_error(exc) from None
    return {"fulfillment_id": fulfillment_id, "number": payload["number"]}


def apply_fulfillment(payload: dict, result: dict) -> None:
    shipment = db.session.get(Shipment, payload["shipment_id"])
    if shipment is None:
        return
    shipment.marketplace_ref = str(result["fulfillment_id"])[:200]
    shipment.marketplace_number = result["number"]
    record_note(shipment.order, kind=NOTE_KIND, actor=ACTOR, source="system",
                note=f"Tracking sent to Shopify: {payload['company']} {result['number']}")
    if shipment.tracking_number != result["number"]:  # corrected while the fulfillment was on its way
        _queue_tracking_update(shipment, result["number"])


def send_tracking_update(payload: dict):
    cfg = _send_config()
    try:
        api.update_tracking(cfg, payload["fulfillment_id"], _tracking(payload),
                            notify_customer=cfg.notify_customer)
    except api.ShopifyError as exc:
        raise _outbox_error(exc) from None
    return {"number": payload["number"]}


def apply_tracking_update(payload: dict, result: dict) -> None:
    shipment = db.session.get(Shipment, payload["shipment_id"])
    if shipment is None:
        return
    shipment.marketplace_number = result["number"]
    record_note(shipment.order, kind=NOTE_KIND, actor=ACTOR, source="system",
                note=f"Tracking on Shopify changed: {payload.get('old_number')} → "
                     f"{CARRIER_NAMES.get(payload['carrier'], payload['company'])} {result['number']}")




def status(limit: int = 8) -> dict:
    """What the marketplaces page shows about Shopify: set up or not, the webhook address to give Shopify,
    the latest deliveries (with what became of them) and the latest fulfillment messages."""
    from sqlalchemy import select as _select

    from ..models import WebhookDelivery

    settings = current_settings()
    deliveries = []
    for d in db.session.scalars(_select(WebhookDelivery).where(WebhookDelivery.provider == "shopify")
                                .order_by(WebhookDelivery.id.desc()).limit(limit)):
        headers = json.loads(d.headers or "{}")
        deliveries.append({"received_at": d.received_at, "topic": api.header(headers, "X-Shopify-Topic") or "",
                           "processed": d.processed_at is not None, "error": d.error})
    rows = db.session.execute(
        _select(OutboxMessage, Order.code).outerjoin(Order, Order.id == OutboxMessage.order_id)
        .where(OutboxMessage.kind.in_(("shopify_fulfillment", "shopify_tracking_update")))
        .order_by(OutboxMessage.id.desc()).limit(limit)).all()
    messages = [{"code": code, "kind": m.kind, "status": m.status, "last_error": m.last_error} for m, code in rows]
    return {"webhooks": webhook_config() is not None, "push": push_config() is not None,
            "webhook_url": f"{settings.shop.public_url.rstrip('/')}/webhooks/shopify",
            "deliveries": deliveries, "messages": messages}
