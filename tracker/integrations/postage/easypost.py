"""EasyPost labels (https://docs.easypost.com/docs/shipments).

Config ([providers.easypost]): api_key, base_url; optional timeout (seconds, for each call).

- Rates: POST /v2/shipments with to_address, from_address, parcel (ounces and inches), is_return and
  options.label_format; the Shipment answered carries `rates` and, for carriers that could not rate it,
  `messages`.
- Buying: POST /v2/shipments/{id}/buy with {"rate": {"id": ...}}. A shipment is bought at most once:
  EasyPost refuses a second buy (SHIPMENT.POSTAGE.EXISTS), so the shipment id, stored before the call, is
  the purchase's idempotency key. After an answer that was lost, GET /v2/shipments/{id} tells whether it
  was bought. The bought Shipment has tracking_code, selected_rate, postage_label (label_url, and
  label_zpl_url / label_pdf_url for the format asked) and a tracker, so webhooks flow without registering.
- Refunds: POST /v2/shipments/{id}/refund; refund_status is submitted, refunded, rejected or
  not_applicable (carriers that bill on scan).
- Addresses: POST /v2/addresses with verify: the address's verifications.delivery says whether the
  carrier can deliver there, with errors in words.
"""
from __future__ import annotations

import urllib.parse
from typing import Any

from ...domain.postage import Address, Package, Rate
from ...settings import ProviderSettings
from ..carriers.common import base_url, items, obj, required, text, unexpected
from ..http import ProviderError, basic_auth, request
from .common import BUY_TIMEOUT, CALL_TIMEOUT, Purchase, Quote, Refund, joined, our_carrier, timeout

NAME = "easypost"
DEFAULT_BASE_URL = "https://api.easypost.com"
LABEL_FORMATS = {"zpl": "ZPL", "pdf": "PDF", "png": "PNG"}
FILE_TYPES = {"application/zpl": "zpl", "application/pdf": "pdf", "image/png": "png"}
REFUND_STATUSES = {"submitted": "submitted", "refunded": "refunded", "rejected": "rejected",
                   "not_applicable": "rejected"}


def _auth(config: ProviderSettings) -> dict[str, str]:
    return {"Authorization": basic_auth(required(config.api_key, "api_key", NAME), "")}


def _url(config: ProviderSettings, path: str) -> str:
    return base_url(config, DEFAULT_BASE_URL) + path


def _address(address: Address) -> dict:
    return address.as_dict()


def verify_address(config: ProviderSettings, address: Address) -> str | None:
    resp = request("POST", _url(config, "/v2/addresses"), headers=_auth(config),
                   json={"address": _address(address), "verify": True}, timeout=timeout(config, CALL_TIMEOUT))
    doc = obj(resp.json())
    delivery = obj(obj(doc.get("verifications")).get("delivery"))
    if not delivery or delivery.get("success") is not False:
        return None
    words = [text(e.get("message")) for e in items(delivery.get("errors"))]
    return joined([w for w in words if w]) or "the carrier cannot deliver to this address"


def quote(config: ProviderSettings, *, ship_from: Address, ship_to: Address, package: Package, is_return: bool,
          label_format: str, reference: str) -> Quote:
    parcel: dict[str, Any] = {"weight": package.weight_oz}
    if package.length_in:
        parcel.update(length=package.length_in, width=package.width_in, height=package.height_in)
    body = {"shipment": {"to_address": _address(ship_to), "from_address": _address(ship_from), "parcel": parcel,
                         "is_return": bool(is_return), "reference": reference,
                         "options": {"label_format": LABEL_FORMATS.get(label_format, "ZPL"), "label_size": "4x6"}}}
    resp = request("POST", _url(config, "/v2/shipments"), headers=_auth(config), json=body,
                   timeout=timeout(config, CALL_TIMEOUT))
    doc = obj(resp.json())
    ref = text(doc.get("id"))
    if ref is None:
        raise unexpected(NAME, "the shipment has no id", resp)
    rates = tuple(_rate(r) for r in items(doc.get("rates")) if text(r.get("id")))
    messages = tuple(m for m in (_message(m) for m in items(doc.get("messages"))) if m)
    return Quote(ref=ref, rates=rates, messages=messages)


