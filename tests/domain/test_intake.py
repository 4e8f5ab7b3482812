"""validate_order: what a new order must look like. Every bad input names its field."""
from __future__ import annotations

import copy
import datetime as dt

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from tracker.domain.intake import (
    CHANNELS, METHODS, InvalidInput, ItemDraft, OrderDraft, parse_due_date, parse_quantity, validate_order,
)

TODAY = dt.date(2026, 1, 15)
DELETE = object()


def good_order() -> dict:
    return {
        "customer": {"name": "Rosa Diaz", "email": "rosa@example.com", "phone": "+1 (208) 555-0100"},
        "items": [{"description": "Team tee", "method": "dtg", "quantity": 12},
                  {"description": "Cap", "method": "embroidery", "quantity": 6}],
        "due_date": "2026-02-10",
    }


def with_(path: str, value, base: dict | None = None) -> dict:
    """A copy of the good order with one value set (or removed with DELETE); path like items.0.quantity."""
    data = copy.deepcopy(base if base is not None else good_order())
    *parents, last = path.split(".")
    obj = data
    for p in parents:
        obj = obj[int(p)] if isinstance(obj, list) else obj[p]
    if isinstance(obj, list):
        obj[int(last)] = value
    elif value is DELETE:
        del obj[last]
    else:
        obj[last] = value
    return data


def invalid(data, **kwargs) -> InvalidInput:
    kwargs.setdefault("today", TODAY)
    with pytest.raises(InvalidInput) as info:
        validate_order(data, **kwargs)
    assert isinstance(info.value, ValueError)
    assert str(info.value) == info.value.message
    return info.value


# -- good orders ---------------------------------------------------------------------------------

def test_good_order_becomes_a_clean_draft():
    draft = validate_order(good_order(), today=TODAY)
    assert draft == OrderDraft(
        customer_name="Rosa Diaz", customer_email="rosa@example.com", customer_phone="+1 (208) 555-0100",
        items=(ItemDraft("Team tee", "dtg", 12), ItemDraft("Cap", "embroidery", 6)),
        due_date=dt.date(2026, 2, 10), rush=False, notes=None, channel="api", external_ref=None,
    )


def test_minimal_order_and_default_channel():
    data = {"customer": {"name": "Rosa"}, "items": [{"description": "Tee", "method": "other", "quantity": 1}]}
    draft = validate_order(data, today=TODAY)
    assert (draft.customer_email, draft.customer_phone, draft.due_date, draft.channel) == (None, None, None, "api")
    assert validate_order(data, today=TODAY, default_channel="manual").channel == "manual"


def test_full_order_is_cleaned():
    data = good_order()
    data.update({
        "customer": {"name": "  Rosa Diaz ", "email": " rosa@example.com ", "phone": None},
        "items": [{"description": " Tee ", "method": " DTF ", "quantity": 3}],
        "channel": "shopify", "external_ref": " #1001 ", "rush": True, "notes": "  Fold\r\nin tissue  ",
        "ship_to": {"city": "Boise", "region": "ID", "country": "us"}, "due_date": " 2026-02-10 ",
    })
    draft = validate_order(data, today=TODAY)
    assert draft.customer_name == "Rosa Diaz" and draft.customer_email == "rosa@example.com"
    assert draft.customer_phone is None
    assert draft.items == (ItemDraft("Tee", "dtf", 3),)
    assert (draft.channel, draft.external_ref, draft.rush) == ("shopify", "#1001", True)
    assert draft.notes == "Fold\nin tissue"  # a browser's CRLF is a line break, not a control character
    assert (draft.ship_city, draft.ship_region, draft.ship_country) == ("Boise", "ID", "US")
    assert draft.due_date == dt.date(2026, 2, 10)


@pytest.mark.parametrize("method", METHODS)
def test_every_method(method):
    assert validate_order(with_("items.0.method", method.upper()), today=TODAY).items[0].method == method


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_channel(channel):
    assert validate_order(with_("channel", channel), today=TODAY).channel == channel


