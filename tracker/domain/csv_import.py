"""Orders from a CSV file: read the bytes, map the file's columns to our fields, check every row and
group the rows into orders. Pure: no Flask, no database.

The rules are the API's (domain/intake.py): the same limits, the same email, phone and reference
patterns, and every order is passed through validate_order before it is planned, so a file can never
make an order the API would refuse. What is CSV-only: text cells ("ten", "yes", "6/1/2026") are
parsed here, and each refusal names the line of the file it came from.

Line numbers count the header as line 1 and every physical line of the file, so a quoted value that
runs over three lines moves the rows after it down by three: a bad row is reported at the line where
it starts, which is where an editor's "go to line" lands.

Rows with the same external_ref are one order with one item per row, in file order. Order-level
fields (customer, due date, rush, shipping) may be left blank on an order's later rows; a later row
that gives a different value is an error on that row. An order with any bad row is refused as a whole
(its good rows are listed as held back); every other order goes ahead.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from .intake import (EMAIL_RE, METHODS, PHONE_RE, REF_RE, InvalidInput, OrderDraft, parse_due_date,
                     parse_quantity, validate_order)
from .marketplace import MethodRule, pick_method

FIELDS = ("external_ref", "customer_name", "customer_email", "customer_phone", "description", "method", "sku",
          "quantity", "due_date", "rush", "notes", "ship_city", "ship_region", "ship_country")
REQUIRED = ("external_ref", "customer_name", "description", "quantity")
# Fields of the order rather than the item: blank on a later row means "same as before".
ORDER_LEVEL = ("customer_name", "customer_email", "customer_phone", "due_date", "rush", "ship_city", "ship_region",
               "ship_country")
FIELD_LABELS = {
    "external_ref": "Order ID", "customer_name": "Customer name", "customer_email": "Email", "customer_phone": "Phone",
    "description": "Description", "method": "Method", "sku": "SKU", "quantity": "Quantity", "due_date": "Due date",
    "rush": "Rush", "notes": "Notes", "ship_city": "Ship city", "ship_region": "Ship region",
    "ship_country": "Ship country",
}
FIELD_HELP = {
    "external_ref": "Rows with the same ID are one order; importing it again creates nothing new",
    "customer_name": "On the order's first row; later rows may leave it blank",
    "customer_email": "Optional",
    "customer_phone": "Optional",
    "description": "What to print: one job per row",
    "method": "dtg, dtf, screen, embroidery or other; blank: the shop's method rules decide",
    "sku": "Optional; the method rules can match on it",
    "quantity": "Pieces: a whole number above 0",
    "due_date": "YYYY-MM-DD or M/D/YYYY (optional)",
    "rush": "yes/no, true/false or 1/0 (optional)",
    "notes": "Optional",
    "ship_city": "Optional",
    "ship_region": "State or region (optional)",
    "ship_country": "Two letters, like US (optional)",
}
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
MAX_ROWS = 20_000
TEXT_LIMITS = {"customer_name": 200, "customer_email": 254, "customer_phone": 40, "description": 200, "sku": 100,
               "notes": 2000, "ship_city": 100, "ship_region": 100,
               "ship_country": 100}  # then it must be two letters

# Names other programs give our fields, compared without case, spaces or punctuation ("Order #" -> "order").
# Fields are guessed in this order and each column is used once: the customer's name first, so that in a
# Shopify export "Billing Name" is the customer and "Name" (#1001, the order's name) is the order ID.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer_name": ("customername", "customer", "buyername", "buyer", "clientname", "client", "fullname",
                      "contactname", "billingname", "shippingname", "shipname", "shiptoname", "recipient", "name"),
    "external_ref": ("externalref", "orderid", "ordernumber", "orderno", "ordernum", "order", "orderref",
                     "orderreference", "ordername", "reference", "ref", "po", "ponumber", "name", "id"),
    "description": ("description", "itemdescription", "item", "itemname", "itemtitle", "product", "productname",
                    "producttitle", "title", "lineitemname", "lineitem", "design", "garment"),
    "sku": ("sku", "lineitemsku", "itemsku", "productsku", "variantsku", "productcode", "itemcode"),
    "quantity": ("quantity", "qty", "lineitemquantity", "itemquantity", "pieces", "pcs", "units", "count"),
    "method": ("method", "decorationmethod", "decoration", "printmethod", "printtype", "process", "technique"),
    "customer_email": ("customeremail", "email", "emailaddress", "buyeremail", "contactemail", "customeremailaddress"),
    "customer_phone": ("customerphone", "phone", "phonenumber", "telephone", "tel", "mobile", "cell",
                       "billingphone", "shippingphone", "shipphone"),
    "due_date": ("duedate", "due", "dueby", "inhandsdate", "inhands", "deadline", "needby", "needbydate",
                 "shipby", "shipbydate"),
    "rush": ("rush", "rushorder", "urgent", "express"),
    "notes": ("notes", "note", "comments", "comment", "instructions", "specialinstructions", "ordernotes"),
    "ship_city": ("shipcity", "shippingcity", "shiptocity", "city"),
    "ship_region": ("shipregion", "shippingregion", "shipstate", "shippingstate", "shippingprovince",
                    "shipprovince", "shiptostate", "region", "state", "province"),
    "ship_country": ("shipcountry", "shippingcountry", "shiptocountry", "countrycode", "country"),
}
# What people write for a method, beyond our own words (compared without case, spaces or hyphens).
METHOD_WORDS = {
    "directtogarment": "dtg", "directtofilm": "dtf",
    "screenprint": "screen", "screenprinted": "screen", "screenprinting": "screen", "silkscreen": "screen",
    "embroidered": "embroidery", "embroider": "embroidery", "emb": "embroidery",
}
BINARY_FILES = {b"%PDF": "a PDF document", b"\x89PNG": "a PNG picture", b"\xff\xd8\xff": "a JPEG picture",
                b"GIF8": "a GIF picture"}
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0", ""}


class CsvUnreadable(Exception):
    """The file as a whole cannot be read as CSV; the message says why (and on which line, if one)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


