"""UPS directly: the Track API for polling, Track Alert for pushes (https://developer.ups.com).

Config ([providers.ups]): client_id, client_secret, webhook_secret, base_url (default
https://onlinetools.ups.com; the test environment is https://wwwcie.ups.com); optional webhook_url.

- OAuth: POST /security/v1/oauth/token, HTTP basic auth client_id:client_secret, form
  grant_type=client_credentials. The token (valid about four hours) is cached until shortly before it
  expires, per (provider, base_url, client_id).
- Polling: GET /api/track/v1/details/{number} with the bearer token and the transId / transactionSrc
  headers UPS requires. Activities come newest first; each has a local date and time plus a GMT offset.
- Webhooks (Track Alert): UPS does not sign the body. When a number is subscribed, the subscriber names a
  `credential` (an opaque string) that UPS then sends back verbatim in a `credential` request header
  with every event (and `User-Agent: UPSPubSubTrackingService`). verify() compares that header with
  webhook_secret in constant time; that is the whole of UPS's scheme, so keep webhook_secret long and
  random. One POST carries one event: tracking number, activityStatus {type, code, description},
  localActivityDate/Time and gmtActivityDate/Time (the local offset is their difference),
  activityLocation, scheduledDeliveryDate.
- Registering: Track Alert pushes only flow for numbers subscribed (for 14 days) with the URL to call.
  register() subscribes through POST /api/track/v1/subscription/standard/package when config has
  webhook_url (the public https URL of /webhooks/ups); without it, there is nothing to register and it
  answers None (polling still works).
"""
from __future__ import annotations

import datetime as dt
import urllib.parse
import uuid
from typing import Mapping

from ...settings import ProviderSettings
from ..http import ProviderError, basic_auth, request
from .common import (CarrierEvent, TrackingUpdate, answer, compact_datetime, first_date, format_location, header,
                     items, load_json, make_update, obj, offset_between, parse_offset, required, same, text,
                     token_error, token_from, unexpected, with_token)
from .common import base_url as _base_url

NAME = "ups"
DEFAULT_BASE_URL = "https://onlinetools.ups.com"
# UPS publishes no per-minute figure for the Track API (it answers 429 when pressed); one a second is a
# modest, documented default for a shop's poller.
RATE_LIMIT_PER_MINUTE = 60
WEBHOOKS = True
CREDENTIAL_HEADER = "credential"
TRANSACTION_SOURCE = "inktrail"
# Delivery dates in a Track API answer, preferred first: rescheduled, then scheduled (DEL is the actual day).
DELIVERY_DATE_TYPES = ("RDD", "SDD")


def verify(headers: Mapping, body: bytes, query: Mapping, config: ProviderSettings) -> bool:
    secret = config.webhook_secret
    given = header(headers, CREDENTIAL_HEADER)
    if not secret or not given:
        return False
    return same(given.strip(), secret)


def parse_webhook(body: bytes) -> TrackingUpdate:
    doc = load_json(body, NAME)
    number = text(doc.get("trackingNumber"))
    if number is None:
        raise ValueError(f"{NAME}: the Track Alert event has no trackingNumber")
    status = obj(doc.get("activityStatus"))
    occurred = _alert_time(doc)
    events = []
    if occurred is not None and status:
        place = obj(doc.get("activityLocation"))
        events.append(CarrierEvent(
            provider=NAME, carrier="ups", tracking_number=number, code=text(status.get("type")),
            sub_code=text(status.get("code")), description=text(status.get("description")) or "",
            occurred_at=occurred,
            location=format_location(place.get("city"), place.get("stateProvince"), place.get("postalCode"),
                                     place.get("country")),
            provider_event_id=None))
    elif not status:
        raise ValueError(f"{NAME}: the Track Alert event has no activityStatus")
    return make_update(NAME, tracking_number=number, carrier="ups", events=events, delivery_id=None,
                       est_delivery=first_date(doc.get("scheduledDeliveryDate")), public_url=None,
                       status=status.get("type"), status_detail=status.get("code"))


def _alert_time(doc: dict) -> dt.datetime | None:
    local = compact_datetime(doc.get("localActivityDate"), doc.get("localActivityTime"))
    gmt = compact_datetime(doc.get("gmtActivityDate"), doc.get("gmtActivityTime"))
    if local is not None and gmt is not None:
        offset = offset_between(local, gmt)
        if offset is not None:
            return local.replace(tzinfo=offset)
    if gmt is not None:
        return gmt.replace(tzinfo=dt.timezone.utc)
    if local is not None:
        return local.replace(tzinfo=dt.timezone.utc)  # no way to know the zone: documented assumption
    return None


