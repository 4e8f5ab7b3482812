"""EasyPost trackers (https://docs.easypost.com/docs/trackers).

Config ([providers.easypost]): api_key, webhook_secret, base_url (default https://api.easypost.com).

- Webhooks: EasyPost POSTs an Event; `tracker.created` / `tracker.updated` carry the whole Tracker in
  `result`, with `tracking_details` oldest first. The body is signed: `X-Hmac-Signature:
  hmac-sha256-hex=<hex of HMAC-SHA256(raw body, key = the NFKD-normalised webhook secret)>`.
- Polling: GET /v2/trackers?tracking_code=... (HTTP basic auth, the API key as user name). A number
  EasyPost does not know yet is registered with POST /v2/trackers, which answers the existing tracker
  for a code and carrier already tracked in the last three months instead of creating another.
- Registering: needed for webhooks to flow; POST /v2/trackers answers the tracker id (trk_...).
  EasyPost bills per tracker created, not per update, so registering twice costs nothing more.
"""
from __future__ import annotations

import hashlib
import hmac
import unicodedata
from typing import Any, Mapping

from ...settings import ProviderSettings
from ..http import basic_auth, request
from .common import (CarrierEvent, TrackingUpdate, UnsupportedEvent, answer, as_bytes, carrier_code, first_date,
                     format_location, header, items, load_json, make_update, obj, parse_datetime, required,
                     same, text, unexpected)
from .common import base_url as _base_url

NAME = "easypost"
DEFAULT_BASE_URL = "https://api.easypost.com"
# EasyPost does not publish fixed limits (they are dynamic, answered with 429); two a second keeps a
# shop's poller far below what any account is allowed.
RATE_LIMIT_PER_MINUTE = 120
WEBHOOKS = True
SIGNATURE_HEADER = "X-Hmac-Signature"
SIGNATURE_PREFIX = "hmac-sha256-hex="
# Our carrier codes as EasyPost spells them.
EASYPOST_CARRIERS = {"ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHLExpress"}


def sign(body: bytes | str, secret: str) -> str:
    """The X-Hmac-Signature value EasyPost sends for body (also used by tests and the demo)."""
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    return SIGNATURE_PREFIX + hmac.new(key, as_bytes(body), hashlib.sha256).hexdigest()


def verify(headers: Mapping, body: bytes, query: Mapping, config: ProviderSettings) -> bool:
    secret = config.webhook_secret
    given = header(headers, SIGNATURE_HEADER)
    if not secret or not given:
        return False
    given = given.strip()
    if not given.lower().startswith(SIGNATURE_PREFIX):
        return False
    expected = sign(body, secret)[len(SIGNATURE_PREFIX):]
    return same(given[len(SIGNATURE_PREFIX):].lower(), expected)


def parse_webhook(body: bytes) -> TrackingUpdate:
    doc = load_json(body, NAME)
    topic = text(doc.get("description"))
    result = doc.get("result")
    if topic is not None and not topic.startswith("tracker."):
        raise UnsupportedEvent(f"{NAME}: {topic} events carry no tracking")
    if not isinstance(result, dict):
        raise ValueError(f"{NAME}: the event has no result object")
    if text(result.get("object")) not in (None, "Tracker"):
        raise UnsupportedEvent(f"{NAME}: the event is about a {result.get('object')}, not a Tracker")
    return tracker_update(result, delivery_id=doc.get("id"))


def tracker_update(tracker: dict, *, delivery_id: Any = None) -> TrackingUpdate:
    number = text(tracker.get("tracking_code"))
    if number is None:
        raise ValueError(f"{NAME}: the tracker has no tracking_code")
    carrier = carrier_code(tracker.get("carrier"))
    events = []
    for detail in items(tracker.get("tracking_details")):
        occurred = parse_datetime(detail.get("datetime"))
        if occurred is None:
            continue
        place = obj(detail.get("tracking_location"))
        events.append(CarrierEvent(
            provider=NAME, carrier=carrier_code(detail.get("source")) or carrier, tracking_number=number,
            code=text(detail.get("status")), sub_code=text(detail.get("status_detail")),
            description=text(detail.get("message")) or text(detail.get("description")) or "",
            occurred_at=occurred,
            location=format_location(place.get("city"), place.get("state"), place.get("zip"), place.get("country")),
            provider_event_id=None))
    return make_update(NAME, tracking_number=number, carrier=carrier, events=events, delivery_id=delivery_id,
                       est_delivery=first_date(tracker.get("est_delivery_date")),
                       public_url=tracker.get("public_url"), status=tracker.get("status"),
                       status_detail=tracker.get("status_detail"))


def fetch(config: ProviderSettings, tracking_number: str, carrier: str | None) -> TrackingUpdate:
    base = _base_url(config, DEFAULT_BASE_URL)
    params = {"tracking_code": tracking_number, "carrier": EASYPOST_CARRIERS.get(carrier or "")}
    resp = request("GET", f"{base}/v2/trackers", headers=_auth(config), params=params)
    doc = obj(answer(resp, NAME))
    if not isinstance(doc.get("trackers"), list):
        raise unexpected(NAME, "no trackers list", resp)
    wanted = tracking_number.strip().upper()
    for tracker in items(doc["trackers"]):
        if (text(tracker.get("tracking_code")) or "").upper() == wanted:
            return tracker_update(tracker)
    return tracker_update(_create(config, tracking_number, carrier))


def register(config: ProviderSettings, tracking_number: str, carrier: str | None) -> str | None:
    tracker = _create(config, tracking_number, carrier)
    tracker_id = text(tracker.get("id"))
    if tracker_id is None:
        raise unexpected(NAME, "the new tracker has no id")
    return tracker_id


def _create(config: ProviderSettings, tracking_number: str, carrier: str | None) -> dict:
    base = _base_url(config, DEFAULT_BASE_URL)
    body: dict[str, Any] = {"tracking_code": tracking_number}
    if carrier in EASYPOST_CARRIERS:
        body["carrier"] = EASYPOST_CARRIERS[carrier]
    resp = request("POST", f"{base}/v2/trackers", headers=_auth(config), json={"tracker": body})
    tracker = answer(resp, NAME)
    if not isinstance(tracker, dict):
        raise unexpected(NAME, "the tracker is not an object", resp)
    try:
        tracker_update(tracker)
    except ValueError as exc:
        raise unexpected(NAME, str(exc), resp) from None
    return tracker


def _auth(config: ProviderSettings) -> dict[str, str]:
    return {"Authorization": basic_auth(required(config.api_key, "api_key", NAME), "")}

