"""What the carrier-provider modules share: the dataclasses they answer with, and small lenient helpers
for the shapes providers send (timestamps with and without offsets, locations, carrier names)."""
from __future__ import annotations

import datetime as dt
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, TypeVar

from ...settings import ProviderSettings
from ..http import ProviderError, Response
from ..jsontext import storable
from ..oauth import TOKENS, with_bearer

T = TypeVar("T")

CARRIERS = ("ups", "usps", "fedex", "dhl")


@dataclass(frozen=True)
class CarrierEvent:
    provider: str
    carrier: str | None            # "ups", "usps", "fedex", "dhl" or None when unknown
    tracking_number: str
    code: str | None               # the provider's status word/code (EasyPost "in_transit", UPS type "D", FedEx "DL")
    sub_code: str | None           # its sub-status (EasyPost status_detail, Shippo substatus.code, AfterShip subtag, UPS status code)
    description: str               # human text ("Out For Delivery Today")
    occurred_at: dt.datetime       # timezone-aware, in the carrier's local offset when the provider says it
    location: str | None           # "BOISE, ID 83702"-like, never a street address
    provider_event_id: str | None  # a per-event id when the provider has one (Shippo object_id), else None


@dataclass(frozen=True)
class TrackingUpdate:
    provider: str
    delivery_id: str | None        # the webhook delivery's own id (EasyPost evt id, AfterShip event_id), for dedupe
    carrier: str | None
    tracking_number: str
    events: tuple[CarrierEvent, ...]   # the full history the payload carries, oldest first
    est_delivery: dt.date | None
    public_url: str | None
    # The provider's overall status for the shipment, as it words it, for when there are no events yet
    # (EasyPost status / status_detail, Shippo tracking_status.status / substatus.code, AfterShip tag /
    # subtag, UPS currentStatus type / code, FedEx latestStatusDetail code / derivedCode, USPS
    # statusCategory / status).
    status: str | None = None
    status_detail: str | None = None


class UnsupportedEvent(ValueError):
    """A well-formed webhook delivery about something other than tracking (an EasyPost batch event, a
    Shippo transaction_created...). The caller can acknowledge it and move on."""


# --- webhook helpers ---------------------------------------------------------------------------------

def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A request header by name, whatever the case (works on dicts, werkzeug Headers, email.Message)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                value = candidate
                break
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value if isinstance(value, str) else None


def query_value(query: Mapping | None, name: str) -> str | None:
    """One query parameter (dicts of str or of lists, werkzeug MultiDicts)."""
    if not query:
        return None
    value = query.get(name)
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value if isinstance(value, str) else None


def same(given: str | bytes, expected: str | bytes) -> bool:
    """Constant-time comparison of two secrets or signatures."""
    if isinstance(given, str):
        given = given.encode("utf-8")
    if isinstance(expected, str):
        expected = expected.encode("utf-8")
    return hmac.compare_digest(given, expected)


def as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def load_json(body: bytes | str, provider: str) -> dict:
    """The JSON object a webhook carries; ValueError with a clear message otherwise."""
    try:
        doc = json.loads(as_bytes(body).decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{provider}: the webhook body is not UTF-8 text") from None
    except ValueError as exc:
        raise ValueError(f"{provider}: the webhook body is not JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{provider}: the webhook body is JSON nested too deep to read") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{provider}: the webhook body is JSON but not an object")
    return storable(doc)


def obj(value: Any) -> dict:
    """value when it is a JSON object, else {} (lenient access to optional nested objects)."""
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[dict]:
    """The objects in a JSON array (anything else in it, or a missing array, ignored)."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict)]


def text(value: Any) -> str | None:
    """A trimmed non-empty string, else None (numbers become strings: some providers send codes as numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


# --- dates and times ---------------------------------------------------------------------------------

_OFFSET_TAIL = re.compile(r"^(?P<main>.*?\d)\s*(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})$")
_TIME_PART = re.compile(r"[T ]\d{1,2}:\d{2}")


def parse_datetime(value: Any, *, assume: dt.tzinfo = dt.timezone.utc) -> dt.datetime | None:
    """An ISO 8601-ish timestamp as an aware datetime, keeping the offset it was written with.

    Accepts "Z", "+02:00", "-0500" and " -0500" (FedEx writes that last one in places). A timestamp
    without an offset gets `assume` (UTC unless the caller knows better). None when unreadable."""
    raw = text(value)
    if raw is None:
        return None
    candidate = raw
    match = _OFFSET_TAIL.match(raw)
    if match and _TIME_PART.search(match.group("main")):
        candidate = f"{match.group('main')}{match.group('sign')}{match.group('h')}:{match.group('m')}"
    try:
        parsed = dt.datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=assume)
    return parsed


def parse_date(value: Any) -> dt.date | None:
    """A calendar date from "2026-03-04", "20260304" or the date part of a timestamp, as written (an
    estimated delivery date is a day in the recipient's calendar, so it is never shifted by a time zone)."""
    raw = text(value)
    if raw is None:
        return None
    match = re.match(r"^(\d{4})-?(\d{2})-?(\d{2})(?:$|[T ])", raw)
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def parse_offset(value: Any) -> dt.timezone | None:
    """"-05:00" / "-0500" / "+5:30" as a fixed offset."""
    raw = text(value)
    if raw is None:
        return None
    match = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})", raw)
    if not match:
        return None
    minutes = int(match.group(2)) * 60 + int(match.group(3))
    if minutes >= 24 * 60:
        return None
    return dt.timezone(dt.timedelta(minutes=minutes if match.group(1) == "+" else -minutes))


