"""What the label-provider modules share: their answers, and fetching a bought label's file."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...domain.postage import Rate, label_format_of
from ...settings import ProviderSettings
from ..carriers.common import carrier_code, text
from ..http import ProviderError, request

# A purchase can take a provider several seconds (it asks the carrier); quotes a little less.
BUY_TIMEOUT = 30.0
CALL_TIMEOUT = 20.0
MAX_LABEL_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Quote:
    ref: str                       # the provider's shipment id (EasyPost shp_..., Shippo object_id)
    rates: tuple[Rate, ...]
    messages: tuple[str, ...] = ()  # carriers that could not rate it, in the provider's words


@dataclass(frozen=True)
class Purchase:
    ref: str                       # what a refund names (EasyPost: the shipment id; Shippo: the transaction id)
    rate_id: str
    tracking_number: str
    carrier: str
    service: str | None
    amount: str | None
    currency: str | None
    label_url: str | None
    label_format: str | None       # zpl, pdf or png: what label_url serves
    tracker_ref: str | None = None  # the provider's tracker for the number, when the purchase made one
    public_url: str | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Refund:
    status: str                    # submitted, refunded or rejected (our words for every provider)
    message: str | None = None


def our_carrier(name: Any) -> str:
    return carrier_code(name) or "other"


def timeout(config: ProviderSettings, default: float) -> float:
    return float(config.timeout) if config.timeout else default


def download_label(url: str, *, timeout_s: float = CALL_TIMEOUT) -> tuple[bytes, str]:
    """The label file at the URL a provider answered (a storage link that needs no API key, so none is
    sent). Returns (bytes, format); ProviderError when it cannot be had or is not a label."""
    if not text(url) or not url.lower().startswith(("https://", "http://")):
        raise ProviderError("the provider gave no link to the label file", retryable=False)
    resp = request("GET", url, headers={"Accept": "*/*"}, timeout=timeout_s)
    data = resp.body
    if len(data) > MAX_LABEL_BYTES:
        raise ProviderError("the label file is larger than 2 MB", retryable=False)
    fmt = label_format_of(data)
    if fmt is None:
        raise ProviderError("the label link did not serve a ZPL, PDF or PNG file", retryable=True)
    return data, fmt


def joined(messages: list[str]) -> str:
    return "; ".join(m for m in messages if m)[:300]
