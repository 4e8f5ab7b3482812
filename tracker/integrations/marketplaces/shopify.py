"""Shopify: webhook signatures, an order read into an OrderDraft, and tracking pushed back through the
GraphQL Admin API. No database and no Flask: tracker/services/shopify.py stores, dedupes and applies.

    verify(headers, body, secret) -> bool
    parse_order(body, rules, default_method, today) -> OrderDraft      ValueError naming what is wrong
    create_fulfillment(config, order_ref, tracking, notify_customer=) -> fulfillment gid
    update_tracking(config, fulfillment_id, tracking, notify_customer=) -> fulfillment gid

Every API failure is a ShopifyError that says whether trying again later can help (`retryable`,
`retry_after`): the service turns that into the outbox's RetryLater or GiveUp.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from ...domain.intake import EMAIL_RE, PHONE_RE, ItemDraft, OrderDraft
from ...domain.marketplace import MethodRule, pick_method, split_tags
from .. import http
from ..jsontext import storable

API_VERSION = "2025-01"
TOPICS = ("orders/create", "orders/updated", "orders/cancelled")
# Shopify's own names for the carriers it knows: with one of these it also shows its own tracking link.
TRACKING_COMPANIES = {"ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHL Express"}
OPEN_STATUSES = ("OPEN", "IN_PROGRESS")
WAITING_STATUSES = ("ON_HOLD", "SCHEDULED")  # not fulfillable yet; may be later
DUE_NAMES = {"due", "due date", "due_date", "due-date", "need by", "needed by"}
DUE_TAG_RE = re.compile(r"^due\s*[:=]\s*(.+)$", re.IGNORECASE)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_DUE_DAYS_AHEAD = 3 * 365


# -- webhooks ----------------------------------------------------------------------------------------

def header(headers: Mapping[str, str] | Iterable, name: str) -> str | None:
    """A header by name, in any case, from Werkzeug's Headers or a plain dict."""
    items = headers.items() if hasattr(headers, "items") else headers
    wanted = name.lower()
    for key, value in items:
        if str(key).lower() == wanted:
            return value
    return None


def sign(body: bytes, secret: str) -> str:
    """X-Shopify-Hmac-Sha256: base64 of HMAC-SHA256 over the raw body with the app's secret."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def verify(headers, body: bytes, secret: str | None) -> bool:
    """True when the delivery carries a valid signature. Constant time; False for a missing secret or header."""
    given = header(headers, "X-Shopify-Hmac-Sha256")
    if not secret or not given:
        return False
    return hmac.compare_digest(sign(body, secret).encode("ascii"), given.strip().encode("utf-8", "replace"))


def normalise_domain(value: str | None) -> str | None:
    """"https://Demo.myshopify.com/" -> "demo.myshopify.com"."""
    if not value:
        return None
    value = re.sub(r"^https?://", "", str(value).strip().lower()).split("/")[0]
    return value or None


# -- orders in ---------------------------------------------------------------------------------------

def load(body: bytes | str) -> dict:
    """The delivery's JSON object; ValueError when it is not one."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise ValueError(f"the body is not JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"the body is a JSON {type(data).__name__}, not an order object")
    return storable(data)


def _ident(value, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise ValueError(f"{what} has no numeric id" if value is None else f"{what} has a malformed id {value!r}")
    return str(value).strip()


def order_ref(data: dict) -> str:
    """The order's id, as text (it becomes the order's external_ref)."""
    return _ident(data.get("id"), "the order")


def _text(value, max_len: int) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    value = str(value).replace("\r\n", "\n").replace("\r", "\n")
    value = "".join(c for c in value if ord(c) >= 32 or c in "\n\t").strip()
    return value[:max_len] or None


def _person(addr) -> str | None:
    if not isinstance(addr, dict):
        return None
    return _text(addr.get("name"), 200) or _text(" ".join(
        p for p in (_text(addr.get("first_name"), 100), _text(addr.get("last_name"), 100)) if p), 200)


def _quantity(line: dict, where: str, max_quantity: int) -> int:
    """How many to make: current_quantity (what is left after order edits and removals; 0 means removed)
    when Shopify sends it, else quantity. Not fulfillable_quantity: it drops to 0 once the order is
    fulfilled, which would read as every item removed on the next orders/updated."""
    ordered = line.get("quantity")
    if isinstance(ordered, bool) or not isinstance(ordered, int) or ordered < 1:
        raise ValueError(f"{where}.quantity must be a whole number of at least 1, got {ordered!r}")
    current = line.get("current_quantity")
    value = ordered if current is None else current
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}.current_quantity must be a whole number, got {current!r}")
    if value > max_quantity:
        raise ValueError(f"{where} asks for {value}, more than this shop takes in one item ({max_quantity})")
    return value


