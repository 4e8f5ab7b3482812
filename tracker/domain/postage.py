"""Buying postage: what a package is, what an address needs before a carrier takes it, and which rate the
shop's rule picks. Pure: no Flask, no database, no network."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .refusals import Invalid

# Carriers' own upper limits for a parcel (USPS 70 lb, UPS and FedEx 150 lb; 108 in the longest side):
# anything past them is a typo, caught here before a provider is asked.
MAX_WEIGHT_OZ = 150 * 16
MAX_SIDE_IN = 108
RULES = ("cheapest", "fastest", "cheapest_within_days:N")


class PostageRefused(Invalid):
    """Input a label cannot be bought with; the message says what to change. `field` names the input."""


@dataclass(frozen=True)
class Package:
    """A parcel's weight (ounces) and, when known, its size (inches). `name` is the preset it came from."""

    weight_oz: float
    length_in: float | None = None
    width_in: float | None = None
    height_in: float | None = None
    name: str | None = None

    def as_dict(self) -> dict:
        return {"name": self.name, "weight_oz": self.weight_oz, "length_in": self.length_in,
                "width_in": self.width_in, "height_in": self.height_in}

    def describe(self) -> str:
        size = (f"{_num(self.length_in)} x {_num(self.width_in)} x {_num(self.height_in)} in, "
                if self.length_in else "")
        return f"{self.name + ': ' if self.name else ''}{size}{_num(self.weight_oz)} oz"


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:g}"


DIMENSIONS = ("length_in", "width_in", "height_in")


def _measure(value, key: str, maximum: float) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PostageRefused(f"'{key}' must be a number", key)
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", "."))
        except ValueError:
            raise PostageRefused(f"'{key}' must be a number, not {value[:20]!r}", key) from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PostageRefused(f"'{key}' must be a number", key)
    if value <= 0:
        raise PostageRefused(f"'{key}' must be more than 0", key)
    if value > maximum:
        raise PostageRefused(f"'{key}' is more than carriers take ({maximum:g} at most)", key)
    return round(float(value), 2)


def package_from(data: dict, presets: dict[str, Package], *, default: Package | None = None) -> Package:
    """The package a request describes: a preset by name, a preset with some values typed over it, or
    typed values alone (weight needed; the size is all three sides or none)."""
    name = data.get("package")
    base: Package | None = None
    if name not in (None, ""):
        if not isinstance(name, str) or name not in presets:
            known = ", ".join(presets) or "none: add [[packages]] to config.toml"
            raise PostageRefused(f"there is no package preset {str(name)[:40]!r} (presets: {known})", "package")
        base = presets[name]
    typed = {key: data.get(key) for key in ("weight_oz", *DIMENSIONS)}
    if base is None and all(v in (None, "") for v in typed.values()):
        if default is None:
            raise PostageRefused("say what is being shipped: a package preset, or its weight in ounces", "weight_oz")
        base = default
    weight = _measure(typed["weight_oz"], "weight_oz", MAX_WEIGHT_OZ)
    sides = [_measure(typed[key], key, MAX_SIDE_IN) for key in DIMENSIONS]
    if weight is None:
        if base is None:
            raise PostageRefused("the package's weight is needed ('weight_oz', in ounces)", "weight_oz")
        weight = base.weight_oz
    if any(s is not None for s in sides):
        if any(s is None for s in sides):
            missing = DIMENSIONS[[s is None for s in sides].index(True)]
            raise PostageRefused("give all three sides of the package (length, width and height in inches), "
                                 "or none", missing)
        length, width, height = sides
    elif base is not None:
        length, width, height = base.length_in, base.width_in, base.height_in
    else:
        length = width = height = None
    changed = base is not None and (weight, length, width, height) != (
        base.weight_oz, base.length_in, base.width_in, base.height_in)
    return Package(weight, length, width, height, name=(base.name if base and not changed else None))


@dataclass(frozen=True)
class Address:
    name: str | None = None
    company: str | None = None
    street1: str | None = None
    street2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    phone: str | None = None
    email: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}


ADDRESS_NEEDS = (("name", "the name"), ("street1", "the street"), ("city", "the city"), ("zip", "the postal code"),
                 ("country", "the country"))


