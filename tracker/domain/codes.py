"""Order and job codes: what a scanner types, and how to read it back.

An order code is a prefix of letters and a number (A1042). A job code is its order's code plus letters
(A1042A, A1042B, ... A1042AA), so a code is an order or a job by its shape alone and never both. Only
upper-case letters and digits: a keyboard-wedge scanner types them right on any layout.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

# [0-9], not \d: \d also matches other scripts' digits (Arabic-Indic, full-width), which are no code.
# \Z, not $: $ also matches before a trailing newline.
ORDER_RE = re.compile(r"^([A-Z]{1,3})([0-9]{1,9})\Z")
JOB_RE = re.compile(r"^([A-Z]{1,3}[0-9]{1,9})([A-Z]{1,3})\Z")
PREFIX_RE = re.compile(r"^[A-Z]{1,3}\Z")
# A staff URL such as /orders/A1042 or /jobs/A1042B (or /o/, /j/). Any case: a QR code in alphanumeric
# mode, or a scanner with caps lock on, types the whole URL in capitals.
URL_CODE_RE = re.compile(r"/(?:orders|jobs|o|j)/([A-Za-z0-9]+)/?(?:[?#].*)?\Z", re.IGNORECASE)


def order_code(prefix: str, number: int) -> str:
    return f"{prefix}{number}"


def job_suffix(position: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: spreadsheet-column letters."""
    if position < 0:
        raise ValueError("position must be >= 0")
    letters = ""
    n = position + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def job_code(order: str, position: int) -> str:
    return order + job_suffix(position)


@dataclass(frozen=True)
class ParsedCode:
    kind: str  # "order", "job" or "unknown"
    code: str
    order_code: str | None = None


def parse_scan(text: str) -> ParsedCode:
    """Reads what a scanner typed: any case, stray whitespace, or a QR code's URL."""
    raw = (text or "").strip()
    m = URL_CODE_RE.search(raw)
    if m:
        raw = m.group(1)
    code = re.sub(r"\s+", "", raw).upper()
    if ORDER_RE.match(code):
        return ParsedCode("order", code, code)
    m = JOB_RE.match(code)
    if m:
        return ParsedCode("job", code, m.group(1))
    return ParsedCode("unknown", code)


def new_public_token() -> str:
    """An unguessable tracking-link token: 24 random bytes (192 bits), URL-safe."""
    return secrets.token_urlsafe(24)


TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}\Z")


def looks_like_token(text: str) -> bool:
    return bool(TOKEN_RE.match(text or ""))
