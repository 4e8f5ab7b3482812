"""The postage rules alone: packages, addresses, and which rate the shop's rule picks."""
from __future__ import annotations

import pytest

from tracker.domain.postage import (Address, Package, PostageRefused, Rate, address_missing, choose_rate,
                                    label_format_for, package_from, parse_rule)

PRESETS = {"Mailer": Package(10, 12, 10, 1, name="Mailer")}


def rate(rid, amount, days, carrier="usps"):
    return Rate(rid, carrier, carrier.upper(), "Svc", amount, "USD", days)


RATES = [rate("a", "5.10", 5), rate("b", "8.45", 2), rate("c", "9.80", 4, "ups"), rate("d", "31.20", 1, "ups")]


@pytest.mark.parametrize("rule,expected", [("cheapest", "a"), ("fastest", "d"), ("cheapest_within_days:2", "b"),
                                           ("cheapest_within_days:4", "b"), ("cheapest_within_days:9", "a")])
def test_rules_pick(rule, expected):
    assert choose_rate(RATES, parse_rule(rule)).rate_id == expected


def test_within_days_with_none_that_fast_takes_the_fastest_and_unknown_days_never_win_on_speed():
    assert choose_rate([rate("x", "3", None), rate("y", "9", 3)], parse_rule("cheapest_within_days:1")).rate_id == "y"
    assert choose_rate([rate("x", "3", None), rate("y", "9", 3)], parse_rule("fastest")).rate_id == "y"


def test_ties_go_to_the_faster_then_the_providers_order_and_unpriced_rates_never_win():
    assert choose_rate([rate("x", "5", 4), rate("y", "5.00", 2)], parse_rule("cheapest")).rate_id == "y"
    assert choose_rate([rate("x", "", 1), rate("y", "7", 3)], parse_rule("cheapest")).rate_id == "y"
    with pytest.raises(PostageRefused):
        choose_rate([rate("x", "n/a", 1)], parse_rule("cheapest"))


@pytest.mark.parametrize("text", ["cheap", "cheapest_within_days:", "cheapest_within_days:0", "fastest ", ""])
def test_bad_rules_are_refused(text):
    if text == "fastest ":
        assert parse_rule(text).kind == "fastest"
        return
    with pytest.raises(ValueError):
        parse_rule(text)


def test_packages_from_presets_typed_values_and_overrides():
    assert package_from({"package": "Mailer"}, PRESETS) == PRESETS["Mailer"]
    heavier = package_from({"package": "Mailer", "weight_oz": "14,5"}, PRESETS)
    assert heavier.weight_oz == 14.5 and heavier.length_in == 12 and heavier.name is None
    assert package_from({"weight_oz": 8}, PRESETS) == Package(8.0)
    assert package_from({}, PRESETS, default=PRESETS["Mailer"]).name == "Mailer"


@pytest.mark.parametrize("data,field", [({}, "weight_oz"), ({"package": "Crate"}, "package"),
                                        ({"weight_oz": True}, "weight_oz"), ({"weight_oz": float("nan")}, "weight_oz"),
                                        ({"weight_oz": 0}, "weight_oz"), ({"weight_oz": 3000}, "weight_oz"),
                                        ({"weight_oz": 5, "length_in": 1, "width_in": 1}, "height_in"),
                                        ({"weight_oz": 5, "length_in": 200, "width_in": 1, "height_in": 1}, "length_in")])
def test_bad_packages_say_which_field(data, field):
    with pytest.raises(PostageRefused) as exc:
        package_from(data, PRESETS)
    assert exc.value.field == field


def test_an_address_says_what_it_is_missing():
    full = Address(name="Rosa", street1="12 Elm St", city="Denver", state="CO", zip="80202", country="US")
    assert address_missing(full, who="A1001") is None
    assert address_missing(Address(name="Rosa", city="Denver", country="US"), who="A1001") == \
        "A1001 is missing the street, the postal code and the state"
    # outside the US and Canada a state is not needed
    assert address_missing(Address(name="Ana", street1="Rua 1", city="Porto", zip="4000", country="PT"), who="x") is None


def test_label_formats_follow_the_printer():
    assert [label_format_for(t) for t in ("zpl", "pdf", "escpos", None)] == ["zpl", "pdf", "png", "zpl"]