def _due(data: dict, tags: Sequence[str], today: dt.date, warnings: list[str]) -> dt.date | None:
    """A due date from a note attribute ("Due date": 2026-03-06) or a tag (due:2026-03-06); else None."""
    found = []
    for attr in data.get("note_attributes") or []:
        if isinstance(attr, dict) and str(attr.get("name") or "").strip().casefold() in DUE_NAMES:
            found.append(("note attribute", _text(attr.get("value"), 40)))
    for tag in tags:
        m = DUE_TAG_RE.match(tag)
        if m:
            found.append(("tag", m.group(1)))
    for where, value in found:
        if not value:
            continue
        if not DATE_RE.match(value):
            warnings.append(f"due date {where} {value!r} is not a date written YYYY-MM-DD: no due date taken from it")
            continue
        try:
            due = dt.date.fromisoformat(value)
        except ValueError:
            warnings.append(f"due date {where} {value!r} is not a real date")
            continue
        if due < today:
            continue  # an older order read again: its date has passed; nothing to set
        if due > today + dt.timedelta(days=MAX_DUE_DAYS_AHEAD):
            warnings.append(f"due date {value} is more than three years ahead: ignored")
            continue
        return due
    return None


def parse_order(body: bytes | str | dict, rules: Sequence[MethodRule], default_method: str, today: dt.date, *,
                max_quantity: int = 100_000, max_items: int = 200) -> OrderDraft:
    """A Shopify order (the body of orders/create, orders/updated, orders/cancelled) as a draft.

    One item per line item still to make (gift cards and lines that need no shipping are not made;
    a line removed by an order edit has current_quantity 0 and is left out). The decoration method comes
    from the shop's rules (SKU, product type, the order's tags, the line's property values, title).
    The draft's `extra` carries: tags, warnings (things read but not used), named (False when the
    customer name is a stand-in), cancelled (the order is cancelled on Shopify).
    Raises ValueError with the reason for a payload that is not an order."""
    data = body if isinstance(body, dict) else load(body)
    ref = order_ref(data)
    name = _text(data.get("name"), 100)
    if name is None and isinstance(data.get("order_number"), int):
        name = f"#{data['order_number']}"
    tags = split_tags(data.get("tags")) if isinstance(data.get("tags"), (str, list)) else []
    lines = data.get("line_items")
    if not isinstance(lines, list) or not lines:
        raise ValueError("the order has no line_items")
    if len(lines) > max_items:
        raise ValueError(f"the order has {len(lines)} line items; this shop takes at most {max_items} per order")

    warnings: list[str] = []
    items: list[ItemDraft] = []
    seen: set[str] = set()
    item_notes: list[str] = []
    for i, line in enumerate(lines):
        where = f"line_items[{i}]"
        if not isinstance(line, dict):
            raise ValueError(f"{where} is not an object")
        line_ref = _ident(line.get("id"), where)
        if line_ref in seen:
            raise ValueError(f"{where}: line item {line_ref} appears twice")
        seen.add(line_ref)
        quantity = _quantity(line, where, max_quantity)
        title = _text(line.get("title"), 200) or _text(line.get("name"), 200)
        if title is None:
            raise ValueError(f"{where} has no title")
        if line.get("gift_card") is True or line.get("requires_shipping") is False or quantity == 0:
            continue
        variant = _text(line.get("variant_title"), 100)
        description = f"{title} - {variant}" if variant and variant.casefold() != "default title" else title
        description = description[:200]
        props = []
        for prop in line.get("properties") or []:
            if isinstance(prop, dict):
                pname, pvalue = _text(prop.get("name"), 100), _text(prop.get("value"), 500)
                if pname and pvalue and not pname.startswith("_"):  # "_..." properties are hidden by Shopify too
                    props.append((pname, pvalue))
        line_tags = [*tags, *(v for _, v in props), *(f"{n}: {v}" for n, v in props)]
        method = pick_method(rules, default_method, sku=_text(line.get("sku"), 100),
                             product_type=_text(line.get("product_type"), 100), tags=line_tags, title=title)
        items.append(ItemDraft(description, method, quantity, external_ref=line_ref))
        item_notes.extend(f"{description} · {n}: {v}" for n, v in props)

    ship = data.get("shipping_address") if isinstance(data.get("shipping_address"), dict) else {}
    bill = data.get("billing_address") if isinstance(data.get("billing_address"), dict) else {}
    customer = data.get("customer") if isinstance(data.get("customer"), dict) else {}
    person = _person(ship) or _person(customer) or _person(bill)
    email = _text(data.get("email"), 254) or _text(data.get("contact_email"), 254) or _text(customer.get("email"), 254)
    if email and not EMAIL_RE.match(email):
        warnings.append(f"e-mail {email!r} does not look like an address: not kept")
        email = None
    phone = (_text(data.get("phone"), 40) or _text(ship.get("phone"), 40) or _text(customer.get("phone"), 40)
             or _text(bill.get("phone"), 40))
    if phone and not PHONE_RE.match(phone):
        warnings.append(f"phone {phone!r} does not look like a phone number: not kept")
        phone = None
    country = _text(ship.get("country_code"), 2)
    if country and not re.match(r"^[A-Za-z]{2}$", country):
        country = None
    note = _text(data.get("note"), 2000)
    notes = "\n".join(p for p in (note, *item_notes) if p)[:2000] or None
    return OrderDraft(
        customer_name=person or email or f"Shopify order {name or ref}",
        customer_email=email,
        customer_phone=phone,
        items=tuple(items),
        due_date=_due(data, tags, today, warnings),
        rush=any(t.casefold() == "rush" for t in tags),
        notes=notes,
        channel="shopify",
        external_ref=ref,
        external_name=name,
        ship_city=_text(ship.get("city"), 100),
        ship_region=_text(ship.get("province_code"), 100) or _text(ship.get("province"), 100),
        ship_country=country.upper() if country else None,
        ship_name=_text(ship.get("name"), 200), ship_company=_text(ship.get("company"), 200),
        ship_street1=_text(ship.get("address1"), 200), ship_street2=_text(ship.get("address2"), 200),
        ship_postal=_text(ship.get("zip"), 20),
        extra={"tags": tags, "warnings": warnings, "named": person is not None,
               "cancelled": bool(data.get("cancelled_at")), "cancel_reason": _text(data.get("cancel_reason"), 100)},
    )