def fetch(config: ProviderSettings, tracking_number: str, carrier: str | None) -> TrackingUpdate:
    base = _base_url(config, DEFAULT_BASE_URL)
    url = f"{base}/api/track/v1/details/{urllib.parse.quote(tracking_number, safe='')}"
    params = {"locale": "en_US", "returnSignature": "false", "returnMilestones": "false", "returnPOD": "false"}

    def call(token: str):
        return request("GET", url, headers=_api_headers(token), params=params)

    resp = with_token(NAME, config, DEFAULT_BASE_URL, lambda: _token(config), call)
    doc = obj(answer(resp, NAME))
    shipments = items(obj(doc.get("trackResponse")).get("shipment"))
    if not shipments:
        raise unexpected(NAME, "no shipment in trackResponse", resp)
    packages = items(shipments[0].get("package"))
    if not packages:
        warning = next((text(w.get("message")) for w in items(shipments[0].get("warnings")) if text(w.get("message"))),
                       None)
        raise ProviderError(f"{NAME}: no tracking information for {tracking_number}"
                            + (f" ({warning})" if warning else ""), status=resp.status, retryable=False,
                            response=resp)
    wanted = tracking_number.strip().upper()
    package = next((p for p in packages if (text(p.get("trackingNumber")) or "").upper() == wanted), packages[0])
    return _package_update(package, tracking_number)


def _package_update(package: dict, asked: str) -> TrackingUpdate:
    number = text(package.get("trackingNumber")) or asked
    events = []
    for activity in items(package.get("activity")):
        occurred = _activity_time(activity)
        status = obj(activity.get("status"))
        if occurred is None or not status:
            continue
        address = obj(obj(activity.get("location")).get("address"))
        events.append(CarrierEvent(
            provider=NAME, carrier="ups", tracking_number=number, code=text(status.get("type")),
            sub_code=text(status.get("code")), description=text(status.get("description")) or "",
            occurred_at=occurred,
            location=format_location(address.get("city"), address.get("stateProvince"), address.get("postalCode"),
                                     address.get("countryCode") or address.get("country")),
            provider_event_id=None))
    dates = {text(d.get("type")): d.get("date") for d in items(package.get("deliveryDate"))}
    current = obj(package.get("currentStatus"))
    return make_update(NAME, tracking_number=number, carrier="ups", events=events, delivery_id=None,
                       est_delivery=first_date(*(dates.get(kind) for kind in DELIVERY_DATE_TYPES)),
                       public_url=None, status=current.get("type"), status_detail=current.get("code"))


def _activity_time(activity: dict) -> dt.datetime | None:
    local = compact_datetime(activity.get("date"), activity.get("time"))
    offset = parse_offset(activity.get("gmtOffset"))
    gmt = compact_datetime(activity.get("gmtDate"), activity.get("gmtTime"))
    if local is not None and offset is not None:
        return local.replace(tzinfo=offset)
    if local is not None and gmt is not None:
        derived = offset_between(local, gmt)
        if derived is not None:
            return local.replace(tzinfo=derived)
    if gmt is not None:
        return gmt.replace(tzinfo=dt.timezone.utc)
    if local is not None:
        return local.replace(tzinfo=dt.timezone.utc)
    return None


def register(config: ProviderSettings, tracking_number: str, carrier: str | None) -> str | None:
    webhook_url = config.webhook_url
    if webhook_url is None:
        return None
    credential = required(config.webhook_secret, "webhook_secret", NAME)
    base = _base_url(config, DEFAULT_BASE_URL)
    body = {"locale": "en_US", "countryCode": "US", "trackingNumberList": [tracking_number],
            "destination": {"url": webhook_url, "credentialType": "Bearer", "credential": credential}}

    def call(token: str):
        return request("POST", f"{base}/api/track/v1/subscription/standard/package", headers=_api_headers(token),
                       json=body)

    resp = with_token(NAME, config, DEFAULT_BASE_URL, lambda: _token(config), call)
    doc = obj(answer(resp, NAME))
    valid = [text(n) for n in doc.get("validTrackingNumbers") or [] if text(n)]
    if tracking_number.strip().upper() in (n.upper() for n in valid):
        return tracking_number
    raise ProviderError(f"{NAME}: Track Alert refused the subscription for {tracking_number}", status=resp.status,
                        retryable=False, response=resp)


def _token(config: ProviderSettings) -> tuple[str, float | None]:
    client_id = required(config.client_id, "client_id", NAME)
    client_secret = required(config.client_secret, "client_secret", NAME)
    base = _base_url(config, DEFAULT_BASE_URL)
    try:
        resp = request("POST", f"{base}/security/v1/oauth/token",
                       headers={"Authorization": basic_auth(client_id, client_secret)},
                       form={"grant_type": "client_credentials"})
    except ProviderError as exc:
        raise token_error(NAME, exc) from None
    return token_from(resp, NAME)


def _api_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "transId": uuid.uuid4().hex, "transactionSrc": TRANSACTION_SOURCE}
