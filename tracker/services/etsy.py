"""Etsy: paid receipts polled in, tracking sent back through the outbox (being built: issue 8)."""
from __future__ import annotations
