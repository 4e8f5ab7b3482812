"""Shippo labels (https://docs.goshippo.com/docs/shipments/shipments, .../transactions).

Config ([providers.shippo]): api_key, base_url; optional timeout (seconds, for each call).

- Rates: POST /shipments with address_from, address_to, one parcel (inches and ounces), extra.is_return
  and async false; the answer carries `rates` (object_id, amount, provider, servicelevel, estimated_days)
  and `messages` for carriers that could not rate it.
- Buying: POST /transactions with the rate's object_id, label_file_type (ZPLII, PDF_4x6 or PNG),
  async false, and our purchase key as `metadata`. The transaction's status is SUCCESS (tracking_number,
  label_url), ERROR (messages say why) or QUEUED while Shippo is still at it. After an answer that was
  lost, GET /transactions?rate=... lists the transactions for that rate: one whose rate or metadata
  matches is the purchase, so it is never bought twice.
- Refunds: POST /refunds {"transaction": ..., "async": false}: QUEUED or PENDING (submitted), SUCCESS
  (refunded), ERROR (rejected).
- Addresses: POST /addresses with validate true: validation_results.is_valid and messages in words.
"""
from __future__ import annotations

from ...domain.postage import Address, Package, Rate
from ...settings import ProviderSettings
from ..carriers.common import base_url, items, obj, required, text, unexpected
from ..http import ProviderError, request
from .common import BUY_TIMEOUT, CALL_TIMEOUT, Purchase, Quote, Refund, joined, our_carrier, timeout

NAME = "shippo"
DEFAULT_BASE_URL = "https://api.goshippo.com"
LABEL_FILE_TYPES = {"zpl": "ZPLII", "pdf": "PDF_4x6", "png": "PNG"}
REFUND_STATUSES = {"QUEUED": "submitted", "PENDING": "submitted", "SUCCESS": "refunded", "ERROR": "rejected"}


def _auth(config: ProviderSettings) -> dict[str, str]:
    return {"Authorization": f"ShippoToken {required(config.api_key, 'api_key', NAME)}"}


def _url(config: ProviderSettings, path: str) -> str:
    return base_url(config, DEFAULT_BASE_URL) + path


def _messages(doc: dict) -> list[str]:
    out = []
    for m in items(doc.get("messages")):
        words = text(m.get("text"))
        if words:
            source = text(m.get("source"))
            out.append(f"{source}: {words}" if source and source not in ("Shippo", "Shippo Address Validator") else words)
    return out


def verify_address(config: ProviderSettings, address: Address) -> str | None:
    resp = request("POST", _url(config, "/addresses"), headers=_auth(config),
                   json={**address.as_dict(), "validate": True}, timeout=timeout(config, CALL_TIMEOUT))
    results = obj(obj(resp.json()).get("validation_results"))
    if not results or results.get("is_valid") is not False:
        return None
    return joined(_messages(results)) or "the carrier cannot deliver to this address"


def quote(config: ProviderSettings, *, ship_from: Address, ship_to: Address, package: Package, is_return: bool,
          label_format: str, reference: str) -> Quote:
    if not package.length_in:
        raise ProviderError("Shippo needs the package's size (length, width and height in inches) as well "
                            "as its weight: use a package preset or type the sides", retryable=False)
    parcel = {"length": f"{package.length_in:g}", "width": f"{package.width_in:g}",
              "height": f"{package.height_in:g}", "distance_unit": "in", "weight": f"{package.weight_oz:g}",
              "mass_unit": "oz"}
    body = {"address_from": ship_from.as_dict(), "address_to": ship_to.as_dict(), "parcels": [parcel],
            "extra": {"is_return": bool(is_return), "reference_1": reference}, "async": False}
    resp = request("POST", _url(config, "/shipments"), headers=_auth(config), json=body,
                   timeout=timeout(config, CALL_TIMEOUT))
    doc = obj(resp.json())
    ref = text(doc.get("object_id"))
    if ref is None:
        raise unexpected(NAME, "the shipment has no object_id", resp)
    if text(doc.get("status")) == "ERROR":
        raise ProviderError(f"{NAME}: {joined(_messages(doc)) or 'the shipment was refused'}", status=resp.status,
                            retryable=False, response=resp)
    rates = tuple(_rate(r) for r in items(doc.get("rates")) if text(r.get("object_id")))
    return Quote(ref=ref, rates=rates, messages=tuple(_messages(doc)))