class MappingError(Exception):
    """The column mapping cannot be used: an unknown field, a column the file lacks, a required field
    without a column (`missing`)."""

    def __init__(self, message: str, missing: Sequence[str] = ()):
        super().__init__(message)
        self.message = message
        self.missing = tuple(missing)


# -- reading the file -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    line: int                  # where the row starts in the file (the header is line 1)
    values: tuple[str, ...]


@dataclass
class Table:
    headers: list[str]
    rows: list[Row]
    encoding: str
    delimiter: str
    header_line: int = 1
    notes: list[str] = field(default_factory=list)


def decode(content: bytes) -> tuple[str, str, list[str]]:
    """The file's text, the encoding it was read with, and notes for the person importing it."""
    if content.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise CsvUnreadable("this is an Excel workbook (or another zip file), not CSV: in Excel use "
                            "File > Save As > \"CSV UTF-8\" and import that file")
    for magic, what in BINARY_FILES.items():
        if content.startswith(magic):
            raise CsvUnreadable(f"this is {what}, not a CSV file")
    notes: list[str] = []
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:  # Excel's "Unicode text" export
            return content.decode("utf-16").lstrip("\ufeff"), "utf-16", notes
        except UnicodeDecodeError:
            raise CsvUnreadable("the file says it is UTF-16 text but is not") from None
    body = content[len(codecs.BOM_UTF8):] if content.startswith(codecs.BOM_UTF8) else content
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        line = body[:exc.start].count(b"\n") + 1
        try:
            text, encoding = body.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            raise CsvUnreadable(f"line {line}: this is not a text file (neither UTF-8 nor Windows-1252); "
                                "save it from your spreadsheet as \"CSV UTF-8\"", line) from None
        notes.append(f"The file is not UTF-8 (first at line {line}), so it was read as Windows-1252, "
                     "Excel's usual encoding: check accented letters in the preview. Saving as \"CSV UTF-8\" "
                     "avoids the guess.")
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise CsvUnreadable(f"line {line}: the file contains NUL bytes: it is not a text (CSV) file", line)
    return text.lstrip("\ufeff"), encoding, notes


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon (European Excel) or tab: whichever splits the header line into the most columns;
    a tie goes to the comma."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    best, best_count = ",", 1
    for delimiter in DELIMITERS:
        try:
            count = len(next(csv.reader([header], delimiter=delimiter), []))
        except csv.Error:
            continue
        if count > best_count:
            best, best_count = delimiter, count
    return best