@pytest.mark.parametrize("path,value,attr,expected", [
    ("customer.email", "", "customer_email", None),
    ("customer.email", None, "customer_email", None),
    ("customer.phone", "  ", "customer_phone", None),
    ("due_date", "", "due_date", None),
    ("due_date", None, "due_date", None),
    ("due_date", TODAY.isoformat(), "due_date", TODAY),
    ("due_date", (TODAY + dt.timedelta(days=3 * 365)).isoformat(), "due_date", TODAY + dt.timedelta(days=1095)),
    ("channel", None, "channel", "api"),
    ("rush", None, "rush", False),
    ("external_ref", 12345, "external_ref", "12345"),
    ("external_ref", "x" * 100, "external_ref", "x" * 100),
    ("external_ref", None, "external_ref", None),
    ("ship_to", None, "ship_city", None),
    ("ship_to", {}, "ship_country", None),
    ("notes", "", "notes", None),
    ("notes", "Line one\n\tindented", "notes", "Line one\n\tindented"),
    ("items.0.quantity", 100_000, "items", (ItemDraft("Team tee", "dtg", 100_000), ItemDraft("Cap", "embroidery", 6))),
    # A whole number written as a float (2.0 from some JSON encoders) is the same quantity.
    ("items.0.quantity", 3.0, "items", (ItemDraft("Team tee", "dtg", 3), ItemDraft("Cap", "embroidery", 6))),
    ("customer.name", "N" * 200, "customer_name", "N" * 200),
])
def test_accepted_edge_values(path, value, attr, expected):
    assert getattr(validate_order(with_(path, value), today=TODAY), attr) == expected


def test_leap_day_is_a_real_date():
    assert validate_order(with_("due_date", "2028-02-29"), today=TODAY).due_date == dt.date(2028, 2, 29)


def test_item_limits_are_the_callers():
    items = [{"description": f"Tee {i}", "method": "dtg", "quantity": 1} for i in range(200)]
    assert len(validate_order(with_("items", items), today=TODAY).items) == 200
    assert validate_order(with_("items.0.quantity", 50), today=TODAY, max_quantity=50).items[0].quantity == 50


# -- bad orders ---------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [None, [], [good_order()], "order", 5, True])
def test_body_must_be_an_object(body):
    exc = invalid(body)
    assert exc.message == "the body must be a JSON object"
    assert exc.field is None


