"""Etsy: paid receipts polled in as orders, tracking numbers sent back through the outbox.

Polling (the etsy-orders job, every 10 minutes, and "Fetch now" on /marketplaces; the round is
tracker/workers/etsy.py, the steps are here): each receipt Etsy lists is
stored raw as a WebhookDelivery (provider etsy, key etsy:receipt:<receipt_id>:<updated_timestamp>, the same
INSERT ... ON CONFLICT DO NOTHING as carrier webhooks), then read into an order in a savepoint, and both are
committed together, one receipt per transaction. A receipt seen before (same key) is skipped; a receipt
updated on Etsy gets a new row, and the order service's channel + external_ref rule keeps it one order.
A malformed receipt is kept with its error ("unreadable: ...") and the others still come in. The raw row
and its outcome share one commit on purpose: the process-webhooks job reads every unprocessed delivery as
a carrier's, so an Etsy row must never be visible unprocessed; and a crash loses nothing, because Etsy keeps
listing the receipt until it ships and the next round stores it.

No network call happens inside an open transaction: each page is fetched after the previous receipts were
committed. A 429 stops the round; with a Retry-After the next rounds wait that long (in this process).

Tracking back: when the carrier first scans a parcel of an Etsy order, an "etsy_tracking" outbox message is
queued (one per shipment and number); the outbox job sends it after the commit. 429, 5xx and network
failures are retried with backoff, and so are refused credentials (401/403: fixable by the shop); any other
refusal (400, 404) is given up at once with Etsy's own message.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from ..domain.intake import InvalidInput
from ..extensions import db
from ..integrations.http import ProviderError
from ..integrations.marketplaces import etsy as api
from ..models import OutboxMessage, SchedulerJob, Shipment, WebhookDelivery, utcnow
from ..settings import current_settings
from .orders import Actor, create_order, find_by_external_ref
from .outbox import GiveUp, RetryLater, enqueue
from .rows import insert_new

log = logging.getLogger("tracker.etsy")
ETSY = Actor("etsy", None)
SOURCE = "import"
JOB = "etsy-orders"
TRACKING_KIND = "etsy_tracking"
# A 429's Retry-After, per shop: the rounds before then are skipped (this process only; the next round
# after a restart simply asks again).
_paused_until: dict[tuple[str, str], float] = {}


class EtsyPollError(Exception):
    """A round that could not talk to Etsy; the job records the message as its last error."""


def etsy_settings() -> dict | None:
    return current_settings().marketplaces.get("etsy")


def etsy_config() -> api.EtsyConfig | None:
    return api.load_config(etsy_settings())


def token_store() -> api.TokenStore:
    return api.TokenStore(Path(current_app.instance_path) / "etsy_tokens.json")


def _pause_key(cfg: api.EtsyConfig) -> tuple[str, str]:
    return (cfg.base_url, cfg.shop_id)


def paused_until(cfg: api.EtsyConfig | None = None) -> dt.datetime | None:
    cfg = cfg or etsy_config()
    if cfg is None:
        return None
    until = _paused_until.get(_pause_key(cfg))
    if until is None or until <= time.time():
        return None
    return dt.datetime.fromtimestamp(until, dt.timezone.utc)


# -- polling (the round itself, which commits per receipt, is tracker/workers/etsy.py) ------------------

def pause(cfg: api.EtsyConfig, seconds: float) -> None:
    """Etsy asked us to wait (a 429 with Retry-After): the rounds before then are skipped."""
    _paused_until[_pause_key(cfg)] = time.time() + seconds


def receipt_row(receipt: dict) -> tuple[str, bytes]:
    """A listed receipt as it is stored: its key and its body (compact JSON)."""
    body = json.dumps(receipt, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return api.receipt_key(receipt, body), body


def store_receipt(key: str, body: bytes) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING: the new row's id, or None when the key is stored already."""
    values = {"provider": "etsy", "dedupe_key": key[:120], "headers": "{}", "body": body, "received_at": utcnow(),
              "attempts": 0, "error": None, "processed_at": None}
    return insert_new(WebhookDelivery.__table__, "dedupe_key", values, returning="id").scalar()


