"""What a new order must look like, wherever it comes from (API, form, import). Pure."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from .refusals import Invalid

METHODS = ("dtg", "dtf", "screen", "embroidery", "other")
METHOD_LABELS = {"dtg": "DTG", "dtf": "DTF", "screen": "Screen", "embroidery": "Embroidery", "other": "Other"}
CHANNELS = ("manual", "shopify", "etsy", "amazon", "csv", "api")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
PHONE_RE = re.compile(r"^\+?[0-9 ().\-]{3,30}$")
REF_RE = re.compile(r"^[\x21-\x7e]{1,100}$")  # printable ASCII, no spaces
MAX_DUE_DAYS_AHEAD = 3 * 365


class InvalidInput(Invalid):
    """An order (or an item) that does not look like one: the message says which field and why."""


@dataclass(frozen=True)
class ItemDraft:
    description: str
    method: str
    quantity: int
    external_ref: str | None = None  # the marketplace's line item id


@dataclass(frozen=True)
class OrderDraft:
    customer_name: str
    customer_email: str | None
    customer_phone: str | None
    items: tuple[ItemDraft, ...]
    due_date: dt.date | None = None
    rush: bool = False
    notes: str | None = None
    channel: str = "api"
    external_ref: str | None = None
    ship_city: str | None = None
    ship_region: str | None = None
    ship_country: str | None = None
    ship_name: str | None = None        # who the parcel is addressed to (else the customer)
    ship_company: str | None = None
    ship_street1: str | None = None
    ship_street2: str | None = None
    ship_postal: str | None = None
    extra: dict = field(default_factory=dict)
    external_name: str | None = None  # the marketplace's own order name, e.g. "#1042"


ORDER_FIELDS = {"customer", "items", "due_date", "channel", "external_ref", "rush", "notes", "ship_to"}
CUSTOMER_FIELDS = {"name", "email", "phone"}
ITEM_FIELDS = {"description", "method", "quantity"}
# A ship-to object's fields: the order's attribute, the longest text, and the words for it.
SHIP_TO_ATTRS = {"name": ("ship_name", 200, "name"), "company": ("ship_company", 200, "company"),
                 "street1": ("ship_street1", 200, "street"), "street2": ("ship_street2", 200, "street (2)"),
                 "city": ("ship_city", 100, "city"), "region": ("ship_region", 100, "region"),
                 "postal_code": ("ship_postal", 20, "postal code"), "country": ("ship_country", 2, "country")}
SHIP_TO_FIELDS = set(SHIP_TO_ATTRS)


def _no_extra(obj: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        name = f"{where}.{extra[0]}" if where else extra[0]
        raise InvalidInput(f"unknown field '{name}' (allowed: {', '.join(sorted(allowed))})", name)


def parse_ship_to(ship_to, where: str = "ship_to") -> dict:
    """A ship-to object ({"name", "company", "street1", "street2", "city", "region", "postal_code",
    "country"}, each optional) as the order's ship_* attributes; a field left out or empty is None.
    `where` prefixes the fields in messages ("" for a form's own fields)."""
    if ship_to is None:
        ship_to = {}
    if not isinstance(ship_to, dict):  # also "", [] and false, which `or {}` used to let through
        raise InvalidInput(f"'{where}' must be an object", where)
    _no_extra(ship_to, SHIP_TO_FIELDS, where)
    out = {attr: _text(ship_to, key, where, required=False, max_len=size)
           for key, (attr, size, _) in SHIP_TO_ATTRS.items()}
    country = out["ship_country"]
    if country and not re.match(r"^[A-Za-z]{2}$", country):
        name = f"{where}.country" if where else "country"
        raise InvalidInput(f"'{name}' must be a two-letter country code", name)
    out["ship_country"] = country.upper() if country else None
    return out


def _text(obj: dict, key: str, where: str, *, required: bool, max_len: int) -> str | None:
    name = f"{where}.{key}" if where else key
    value = obj.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"'{name}' is required", name)
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be text, got {type(value).__name__}", name)
    # Browsers submit a textarea's line breaks as CRLF: they are line breaks, not control characters.
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not value:
        if required:
            raise InvalidInput(f"'{name}' must not be empty", name)
        return None
    if len(value) > max_len:
        raise InvalidInput(f"'{name}' is too long ({len(value)} characters; at most {max_len})", name)
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise InvalidInput(f"'{name}' contains control characters", name)
    return value


