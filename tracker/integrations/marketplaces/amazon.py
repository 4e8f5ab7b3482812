"""Amazon Seller Central by file, both ways (no API: the shop downloads and uploads the files itself).

In: the "Unshipped Orders" report (Seller Central > Orders > Order Reports), a tab-separated text file with
one header row and one row per order item. Columns read (any others are ignored; names are matched without
regard to case, and with - or _ alike):
    order-id, order-item-id                              required
    quantity-to-ship, else quantity-purchased            required (one of them); 0 to ship: item skipped
    product-name, else sku                               required (one of them): the job's description
    sku                                                  for [[method_rules]] (with product-name as the title)
    recipient-name, else buyer-name                      the customer (the name on the parcel)
    buyer-email, buyer-phone-number                      kept when they look valid, else left out
    ship-city, ship-state, ship-country                  the order's ship-to place
    promise-date, else latest-ship-date                  the due date (the day Amazon expects it shipped);
    delivery-end-date / latest-delivery-date             only when no ship-by date is given (later than needed)
    ship-service-level                                   NextDay, SecondDay, SameDay, Expedited, Priority: rush
    is-business-order, purchase-order-number             noted on the order
Rows are grouped by order-id into one order (they need not be next to each other), one item per
order-item-id. An order with any bad row is refused whole, each bad row named by its line number (the
header is line 1): half an order would be worse than none, and importing the file again after fixing it
brings the order in.

Out: the "Shipping Confirmation" flat file (Seller Central > Orders > Upload order related files), tab
separated, UTF-8, one row per order item:
    order-id, order-item-id, quantity, ship-date (YYYY-MM-DD), carrier-code, carrier-name, tracking-number,
    ship-method
carrier-code is one of Amazon's codes (UPS, USPS, FedEx, DHL); any other carrier goes as "Other" with its
name in carrier-name ([marketplaces.amazon] carrier_names = {other = "OnTrac"}; default "Other").
Pure: no Flask, no database.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ...domain.intake import EMAIL_RE, PHONE_RE, REF_RE, ItemDraft, OrderDraft
from ...domain.marketplace import pick_method

REQUIRED_ONE_OF = (("order-id",), ("order-item-id",), ("quantity-to-ship", "quantity-purchased"),
                   ("product-name", "sku"))
SHIP_BY = ("promise-date", "latest-ship-date")
DELIVER_BY = ("delivery-end-date", "latest-delivery-date")
RUSH_LEVELS = {"nextday", "secondday", "sameday", "expedited", "priority"}
CARRIER_CODES = {"ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHL"}
CONFIRMATION_COLUMNS = ("order-id", "order-item-id", "quantity", "ship-date", "carrier-code", "carrier-name",
                        "tracking-number", "ship-method")
MAX_ROWS = 20_000


class UnreadableReport(ValueError):
    """The file is not an order report at all (empty, binary, no order-id column)."""


@dataclass(frozen=True)
class RowError:
    line: int
    message: str
    order_id: str | None = None


@dataclass
class ReportOrder:
    order_id: str
    lines: list[int]
    draft: OrderDraft | None = None  # None when refused
    errors: list[RowError] = field(default_factory=list)
    skipped_items: int = 0


@dataclass
class Report:
    rows: int
    orders: list[ReportOrder]
    errors: list[RowError]        # every bad row, by line (also those of refused orders)
    skipped: list[RowError]       # rows with nothing to do (quantity to ship 0), by line

    @property
    def good(self) -> list[ReportOrder]:
        return [o for o in self.orders if o.draft is not None]

    @property
    def refused(self) -> list[ReportOrder]:
        return [o for o in self.orders if o.draft is None and o.errors]


def decode(data: bytes) -> str:
    """Seller Central writes UTF-8 in most marketplaces and Windows-1252 in some (older US reports)."""
    if b"\x00" in data[:4096]:
        raise UnreadableReport("this is a binary file, not a tab-separated text report "
                               "(download the report as text from Seller Central)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _name(header: str) -> str:
    return re.sub(r"[\s_]+", "-", header.strip().strip('"').lower())


def _rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise UnreadableReport("the file is empty" if not text.strip() else "the first line (the header) is empty")
    header_line = lines[0]
    delimiter = "\t" if "\t" in header_line else ","  # a report opened and saved as CSV still reads
    header = [_name(h) for h in next(csv.reader([header_line], delimiter=delimiter))]
    if "order-id" not in header:
        shown = ", ".join(h for h in header[:6] if h) or "nothing"
        raise UnreadableReport(f"this is not an Amazon order report: its first line has no order-id column "
                               f"(found: {shown})")
    missing = [" or ".join(names) for names in REQUIRED_ONE_OF if not any(n in header for n in names)]
    if missing:
        raise UnreadableReport(f"the report has no {', no '.join(missing)} column")
    out = []
    # Amazon's tab-separated files are not quoted: a product name may hold a lone " that csv would misread.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        out.append((number, next(csv.reader([line], delimiter=delimiter, quoting=quoting))))
        if len(out) > MAX_ROWS:
            raise UnreadableReport(f"the report has more than {MAX_ROWS} rows; split it")
    return header, out


def _clean(value: str | None, limit: int | None = None) -> str | None:
    if value is None:
        return None
    value = "".join(c if ord(c) >= 32 else " " for c in value).strip()
    if not value:
        return None
    return value[:limit] if limit else value


def _date(value: str | None, tz: dt.tzinfo) -> dt.date | None:
    """An Amazon date: 2026-03-05T07:59:59+00:00 (or Z, or a plain 2026-03-05) as the shop's local date."""
    value = _clean(value)
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a date") from None
    if when.tzinfo is None:
        return when.date()
    return when.astimezone(tz).date()


