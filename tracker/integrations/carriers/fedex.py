"""FedEx directly: the Track API (https://developer.fedex.com/api/en-us/catalog/track/v1/docs.html).

Polling only. FedEx does offer push tracking (Advanced Integrated Visibility webhooks), but it needs a
separate enrolment and project set-up that a small shop rarely has, so this module has no webhook:
verify() always refuses and there is no parse_webhook(). Shipments are polled instead.

Config ([providers.fedex]): client_id (the project's API key), client_secret (its secret key), base_url
(default https://apis.fedex.com; the sandbox is https://apis-sandbox.fedex.com).

- OAuth: POST /oauth/token, form grant_type=client_credentials&client_id=...&client_secret=...; the token
  (valid about an hour) is cached until shortly before it expires.
- Polling: POST /track/v1/trackingnumbers {"includeDetailedScans": true, "trackingInfo": [...]}. Scan
  events come newest first, each with an ISO time in the scan's local offset. An unknown number is a
  200 answer whose trackResult carries an `error`; that becomes a non-retryable ProviderError.
- Registering: not needed (nothing to subscribe to for polling): register() answers None.
"""
from __future__ import annotations

from typing import Mapping

from ...settings import ProviderSettings
from ..http import ProviderError, request
from .common import (CarrierEvent, TrackingUpdate, answer, first_date, format_location, items, make_update, obj,
                     parse_datetime, required, text, token_error, token_from, unexpected, with_token)
from .common import base_url as _base_url

NAME = "fedex"
DEFAULT_BASE_URL = "https://apis.fedex.com"
# FedEx throttles at 1,400 requests per 10 seconds per project and caps a day's Track calls by quota;
# a shop's poller needs a tiny fraction: one a second.
RATE_LIMIT_PER_MINUTE = 60
WEBHOOKS = False
ESTIMATED = ("ESTIMATED_DELIVERY", "ESTIMATED_DELIVERY_TIMESTAMP")


def verify(headers: Mapping, body: bytes, query: Mapping, config: ProviderSettings) -> bool:
    """FedEx is polled here, never pushed: every webhook delivery is refused."""
    return False


def fetch(config: ProviderSettings, tracking_number: str, carrier: str | None) -> TrackingUpdate:
    base = _base_url(config, DEFAULT_BASE_URL)
    body = {"includeDetailedScans": True,
            "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": tracking_number}}]}

    def call(token: str):
        return request("POST", f"{base}/track/v1/trackingnumbers",
                       headers={"Authorization": f"Bearer {token}", "X-locale": "en_US"}, json=body)

    resp = with_token(NAME, config, DEFAULT_BASE_URL, lambda: _token(config), call)
    doc = obj(answer(resp, NAME))
    complete = items(obj(doc.get("output")).get("completeTrackResults"))
    results = items(complete[0].get("trackResults")) if complete else []
    if not results:
        raise unexpected(NAME, "no trackResults", resp)
    result = results[0]
    error = obj(result.get("error"))
    if text(error.get("code")):
        raise ProviderError(f"{NAME}: {text(error.get('message')) or error['code']} ({error['code']})",
                            status=resp.status, retryable=False, response=resp)
    return _result_update(result, tracking_number)


def _result_update(result: dict, asked: str) -> TrackingUpdate:
    number = text(obj(result.get("trackingNumberInfo")).get("trackingNumber")) or asked
    events = []
    for scan in items(result.get("scanEvents")):
        occurred = parse_datetime(scan.get("date"))
        if occurred is None:
            continue
        place = obj(scan.get("scanLocation"))
        description = text(scan.get("eventDescription")) or ""
        reason = text(scan.get("exceptionDescription"))
        if reason and reason.lower() != description.lower():
            description = f"{description}: {reason}" if description else reason
        events.append(CarrierEvent(
            provider=NAME, carrier="fedex", tracking_number=number, code=text(scan.get("eventType")),
            sub_code=text(scan.get("exceptionCode")), description=description, occurred_at=occurred,
            location=format_location(place.get("city"), place.get("stateOrProvinceCode"), place.get("postalCode"),
                                     place.get("countryCode")),
            provider_event_id=None))
    dates = {text(d.get("type")): d.get("dateTime") for d in items(result.get("dateAndTimes"))}
    window = obj(obj(result.get("estimatedDeliveryTimeWindow")).get("window"))
    latest = obj(result.get("latestStatusDetail"))
    return make_update(NAME, tracking_number=number, carrier="fedex", events=events, delivery_id=None,
                       est_delivery=first_date(*(dates.get(kind) for kind in ESTIMATED), window.get("ends"),
                                               window.get("begins")),
                       public_url=None, status=latest.get("code"), status_detail=latest.get("derivedCode"))


def register(config: ProviderSettings, tracking_number: str, carrier: str | None) -> str | None:
    """Nothing to register: FedEx is polled."""
    return None


def _token(config: ProviderSettings) -> tuple[str, float | None]:
    form = {"grant_type": "client_credentials", "client_id": required(config.client_id, "client_id", NAME),
            "client_secret": required(config.client_secret, "client_secret", NAME)}
    try:
        resp = request("POST", f"{_base_url(config, DEFAULT_BASE_URL)}/oauth/token", form=form)
    except ProviderError as exc:
        raise token_error(NAME, exc) from None
    return token_from(resp, NAME)
