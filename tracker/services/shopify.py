"""Shopify: orders in by webhook, fulfillments out through the outbox (being built: issue 8)."""
from __future__ import annotations