P = pytest.param
BAD = [
    # unknown fields, at every level
    P(with_("colour", "red"), "colour", "unknown field 'colour'", id="extra-top"),
    P(with_("customer.age", 40), "customer.age", "unknown field 'customer.age'", id="extra-customer"),
    P(with_("items.0.colour", "red"), "items[0].colour", "unknown field 'items[0].colour'", id="extra-item"),
    P(with_("items.1.size", "XL"), "items[1].size", "unknown field 'items[1].size'", id="extra-item-1"),
    P(with_("ship_to", {"zip": "83702"}), "ship_to.zip", "unknown field 'ship_to.zip'", id="extra-ship-to"),
    # customer
    P(with_("customer", DELETE), "customer", "'customer' is required", id="no-customer"),
    P(with_("customer", None), "customer", "'customer' is required", id="null-customer"),
    P(with_("customer", "Rosa"), "customer", "'customer' must be an object", id="customer-text"),
    P(with_("customer", ["Rosa"]), "customer", "'customer' must be an object", id="customer-list"),
    P(with_("customer.name", DELETE), "customer.name", "'customer.name' is required", id="no-name"),
    P(with_("customer.name", ""), "customer.name", "'customer.name' must not be empty", id="empty-name"),
    P(with_("customer.name", "  \n "), "customer.name", "must not be empty", id="blank-name"),
    P(with_("customer.name", 42), "customer.name", "'customer.name' must be text, got int", id="name-int"),
    P(with_("customer.name", {"first": "Rosa"}), "customer.name", "must be text, got dict", id="name-dict"),
    P(with_("customer.name", "N" * 201), "customer.name", "too long (201 characters; at most 200)", id="long-name"),
    P(with_("customer.name", "Ro\x00sa"), "customer.name", "contains control characters", id="nul-in-name"),
    P(with_("customer.name", "Ro\x1bsa"), "customer.name", "contains control characters", id="esc-in-name"),
    P(with_("customer.email", "rosa"), "customer.email", "is not an email address", id="email-no-at"),
    P(with_("customer.email", "rosa@example"), "customer.email", "is not an email address", id="email-no-tld"),
    P(with_("customer.email", "ro sa@example.com"), "customer.email", "is not an email address", id="email-space"),
    P(with_("customer.email", "a@b@example.com"), "customer.email", "is not an email address", id="email-two-at"),
    P(with_("customer.email", "@example.com"), "customer.email", "is not an email address", id="email-no-local"),
    P(with_("customer.email", 7), "customer.email", "must be text", id="email-int"),
    P(with_("customer.email", "a@" + "b" * 250 + ".com"), "customer.email", "too long", id="email-long"),
    P(with_("customer.phone", "call me"), "customer.phone", "is not a phone number", id="phone-words"),
    P(with_("customer.phone", "12"), "customer.phone", "is not a phone number", id="phone-short"),
    P(with_("customer.phone", "1" * 41), "customer.phone", "too long", id="phone-long"),
    P(with_("customer.phone", 2085550100), "customer.phone", "must be text, got int", id="phone-int"),
    # items
    P(with_("items", DELETE), "items", "'items' is required", id="no-items"),
    P(with_("items", []), "items", "'items' must be a list of at least one item", id="empty-items"),
    P(with_("items", {"description": "Tee"}), "items", "must be a list of at least one item", id="items-dict"),
    P(with_("items", "tee"), "items", "must be a list of at least one item", id="items-text"),
    P(with_("items", [{"description": "T", "method": "dtg", "quantity": 1}] * 201), "items",
      "'items' has 201 items; at most 200 per order", id="too-many-items"),
    P(with_("items.0", "Tee"), "items[0]", "'items[0]' must be an object", id="item-text"),
    P(with_("items.1", None), "items[1]", "'items[1]' must be an object", id="item-null"),
    P(with_("items.0.description", DELETE), "items[0].description", "'items[0].description' is required",
      id="no-description"),
    P(with_("items.1.description", " "), "items[1].description", "must not be empty", id="blank-description"),
    P(with_("items.0.description", 5), "items[0].description", "must be text", id="description-int"),
    P(with_("items.0.method", DELETE), "items[0].method", "'items[0].method' is required (one of dtg, dtf",
      id="no-method"),
    P(with_("items.0.method", "laser"), "items[0].method", "'items[0].method' 'laser' is not a decoration method",
      id="unknown-method"),
    P(with_("items.1.method", ""), "items[1].method", "is not a decoration method", id="empty-method"),
    P(with_("items.0.method", 3), "items[0].method", "3 is not a decoration method", id="method-int"),
    P(with_("items.0.method", ["dtg"]), "items[0].method", "is not a decoration method", id="method-list"),
    # quantity
    P(with_("items.0.quantity", DELETE), "items[0].quantity", "'items[0].quantity' is required", id="no-qty"),
    P(with_("items.0.quantity", None), "items[0].quantity", "must be a whole number", id="null-qty"),
    P(with_("items.0.quantity", 0), "items[0].quantity", "must be at least 1, got 0", id="zero-qty"),
    P(with_("items.1.quantity", -3), "items[1].quantity", "must be at least 1, got -3", id="negative-qty"),
    P(with_("items.0.quantity", -2.0), "items[0].quantity", "must be at least 1, got -2", id="negative-float"),
    P(with_("items.0.quantity", 100_001), "items[0].quantity",
      "100001 is more than this shop takes in one item (100000)", id="huge-qty"),
    P(with_("items.0.quantity", 10 ** 30), "items[0].quantity", "is more than this shop takes", id="giant-qty"),
    P(with_("items.0.quantity", 1e300), "items[0].quantity", "is more than this shop takes", id="giant-float"),
    P(with_("items.0.quantity", 2.5), "items[0].quantity", "'items[0].quantity' must be a whole number",
      id="fractional-qty"),
    P(with_("items.0.quantity", float("nan")), "items[0].quantity", "must be a whole number", id="nan-qty"),
    P(with_("items.0.quantity", float("inf")), "items[0].quantity", "must be a whole number", id="inf-qty"),
    P(with_("items.0.quantity", True), "items[0].quantity", "must be a whole number", id="true-qty"),
    P(with_("items.0.quantity", False), "items[0].quantity", "must be a whole number", id="false-qty"),
    P(with_("items.0.quantity", "12"), "items[0].quantity", "must be a whole number, not text", id="text-qty"),
    P(with_("items.0.quantity", " 12 "), "items[0].quantity", "not text", id="padded-text-qty"),
    P(with_("items.0.quantity", "twelve"), "items[0].quantity", "must be a whole number", id="word-qty"),
    P(with_("items.0.quantity", [12]), "items[0].quantity", "must be a whole number", id="list-qty"),
    # due date
    P(with_("due_date", "2026-02-30"), "due_date", "'due_date' '2026-02-30' is not a real date (write YYYY-MM-DD)",
      id="feb-30"),
    P(with_("due_date", "2027-02-29"), "due_date", "is not a real date", id="not-leap"),
    P(with_("due_date", "2026-13-01"), "due_date", "is not a real date", id="month-13"),
    P(with_("due_date", "2026-00-10"), "due_date", "is not a real date", id="month-0"),
    P(with_("due_date", "2026-2-1"), "due_date", "is not a real date", id="short-parts"),
    P(with_("due_date", "02/10/2026"), "due_date", "is not a real date", id="us-format"),
    P(with_("due_date", "20260210"), "due_date", "is not a real date", id="compact"),
    P(with_("due_date", "2026-02-10T12:00"), "due_date", "is not a real date", id="datetime"),
    P(with_("due_date", "tomorrow"), "due_date", "is not a real date", id="words"),
    P(with_("due_date", "２０２６-０２-１０"), "due_date", "is not a real date", id="fullwidth"),
    P(with_("due_date", 20260210), "due_date", "'due_date' must be a date written YYYY-MM-DD", id="date-int"),
    P(with_("due_date", ["2026-02-10"]), "due_date", "must be a date written YYYY-MM-DD", id="date-list"),
    P(with_("due_date", "2026-01-14"), "due_date", "'due_date' 2026-01-14 is in the past", id="yesterday"),
    P(with_("due_date", "1999-12-31"), "due_date", "is in the past", id="long-ago"),
    P(with_("due_date", (TODAY + dt.timedelta(days=3 * 365 + 1)).isoformat()), "due_date",
      "is more than three years ahead", id="too-far"),
    P(with_("due_date", "9999-12-31"), "due_date", "is more than three years ahead", id="year-9999"),
    # channel and external_ref
    P(with_("channel", "ebay"), "channel", "'channel' 'ebay' is not one of manual, shopify, etsy, amazon, csv, api",
      id="unknown-channel"),
    P(with_("channel", "Shopify"), "channel", "is not one of", id="channel-case"),
    P(with_("channel", ""), "channel", "is not one of", id="empty-channel"),
    P(with_("channel", 1), "channel", "is not one of", id="channel-int"),
    P(with_("external_ref", "has space"), "external_ref",
      "'external_ref' must be 1 to 100 printable characters without spaces", id="ref-space"),
    P(with_("external_ref", ""), "external_ref", "must be 1 to 100", id="ref-empty"),
    P(with_("external_ref", "x" * 101), "external_ref", "must be 1 to 100", id="ref-long"),
    P(with_("external_ref", "réf-1"), "external_ref", "must be 1 to 100", id="ref-non-ascii"),
    P(with_("external_ref", "a\tb"), "external_ref", "must be 1 to 100", id="ref-tab"),
    P(with_("external_ref", True), "external_ref", "must be 1 to 100", id="ref-bool"),
    P(with_("external_ref", 1.5), "external_ref", "must be 1 to 100", id="ref-float"),
    P(with_("external_ref", ["1001"]), "external_ref", "must be 1 to 100", id="ref-list"),
    # rush, notes, ship_to
    P(with_("rush", "yes"), "rush", "'rush' must be true or false", id="rush-text"),
    P(with_("rush", 1), "rush", "'rush' must be true or false", id="rush-int"),
    P(with_("notes", 5), "notes", "'notes' must be text, got int", id="notes-int"),
    P(with_("notes", "n" * 2001), "notes", "'notes' is too long (2001 characters; at most 2000)", id="notes-long"),
    P(with_("notes", "bell\x07"), "notes", "'notes' contains control characters", id="notes-control"),
    P(with_("ship_to", "Boise, ID"), "ship_to", "'ship_to' must be an object", id="ship-to-text"),
    P(with_("ship_to", ""), "ship_to", "'ship_to' must be an object", id="ship-to-empty-text"),
    P(with_("ship_to", []), "ship_to", "'ship_to' must be an object", id="ship-to-empty-list"),
    P(with_("ship_to", False), "ship_to", "'ship_to' must be an object", id="ship-to-false"),
    P(with_("ship_to", {"country": "USA"}), "ship_to.country", "too long (3 characters; at most 2)",
      id="country-3"),
    P(with_("ship_to", {"country": "U1"}), "ship_to.country", "'ship_to.country' must be a two-letter country code",
      id="country-digit"),
    P(with_("ship_to", {"city": 5}), "ship_to.city", "'ship_to.city' must be text", id="city-int"),
]


