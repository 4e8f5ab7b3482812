"""Tracking providers: one module per provider, all with the same small surface.

Every module in PROVIDERS has:
    NAME, RATE_LIMIT_PER_MINUTE (for the poller), WEBHOOKS (True when it pushes to us)
    verify(headers, body, query, config) -> bool      constant time; False for a missing secret or header
    fetch(config, tracking_number, carrier) -> TrackingUpdate        polling; raises ProviderError
    register(config, tracking_number, carrier) -> str | None         what makes webhooks flow, else None
and, when WEBHOOKS is True:
    parse_webhook(body) -> TrackingUpdate     ValueError for a malformed body; UnsupportedEvent (a
                                              ValueError) for a valid delivery about something else

`config` is the provider's [providers.NAME] table as settings.py read it (a ProviderSettings). The answers
are plain dataclasses: the provider's own status words stay as they are (code / sub_code);
domain/carrier_status.py decides what they mean.
"""
from __future__ import annotations

from types import ModuleType

from ..http import ProviderError
from . import aftership, easypost, fedex, shippo, ups, usps
from .common import CarrierEvent, TrackingUpdate, UnsupportedEvent

PROVIDERS: dict[str, ModuleType] = {
    "easypost": easypost,
    "shippo": shippo,
    "aftership": aftership,
    "ups": ups,
    "fedex": fedex,
    "usps": usps,
}

__all__ = ["PROVIDERS", "CarrierEvent", "TrackingUpdate", "UnsupportedEvent", "ProviderError"]