def _unique_headers(cells: Sequence[str]) -> tuple[list[str], list[str]]:
    headers, notes, seen = [], [], set()
    for i, cell in enumerate(cells):
        name = cell.strip().lstrip("\ufeff").strip() or f"Column {i + 1}"
        base, n = name, 1
        while name.casefold() in seen:
            n += 1
            name = f"{base} ({n})"
        if n > 1:
            notes.append(f"Two columns are called {base!r}; the later one is shown as {name!r}.")
        seen.add(name.casefold())
        headers.append(name)
    return headers, notes


def read_table(content: bytes, *, max_rows: int = MAX_ROWS) -> Table:
    """Decodes and splits the file into a header and rows; raises CsvUnreadable with a message."""
    text, encoding, notes = decode(content)
    delimiter = sniff_delimiter(text)
    # newline="" lets the csv module see \r\n, \n and \r line ends and line breaks inside quoted values.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    headers: list[str] | None = None
    header_line = 1
    rows: list[Row] = []
    previous_end = 0
    try:
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank lines, and Excel's rows of nothing but delimiters
            if headers is None:
                headers, header_notes = _unique_headers(record)
                notes.extend(header_notes)
                header_line = start
                continue
            if len(rows) >= max_rows:
                raise CsvUnreadable(f"the file has more than {max_rows:,} rows; split it into files of at most "
                                    f"{max_rows:,} rows", start)
            rows.append(Row(start, tuple(record)))
    except csv.Error as exc:
        line = previous_end + 1
        what = ("a quoted value starts here and is never closed" if "end of data" in str(exc)
                else f"the quotes on this line cannot be read ({exc})")
        raise CsvUnreadable(f"line {line}: {what}; a value that holds a quote, a line break or the "
                            f"{DELIMITER_NAMES[delimiter]} must be in double quotes, with inner quotes doubled",
                            line) from None
    if headers is None:
        raise CsvUnreadable("the file is empty: it needs a header row naming the columns, then one row per item")
    return Table(headers=headers, rows=rows, encoding=encoding, delimiter=delimiter, header_line=header_line,
                 notes=notes)


# -- the column mapping -----------------------------------------------------------------------------------

def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.casefold())


def guess_mapping(headers: Sequence[str]) -> dict[str, str]:
    """our field -> the file's column, for the columns whose names look like ours."""
    by_key: dict[str, str] = {}
    for header in headers:
        by_key.setdefault(_key(header), header)
    used: set[str] = set()
    mapping: dict[str, str] = {}
    for name, candidates in SYNONYMS.items():
        for candidate in candidates:
            header = by_key.get(candidate)
            if header is not None and header not in used:
                mapping[name] = header
                used.add(header)
                break
    return {name: mapping[name] for name in FIELDS if name in mapping}


def check_mapping(mapping: Mapping[str, str | None], headers: Sequence[str]) -> dict[str, str]:
    """A clean mapping (blank entries dropped, columns matched without regard to case or spaces), or
    MappingError naming what is wrong."""
    exact = {h: h for h in headers}
    loose = {}
    for h in headers:
        loose.setdefault(_key(h), h)
    clean: dict[str, str] = {}
    for name, column in mapping.items():
        if name not in FIELDS:
            raise MappingError(f"there is no field {name!r}; the fields are: {', '.join(FIELDS)}")
        if column is None or not str(column).strip():
            continue
        column = str(column).strip()
        header = exact.get(column) or loose.get(_key(column))
        if header is None:
            raise MappingError(f"{name}: the file has no column {column!r} (its columns: "
                               f"{', '.join(repr(h) for h in headers)})")
        clean[name] = header
    missing = [name for name in REQUIRED if name not in clean]
    if missing:
        raise MappingError(f"no column for {', '.join(missing)} (required); the file's columns are: "
                           f"{', '.join(repr(h) for h in headers)}", missing)
    return {name: clean[name] for name in FIELDS if name in clean}


# -- checking rows ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowError:
    line: int
    field: str               # one of FIELDS, or "row" for the row as a whole
    reason: str
    external_ref: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "reason": self.reason, "external_ref": self.external_ref}


