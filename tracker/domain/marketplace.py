"""Shared rules for orders that arrive from marketplaces and files: which decoration method an item
gets. Pure: no Flask, no database.

A shop lists rules in config.toml ([[method_rules]]); the first rule that matches an item wins, else the
default method ([intake] default_method). A rule matches on any of: the SKU (a pattern with * and ?),
the product type, a tag (the item's or the order's), or words in the title; every condition it names
must hold."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class MethodRule:
    method: str
    sku: str | None = None           # a pattern: "*-DTG-*", "CAP-EMB-?"
    product_type: str | None = None  # equal, ignoring case
    tag: str | None = None           # one of the item's or order's tags, ignoring case
    title: str | None = None         # words found in the title, ignoring case

    def matches(self, *, sku: str | None, product_type: str | None, tags: Iterable[str], title: str | None) -> bool:
        if self.sku is not None and not (sku and fnmatch.fnmatchcase(sku.upper(), self.sku.upper())):
            return False
        if self.product_type is not None and (product_type or "").strip().casefold() != self.product_type.casefold():
            return False
        if self.tag is not None and self.tag.casefold() not in {t.strip().casefold() for t in tags}:
            return False
        if self.title is not None and self.title.casefold() not in (title or "").casefold():
            return False
        return True


def pick_method(rules: Sequence[MethodRule], default: str, *, sku: str | None = None,
                product_type: str | None = None, tags: Iterable[str] = (), title: str | None = None) -> str:
    """The decoration method for one item: the first matching rule's, else `default`."""
    tags = list(tags)
    for rule in rules:
        if rule.matches(sku=sku, product_type=product_type, tags=tags, title=title):
            return rule.method
    return default


def split_tags(value) -> list[str]:
    """Shopify sends tags as one comma-separated string; others as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    return [str(t).strip() for t in value if str(t).strip()]