# -- the GraphQL Admin API ---------------------------------------------------------------------------

class ShopifyError(Exception):
    """A call that did not work. retryable: the same call may work later (network, 429, 5xx, throttled);
    else it will not until someone changes something (token, scopes, the order on Shopify)."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.message, self.retryable, self.retry_after = message, retryable, retry_after


@dataclass(frozen=True)
class TrackingInfo:
    company: str
    number: str
    url: str | None = None

    def as_input(self) -> dict:
        out = {"company": self.company, "number": self.number}
        if self.url:
            out["url"] = self.url
        return out


def tracking_company(carrier: str | None, override: str | None = None) -> str:
    """Shopify's name for the carrier; `override` names the carrier of parcels Inktrail files as "other"."""
    return TRACKING_COMPANIES.get(carrier or "") or override or "Other"


def order_gid(ref: str) -> str:
    return ref if ref.startswith("gid://") else f"gid://shopify/Order/{ref}"


@dataclass(frozen=True)
class ShopifyConfig:
    """[marketplaces.shopify] (validated by settings.py; an env: value that is unset is None)."""
    shop_domain: str | None = None
    access_token: str | None = None
    webhook_secret: str | None = None
    base_url: str | None = None
    api_version: str | None = None
    notify_customer: bool = True
    tracking_company: str | None = None


def load_config(raw: Mapping | None) -> ShopifyConfig:
    raw = raw or {}
    return ShopifyConfig(shop_domain=raw.get("shop_domain"), access_token=raw.get("access_token"),
                         webhook_secret=raw.get("webhook_secret"), base_url=raw.get("base_url"),
                         api_version=raw.get("api_version"), notify_customer=raw.get("notify_customer") is not False,
                         tracking_company=raw.get("tracking_company"))