def _quantity(value: str | None, column: str, max_quantity: int) -> int:
    value = (value or "").strip()
    if not re.fullmatch(r"\d{1,9}", value):
        raise ValueError(f"{column} {value!r} is not a whole number" if value else f"{column} is empty")
    n = int(value)
    if n > max_quantity:
        raise ValueError(f"{column} {n} is more than this shop takes in one item ({max_quantity})")
    return n


def parse_report(data: bytes, *, rules: Sequence, default_method: str, tz: dt.tzinfo, max_quantity: int = 100_000,
                 max_items: int = 200) -> Report:
    """Reads a report into one draft per order (channel amazon, external_ref the order-id). Raises
    UnreadableReport when the file is not a report; bad rows come back as errors with their line."""
    header, rows = _rows(decode(data))
    index = {name: i for i, name in reversed(list(enumerate(header)))}  # the first column of a name wins

    def get(row: list[str], *names: str) -> str | None:
        for name in names:
            i = index.get(name)
            if i is not None and i < len(row):
                value = _clean(row[i])
                if value is not None:
                    return value
        return None

    orders: dict[str, ReportOrder] = {}
    items: dict[str, list[tuple[int, ItemDraft]]] = {}
    first_row: dict[str, tuple[int, list[str]]] = {}
    errors: list[RowError] = []
    skipped: list[RowError] = []
    seen_items: dict[tuple[str, str], int] = {}
    for line, row in rows:
        order_id = get(row, "order-id")
        if order_id is None:
            errors.append(RowError(line, "order-id is empty"))
            continue
        if not REF_RE.match(order_id):
            errors.append(RowError(line, f"order-id {order_id[:40]!r} is not an Amazon order id", None))
            continue
        order = orders.setdefault(order_id, ReportOrder(order_id, []))
        order.lines.append(line)
        first_row.setdefault(order_id, (line, row))
        try:
            item_id = get(row, "order-item-id")
            if item_id is None:
                raise ValueError("order-item-id is empty")
            if not REF_RE.match(item_id):
                raise ValueError(f"order-item-id {item_id[:40]!r} is not an Amazon order item id")
            if (order_id, item_id) in seen_items:
                raise ValueError(f"order-item-id {item_id} is already on line {seen_items[(order_id, item_id)]}")
            seen_items[(order_id, item_id)] = line
            if get(row, "quantity-to-ship") is not None:
                quantity = _quantity(get(row, "quantity-to-ship"), "quantity-to-ship", max_quantity)
            else:
                quantity = _quantity(get(row, "quantity-purchased"), "quantity-purchased", max_quantity)
            title, sku = get(row, "product-name"), get(row, "sku")
            if title is None and sku is None:
                raise ValueError("product-name and sku are both empty")
            if quantity == 0:
                order.skipped_items += 1
                skipped.append(RowError(line, f"order {order_id} item {item_id}: nothing left to ship", order_id))
                continue
            description = (title or sku)
            description = description if len(description) <= 200 else description[:199].rstrip() + "…"
            method = pick_method(rules, default_method, sku=sku, title=title)
            item = ItemDraft(description, method, quantity, external_ref=item_id)
            items.setdefault(order_id, []).append((line, item))
        except ValueError as exc:
            err = RowError(line, f"order {order_id}: {exc}", order_id)
            order.errors.append(err)
            errors.append(err)

    for order_id, order in orders.items():
        if order.errors:
            continue
        lines_items = items.get(order_id, [])
        if not lines_items:
            continue  # every item already shipped: nothing to make (the skipped rows say so)
        if len(lines_items) > max_items:
            err = RowError(order.lines[0], f"order {order_id} has {len(lines_items)} items; this shop takes at most "
                                           f"{max_items} per order", order_id)
            order.errors.append(err)
            errors.append(err)
            continue
        line, row = first_row[order_id]
        try:
            order.draft = _draft(order_id, [i for _, i in lines_items], row, get, tz)
        except ValueError as exc:
            err = RowError(line, f"order {order_id}: {exc}", order_id)
            order.errors.append(err)
            errors.append(err)
    errors.sort(key=lambda e: e.line)
    return Report(rows=len(rows), orders=list(orders.values()), errors=errors, skipped=skipped)


