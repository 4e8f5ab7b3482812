"""Carriers from the shape of a tracking number, and the barcode text a shipping label carries. Pure."""
from __future__ import annotations

import re

CARRIERS = ("ups", "usps", "fedex", "dhl", "other")
CARRIER_NAMES = {"ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHL", "other": "Other"}
TRACKING_URLS = {
    "ups": "https://www.ups.com/track?tracknum={n}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={n}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={n}",
    "dhl": "https://www.dhl.com/en/express/tracking.html?AWB={n}",
}

UPS_RE = re.compile(r"^1Z[0-9A-Z]{16}$")
USPS_RE = re.compile(r"^(9[2-5]\d{18,24}|[A-Z]{2}\d{9}US)$")
FEDEX_RE = re.compile(r"^(\d{12}|\d{15}|\d{20}|\d{22})$")
# A USPS IMpb label barcode reads as "420" + destination ZIP (5 or 9 digits) + the tracking number.
USPS_IMPB_RE = re.compile(r"^420(\d{5}|\d{9})(9[2-5]\d{18,24})$")
# GS1-128 FedEx labels carry a 34-digit barcode whose last 12 digits are the tracking number.
FEDEX_34_RE = re.compile(r"^\d{22}(\d{12})$")


def normalise_tracking(text: str) -> str:
    return re.sub(r"[\s-]+", "", (text or "")).upper()


def label_tracking_number(scanned: str) -> str:
    """The tracking number inside what a scanner read off a shipping label."""
    n = normalise_tracking(scanned)
    if n.startswith("\x1d"):
        n = n[1:]
    m = USPS_IMPB_RE.match(n)
    if m:
        return m.group(2)
    if len(n) == 34:
        m = FEDEX_34_RE.match(n)
        if m:
            return m.group(1)
    return n


def detect_carrier(number: str) -> str | None:
    """ups, usps or fedex from the number's format; None when it fits none of them."""
    n = normalise_tracking(number)
    if UPS_RE.match(n):
        return "ups"
    if USPS_RE.match(n):
        return "usps"
    if FEDEX_RE.match(n):
        return "fedex"
    return None


def looks_like_tracking(text: str) -> bool:
    return detect_carrier(label_tracking_number(text)) is not None


def tracking_url(carrier: str, number: str) -> str | None:
    fmt = TRACKING_URLS.get(carrier)
    return fmt.format(n=number) if fmt else None