@dataclass
class PlannedRow:
    """One row as read with the mapping: what each field became, and what is wrong with it."""

    line: int
    cells: dict[str, str]                     # field -> the cell's text
    external_ref: str | None = None
    method: str | None = None
    method_source: str | None = None          # "file", "rule" (the shop's method rules) or "default"
    values: dict = field(default_factory=dict)  # field -> the parsed value
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class PlannedOrder:
    external_ref: str
    draft: OrderDraft
    lines: tuple[int, ...]

    @property
    def line(self) -> int:
        return self.lines[0]


@dataclass(frozen=True)
class RefusedOrder:
    external_ref: str
    lines: tuple[int, ...]       # every row of the order
    bad_lines: tuple[int, ...]   # the rows with something wrong


@dataclass
class ImportPlan:
    orders: list[PlannedOrder]
    refused: list[RefusedOrder]
    errors: list[RowError]       # by line
    rows: list[PlannedRow]
    skipped_rows: int = 0        # rows with nothing in the mapped columns

    @property
    def bad_lines(self) -> list[int]:
        return sorted({e.line for e in self.errors})

    @property
    def item_count(self) -> int:
        return sum(len(o.draft.items) for o in self.orders)


class _Bad(Exception):
    pass


def _got(value: str) -> str:
    value = value if len(value) <= 40 else value[:37] + "..."
    return f"(got {value!r})"


def _after_field_name(exc: InvalidInput) -> str:
    """The rule's sentence without the API's field name: "'due_date' 2020-01-01 is in the past" ->
    "2020-01-01 is in the past"."""
    message = exc.message
    if message.startswith("'") and "' " in message:
        return message.split("' ", 1)[1]
    return message


def _text(value: str, name: str) -> str | None:
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not value:
        return None
    limit = TEXT_LIMITS[name]
    if len(value) > limit:
        raise _Bad(f"is too long ({len(value)} characters; at most {limit})")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise _Bad("contains control characters")
    return value


def parse_ref(value: str) -> str:
    value = value.strip()
    if not value:
        raise _Bad("is required: the order ID that groups rows into one order")
    if not REF_RE.match(value):
        raise _Bad(f"must be 1 to 100 printable characters without spaces {_got(value)}")
    return value


def parse_quantity_text(value: str, *, max_quantity: int) -> int:
    value = value.strip()
    if not value:
        raise _Bad("is required: a whole number above 0")
    m = re.fullmatch(r"(\d{1,12})(?:\.0+)?|(\d{1,3}(?:,\d{3}){1,3})", value)
    if not m:
        raise _Bad(f"must be a whole number above 0 {_got(value)}")
    number = int((m.group(1) or m.group(2)).replace(",", ""))
    if number < 1:
        raise _Bad(f"must be a whole number above 0 {_got(value)}")
    try:
        return parse_quantity(number, where="quantity", max_quantity=max_quantity)
    except InvalidInput as exc:
        raise _Bad(_after_field_name(exc)) from None


def parse_date_text(value: str, *, today: dt.date) -> dt.date | None:
    """YYYY-MM-DD, or M/D/YYYY as US spreadsheets write it (6/1/2026 is the 1st of June)."""
    value = value.strip()
    if not value:
        return None
    iso = value
    us = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value)
    if us:
        iso = f"{us.group(3)}-{int(us.group(1)):02d}-{int(us.group(2)):02d}"
    elif not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise _Bad(f"must be a date written YYYY-MM-DD or M/D/YYYY {_got(value)}")
    try:
        return parse_due_date(iso, today)
    except InvalidInput as exc:
        reason = _after_field_name(exc)
        if "not a real date" in reason:
            reason = f"is not a real date {_got(value)}; write YYYY-MM-DD or M/D/YYYY"
        raise _Bad(reason) from None


def parse_rush(value: str) -> bool:
    word = value.strip().casefold()
    if word in YES:
        return True
    if word in NO:
        return False
    raise _Bad(f"must be yes or no (also true/false, 1/0, or blank for no) {_got(value)}")


def parse_method(value: str) -> str | None:
    word = re.sub(r"[\s\-_]", "", value.casefold())
    if not word:
        return None
    method = word if word in METHODS else METHOD_WORDS.get(word)
    if method is None:
        raise _Bad(f"must be one of {', '.join(METHODS)}, or blank to use the shop's method rules {_got(value)}")
    return method