def parse_due_date(value, today: dt.date, *, field_name: str = "due_date") -> dt.date | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"'{field_name}' must be a date written YYYY-MM-DD", field_name)
    try:
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", value.strip()):
            raise ValueError
        due = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"'{field_name}' {value!r} is not a real date (write YYYY-MM-DD)", field_name) from None
    if due < today:
        raise InvalidInput(f"'{field_name}' {due.isoformat()} is in the past", field_name)
    if due > today + dt.timedelta(days=MAX_DUE_DAYS_AHEAD):
        raise InvalidInput(f"'{field_name}' {due.isoformat()} is more than three years ahead", field_name)
    return due


def parse_quantity(value, *, where: str, max_quantity: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str) and value.strip().isdigit():
            raise InvalidInput(f"'{where}' must be a whole number, not text", where)
        else:
            raise InvalidInput(f"'{where}' must be a whole number", where)
    if value < 1:
        raise InvalidInput(f"'{where}' must be at least 1, got {value}", where)
    if value > max_quantity:
        raise InvalidInput(f"'{where}' {value} is more than this shop takes in one item ({max_quantity})", where)
    return value


def validate_order(data, *, today: dt.date, max_quantity: int = 100_000, max_items: int = 200,
                   default_channel: str = "api") -> OrderDraft:
    """Checks a JSON-shaped order and returns a clean draft, or raises InvalidInput naming the field."""
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    _no_extra(data, ORDER_FIELDS, "")

    customer = data.get("customer")
    if customer is None:
        raise InvalidInput("'customer' is required", "customer")
    if not isinstance(customer, dict):
        raise InvalidInput("'customer' must be an object with a name", "customer")
    _no_extra(customer, CUSTOMER_FIELDS, "customer")
    name = _text(customer, "name", "customer", required=True, max_len=200)
    email = _text(customer, "email", "customer", required=False, max_len=254)
    if email and not EMAIL_RE.match(email):
        raise InvalidInput(f"'customer.email' {email!r} is not an email address", "customer.email")
    phone = _text(customer, "phone", "customer", required=False, max_len=40)
    if phone and not PHONE_RE.match(phone):
        raise InvalidInput(f"'customer.phone' {phone!r} is not a phone number", "customer.phone")

    items = data.get("items")
    if items is None:
        raise InvalidInput("'items' is required: a list of at least one item", "items")
    if not isinstance(items, list) or not items:
        raise InvalidInput("'items' must be a list of at least one item", "items")
    if len(items) > max_items:
        raise InvalidInput(f"'items' has {len(items)} items; at most {max_items} per order", "items")
    drafts = []
    for i, item in enumerate(items):
        where = f"items[{i}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"'{where}' must be an object", where)
        _no_extra(item, ITEM_FIELDS, where)
        description = _text(item, "description", where, required=True, max_len=200)
        method = item.get("method")
        if method is None:
            raise InvalidInput(f"'{where}.method' is required (one of {', '.join(METHODS)})", f"{where}.method")
        if not isinstance(method, str) or method.strip().lower() not in METHODS:
            raise InvalidInput(f"'{where}.method' {method!r} is not a decoration method (one of {', '.join(METHODS)})",
                               f"{where}.method")
        if "quantity" not in item:
            raise InvalidInput(f"'{where}.quantity' is required", f"{where}.quantity")
        quantity = parse_quantity(item["quantity"], where=f"{where}.quantity", max_quantity=max_quantity)
        drafts.append(ItemDraft(description, method.strip().lower(), quantity))

    channel = data.get("channel")
    if channel is None:  # null means "not given", as for every other optional field
        channel = default_channel
    if not isinstance(channel, str) or channel not in CHANNELS:
        raise InvalidInput(f"'channel' {channel!r} is not one of {', '.join(CHANNELS)}", "channel")
    ref = data.get("external_ref")
    if ref is not None:
        if isinstance(ref, int) and not isinstance(ref, bool):
            ref = str(ref)
        if not isinstance(ref, str) or not REF_RE.match(ref.strip()):
            raise InvalidInput("'external_ref' must be 1 to 100 printable characters without spaces", "external_ref")
        ref = ref.strip()

    rush = data.get("rush")
    if rush is None:
        rush = False
    if not isinstance(rush, bool):
        raise InvalidInput("'rush' must be true or false", "rush")

    ship = parse_ship_to(data.get("ship_to"))

    return OrderDraft(
        customer_name=name,
        customer_email=email,
        customer_phone=phone,
        items=tuple(drafts),
        due_date=parse_due_date(data.get("due_date"), today),
        rush=rush,
        notes=_text(data, "notes", "", required=False, max_len=2000),
        channel=channel,
        external_ref=ref,
        **ship,
    )