def _rate(doc: dict) -> Rate:
    days = doc.get("delivery_days") if doc.get("delivery_days") is not None else doc.get("est_delivery_days")
    return Rate(rate_id=text(doc.get("id")), carrier=our_carrier(doc.get("carrier")),
                carrier_name=text(doc.get("carrier")) or "?", service=text(doc.get("service")) or "",
                amount=text(doc.get("rate")) or "", currency=text(doc.get("currency")) or "USD",
                delivery_days=days if isinstance(days, int) and not isinstance(days, bool) else None)


def _message(doc: dict) -> str | None:
    words = text(doc.get("message"))
    return f"{text(doc.get('carrier')) or 'a carrier'}: {words}" if words else None


def buy(config: ProviderSettings, quote_ref: str, rate_id: str, *, label_format: str, key: str) -> Purchase:
    path = f"/v2/shipments/{urllib.parse.quote(quote_ref, safe='')}/buy"
    try:
        resp = request("POST", _url(config, path), headers=_auth(config), json={"rate": {"id": rate_id}},
                       timeout=timeout(config, BUY_TIMEOUT))
    except ProviderError as exc:
        if _error_code(exc) == "SHIPMENT.POSTAGE.EXISTS":
            # Bought already (an earlier try whose answer was lost): that purchase is the answer.
            found = find_purchase(config, quote_ref, rate_id, key)
            if found is not None:
                return found
        raise
    return _purchase(obj(resp.json()), label_format, resp)


def _error_code(exc: ProviderError) -> str | None:
    """EasyPost's error code ({"error": {"code": ...}}) in a refused call's answer."""
    try:
        doc = exc.response.json() if exc.response is not None else None
    except ValueError:
        return None
    return text(obj(obj(doc).get("error")).get("code"))


def find_purchase(config: ProviderSettings, quote_ref: str, rate_id: str, key: str) -> Purchase | None:
    resp = request("GET", _url(config, f"/v2/shipments/{urllib.parse.quote(quote_ref, safe='')}"),
                   headers=_auth(config), timeout=timeout(config, CALL_TIMEOUT))
    doc = obj(resp.json())
    if not text(doc.get("tracking_code")) or not doc.get("postage_label"):
        return None
    wanted = text(obj(doc.get("options")).get("label_format"))
    return _purchase(doc, {"ZPL": "zpl", "PDF": "pdf"}.get((wanted or "").upper(), "png"), resp)


def _purchase(doc: dict, label_format: str, resp) -> Purchase:
    number = text(doc.get("tracking_code"))
    if number is None:
        raise unexpected(NAME, "the bought shipment has no tracking_code", resp)
    label = obj(doc.get("postage_label"))
    rate = obj(doc.get("selected_rate"))
    url_key = {"zpl": "label_zpl_url", "pdf": "label_pdf_url"}.get(label_format)
    url, fmt = (text(label.get(url_key)), label_format) if url_key and text(label.get(url_key)) else (None, None)
    if url is None:
        url = text(label.get("label_url"))
        fmt = FILE_TYPES.get(text(label.get("label_file_type")) or "", "png") if url else None
    tracker = obj(doc.get("tracker"))
    return Purchase(ref=text(doc.get("id")) or "", rate_id=text(rate.get("id")) or "", tracking_number=number,
                    carrier=our_carrier(rate.get("carrier")), service=text(rate.get("service")),
                    amount=text(rate.get("rate")), currency=text(rate.get("currency")), label_url=url,
                    label_format=fmt, tracker_ref=text(tracker.get("id")), public_url=text(tracker.get("public_url")),
                    raw=doc)


def refund(config: ProviderSettings, purchase_ref: str) -> Refund:
    path = f"/v2/shipments/{urllib.parse.quote(purchase_ref, safe='')}/refund"
    resp = request("POST", _url(config, path), headers=_auth(config), json={}, timeout=timeout(config, CALL_TIMEOUT))
    doc = obj(resp.json())
    raw = text(doc.get("refund_status")) or "submitted"
    message = None
    if raw == "not_applicable":
        message = "the carrier bills this label only when it is scanned, so there is nothing to refund"
    return Refund(status=REFUND_STATUSES.get(raw, "submitted"), message=message)
