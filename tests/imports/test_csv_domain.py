"""CSV import rules without Flask or a database: reading the bytes, guessing the column mapping, every
reason a row is refused (with the line it starts on), and grouping rows into orders."""
from __future__ import annotations

import codecs
import datetime as dt

import pytest

from tracker.domain.csv_import import (FIELDS, REQUIRED, CsvUnreadable, MappingError, check_mapping, guess_mapping,
                                       plan_import, read_table, template_csv)
from tracker.domain.intake import ItemDraft, validate_order
from tracker.domain.marketplace import MethodRule

TODAY = dt.date(2026, 1, 15)
HEADER = "Order ID,Customer,Email,Product,Method,Qty,Due Date,Rush"
RULES = (MethodRule("dtg", sku="TEE-DTG-*"), MethodRule("embroidery", title="hoodie"))


def plan(text: str | bytes, mapping: dict | None = None, **kwargs):
    table = read_table(text.encode("utf-8") if isinstance(text, str) else text)
    mapping = check_mapping(mapping if mapping is not None else guess_mapping(table.headers), table.headers)
    kwargs.setdefault("today", TODAY)
    return plan_import(table, mapping, **kwargs)


def errors(text: str, **kwargs) -> list[str]:
    return [str(e) for e in plan(text, **kwargs).errors]