def endpoint(config: ShopifyConfig) -> str:
    base = config.base_url or (f"https://{normalise_domain(config.shop_domain)}" if config.shop_domain else None)
    if not base:
        raise ShopifyError("Shopify is not set up: [marketplaces.shopify] needs shop_domain (or base_url)")
    version = config.api_version or API_VERSION
    return f"{str(base).rstrip('/')}/admin/api/{version}/graphql.json"


def graphql(config: ShopifyConfig, query: str, variables: dict, *, timeout: float = 15) -> dict:
    """One GraphQL call; returns its `data`. Raises ShopifyError."""
    token = config.access_token
    if not token:
        raise ShopifyError("Shopify is not set up: [marketplaces.shopify] has no access_token")
    url = endpoint(config)
    try:
        resp = http.request("POST", url, headers={"X-Shopify-Access-Token": token},
                            json={"query": query, "variables": variables}, timeout=timeout)
    except http.ProviderError as exc:
        if exc.retryable:
            raise ShopifyError(f"Shopify did not answer in a usable way, will try again: {exc.message}",
                               retryable=True, retry_after=exc.retry_after) from None
        detail = http.error_detail(exc.response) if exc.response is not None else exc.message
        if exc.status == 401:
            message = ("Shopify refused the access token (401): check [marketplaces.shopify] access_token "
                       f"(the custom app's Admin API access token). Shopify said: {detail}")
        elif exc.status == 403:
            message = ("Shopify refused the request (403): the app is missing a permission; give it read_orders, "
                       "write_fulfillments and write_merchant_managed_fulfillment_orders. "
                       f"Shopify said: {detail}")
        elif exc.status == 404:
            message = (f"Shopify answered 404 for {url}: check shop_domain / base_url and "
                       f"api_version in [marketplaces.shopify]")
        else:
            message = f"Shopify refused the request: {exc.message}"
        raise ShopifyError(message) from None
    try:
        doc = resp.json()
    except ValueError:
        raise ShopifyError("Shopify's answer was not JSON", retryable=True) from None
    if not isinstance(doc, dict):
        raise ShopifyError("Shopify's answer was not a GraphQL response", retryable=True)
    errors = doc.get("errors")
    if errors:
        raise _graphql_error(errors, doc)
    data = doc.get("data")
    if not isinstance(data, dict):
        raise ShopifyError("Shopify's answer had no data")
    return data


def _graphql_error(errors, doc: dict) -> ShopifyError:
    errors = errors if isinstance(errors, list) else [errors]
    messages, codes = [], set()
    for err in errors:
        if isinstance(err, dict):
            messages.append(str(err.get("message") or err))
            ext = err.get("extensions") if isinstance(err.get("extensions"), dict) else {}
            if ext.get("code"):
                codes.add(str(ext["code"]))
        else:
            messages.append(str(err))
    text = "; ".join(messages)[:400]
    if "THROTTLED" in codes:
        return ShopifyError(f"Shopify is throttling the app: {text}", retryable=True, retry_after=_throttle_wait(doc))
    if "INTERNAL_SERVER_ERROR" in codes:
        return ShopifyError(f"Shopify had an internal error: {text}", retryable=True)
    return ShopifyError(f"Shopify said: {text}")


