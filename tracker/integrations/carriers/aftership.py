"""AfterShip Tracking (https://www.aftership.com/docs/tracking), the dated API versions.

Config ([providers.aftership]): api_key, webhook_secret, base_url (default https://api.aftership.com);
optional api_version (default below; AfterShip dates its versions, e.g. 2025-04, 2026-01).

- Webhooks: AfterShip POSTs `{"event": "tracking_update", "event_id", "msg": <Tracking>, "ts"}`, signed
  with `aftership-hmac-sha256: <base64 of HMAC-SHA256(raw body, webhook secret)>`. `event_id` identifies
  the delivery (retries reuse it). `edd_revise` deliveries carry the same Tracking and parse the same way.
- Polling: GET /tracking/{version}/trackings?tracking_numbers=...&slug=... with the `as-api-key` header.
  The dated versions only read a tracking by AfterShip's own id or by this search; a number AfterShip
  does not know yet is created first (as register does).
- Registering: POST /tracking/{version}/trackings; the answer's `data.id` is returned. An "already
  exists" answer (meta.code 4003) counts as success: the existing tracking's id is looked up instead.
- Checkpoint times are in the checkpoint's local time and AfterShip writes them with an offset when the
  carrier gives one; a time without one is taken as UTC (the docs allow both forms).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Mapping

from ...settings import ProviderSettings
from ..http import ProviderError, Response, request
from .common import (CarrierEvent, TrackingUpdate, UnsupportedEvent, answer, as_bytes, carrier_code, first_date,
                     format_location, header, items, load_json, make_update, obj, parse_datetime, required,
                     same, text, unexpected)
from .common import base_url as _base_url

NAME = "aftership"
DEFAULT_BASE_URL = "https://api.aftership.com"
API_VERSION = "2026-01"
# AfterShip limits GET /trackings to 6 requests a second per organisation (10/s before 2024-07);
# five a second leaves room for the occasional create.
RATE_LIMIT_PER_MINUTE = 300
WEBHOOKS = True
SIGNATURE_HEADER = "aftership-hmac-sha256"
TRACKING_EVENTS = ("tracking_update", "edd_revise")
ALREADY_EXISTS = 4003
# Our carrier codes as AfterShip slugs (the same words today; kept as a table so a rename is one line).
SLUGS = {"ups": "ups", "usps": "usps", "fedex": "fedex", "dhl": "dhl"}


def sign(body: bytes | str, secret: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), as_bytes(body), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(headers: Mapping, body: bytes, query: Mapping, config: ProviderSettings) -> bool:
    secret = config.webhook_secret
    given = header(headers, SIGNATURE_HEADER)
    if not secret or not given:
        return False
    return same(given.strip(), sign(body, secret))


def parse_webhook(body: bytes) -> TrackingUpdate:
    doc = load_json(body, NAME)
    event = text(doc.get("event"))
    if event is not None and event not in TRACKING_EVENTS:
        raise UnsupportedEvent(f"{NAME}: {event} events carry no tracking")
    msg = doc.get("msg")
    if not isinstance(msg, dict):
        raise ValueError(f"{NAME}: the event has no msg object")
    return tracking_update(msg, delivery_id=doc.get("event_id"))


def tracking_update(tracking: dict, *, delivery_id: Any = None) -> TrackingUpdate:
    number = text(tracking.get("tracking_number"))
    if number is None:
        raise ValueError(f"{NAME}: the tracking has no tracking_number")
    carrier = carrier_code(tracking.get("slug"))
    events = []
    for checkpoint in items(tracking.get("checkpoints")):
        occurred = parse_datetime(checkpoint.get("checkpoint_time"))
        if occurred is None:
            continue
        events.append(CarrierEvent(
            provider=NAME, carrier=carrier_code(checkpoint.get("slug")) or carrier, tracking_number=number,
            code=text(checkpoint.get("tag")), sub_code=text(checkpoint.get("subtag")),
            description=text(checkpoint.get("message")) or text(checkpoint.get("subtag_message")) or "",
            occurred_at=occurred, location=_checkpoint_location(checkpoint), provider_event_id=None))
    est = first_date(
        tracking.get("expected_delivery"),  # the field older versions (and the fixture) carry
        obj(tracking.get("latest_estimated_delivery")).get("datetime"),
        obj(tracking.get("courier_estimated_delivery_date")).get("estimated_delivery_date"),
        obj(tracking.get("aftership_estimated_delivery_date")).get("estimated_delivery_date"),
        obj(tracking.get("custom_estimated_delivery_date")).get("estimated_delivery_date"),
    )
    return make_update(NAME, tracking_number=number, carrier=carrier, events=events, delivery_id=delivery_id,
                       est_delivery=est,
                       public_url=text(tracking.get("aftership_tracking_url")) or tracking.get("courier_tracking_link"),
                       status=tracking.get("tag"), status_detail=tracking.get("subtag"))


def _checkpoint_location(checkpoint: dict) -> str | None:
    structured = format_location(checkpoint.get("city"), checkpoint.get("state"), checkpoint.get("zip"),
                                 checkpoint.get("country_region") or checkpoint.get("country_iso3"))
    # The free-text `location` is the carrier's own wording; used only when the parts are missing.
    return structured or text(checkpoint.get("location"))


def fetch(config: ProviderSettings, tracking_number: str, carrier: str | None) -> TrackingUpdate:
    found = _find(config, tracking_number, carrier)
    if found is None:
        found = _create(config, tracking_number, carrier)
    return tracking_update(found)


def register(config: ProviderSettings, tracking_number: str, carrier: str | None) -> str | None:
    try:
        tracking = _create(config, tracking_number, carrier)
    except ProviderError as exc:
        if not _already_exists(exc):
            raise
        tracking = _find(config, tracking_number, carrier)
        if tracking is None:
            raise unexpected(NAME, "the tracking already exists but cannot be found") from None
    tracking_id = text(tracking.get("id"))
    if tracking_id is None:
        raise unexpected(NAME, "the tracking has no id")
    return tracking_id


def _find(config: ProviderSettings, tracking_number: str, carrier: str | None) -> dict | None:
    params = {"tracking_numbers": tracking_number, "slug": SLUGS.get(carrier or "")}
    resp = request("GET", _url(config, "/trackings"), headers=_auth(config), params=params)
    data = obj(obj(answer(resp, NAME)).get("data"))
    if not isinstance(data.get("trackings"), list):
        raise unexpected(NAME, "no trackings list", resp)
    wanted = tracking_number.strip().upper()
    for tracking in items(data["trackings"]):
        if (text(tracking.get("tracking_number")) or "").upper() == wanted:
            _check(tracking, resp)
            return tracking
    return None


def _create(config: ProviderSettings, tracking_number: str, carrier: str | None) -> dict:
    body = {"tracking_number": tracking_number}
    if carrier in SLUGS:
        body["slug"] = SLUGS[carrier]
    resp = request("POST", _url(config, "/trackings"), headers=_auth(config), json=body)
    data = obj(answer(resp, NAME)).get("data")
    tracking = data.get("tracking", data) if isinstance(data, dict) else None  # older versions wrap it
    if not isinstance(tracking, dict):
        raise unexpected(NAME, "no tracking in the answer", resp)
    _check(tracking, resp)
    return tracking


def _check(tracking: dict, resp: Response) -> None:
    try:
        tracking_update(tracking)
    except ValueError as exc:
        raise unexpected(NAME, str(exc), resp) from None


def _already_exists(exc: ProviderError) -> bool:
    if exc.response is None or exc.status not in (400, 409, 422):
        return False
    try:
        meta = obj(obj(exc.response.json()).get("meta"))
    except ValueError:
        return False
    return meta.get("code") in (ALREADY_EXISTS, str(ALREADY_EXISTS)) or "already exist" in (text(meta.get("message")) or "").lower()


def _url(config: ProviderSettings, path: str) -> str:
    version = config.api_version or API_VERSION
    return f"{_base_url(config, DEFAULT_BASE_URL)}/tracking/{version}{path}"


def _auth(config: ProviderSettings) -> dict[str, str]:
    return {"as-api-key": required(config.api_key, "api_key", NAME)}
