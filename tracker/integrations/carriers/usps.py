"""USPS directly: the v3 Tracking API on apis.usps.com (https://developers.usps.com).

Polling only. USPS's push subscriptions (Subscriptions - Tracking) need a separate approval, so this
module has no webhook: verify() always refuses and there is no parse_webhook(). Shipments are polled.

Config ([providers.usps]): client_id (the app's consumer key), client_secret (its consumer secret),
base_url (default https://apis.usps.com; the test environment is https://apis-tem.usps.com).

- OAuth: POST /oauth2/v3/token with a JSON body {grant_type: client_credentials, client_id,
  client_secret}; the token (valid about eight hours) is cached until shortly before it expires.
- Polling: GET /tracking/v3/tracking/{number}?expand=DETAIL. Each trackingEvents entry has eventType
  (the words), eventCode, eventTimestamp (local), and where USPS sends them GMTTimestamp and GMTOffset;
  the answer's statusCategory (Pre-Shipment, In Transit, Out for Delivery, Delivered, Alert, Available
  for Pickup) becomes TrackingUpdate.status.
- Registering: not needed for polling: register() answers None.
"""
from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Mapping

from ...settings import ProviderSettings
from ..http import ProviderError, request
from .common import (CarrierEvent, TrackingUpdate, answer, first_date, format_location, items, make_update, obj,
                     parse_datetime, parse_offset, required, text, token_error, token_from, unexpected, with_token)
from .common import base_url as _base_url

NAME = "usps"
DEFAULT_BASE_URL = "https://apis.usps.com"
# A new USPS API app gets a quota of 60 calls an hour (more on request): one a minute stays inside it.
RATE_LIMIT_PER_MINUTE = 1
WEBHOOKS = False


def verify(headers: Mapping, body: bytes, query: Mapping, config: ProviderSettings) -> bool:
    """USPS is polled here, never pushed: every webhook delivery is refused."""
    return False


def fetch(config: ProviderSettings, tracking_number: str, carrier: str | None) -> TrackingUpdate:
    base = _base_url(config, DEFAULT_BASE_URL)
    url = f"{base}/tracking/v3/tracking/{urllib.parse.quote(tracking_number, safe='')}"

    def call(token: str):
        return request("GET", url, headers={"Authorization": f"Bearer {token}"}, params={"expand": "DETAIL"})

    resp = with_token(NAME, config, DEFAULT_BASE_URL, lambda: _token(config), call)
    doc = answer(resp, NAME)
    if isinstance(doc, list):  # the multi-number form answers a list
        wanted = tracking_number.strip().upper()
        doc = next((d for d in items(doc) if (text(d.get("trackingNumber")) or "").upper() == wanted), None)
    if not isinstance(doc, dict):
        raise unexpected(NAME, "no tracking object", resp)
    error = obj(doc.get("error"))
    if error and not doc.get("trackingEvents"):
        raise ProviderError(f"{NAME}: {text(error.get('message')) or 'tracking error'}", status=resp.status,
                            retryable=False, response=resp)
    return _tracking_update(doc, tracking_number)


def _tracking_update(doc: dict, asked: str) -> TrackingUpdate:
    number = text(doc.get("trackingNumber")) or asked
    events = []
    for entry in items(doc.get("trackingEvents")):
        occurred = _event_time(entry)
        if occurred is None:
            continue
        events.append(CarrierEvent(
            provider=NAME, carrier="usps", tracking_number=number, code=text(entry.get("eventCode")), sub_code=None,
            description=text(entry.get("eventType")) or text(entry.get("eventDescription")) or "",
            occurred_at=occurred,
            location=format_location(entry.get("eventCity"), entry.get("eventState"),
                                     entry.get("eventZIP") or entry.get("eventZIPCode"), entry.get("eventCountry")),
            provider_event_id=None))
    return make_update(NAME, tracking_number=number, carrier="usps", events=events, delivery_id=None,
                       est_delivery=first_date(doc.get("expectedDeliveryTimeStamp"), doc.get("expectedDeliveryDate"),
                                               doc.get("predictedDeliveryDate"),
                                               doc.get("guaranteedDeliveryTimeStamp")),
                       public_url=None, status=doc.get("statusCategory"), status_detail=doc.get("status"))


def _event_time(entry: dict) -> dt.datetime | None:
    offset = parse_offset(entry.get("GMTOffset"))
    gmt = parse_datetime(entry.get("GMTTimestamp"))  # UTC whether or not it says so
    if gmt is not None:
        return gmt.astimezone(offset) if offset is not None else gmt
    # eventTimestamp is the local time; without an offset from USPS it is taken as UTC.
    return parse_datetime(entry.get("eventTimestamp"), assume=offset or dt.timezone.utc)


def register(config: ProviderSettings, tracking_number: str, carrier: str | None) -> str | None:
    """Nothing to register: USPS is polled."""
    return None


def _token(config: ProviderSettings) -> tuple[str, float | None]:
    body = {"grant_type": "client_credentials", "client_id": required(config.client_id, "client_id", NAME),
            "client_secret": required(config.client_secret, "client_secret", NAME)}
    try:
        resp = request("POST", f"{_base_url(config, DEFAULT_BASE_URL)}/oauth2/v3/token", json=body)
    except ProviderError as exc:
        raise token_error(NAME, exc) from None
    return token_from(resp, NAME)
