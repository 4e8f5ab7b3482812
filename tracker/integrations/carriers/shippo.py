"""Shippo tracking (https://docs.goshippo.com/docs/tracking/tracking).

Config ([providers.shippo]): api_key, webhook_secret, base_url (default https://api.goshippo.com);
optional hmac_secret (Shippo's HMAC signing key, when it differs from webhook_secret) and
require_signature = true (refuse deliveries without the HMAC header once HMAC is switched on).

- Webhooks: Shippo POSTs `{"event": "track_updated", "data": <Track>}`. Shippo offers no body signature
  by default: the webhook URL carries a token we choose (`?token=...`), which must equal webhook_secret.
  Where HMAC is enabled Shippo also sends `Shippo-Auth-Signature: t=<unix time>,v1=<hex of
  HMAC-SHA256(t + "." + raw body)>`; when that header is there it must match too, and t must be within
  five minutes of now (a replayed old delivery is refused).
- Polling: GET /tracks/{carrier}/{tracking_number} with `Authorization: ShippoToken <api_key>`. Shippo
  needs the carrier.
- Registering: POST /tracks/ with carrier and tracking_number, so track_updated webhooks flow for a
  number whose label was not bought through Shippo. Shippo has no id of its own for this, so register
  answers the tracking number Shippo echoes back.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time
import urllib.parse
from typing import Mapping

from ...settings import ProviderSettings
from ..http import ProviderError, request
from .common import (CarrierEvent, TrackingUpdate, UnsupportedEvent, answer, as_bytes, carrier_code, first_date,
                     format_location, header, items, load_json, make_update, obj, parse_datetime, query_value,
                     required, same, text, unexpected)
from .common import base_url as _base_url

NAME = "shippo"
DEFAULT_BASE_URL = "https://api.goshippo.com"
# Shippo allows 500 tracking requests a minute with a live key and 50 with a test key; staying at the
# lower figure keeps the poller under the limit whichever key the shop configured.
RATE_LIMIT_PER_MINUTE = 50
WEBHOOKS = True
SIGNATURE_HEADER = "Shippo-Auth-Signature"
TOKEN_PARAM = "token"
MAX_SIGNATURE_AGE = 300  # seconds either side of now
# Our carrier codes as Shippo spells them (the others are the same).
SHIPPO_CARRIERS = {"dhl": "dhl_express"}


def sign(body: bytes | str, secret: str, timestamp: int) -> str:
    """The Shippo-Auth-Signature value for body at timestamp (tests and the demo use it)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + as_bytes(body),
                      hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(headers: Mapping, body: bytes, query: Mapping, config: ProviderSettings) -> bool:
    secret = config.webhook_secret
    token = query_value(query, TOKEN_PARAM)
    if not secret or not token or not same(token, secret):
        return False
    given = header(headers, SIGNATURE_HEADER)
    if given is None:
        return not config.require_signature
    key = config.hmac_secret or secret
    return _signature_ok(given, body, key)


def _signature_ok(given: str, body: bytes, key: str) -> bool:
    fields: dict[str, list[str]] = {}
    for part in given.split(","):
        name, _, value = part.strip().partition("=")
        if value:
            fields.setdefault(name.strip(), []).append(value.strip())
    stamps, signatures = fields.get("t", []), fields.get("v1", [])
    if len(stamps) != 1 or not signatures or not re.fullmatch(r"\d{1,12}", stamps[0]):
        return False
    timestamp = int(stamps[0])
    if abs(time.time() - timestamp) > MAX_SIGNATURE_AGE:
        return False
    expected = sign(body, key, timestamp).split("v1=", 1)[1]
    # Every candidate is compared (no early exit), so timing says nothing about which one matched.
    matches = [same(candidate.lower(), expected) for candidate in signatures]
    return any(matches)


def parse_webhook(body: bytes) -> TrackingUpdate:
    doc = load_json(body, NAME)
    event = text(doc.get("event"))
    if event is not None and event != "track_updated":
        raise UnsupportedEvent(f"{NAME}: {event} events carry no tracking")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise ValueError(f"{NAME}: the event has no data object")
    return track_update(data)


def track_update(track: dict) -> TrackingUpdate:
    number = text(track.get("tracking_number"))
    if number is None:
        raise ValueError(f"{NAME}: the track has no tracking_number")
    carrier = carrier_code(track.get("carrier"))
    current = obj(track.get("tracking_status"))
    entries = items(track.get("tracking_history"))
    # The current status is normally the last history entry as well; add it when it is not.
    known_ids = {text(e.get("object_id")) for e in entries} - {None}
    if current and (text(current.get("object_id")) is None or text(current.get("object_id")) not in known_ids):
        entries = [*entries, current]
    events = []
    for entry in entries:
        occurred = parse_datetime(entry.get("status_date"))
        if occurred is None:
            continue
        sub = obj(entry.get("substatus"))
        place = obj(entry.get("location"))
        events.append(CarrierEvent(
            provider=NAME, carrier=carrier, tracking_number=number, code=text(entry.get("status")),
            sub_code=text(sub.get("code")),
            description=text(entry.get("status_details")) or text(sub.get("text")) or "",
            occurred_at=occurred,
            location=format_location(place.get("city"), place.get("state"), place.get("zip"), place.get("country")),
            provider_event_id=text(entry.get("object_id"))))
    return make_update(NAME, tracking_number=number, carrier=carrier, events=events, delivery_id=None,
                       est_delivery=first_date(track.get("eta")),
                       public_url=track.get("tracking_url_provider"), status=current.get("status"),
                       status_detail=obj(current.get("substatus")).get("code"))


def fetch(config: ProviderSettings, tracking_number: str, carrier: str | None) -> TrackingUpdate:
    shippo_carrier = _shippo_carrier(carrier)
    base = _base_url(config, DEFAULT_BASE_URL)
    path = f"/tracks/{urllib.parse.quote(shippo_carrier, safe='')}/{urllib.parse.quote(tracking_number, safe='')}"
    resp = request("GET", base + path, headers=_auth(config))
    return _track_from(resp)


def register(config: ProviderSettings, tracking_number: str, carrier: str | None) -> str | None:
    base = _base_url(config, DEFAULT_BASE_URL)
    body = {"carrier": _shippo_carrier(carrier), "tracking_number": tracking_number}
    resp = request("POST", f"{base}/tracks/", headers=_auth(config), json=body)
    return _track_from(resp).tracking_number


def _track_from(resp) -> TrackingUpdate:
    doc = answer(resp, NAME)
    if not isinstance(doc, dict):
        raise unexpected(NAME, "the track is not an object", resp)
    try:
        return track_update(doc)
    except ValueError as exc:
        raise unexpected(NAME, str(exc), resp) from None


def _shippo_carrier(carrier: str | None) -> str:
    if not carrier or carrier == "other":
        raise ProviderError(f"{NAME}: Shippo tracks a number only with its carrier (ups, usps, fedex, dhl)",
                            retryable=False)
    return SHIPPO_CARRIERS.get(carrier, carrier)


def _auth(config: ProviderSettings) -> dict[str, str]:
    return {"Authorization": f"ShippoToken {required(config.api_key, 'api_key', NAME)}"}
