"""Label providers: buying postage (rates, purchase, refund, address checks). One module per provider,
all with the same small surface; the tracking half of the same providers is in ../carriers/.

Every module in PROVIDERS has:
    NAME
    verify_address(config, address) -> str | None        None when the provider accepts it, else its words
    quote(config, *, ship_from, ship_to, package, is_return, label_format, reference) -> Quote
    buy(config, quote, rate_id, *, label_format, key) -> Purchase      raises ProviderError
    find_purchase(config, quote_ref, rate_id, key) -> Purchase | None   after an answer that was lost
    refund(config, purchase_ref) -> Refund
and every call raises ProviderError (integrations/http.py) when the provider cannot be reached or refuses.

`config` is the provider's [providers.NAME] table as settings.py read it (a ProviderSettings). `address`
values are domain.postage.Address; the answers are the plain dataclasses in common.py, with our carrier
codes (ups, usps, fedex, dhl, other).
"""
from __future__ import annotations

from types import ModuleType

from . import easypost, shippo
from .common import Purchase, Quote, Refund, download_label

PROVIDERS: dict[str, ModuleType] = {"easypost": easypost, "shippo": shippo}

__all__ = ["PROVIDERS", "Purchase", "Quote", "Refund", "download_label"]
