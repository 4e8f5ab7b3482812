"""What a scan means at a station. Pure: the service looks things up and applies the moves.

A keyboard-wedge scanner types a code and Enter. The code can be a job (A1042B), an order (A1042), a
batch (BATCH12), an operator's badge (BADGESAM), a carrier label's barcode, a QR code's URL, in any case
with stray whitespace.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .carriers import label_tracking_number, looks_like_tracking
from .codes import parse_scan

DUPLICATE_SECONDS = 5
UNDO_SECONDS = 60
PENDING_LABEL_SECONDS = 300
UID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}\Z")  # \Z: $ would let a trailing newline in
TRACKING_LINK_RE = re.compile(r"/t/([A-Za-z0-9_-]{20,64})/?(?:[?#].*)?$")


@dataclass(frozen=True)
class ScannedCode:
    kind: str  # job, order, batch, badge, label, token, unknown
    value: str  # the normalised code (job/order/batch code, username, tracking number, token)
    order_code: str | None = None


def read_code(text: str, *, badge_prefix: str, batch_prefix: str) -> ScannedCode:
    raw = (text or "").strip()
    m = TRACKING_LINK_RE.search(raw)
    if m:
        return ScannedCode("token", m.group(1))
    compact = re.sub(r"\s+", "", raw).upper()
    if badge_prefix and compact.startswith(badge_prefix) and len(compact) > len(badge_prefix):
        return ScannedCode("badge", compact[len(badge_prefix):].lstrip("-:"))
    if batch_prefix and re.fullmatch(re.escape(batch_prefix) + r"\d{1,9}", compact):
        return ScannedCode("batch", compact)
    parsed = parse_scan(raw)
    if parsed.kind in ("job", "order"):
        return ScannedCode(parsed.kind, parsed.code, parsed.order_code)
    if looks_like_tracking(raw):  # raw, not compact: a GS1 separator inside says where the number starts
        return ScannedCode("label", label_tracking_number(raw))
    return ScannedCode("unknown", compact[:60])


def is_duplicate(previous_code: str | None, previous_at: dt.datetime | None, code: str, now: dt.datetime,
                 window: float = DUPLICATE_SECONDS) -> bool:
    """The same code at the same station within a few seconds is one scan (a double trigger). Either way
    round: two tablets' scans arriving together take their times before they take turns to be stored, so
    the one stored second can carry the earlier time."""
    if previous_code is None or previous_at is None or window <= 0:
        return False
    return previous_code == code and abs(now - previous_at) <= dt.timedelta(seconds=window)


def undo_refusal(*, scan_ok: bool, outcome: str, received_at: dt.datetime, undone: bool, now: dt.datetime,
                 window: float = UNDO_SECONDS, bought_label: str | None = None) -> str | None:
    """Why a scan cannot be undone, or None when it can. `bought_label`: the tracking number of the label
    the scan bought at a ship-out station; undoing the move would leave a live label behind."""
    if undone:
        return "that scan was already undone"
    if not scan_ok or outcome != "moved":
        return "only a scan that moved something can be undone"
    if now - received_at > dt.timedelta(seconds=window):
        return f"a scan can be undone only within {int(window)} seconds"
    if bought_label is not None:
        return f"this scan bought label {bought_label}; void the label on the order page to take it back"
    return None


def valid_uid(uid: str | None) -> bool:
    return bool(uid and UID_RE.match(uid))