def process_receipt(delivery_id: int) -> str:
    """Reads a stored receipt into an order (once). Returns created, existing, ignored or unreadable."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.processed_at is not None:
        return "existing"
    delivery.attempts = (delivery.attempts or 0) + 1
    settings = current_settings()
    outcome = "unreadable"
    try:
        with db.session.begin_nested():
            doc = json.loads(delivery.body)
            draft = api.parse_receipt(doc, rules=settings.intake.method_rules,
                                      default_method=settings.intake.default_method, tz=settings.shop.tz,
                                      max_quantity=settings.intake.max_quantity,
                                      max_items=settings.intake.max_items)
            order, created = create_order(draft, actor=ETSY, source=SOURCE)
            outcome = "created" if created else "existing"
            # A receipt Etsy updated after we took it in: the order exists, nothing more to do.
            delivery.error = None if created else f"ignored: already order {order.code}"
    except api.Ignored as exc:
        outcome, delivery.error = "ignored", f"ignored: {exc}"[:2000]
    except (ValueError, InvalidInput) as exc:  # json's errors are ValueErrors too
        outcome, delivery.error = "unreadable", f"unreadable: {exc}"[:2000]
        log.warning("etsy: delivery %s unreadable: %s", delivery_id, exc)
    delivery.processed_at = utcnow()
    db.session.flush()
    return outcome


def process_leftovers(summary: dict) -> None:
    """Etsy rows stored but not processed (none, unless something outside this module stored them)."""
    ids = list(db.session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.provider == "etsy",
                                                                   WebhookDelivery.processed_at.is_(None))
                                  .order_by(WebhookDelivery.id).limit(500)))
    for delivery_id in ids:
        summary[process_receipt(delivery_id)] += 1


# -- tracking back -----------------------------------------------------------------------------------

def _tracking_key(shipment: Shipment, number: str) -> str:
    return f"etsy:tracking:{shipment.id}:{number}"


def _queue_tracking(shipment: Shipment) -> None:
    order = shipment.order
    if not order.external_ref or etsy_config() is None:
        return  # nothing to send to, as for Shopify: an Etsy order entered by hand, or Etsy not set up
    enqueue(TRACKING_KIND, _tracking_key(shipment, shipment.tracking_number),
            {"shipment_id": shipment.id, "receipt_id": order.external_ref, "tracking_code": shipment.tracking_number,
             "carrier": shipment.carrier, "carrier_name": api.carrier_name(etsy_config(), shipment.carrier)},
            order_id=order.id)


def shipment_activated(shipment: Shipment) -> None:
    """The carrier scanned an Etsy order's parcel: queue its tracking number for Etsy."""
    _queue_tracking(shipment)


def tracking_number_replaced(shipment: Shipment, old_number: str) -> None:
    """A parcel's number was corrected. Etsy cannot change a number it was given, so the new one is sent too
    (Etsy adds it to the receipt). A message for the old number that has not gone out yet is dropped and the
    new number goes instead; if nothing was queued yet, the carrier's first scan of the new number sends it."""
    old_key = _tracking_key(shipment, old_number)
    pending = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == old_key,
                                                            OutboxMessage.status == "pending"))
    if pending is not None:
        pending.status = "failed"
        pending.last_error = f"superseded: the tracking number changed to {shipment.tracking_number} before it was sent"
    if pending is not None or shipment.marketplace_number:
        _queue_tracking(shipment)


def apply_tracking(payload: dict, result) -> None:
    shipment = db.session.get(Shipment, payload.get("shipment_id"))
    if shipment is not None:
        shipment.marketplace_ref = f"etsy:receipt:{payload.get('receipt_id')}"[:200]
        shipment.marketplace_number = str(payload.get("tracking_code"))[:64]


def send_tracking(payload: dict):
    """The outbox's send: no database here (no transaction is open), only Etsy."""
    cfg = etsy_config()
    if cfg is None:
        # Retried with backoff, and parked as failed after the outbox's last attempt.
        raise RuntimeError("Etsy is not set up ([marketplaces.etsy] needs api_key, access_token and shop_id)")
    receipt, code = payload.get("receipt_id"), payload.get("tracking_code")
    name = payload.get("carrier_name") or api.carrier_name(cfg, payload.get("carrier"))
    try:
        return api.push_tracking(cfg, token_store(), receipt_id=str(receipt), tracking_code=str(code),
                                 carrier_name=name)
    except ProviderError as exc:
        if exc.retryable:
            raise RetryLater(f"Etsy tracking for receipt {receipt}: {exc.message}", seconds=exc.retry_after) from None
        if exc.status in (401, 403):
            # The shop's credentials, not this message: retried with backoff (parked after the outbox's last
            # attempt), so the number still goes once someone fixes the token or the key.
            raise RuntimeError(f"Etsy refused our credentials: {exc.message}") from None
        raise GiveUp(f"Etsy refused tracking {code} for receipt {receipt}: {exc.message}") from None


# -- what the marketplaces page shows --------------------------------------------------------------

def status() -> dict:
    raw = etsy_settings()
    cfg = api.load_config(raw)
    job = db.session.get(SchedulerJob, JOB)
    recent = list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.provider == "etsy")
                                     .order_by(WebhookDelivery.id.desc()).limit(20)))
    rows = []
    for d in recent:
        try:
            doc = json.loads(d.body)
        except ValueError:
            doc = None
        rid = doc.get("receipt_id") if isinstance(doc, dict) else None
        order = find_by_external_ref("etsy", str(rid)) if rid is not None else None
        rows.append({"receipt_id": rid, "received_at": d.received_at, "error": d.error, "order": order})
    pushes = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == TRACKING_KIND)
                                     .order_by(OutboxMessage.id.desc()).limit(10)))
    return {"configured": cfg is not None, "missing": api.missing_settings(raw) if raw else list(api.REQUIRED),
            "section_present": raw is not None, "shared_secret": bool(cfg and cfg.has_shared_secret),
            "refresh": bool(cfg and cfg.refresh_token), "shop_id": cfg.shop_id if cfg else None,
            "job": job, "paused_until": paused_until(cfg) if cfg else None, "receipts": rows,
            "pushes": [{"message": m, "payload": json.loads(m.payload or "{}")} for m in pushes]}