@pytest.mark.parametrize("data,field,phrase", BAD)
def test_bad_input_names_its_field(data, field, phrase):
    exc = invalid(data)
    assert exc.field == field
    assert phrase in exc.message


def test_the_first_bad_item_is_named():
    data = good_order()
    data["items"].append({"description": "Mug", "method": "sublimation", "quantity": 1})
    exc = invalid(data)
    assert exc.field == "items[2].method"


def test_limits_from_settings():
    exc = invalid(with_("items.0.quantity", 51), max_quantity=50)
    assert (exc.field, exc.message) == ("items[0].quantity",
                                        "'items[0].quantity' 51 is more than this shop takes in one item (50)")
    exc = invalid(good_order(), max_items=1)
    assert (exc.field, exc.message) == ("items", "'items' has 2 items; at most 1 per order")


def test_dates_are_checked_against_the_given_today():
    assert validate_order(with_("due_date", "2026-01-14"), today=dt.date(2026, 1, 14)).due_date == dt.date(2026, 1, 14)
    invalid(with_("due_date", "2026-01-14"), today=dt.date(2026, 1, 15))


@pytest.mark.parametrize("value,expected", [(1, 1), (7, 7), (4.0, 4)])
def test_parse_quantity_accepts_whole_numbers(value, expected):
    assert parse_quantity(value, where="q", max_quantity=10) == expected


def test_parse_due_date_custom_field_name():
    with pytest.raises(InvalidInput) as info:
        parse_due_date("2026-02-31", TODAY, field_name="ship_by")
    assert info.value.field == "ship_by" and "'ship_by'" in info.value.message


# -- properties ---------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
_PATHS = ["customer", "customer.name", "customer.email", "customer.phone", "items", "items.0", "items.0.description",
          "items.0.method", "items.0.quantity", "due_date", "channel", "external_ref", "rush", "notes", "ship_to"]


@hsettings(max_examples=400, deadline=None)
@given(path=st.sampled_from(_PATHS), value=_json)
def test_any_json_in_any_field_is_a_draft_or_invalid_input(path, value):
    try:
        draft = validate_order(with_(path, value), today=TODAY)
    except InvalidInput as exc:
        assert exc.message
        assert exc.field is None or exc.field.split(".")[0].split("[")[0] == path.split(".")[0]
    else:
        assert isinstance(draft, OrderDraft) and draft.items


@hsettings(max_examples=200, deadline=None)
@given(_json)
def test_any_json_body_is_a_draft_or_invalid_input(body):
    try:
        validate_order(body, today=TODAY)
    except InvalidInput:
        pass
