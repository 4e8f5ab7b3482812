"""Which decoration method a marketplace or CSV item gets: the first matching rule, else the default."""
from __future__ import annotations

import pytest

from tracker.domain.marketplace import MethodRule, pick_method, split_tags

RULES = [MethodRule("embroidery", sku="*-EMB-*"), MethodRule("screen", tag="screen"),
         MethodRule("dtf", product_type="Transfer"), MethodRule("dtg", title="front print"),
         MethodRule("other", sku="GIFT-?", title="card")]


@pytest.mark.parametrize("item,method", [
    ({"sku": "CAP-EMB-NVY"}, "embroidery"),
    ({"sku": "cap-emb-nvy"}, "embroidery"),                       # SKUs compare without case
    ({"sku": "TEE-DTG-BLK", "tags": ["Rush", " Screen "]}, "screen"),
    ({"product_type": "transfer"}, "dtf"),
    ({"title": "Team tee - Front Print"}, "dtg"),
    ({"sku": "GIFT-1", "title": "Gift card"}, "other"),            # every condition of a rule must hold
    ({"sku": "GIFT-12", "title": "Gift card"}, "dtf"),             # ? is one character: falls through
    ({"sku": None, "title": None}, "dtf"),
    ({"sku": "CAP-EMB-NVY", "tags": ["screen"]}, "embroidery"),    # the first matching rule wins
])
def test_first_matching_rule_else_default(item, method):
    assert pick_method(RULES, "dtf", **item) == method


def test_tags_from_a_string_or_a_list():
    assert split_tags("rush, screen ,, due:2026-03-06") == ["rush", "screen", "due:2026-03-06"]
    assert split_tags(["a", " ", "b"]) == ["a", "b"] and split_tags(None) == []
