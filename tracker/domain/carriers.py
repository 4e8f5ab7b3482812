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
# 91-95 + 18 to 24 digits (IMpb; 91 is the older prefix, still printed), or an international S10 number.
USPS_RE = re.compile(r"^(9[1-5]\d{18,24}|[A-Z]{2}\d{9}US)\Z")
FEDEX_RE = re.compile(r"^(\d{12}|\d{15}|\d{20}|\d{22})\Z")
# A USPS IMpb label barcode reads as "420" + destination ZIP (5, 9 or 11 digits) + the tracking number.
IMPB_ROUTING_RE = re.compile(r"^420(\d{5}|\d{9}|\d{11})\Z")
USPS_IMPB_NUMBER_RE = re.compile(r"^9[1-5]\d{18,24}\Z")
# The usual lengths of the number inside an IMpb barcode, most common first: when the barcode has no
# separator, "420" + ZIP+4 + 22 digits and "420" + ZIP + 26 digits are both 34 digits long.
IMPB_NUMBER_LENGTHS = (22, 26, 20)
# GS1-128 FedEx labels carry a 34-digit barcode whose last 12 digits are the tracking number.
FEDEX_34_RE = re.compile(r"^\d{22}(\d{12})\Z")
GS = "\x1d"  # the GS1 group separator (FNC1) a scanner may send between a barcode's fields


def normalise_tracking(text: str) -> str:
    return re.sub(r"[\s-]+", "", (text or "")).upper()


# A tracking number as the refusals describe it: 1 to 64 letters and digits (so no NUL, which PostgreSQL
# refuses, no lone surrogate, which no database can encode, and no other character).
TRACKING_NUMBER_RE = re.compile(r"[A-Z0-9]{1,64}")


def valid_tracking(number: str) -> bool:
    """A normalised tracking number (normalise_tracking) of 1 to 64 letters and digits."""
    return TRACKING_NUMBER_RE.fullmatch(number) is not None


def label_tracking_number(scanned: str) -> str:
    """The tracking number inside what a scanner read off a shipping label."""
    text = (scanned or "").strip()
    if GS in text:
        # The separator says exactly where the routing code ends.
        parts = [p for p in (normalise_tracking(p) for p in text.split(GS)) if p]
        if len(parts) >= 2 and IMPB_ROUTING_RE.match(parts[0]):
            rest = "".join(parts[1:])
            if USPS_IMPB_NUMBER_RE.match(rest):
                return rest
    n = normalise_tracking(text)  # (\s also matches the separator, so it is gone from here on)
    impb = _impb_number(n)
    if impb:
        return impb
    if len(n) == 34:
        m = FEDEX_34_RE.match(n)
        if m:
            return m.group(1)
    return n


def _impb_number(n: str) -> str | None:
    """The tracking number in a USPS IMpb barcode read as one run of digits, or None."""
    if not n.startswith("420") or not n.isdigit():
        return None
    readings = [n[3 + z:] for z in (5, 9, 11) if USPS_IMPB_NUMBER_RE.match(n[3 + z:])]
    if not readings:
        return None
    # Several readings fit (the ZIP+4 add-on can start 92-95): prefer the usual number lengths.
    return min(readings, key=lambda r: IMPB_NUMBER_LENGTHS.index(len(r)) if len(r) in IMPB_NUMBER_LENGTHS else 99)


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