def csv_of(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


GOOD = "1001,Rosa Diaz,rosa@example.com,Team tee,dtg,12,2026-02-10,no"


# -- the column mapping guess --------------------------------------------------------------------------

def test_guess_mapping_matches_common_names_ignoring_case_and_spaces():
    headers = ["  order NUMBER ", "Name", "E-mail", "Phone Number", "Item", "Qty", "Due", "RUSH", "Comments",
               "City", "State", "Country", "SKU", "Decoration"]
    assert guess_mapping(headers) == {
        "external_ref": "  order NUMBER ", "customer_name": "Name", "customer_email": "E-mail",
        "customer_phone": "Phone Number", "description": "Item", "method": "Decoration", "sku": "SKU",
        "quantity": "Qty", "due_date": "Due", "rush": "RUSH", "notes": "Comments", "ship_city": "City",
        "ship_region": "State", "ship_country": "Country"}


@pytest.mark.parametrize("headers,field,column", [
    (["Order ID", "Customer Name", "Product", "Quantity"], "external_ref", "Order ID"),
    (["Order", "Buyer", "Product Name", "Pcs"], "quantity", "Pcs"),
    (["PO Number", "Client", "Description", "qty"], "external_ref", "PO Number"),
    (["Order ID", "Name", "Product", "Qty", "Due Date"], "due_date", "Due Date"),
    (["Order ID", "Name", "Title", "Qty", "In-hands date"], "due_date", "In-hands date"),
])
def test_guess_mapping_other_spellings(headers, field, column):
    assert guess_mapping(headers)[field] == column


def test_guess_mapping_uses_each_column_once_and_reads_a_shopify_export():
    # Shopify: "Name" is the order's name (#1001); the customer is the billing name.
    headers = ["Name", "Email", "Lineitem quantity", "Lineitem name", "Lineitem sku", "Billing Name",
               "Shipping City", "Shipping Province", "Shipping Country", "Notes", "Id"]
    mapping = guess_mapping(headers)
    assert mapping["external_ref"] == "Name"
    assert mapping["customer_name"] == "Billing Name"
    assert mapping["description"] == "Lineitem name" and mapping["sku"] == "Lineitem sku"
    assert mapping["quantity"] == "Lineitem quantity"
    assert (mapping["ship_city"], mapping["ship_region"], mapping["ship_country"]) == \
        ("Shipping City", "Shipping Province", "Shipping Country")
    assert len(set(mapping.values())) == len(mapping)


def test_our_own_field_names_map_to_themselves():
    assert guess_mapping(list(FIELDS)) == {name: name for name in FIELDS}


def test_unrecognised_headers_are_left_unmapped():
    assert guess_mapping(["Colour", "Size", "Price"]) == {}


def test_check_mapping_names_the_missing_required_fields():
    with pytest.raises(MappingError) as info:
        check_mapping({"external_ref": "Order ID", "customer_name": "Customer"}, ["Order ID", "Customer", "Thing"])
    assert info.value.missing == ("description", "quantity")
    assert "description, quantity" in info.value.message and "'Thing'" in info.value.message


def test_check_mapping_refuses_an_unknown_column_or_field_and_matches_loosely():
    headers = ["Order ID", "Customer", "Product", "Qty"]
    with pytest.raises(MappingError, match="no column 'Amount'"):
        check_mapping({"external_ref": "Order ID", "customer_name": "Customer", "description": "Product",
                       "quantity": "Amount"}, headers)
    with pytest.raises(MappingError, match="no field 'colour'"):
        check_mapping({"colour": "Product"}, headers)
    clean = check_mapping({"external_ref": "order id", "customer_name": "CUSTOMER", "description": "Product",
                           "quantity": " qty ", "notes": "", "sku": None}, headers)
    assert clean == {"external_ref": "Order ID", "customer_name": "Customer", "description": "Product",
                     "quantity": "Qty"}


def test_required_fields_are_the_four():
    assert REQUIRED == ("external_ref", "customer_name", "description", "quantity")


# -- reading the bytes ------------------------------------------------------------------------------------

def test_utf8_with_a_bom_reads_the_first_header_cleanly():
    table = read_table(codecs.BOM_UTF8 + csv_of(GOOD).encode("utf-8"))
    assert table.headers[0] == "Order ID" and table.encoding == "utf-8" and not table.notes
    assert guess_mapping(table.headers)["external_ref"] == "Order ID"


def test_utf8_accents_survive():
    table = read_table(csv_of("1001,José Núñez,,Camiseta,dtg,3,,").encode("utf-8"))
    assert table.rows[0].values[1] == "José Núñez"


def test_windows_1252_falls_back_with_a_note():
    table = read_table(csv_of("1001,Jos\xe9 N\xfa\xf1ez,,Caf\xe9 tee \u20ac5,dtg,3,,").encode("cp1252"))
    assert table.encoding == "cp1252"
    assert table.rows[0].values[1] == "José Núñez" and "€" in table.rows[0].values[3]
    assert "Windows-1252" in table.notes[0] and "line 2" in table.notes[0]


def test_utf16_tab_separated_as_excel_saves_unicode_text():
    text = "Order ID\tCustomer\tProduct\tQty\r\n1001\tZoë\tTee\t4\r\n"
    table = read_table(text.encode("utf-16"))
    assert table.delimiter == "\t" and table.rows[0].values == ("1001", "Zoë", "Tee", "4")


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolons_and_tabs_are_sniffed(delimiter):
    text = delimiter.join(["Order ID", "Customer", "Product", "Qty"]) + "\n" + \
        delimiter.join(["1001", "Diaz, Rosa", "Tee, front logo", "12"]) + "\n"
    result = plan(text)
    assert not result.errors
    order = result.orders[0]
    assert order.draft.customer_name == "Diaz, Rosa" and order.draft.items[0].description == "Tee, front logo"


def test_a_quoted_header_with_a_comma_still_sniffs_semicolons():
    table = read_table(b'"Name, full";Order ID;Product;Qty\nRosa;1;Tee;2\n')
    assert table.delimiter == ";" and table.headers[0] == "Name, full"


@pytest.mark.parametrize("content,words", [
    (b"", "empty"),
    (b"\n\n  \n", "empty"),
    (b"PK\x03\x04\x14\x00\x06\x00binary", "Excel"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", "Excel"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "PNG picture"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
    (b"Order ID,Name\n\x81\x8d\x8f\x90\x9d\n", "not a text file"),
    (b"Order ID,Name\n1,\x00\x00\n", "NUL"),
])
def test_unreadable_files_say_why(content, words):
    with pytest.raises(CsvUnreadable) as info:
        read_table(content)
    assert words in info.value.message


def test_an_unclosed_quote_names_the_line_where_it_opens():
    text = csv_of(GOOD, '1002,Kevin Wu,,"Hoodie, 2-colour,hoodie,3,,', "1003,Lee,,Cap,dtg,1,,")
    with pytest.raises(CsvUnreadable) as info:
        read_table(text.encode())
    assert info.value.line == 3
    assert info.value.message.startswith("line 3: a quoted value starts here and is never closed")


def test_too_many_rows_is_refused_with_the_limit():
    text = csv_of(*[f"{i},Rosa,,Tee,dtg,1,," for i in range(6)])
    assert len(read_table(text.encode(), max_rows=6).rows) == 6
    with pytest.raises(CsvUnreadable, match="more than 5 rows"):
        read_table(text.encode(), max_rows=5)


def test_duplicate_and_blank_headers_get_names_of_their_own():
    table = read_table(b"Name,Qty,Name,,Product\n")
    assert table.headers == ["Name", "Qty", "Name (2)", "Column 4", "Product"]
    assert "Name (2)" in table.notes[0]


# -- line numbers --------------------------------------------------------------------------------------------

def test_line_numbers_count_the_header_blank_lines_and_multi_line_values():
    text = (HEADER + "\r\n"
            '1001,Rosa Diaz,,"Team tee\r\nfront: logo\r\nback: names",dtg,12,,\r\n'  # lines 2-4
            "\r\n"                                                                     # line 5: blank
            "1002,Kevin Wu,,Cap,dtg,ten,,\r\n"                                         # line 6
            '1003,Lee Park,,"Tote\nbag",dtg,0,,\r\n'                                   # lines 7-8
            "1004,Ana Ruiz,,Mug,dtg,2,,\r\n")                                          # line 9
    result = plan(text)
    assert [r.line for r in result.rows] == [2, 6, 7, 9]
    assert [str(e) for e in result.errors] == [
        "line 6: quantity: must be a whole number above 0 (got 'ten')",
        "line 7: quantity: must be a whole number above 0 (got '0')",
    ]
    first = result.orders[0].draft.items[0]
    assert first.description == "Team tee\nfront: logo\nback: names"
    assert [o.external_ref for o in result.orders] == ["1001", "1004"]
    assert result.orders[1].lines == (9,)


def test_a_header_below_blank_lines_and_mac_line_ends():
    text = "\r\rOrder ID,Customer,Product,Qty\r1001,Rosa,Tee,x\r"
    table = read_table(text.encode())
    assert table.header_line == 3
    assert [str(e) for e in plan(text).errors] == ["line 4: quantity: must be a whole number above 0 (got 'x')"]


# -- every reason a row is refused --------------------------------------------------------------------------

LONG = "x" * 201


@pytest.mark.parametrize("row,expected", [
    (",Rosa Diaz,,Team tee,dtg,12,,",
     "line 2: external_ref: is required: the order ID that groups rows into one order"),
    ("10 01,Rosa Diaz,,Team tee,dtg,12,,",
     "line 2: external_ref: must be 1 to 100 printable characters without spaces (got '10 01')"),
    ("1001,,,Team tee,dtg,12,,", "line 2: customer_name: is required (on at least the order's first row)"),
    (f"1001,{LONG},,Team tee,dtg,12,,", "line 2: customer_name: is too long (201 characters; at most 200)"),
    ("1001,Rosa Diaz,rosa@,Team tee,dtg,12,,", "line 2: customer_email: is not an email address (got 'rosa@')"),
    ("1001,Rosa Diaz,,,dtg,12,,", "line 2: description: is required: what to print"),
    (f"1001,Rosa Diaz,,{LONG},dtg,12,,", "line 2: description: is too long (201 characters; at most 200)"),
    ("1001,Rosa Diaz,,Team tee,silk,12,,",
     "line 2: method: must be one of dtg, dtf, screen, embroidery, other, or blank to use the shop's method "
     "rules (got 'silk')"),
    ("1001,Rosa Diaz,,Team tee,dtg,,,", "line 2: quantity: is required: a whole number above 0"),
    ("1001,Rosa Diaz,,Team tee,dtg,ten,,", "line 2: quantity: must be a whole number above 0 (got 'ten')"),
    ("1001,Rosa Diaz,,Team tee,dtg,0,,", "line 2: quantity: must be a whole number above 0 (got '0')"),
    ("1001,Rosa Diaz,,Team tee,dtg,-3,,", "line 2: quantity: must be a whole number above 0 (got '-3')"),
    ("1001,Rosa Diaz,,Team tee,dtg,2.5,,", "line 2: quantity: must be a whole number above 0 (got '2.5')"),
    ("1001,Rosa Diaz,,Team tee,dtg,100001,,",
     "line 2: quantity: 100001 is more than this shop takes in one item (100000)"),
    ("1001,Rosa Diaz,,Team tee,dtg,12,next week,",
     "line 2: due_date: must be a date written YYYY-MM-DD or M/D/YYYY (got 'next week')"),
    ("1001,Rosa Diaz,,Team tee,dtg,12,15/02/2026,",
     "line 2: due_date: is not a real date (got '15/02/2026'); write YYYY-MM-DD or M/D/YYYY"),
    ("1001,Rosa Diaz,,Team tee,dtg,12,2026-02-30,",
     "line 2: due_date: is not a real date (got '2026-02-30'); write YYYY-MM-DD or M/D/YYYY"),
    ("1001,Rosa Diaz,,Team tee,dtg,12,2026-01-14,", "line 2: due_date: 2026-01-14 is in the past"),
    ("1001,Rosa Diaz,,Team tee,dtg,12,1/1/2030,", "line 2: due_date: 2030-01-01 is more than three years ahead"),
    ("1001,Rosa Diaz,,Team tee,dtg,12,,maybe",
     "line 2: rush: must be yes or no (also true/false, 1/0, or blank for no) (got 'maybe')"),
    ("1001,Rosa Diaz,,Team tee,dtg,12,,,surplus",
     "line 2: row: has 9 values but the header has 8 columns: a value with the delimiter in it needs double quotes"),
])
def test_every_bad_field_has_its_reason(row, expected):
    result = plan(csv_of(row))
    assert [str(e) for e in result.errors] == [expected]
    assert not result.orders and result.bad_lines == [2]


@pytest.mark.parametrize("header,row,expected", [
    ("Order ID,Customer,Phone,Product,Qty", "1001,Rosa,call me,Tee,1",
     "line 2: customer_phone: is not a phone number (got 'call me')"),
    ("Order ID,Customer,Product,Qty,Country", "1001,Rosa,Tee,1,United States",
     "line 2: ship_country: must be a two-letter country code, like US (got 'United States')"),
    ("Order ID,Customer,Product,Qty,City", f"1001,Rosa,Tee,1,{'c' * 101}",
     "line 2: ship_city: is too long (101 characters; at most 100)"),
    ("Order ID,Customer,Product,Qty,Notes", f"1001,Rosa,Tee,1,{'n' * 2001}",
     "line 2: notes: is too long (2001 characters; at most 2000)"),
])
def test_the_optional_fields_are_checked_too(header, row, expected):
    assert errors(csv_of(row, header=header)) == [expected]


def test_a_row_can_have_several_bad_fields_and_all_are_reported():
    assert errors(csv_of("1001,Rosa Diaz,nope,Team tee,silk,ten,yesterday,")) == [
        "line 2: customer_email: is not an email address (got 'nope')",
        "line 2: method: must be one of dtg, dtf, screen, embroidery, other, or blank to use the shop's "
        "method rules (got 'silk')",
        "line 2: quantity: must be a whole number above 0 (got 'ten')",
        "line 2: due_date: must be a date written YYYY-MM-DD or M/D/YYYY (got 'yesterday')",
    ]


def test_what_is_accepted_besides_the_plain_forms():
    text = csv_of("1001,Rosa Diaz,ROSA@Example.com,Tee,Screen print,\"1,000\",2/10/2026,TRUE",
                  "1001,,,Cap,EMBROIDERED,6.0,,", "1001,,,Mug,Direct-to-garment,3,,",
                  header="Order ID,Customer,Email,Product,Method,Qty,Due Date,Rush")
    result = plan(text)
    assert not result.errors
    draft = result.orders[0].draft
    assert [(i.method, i.quantity) for i in draft.items] == [("screen", 1000), ("embroidery", 6), ("dtg", 3)]
    assert draft.due_date == dt.date(2026, 2, 10) and draft.rush is True


@pytest.mark.parametrize("word,rush", [("yes", True), ("Y", True), ("1", True), ("true", True),
                                       ("no", False), ("N", False), ("0", False), ("FALSE", False), ("", False)])
def test_rush_words(word, rush):
    result = plan(csv_of(f"1001,Rosa,,Tee,dtg,1,,{word}"))
    assert result.orders[0].draft.rush is rush


def test_country_is_upper_cased_and_shipping_kept():
    result = plan(csv_of("1001,Rosa,Tee,1,Boise,ID,us", header="Order ID,Customer,Product,Qty,City,State,Country"))
    draft = result.orders[0].draft
    assert (draft.ship_city, draft.ship_region, draft.ship_country) == ("Boise", "ID", "US")


def test_limits_come_from_the_caller():
    assert errors(csv_of("1001,Rosa,,Tee,dtg,51,,"), max_quantity=50) == \
        ["line 2: quantity: 51 is more than this shop takes in one item (50)"]
    text = csv_of(*[f"1001,Rosa,,Tee {i},dtg,1,," for i in range(4)], "1002,Kevin,,Cap,dtg,1,,")
    result = plan(text, max_items=3)
    assert [str(e) for e in result.errors] == ["line 5: external_ref: order 1001 has 4 rows; at most 3 items per order"]
    assert [o.external_ref for o in result.orders] == ["1002"]


# -- grouping rows into orders ------------------------------------------------------------------------------

def test_rows_with_the_same_id_are_one_order_in_file_order():
    text = csv_of("1001,Rosa Diaz,rosa@example.com,Team tee,dtg,12,2026-02-10,yes",
                  "1002,Kevin Wu,,Cap,embroidery,6,,",
                  "1001,,,Tote bag,screen,30,,",
                  "1001,Rosa Diaz,,Hoodie,dtf,2,,")
    result = plan(text)
    assert not result.errors
    assert [(o.external_ref, o.lines) for o in result.orders] == [("1001", (2, 4, 5)), ("1002", (3,))]
    rosa = result.orders[0].draft
    assert rosa.items == (ItemDraft("Team tee", "dtg", 12), ItemDraft("Tote bag", "screen", 30),
                          ItemDraft("Hoodie", "dtf", 2))
    # Blank order fields on later rows mean "the same as before".
    assert (rosa.customer_name, rosa.customer_email, rosa.due_date, rosa.rush) == \
        ("Rosa Diaz", "rosa@example.com", dt.date(2026, 2, 10), True)
    assert rosa.channel == "csv" and rosa.external_ref == "1001"
    assert result.item_count == 4


def test_a_planned_order_is_exactly_what_the_api_would_make():
    result = plan(csv_of("A-77,Rosa Diaz,rosa@example.com,Team tee,dtg,12,2026-02-10,no"))
    api = validate_order({"customer": {"name": "Rosa Diaz", "email": "rosa@example.com"},
                          "items": [{"description": "Team tee", "method": "dtg", "quantity": 12}],
                          "due_date": "2026-02-10", "channel": "csv", "external_ref": "A-77"}, today=TODAY)
    assert result.orders[0].draft == api


def test_notes_of_several_rows_are_kept_once_each():
    text = csv_of("1001,Rosa,Tee,1,Pantone 286C", "1001,,Cap,1,Pantone 286C", "1001,,Mug,1,Gift wrap",
                  header="Order ID,Customer,Product,Qty,Notes")
    assert plan(text).orders[0].draft.notes == "Pantone 286C\nGift wrap"


@pytest.mark.parametrize("second,field,reason", [
    ("1001,Kevin Wu,,Cap,dtg,6,,", "customer_name",
     "differs from line 2 of the same order ('Rosa Diaz' there, 'Kevin Wu' here)"),
    ("1001,,,Cap,dtg,6,2026-03-01,", "due_date",
     "differs from line 2 of the same order (2026-02-10 there, 2026-03-01 here)"),
    ("1001,,other@example.com,Cap,dtg,6,,", "customer_email",
     "differs from line 2 of the same order ('rosa@example.com' there, 'other@example.com' here)"),
    ("1001,,,Cap,dtg,6,,yes", "rush", "differs from line 2 of the same order (no there, yes here)"),
])
def test_conflicting_rows_are_an_error_on_the_later_row(second, field, reason):
    text = csv_of("1001,Rosa Diaz,rosa@example.com,Team tee,dtg,12,2026-02-10,no",
                  "1002,Kevin Wu,,Mug,dtg,1,,",
                  second)
    result = plan(text)
    assert [(e.line, e.field, e.reason, e.external_ref) for e in result.errors] == [(4, field, reason, "1001")]
    assert [o.external_ref for o in result.orders] == ["1002"]
    assert [(r.external_ref, r.lines, r.bad_lines) for r in result.refused] == [("1001", (2, 4), (4,))]


def test_the_same_values_written_differently_do_not_conflict():
    text = csv_of("1001,Rosa Diaz,Rosa@Example.com,Tee,+1 (208) 555-0100,2/10/2026",
                  "1001,rosa  diaz,rosa@example.com,Cap,1 208 555 0100,2026-02-10",
                  header="Order ID,Customer,Email,Product,Phone,Due Date").replace("Product,", "Product,Qty,")
    text = text.replace("Tee,", "Tee,1,").replace("Cap,", "Cap,2,")
    result = plan(text)
    assert not result.errors and len(result.orders[0].draft.items) == 2


def test_an_order_with_one_bad_row_is_refused_whole_and_the_others_go_ahead():
    text = csv_of("1001,Rosa Diaz,,Team tee,dtg,12,,",
                  "1001,,,Cap,dtg,ten,,",
                  "1001,,,Tote,dtg,3,,",
                  "1002,Kevin Wu,,Mug,dtg,1,,",
                  ",Nobody,,Pen,dtg,1,,")
    result = plan(text)
    assert [str(e) for e in result.errors] == [
        "line 3: quantity: must be a whole number above 0 (got 'ten')",
        "line 6: external_ref: is required: the order ID that groups rows into one order",
    ]
    assert [(r.external_ref, r.lines, r.bad_lines) for r in result.refused] == [("1001", (2, 3, 4), (3,))]
    assert [o.external_ref for o in result.orders] == ["1002"]
    assert result.bad_lines == [3, 6]


def test_rows_with_nothing_in_the_mapped_columns_are_skipped():
    text = csv_of("1001,Rosa,Tee,1,", ",,,,", ",,,,Total: 1", header="Order ID,Customer,Product,Qty,Price")
    result = plan(text, mapping={"external_ref": "Order ID", "customer_name": "Customer", "description": "Product",
                                 "quantity": "Qty"})
    assert not result.errors and len(result.orders) == 1 and result.skipped_rows == 1


# -- methods from the shop's rules ---------------------------------------------------------------------------

def test_method_from_the_rules_when_the_column_is_absent_or_blank():
    text = csv_of("1001,Rosa,Team tee,TEE-DTG-BLK,4,", "1001,,Zip hoodie,HD-1,2,", "1001,,Tote,TOTE-1,1,",
                  "1001,,Cap,CAP-1,1,screen", header="Order ID,Customer,Product,SKU,Qty,Method")
    result = plan(text, method_rules=RULES, default_method="other")
    assert [(i.description, i.method) for i in result.orders[0].draft.items] == [
        ("Team tee", "dtg"), ("Zip hoodie", "embroidery"), ("Tote", "other"), ("Cap", "screen")]
    assert [r.method_source for r in result.rows] == ["rule", "rule", "default", "file"]
    no_column = csv_of("1001,Rosa,Team tee,TEE-DTG-BLK,4", header="Order ID,Customer,Product,SKU,Qty")
    assert plan(no_column, method_rules=RULES, default_method="screen").orders[0].draft.items[0].method == "dtg"
    assert plan(no_column, default_method="screen").orders[0].draft.items[0].method == "screen"


# -- the template ---------------------------------------------------------------------------------------------

def test_the_template_imports_as_one_order_with_two_items():
    text = template_csv(TODAY)
    table = read_table(text.encode())
    assert table.headers == list(FIELDS)
    result = plan(text)
    assert not result.errors and len(result.orders) == 1
    draft = result.orders[0].draft
    assert [i.method for i in draft.items] == ["dtg", "embroidery"]
    assert draft.due_date == TODAY + dt.timedelta(days=28) and draft.ship_country == "US"