def compact_datetime(date_text: Any, time_text: Any) -> dt.datetime | None:
    """UPS-style "YYYYMMDD" + "HHMMSS" (the time may have lost its leading zero: "74700") as a naive datetime."""
    day = text(date_text)
    if day is None or not re.fullmatch(r"\d{8}", day):
        return None
    clock = text(time_text) or "000000"
    if not re.fullmatch(r"\d{1,6}", clock):
        return None
    clock = clock.zfill(6)
    try:
        return dt.datetime(int(day[:4]), int(day[4:6]), int(day[6:]),
                           int(clock[:2]), int(clock[2:4]), int(clock[4:]))
    except ValueError:
        return None


def offset_between(local: dt.datetime, utc: dt.datetime) -> dt.timezone | None:
    """The UTC offset implied by a local and a UTC reading of the same moment (to the quarter hour)."""
    minutes = round((local - utc).total_seconds() / 60 / 15) * 15
    if abs(minutes) > 14 * 60:
        return None
    return dt.timezone(dt.timedelta(minutes=minutes))


# --- places and carriers -----------------------------------------------------------------------------

_HOME_COUNTRIES = {"US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA"}


def format_location(city: Any = None, state: Any = None, postal: Any = None, country: Any = None) -> str | None:
    """"BOISE, ID 83702": city, state and postal code, plus the country when it is not the US. Callers
    pass only these parts, never street lines, so no customer address ends up on a public page."""
    city_t, state_t, postal_t, country_t = text(city), text(state), text(postal), text(country)
    region = " ".join(part for part in (state_t, postal_t) if part)
    parts = [part for part in (city_t, region) if part]
    if country_t and country_t.upper() not in _HOME_COUNTRIES:
        parts.append(country_t)
    return ", ".join(parts) or None


def carrier_code(name: Any) -> str | None:
    """"UPS", "FedEx", "fedex-uk", "dhl_express", "USPS" -> "ups", "fedex", "fedex", "dhl", "usps";
    anything else (or nothing) -> None."""
    raw = text(name)
    if raw is None:
        return None
    squashed = re.sub(r"[^a-z]", "", raw.lower())
    if squashed.startswith("usps") or squashed.startswith("uspostal") or squashed == "unitedstatespostalservice":
        return "usps"
    if squashed.startswith("ups"):
        return "ups"
    if squashed.startswith("fedex") or squashed.startswith("fdx"):
        return "fedex"
    if squashed.startswith("dhl"):
        return "dhl"
    return None


# --- building answers --------------------------------------------------------------------------------

def make_update(provider: str, *, tracking_number: str, carrier: str | None, events: Iterable[CarrierEvent],
                delivery_id: Any = None, est_delivery: dt.date | None = None, public_url: Any = None,
                status: Any = None, status_detail: Any = None) -> TrackingUpdate:
    """A TrackingUpdate with its events oldest first (providers differ: UPS and FedEx send newest first)
    and exact repeats dropped (carriers do send the same scan twice)."""
    unique: list[CarrierEvent] = []
    seen: set[CarrierEvent] = set()
    for event in events:
        if event not in seen:
            seen.add(event)
            unique.append(event)
    unique.sort(key=lambda e: e.occurred_at)  # stable: same-instant events keep the provider's order
    return TrackingUpdate(provider=provider, delivery_id=text(delivery_id), carrier=carrier,
                          tracking_number=tracking_number, events=tuple(unique), est_delivery=est_delivery,
                          public_url=text(public_url), status=text(status), status_detail=text(status_detail))


def first_date(*values: Any) -> dt.date | None:
    for value in values:
        found = parse_date(value)
        if found is not None:
            return found
    return None


# --- calling providers -------------------------------------------------------------------------------

def base_url(config: ProviderSettings, default: str) -> str:
    return (config.base_url or default).rstrip("/")


def required(value: str | None, key: str, provider: str) -> str:
    """value, the provider's setting named key, when it is set."""
    if not value:
        raise ProviderError(f"{provider}: {key} is not configured ([providers.{provider}] {key})",
                            retryable=False)
    return value


def answer(resp: Response, provider: str) -> Any:
    """The JSON of a 2xx answer; a provider that answers success with something else is having a bad
    moment, so that is worth trying again later."""
    try:
        return resp.json()
    except ValueError as exc:
        raise ProviderError(f"{provider}: {exc}", status=resp.status, retryable=True, response=resp) from None


def unexpected(provider: str, what: str, resp: Response | None = None) -> ProviderError:
    return ProviderError(f"{provider}: unexpected answer: {what}", status=resp.status if resp else None,
                         retryable=False, response=resp)


def with_token(provider: str, config: ProviderSettings, default_base: str,
               fetch_token: Callable[[], tuple[str, float | None]], call: Callable[[str], T]) -> T:
    """call(token) with a cached OAuth token. A 401 on a cached token (revoked, or expired early) gets
    one fresh token and one more try; a second 401 is the caller's to see."""
    key = (provider, base_url(config, default_base), config.client_id)

    def renew(refused: str) -> str:
        TOKENS.invalidate(key, refused)
        return TOKENS.token(key, fetch_token)

    return with_bearer(lambda: TOKENS.token(key, fetch_token), renew, call)


def token_from(resp: Response, provider: str) -> tuple[str, float | None]:
    doc = obj(answer(resp, provider))
    token = text(doc.get("access_token"))
    if token is None:
        raise unexpected(provider, "the token answer has no access_token", resp)
    return token, doc.get("expires_in")


def token_error(provider: str, exc: ProviderError) -> ProviderError:
    """A clearer message for a refused token request (the usual cause: wrong client_id/client_secret)."""
    if exc.status in (400, 401, 403):
        return ProviderError(f"{provider}: the OAuth token request was refused ({exc.status}); check "
                             f"client_id and client_secret", status=exc.status, retryable=False,
                             response=exc.response)
    return exc