def _rate(doc: dict) -> Rate:
    days = doc.get("estimated_days")
    level = obj(doc.get("servicelevel"))
    return Rate(rate_id=text(doc.get("object_id")), carrier=our_carrier(doc.get("provider")),
                carrier_name=text(doc.get("provider")) or "?", service=text(level.get("name")) or "",
                amount=text(doc.get("amount")) or "", currency=text(doc.get("currency")) or "USD",
                delivery_days=days if isinstance(days, int) and not isinstance(days, bool) else None)


def buy(config: ProviderSettings, quote_ref: str, rate_id: str, *, label_format: str, key: str) -> Purchase:
    body = {"rate": rate_id, "label_file_type": LABEL_FILE_TYPES.get(label_format, "ZPLII"), "async": False,
            "metadata": key[:100]}
    resp = request("POST", _url(config, "/transactions"), headers=_auth(config), json=body,
                   timeout=timeout(config, BUY_TIMEOUT))
    doc = obj(resp.json())
    status = text(doc.get("status"))
    if status == "ERROR":
        raise ProviderError(f"{NAME}: {joined(_messages(doc)) or 'the label was refused'}", status=resp.status,
                            retryable=False, response=resp)
    if status != "SUCCESS":
        raise ProviderError(f"{NAME}: the label is still being made ({status or 'no status'}); try again in a "
                            "moment", status=resp.status, retryable=True, response=resp)
    return _purchase(doc, rate_id, label_format, resp)


def find_purchase(config: ProviderSettings, quote_ref: str, rate_id: str, key: str) -> Purchase | None:
    resp = request("GET", _url(config, "/transactions"), headers=_auth(config),
                   params={"rate": rate_id, "results": 25}, timeout=timeout(config, CALL_TIMEOUT))
    for doc in items(obj(resp.json()).get("results")):
        rate = doc.get("rate")
        its_rate = text(rate.get("object_id")) if isinstance(rate, dict) else text(rate)
        if its_rate != rate_id and text(doc.get("metadata")) != key[:100]:
            continue
        if text(doc.get("status")) == "SUCCESS":
            fmt = {"ZPLII": "zpl", "PNG": "png"}.get(text(doc.get("label_file_type")) or "", "pdf")
            return _purchase(doc, rate_id, fmt, resp)
    return None


def _purchase(doc: dict, rate_id: str, label_format: str, resp) -> Purchase:
    number = text(doc.get("tracking_number"))
    ref = text(doc.get("object_id"))
    if number is None or ref is None:
        raise unexpected(NAME, "the label has no tracking_number or object_id", resp)
    rate = obj(doc.get("rate"))
    return Purchase(ref=ref, rate_id=rate_id, tracking_number=number, carrier=our_carrier(rate.get("provider")),
                    service=text(rate.get("servicelevel_name")), amount=text(rate.get("amount")),
                    currency=text(rate.get("currency")), label_url=text(doc.get("label_url")),
                    label_format=label_format, tracker_ref=number,
                    public_url=text(doc.get("tracking_url_provider")), raw=doc)


def refund(config: ProviderSettings, purchase_ref: str) -> Refund:
    resp = request("POST", _url(config, "/refunds"), headers=_auth(config),
                   json={"transaction": purchase_ref, "async": False}, timeout=timeout(config, CALL_TIMEOUT))
    doc = obj(resp.json())
    status = REFUND_STATUSES.get(text(doc.get("status")) or "QUEUED", "submitted")
    return Refund(status=status, message=joined(_messages(doc)) or None)