def address_missing(address: Address, *, who: str) -> str | None:
    """What an address lacks before any carrier takes it, in words; None when it has what is needed."""
    missing = [words for key, words in ADDRESS_NEEDS if not (getattr(address, key) or "").strip()]
    if (address.country or "US").upper() in ("US", "CA") and not (address.state or "").strip():
        missing.append("the state")
    if not missing:
        return None
    listed = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
    return f"{who} is missing {listed}"


@dataclass(frozen=True)
class Rate:
    rate_id: str
    carrier: str            # ups, usps, fedex, dhl or other
    carrier_name: str       # as the provider words it ("USPS", "DHLExpress")
    service: str
    amount: str             # a decimal string, as providers send it ("7.58")
    currency: str
    delivery_days: int | None

    @property
    def price(self) -> Decimal:
        try:
            return Decimal(self.amount)
        except (InvalidOperation, TypeError):
            return Decimal("Infinity")

    def as_json(self) -> dict:
        return {"rate_id": self.rate_id, "carrier": self.carrier, "carrier_name": self.carrier_name,
                "service": self.service, "amount": self.amount, "currency": self.currency,
                "delivery_days": self.delivery_days}


def rate_from_json(doc: dict) -> Rate:
    return Rate(doc["rate_id"], doc["carrier"], doc.get("carrier_name") or doc["carrier"].upper(), doc["service"],
                doc["amount"], doc["currency"], doc.get("delivery_days"))


_RULE_RE = re.compile(r"(cheapest|fastest)|cheapest_within_days:(\d{1,2})")


@dataclass(frozen=True)
class RateRule:
    kind: str                 # cheapest | fastest | within
    days: int | None = None
    text: str = field(default="cheapest", compare=False)


def parse_rule(text: str) -> RateRule:
    """`cheapest`, `fastest` or `cheapest_within_days:N`; ValueError with the allowed forms otherwise."""
    match = _RULE_RE.fullmatch((text or "").strip())
    if not match:
        raise ValueError(f"{text!r} is not a rule (one of: {', '.join(RULES)})")
    if match.group(1):
        return RateRule(match.group(1), None, text)
    days = int(match.group(2))
    if days < 1:
        raise ValueError("cheapest_within_days needs at least 1 day")
    return RateRule("within", days, text)


def _days(rate: Rate) -> int:
    return rate.delivery_days if rate.delivery_days is not None else 10 ** 6


def choose_rate(rates: list[Rate], rule: RateRule) -> Rate:
    """The rate the shop's rule picks. Ties: the cheaper, then the faster, then the provider's order.
    A rate without a price never wins; `cheapest_within_days:N` with none that fast takes the fastest."""
    priced = [r for r in rates if r.price.is_finite()]
    if not priced:
        raise PostageRefused("the provider offered no rate with a price for this package")
    order = {id(r): i for i, r in enumerate(priced)}
    if rule.kind == "fastest":
        return min(priced, key=lambda r: (_days(r), r.price, order[id(r)]))
    if rule.kind == "within":
        fast = [r for r in priced if r.delivery_days is not None and r.delivery_days <= rule.days]
        if not fast:
            return min(priced, key=lambda r: (_days(r), r.price, order[id(r)]))
        priced = fast
    return min(priced, key=lambda r: (r.price, _days(r), order[id(r)]))


# What each kind of printer takes, and so which label file to ask the provider for.
LABEL_FORMAT_FOR_PRINTER = {"zpl": "zpl", "pdf": "pdf", "escpos": "png"}


def label_format_for(printer_takes: str | None) -> str:
    """zpl for a ZPL printer (and the file printer), pdf for CUPS, png for a receipt printer."""
    return LABEL_FORMAT_FOR_PRINTER.get(printer_takes or "zpl", "zpl")


def label_format_of(data: bytes) -> str | None:
    """zpl, pdf or png from a label file's own bytes (never its name)."""
    head = data[:2048].lstrip()
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if b"^XA" in head.upper():
        return "zpl"
    return None


def money(amount: str, currency: str) -> str:
    symbol = {"USD": "$", "CAD": "CA$", "EUR": "€", "GBP": "£", "AUD": "A$"}.get((currency or "").upper())
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"