def _parse_field(name: str, cell: str, *, today: dt.date, max_quantity: int):
    if name == "external_ref":
        return parse_ref(cell)
    if name == "quantity":
        return parse_quantity_text(cell, max_quantity=max_quantity)
    if name == "due_date":
        return parse_date_text(cell, today=today)
    if name == "rush":
        return parse_rush(cell) if cell.strip() else None
    if name == "method":
        return parse_method(cell)
    value = _text(cell, name)
    if name == "customer_email" and value and not EMAIL_RE.match(value):
        raise _Bad(f"is not an email address {_got(value)}")
    if name == "customer_phone" and value and not PHONE_RE.match(value):
        raise _Bad(f"is not a phone number {_got(value)}")
    if name == "ship_country" and value is not None:
        if not re.fullmatch(r"[A-Za-z]{2}", value):
            raise _Bad(f"must be a two-letter country code, like US {_got(value)}")
        value = value.upper()
    if name == "description" and value is None:
        raise _Bad("is required: what to print")
    return value


def _same(name: str, a, b) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        if name == "customer_phone":
            return re.sub(r"\D", "", a) == re.sub(r"\D", "", b)
        return " ".join(a.casefold().split()) == " ".join(b.casefold().split())
    return a == b


def _shown(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value)


def check_row(row: Row, columns: Mapping[str, int], width: int, *, today: dt.date, max_quantity: int,
              method_rules: Sequence[MethodRule], default_method: str) -> PlannedRow:
    cells = {name: (row.values[i] if i < len(row.values) else "") for name, i in columns.items()}
    planned = PlannedRow(line=row.line, cells=cells)
    extra = [v for v in row.values[width:] if v.strip()]
    if extra:
        planned.errors.append(RowError(row.line, "row", f"has {len(row.values)} values but the header has {width} "
                                       "columns: a value with the delimiter in it needs double quotes"))
    for name in FIELDS:
        if name not in columns:  # check_mapping makes sure the required ones are there
            continue
        try:
            planned.values[name] = _parse_field(name, cells[name], today=today, max_quantity=max_quantity)
        except _Bad as bad:
            planned.errors.append(RowError(row.line, name, str(bad)))
    ref = planned.values.get("external_ref")
    planned.external_ref = ref
    if not any(e.field == "method" for e in planned.errors):
        if planned.values.get("method"):
            planned.method, planned.method_source = planned.values["method"], "file"
        else:  # no method column, or blank: the shop's [[method_rules]], else [intake] default_method
            ruled = pick_method(method_rules, None, sku=planned.values.get("sku"),
                                title=planned.values.get("description"))
            planned.method = ruled or default_method
            planned.method_source = "rule" if ruled else "default"
    if ref is not None:
        planned.errors = [RowError(e.line, e.field, e.reason, ref) for e in planned.errors]
    return planned


# -- grouping rows into orders ------------------------------------------------------------------------------

def _draft_for(ref: str, rows: list[PlannedRow], *, today: dt.date, max_quantity: int, max_items: int
               ) -> tuple[OrderDraft | None, list[RowError]]:
    """The order made of these rows, or the errors that refuse it (conflicts, size, a missing name)."""
    errors: list[RowError] = []
    order: dict = {}
    first_line: dict[str, int] = {}
    for row in rows:
        bad_fields = {e.field for e in row.errors}
        for name in ORDER_LEVEL:
            value = row.values.get(name)
            if value is None or name in bad_fields:
                continue
            if name not in order:
                order[name], first_line[name] = value, row.line
            elif not _same(name, order[name], value):
                errors.append(RowError(row.line, name, f"differs from line {first_line[name]} of the same order "
                                       f"({_shown(order[name])} there, {_shown(value)} here)", ref))
    if order.get("customer_name") is None and not any(e.field == "customer_name" for r in rows for e in r.errors):
        errors.append(RowError(rows[0].line, "customer_name", "is required (on at least the order's first row)", ref))
    if len(rows) > max_items:
        errors.append(RowError(rows[max_items].line, "external_ref",
                               f"order {ref} has {len(rows)} rows; at most {max_items} items per order", ref))
    if errors or any(r.errors for r in rows):
        return None, errors
    notes: list[str] = []
    for row in rows:
        note = row.values.get("notes")
        if note and note not in notes:
            notes.append(note)
    data = {
        "customer": {"name": order["customer_name"], "email": order.get("customer_email"),
                     "phone": order.get("customer_phone")},
        "items": [{"description": r.values["description"], "method": r.method, "quantity": r.values["quantity"]}
                  for r in rows],
        "due_date": order["due_date"].isoformat() if order.get("due_date") else None,
        "rush": bool(order.get("rush")),
        "notes": "\n".join(notes) or None,
        "channel": "csv",
        "external_ref": ref,
        "ship_to": {"city": order.get("ship_city"), "region": order.get("ship_region"),
                    "country": order.get("ship_country")},
    }
    try:  # the API's own check, so a file can never make an order the API would refuse
        return validate_order(data, today=today, max_quantity=max_quantity, max_items=max_items,
                              default_channel="csv"), []
    except InvalidInput as exc:
        return None, [_located(exc, ref, rows)]