def _throttle_wait(doc: dict) -> float | None:
    """Seconds until the query's cost is available again, from the cost extension Shopify sends."""
    try:
        cost = doc["extensions"]["cost"]
        status = cost["throttleStatus"]
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(1.0, missing / float(status["restoreRate"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def _user_errors(payload: dict, what: str) -> None:
    errors = payload.get("userErrors") or []
    if errors:
        text = "; ".join(str(e.get("message") if isinstance(e, dict) else e) for e in errors)[:400]
        raise ShopifyError(f"Shopify refused {what}: {text}")


ORDER_QUERY = """query InktrailOrderFulfillment($id: ID!) {
  order(id: $id) {
    id
    name
    fulfillmentOrders(first: 20) { nodes { id status } }
    fulfillments(first: 20) { id status trackingInfo { company number url } }
  }
}"""

FULFILLMENT_CREATE = """mutation InktrailFulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status trackingInfo { company number url } }
    userErrors { field message }
  }
}"""

TRACKING_UPDATE = """mutation InktrailTrackingUpdate($fulfillmentId: ID!,
    $trackingInfoInput: FulfillmentTrackingInput!, $notifyCustomer: Boolean) {
  fulfillmentTrackingInfoUpdate(fulfillmentId: $fulfillmentId, trackingInfoInput: $trackingInfoInput,
                                notifyCustomer: $notifyCustomer) {
    fulfillment { id status trackingInfo { company number url } }
    userErrors { field message }
  }
}"""


@dataclass(frozen=True)
class OrderFulfillment:
    name: str | None
    open_ids: tuple[str, ...]          # fulfillment orders that can be fulfilled now
    waiting: tuple[str, ...]           # statuses of those that may be later (on hold, scheduled)
    fulfillments: tuple[tuple[str, tuple[str, ...]], ...]  # (fulfillment id, its tracking numbers)


def order_fulfillment(config: ShopifyConfig, ref: str) -> OrderFulfillment:
    """The order's fulfillment orders and existing fulfillments."""
    data = graphql(config, ORDER_QUERY, {"id": order_gid(ref)})
    order = data.get("order")
    if not isinstance(order, dict):
        raise ShopifyError(f"Shopify has no order {order_gid(ref)} (deleted, or another shop's)")
    nodes = ((order.get("fulfillmentOrders") or {}).get("nodes") or [])
    open_ids = tuple(n["id"] for n in nodes if isinstance(n, dict) and n.get("status") in OPEN_STATUSES and n.get("id"))
    waiting = tuple(n["status"] for n in nodes if isinstance(n, dict) and n.get("status") in WAITING_STATUSES)
    fulfillments = []
    for f in order.get("fulfillments") or []:
        if isinstance(f, dict) and f.get("id"):
            numbers = tuple(str(t["number"]) for t in f.get("trackingInfo") or []
                            if isinstance(t, dict) and t.get("number"))
            fulfillments.append((f["id"], numbers))
    return OrderFulfillment(order.get("name"), open_ids, waiting, tuple(fulfillments))


def create_fulfillment(config: ShopifyConfig, ref: str, tracking: TrackingInfo, *,
                       notify_customer: bool = True) -> str:
    """Fulfills what is open on the order with this tracking; returns the fulfillment's gid. Safe to
    call again after a lost answer: a fulfillment that already carries this number is returned as is."""
    state = order_fulfillment(config, ref)
    for fulfillment_id, numbers in state.fulfillments:
        if tracking.number in numbers:
            return fulfillment_id
    label = state.name or order_gid(ref)
    if not state.open_ids:
        if state.waiting:
            raise ShopifyError(f"Shopify holds order {label} ({', '.join(sorted(set(state.waiting))).lower()}): "
                               "will try again", retryable=True, retry_after=3600)
        raise ShopifyError(f"Shopify has nothing left to fulfill on order {label} (fulfilled or cancelled there "
                           f"already): tracking {tracking.number} was not sent")
    data = graphql(config, FULFILLMENT_CREATE, {"fulfillment": {
        "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": i} for i in state.open_ids],
        "trackingInfo": tracking.as_input(),
        "notifyCustomer": bool(notify_customer)}})
    payload = data.get("fulfillmentCreate") or {}
    _user_errors(payload, f"the fulfillment of {label}")
    fulfillment = payload.get("fulfillment") or {}
    if not fulfillment.get("id"):
        raise ShopifyError(f"Shopify's answer to the fulfillment of {label} had no fulfillment id")
    return str(fulfillment["id"])


def update_tracking(config: ShopifyConfig, fulfillment_id: str, tracking: TrackingInfo, *,
                    notify_customer: bool = True) -> str:
    """Replaces the tracking on an existing fulfillment; returns the fulfillment's gid."""
    data = graphql(config, TRACKING_UPDATE, {"fulfillmentId": fulfillment_id,
                                             "trackingInfoInput": tracking.as_input(),
                                             "notifyCustomer": bool(notify_customer)})
    payload = data.get("fulfillmentTrackingInfoUpdate") or {}
    _user_errors(payload, f"the tracking update of {fulfillment_id}")
    return str((payload.get("fulfillment") or {}).get("id") or fulfillment_id)