def _draft(order_id: str, items: list[ItemDraft], row: list[str], get, tz: dt.tzinfo) -> OrderDraft:
    name = get(row, "recipient-name", "buyer-name")
    if name is None:
        raise ValueError("recipient-name and buyer-name are both empty")
    email = get(row, "buyer-email")
    if email and (len(email) > 254 or not EMAIL_RE.match(email)):
        email = None
    phone = get(row, "buyer-phone-number")
    if phone and (len(phone) > 40 or not PHONE_RE.match(phone)):
        phone = None
    due = None
    for columns in (SHIP_BY, DELIVER_BY):
        for column in columns:
            value = get(row, column)
            if value is not None:
                try:
                    due = _date(value, tz)
                except ValueError as exc:
                    raise ValueError(f"{column} {exc}") from None
                break
        if due is not None:
            break
    level = get(row, "ship-service-level")
    notes = []
    if level:
        notes.append(f"Amazon ship service: {level}")
    if (get(row, "is-business-order") or "").lower() == "true":
        po = get(row, "purchase-order-number")
        notes.append("Business order" + (f", PO {po}" if po else ""))
    country = (get(row, "ship-country") or "").upper()
    return OrderDraft(
        customer_name=name[:200], customer_email=email, customer_phone=phone, items=tuple(items), due_date=due,
        rush=bool(level and re.sub(r"[\s_-]", "", level.lower()) in RUSH_LEVELS),
        notes="\n".join(notes) or None, channel="amazon", external_ref=order_id,
        ship_city=_clean(get(row, "ship-city"), 100), ship_region=_clean(get(row, "ship-state"), 100),
        ship_country=country if len(country) == 2 and country.isalpha() else None, external_name=order_id[:100],
        ship_name=_clean(get(row, "recipient-name"), 200), ship_street1=_clean(get(row, "ship-address-1"), 200),
        ship_street2=_clean(get(row, "ship-address-2"), 200), ship_postal=_clean(get(row, "ship-postal-code"), 20))


# -- the shipping confirmation file -----------------------------------------------------------------

@dataclass(frozen=True)
class AmazonConfig:
    """[marketplaces.amazon] (validated by settings.py): carrier_names maps our carrier keys to the name
    the confirmation file gives Amazon for a carrier it has no code for, e.g. {other = "OnTrac"}."""
    carrier_names: Mapping[str, str] = field(default_factory=dict)


def load_config(raw: Mapping | None) -> AmazonConfig:
    return AmazonConfig(carrier_names=dict((raw or {}).get("carrier_names") or {}))


@dataclass(frozen=True)
class Confirmation:
    order_id: str
    order_item_id: str
    quantity: int
    ship_date: dt.date
    carrier: str          # our carrier key: ups, usps, fedex, dhl, other
    tracking_number: str
    ship_method: str | None = None


def _cell(value) -> str:
    return re.sub(r"[\t\r\n]+", " ", str(value if value is not None else "")).strip()


def confirmation_file(rows: Sequence[Confirmation], carrier_names: Mapping[str, str] | None = None) -> bytes:
    """The Shipping Confirmation flat file: a header row, then one tab-separated row per item."""
    names = {str(k).lower(): str(v) for k, v in (carrier_names or {}).items()}
    out = io.StringIO()
    out.write("\t".join(CONFIRMATION_COLUMNS) + "\n")
    for r in rows:
        code = CARRIER_CODES.get(r.carrier)
        name = names.get(r.carrier, "") if code else names.get(r.carrier) or names.get("other") or "Other"
        out.write("\t".join(_cell(v) for v in (r.order_id, r.order_item_id, r.quantity, r.ship_date.isoformat(),
                                                code or "Other", name, r.tracking_number, r.ship_method)) + "\n")
    return out.getvalue().encode("utf-8")