def _located(exc: InvalidInput, ref: str, rows: list[PlannedRow]) -> RowError:
    where = exc.field or ""
    m = re.match(r"items\[(\d+)\]\.?(\w*)", where)
    if m:
        return RowError(rows[int(m.group(1))].line, m.group(2) or "row", _after_field_name(exc), ref)
    name = {"customer.name": "customer_name", "customer.email": "customer_email", "customer.phone": "customer_phone",
            "ship_to.city": "ship_city", "ship_to.region": "ship_region", "ship_to.country": "ship_country"
            }.get(where, where or "row")
    return RowError(rows[0].line, name, _after_field_name(exc), ref)


def plan_import(table: Table, mapping: Mapping[str, str], *, today: dt.date, max_quantity: int = 100_000,
                max_items: int = 200, method_rules: Sequence[MethodRule] = (), default_method: str = "other"
                ) -> ImportPlan:
    """Checks every row and groups them into orders. `mapping` must have passed check_mapping."""
    columns = {name: table.headers.index(column) for name, column in mapping.items()}
    planned_rows: list[PlannedRow] = []
    groups: dict[str, list[PlannedRow]] = {}
    errors: list[RowError] = []
    skipped = 0
    for row in table.rows:
        if not any((row.values[i] if i < len(row.values) else "").strip() for i in columns.values()) \
                and not any(v.strip() for v in row.values[len(table.headers):]):
            skipped += 1  # a totals line or notes under the table: nothing in the mapped columns
            continue
        planned = check_row(row, columns, len(table.headers), today=today, max_quantity=max_quantity,
                            method_rules=method_rules, default_method=default_method)
        planned_rows.append(planned)
        errors.extend(planned.errors)
        if planned.external_ref is not None:
            groups.setdefault(planned.external_ref, []).append(planned)
    orders: list[PlannedOrder] = []
    refused: list[RefusedOrder] = []
    for ref, rows in groups.items():
        draft, order_errors = _draft_for(ref, rows, today=today, max_quantity=max_quantity, max_items=max_items)
        for e in order_errors:
            errors.append(e)
            next(r for r in rows if r.line == e.line).errors.append(e)
        lines = tuple(r.line for r in rows)
        if draft is None:
            refused.append(RefusedOrder(ref, lines, tuple(sorted({r.line for r in rows if r.errors}))))
        else:
            orders.append(PlannedOrder(ref, draft, lines))
    errors.sort(key=lambda e: (e.line, FIELDS.index(e.field) if e.field in FIELDS else -1))
    return ImportPlan(orders=orders, refused=refused, errors=errors, rows=planned_rows, skipped_rows=skipped)


# -- the template -----------------------------------------------------------------------------------------

def template_csv(today: dt.date) -> str:
    """The header row and one example order with two items (due in four weeks, so it always imports)."""
    due = (today + dt.timedelta(days=28)).isoformat()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    writer.writerow(["1001", "Rosa Diaz", "rosa@example.com", "+1 208 555 0100", "Team tee, front logo", "dtg",
                     "TEE-BLK-L", "12", due, "no", "Match Pantone 286C", "Boise", "ID", "US"])
    writer.writerow(["1001", "Rosa Diaz", "rosa@example.com", "+1 208 555 0100", "Cap, embroidered logo",
                     "embroidery", "CAP-NVY", "6", due, "no", "", "Boise", "ID", "US"])
    return out.getvalue()
