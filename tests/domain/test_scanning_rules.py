"""What a scanned code is (read_code), double scans, the undo window and scan IDs. Pure: no app."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tracker.domain.scanning import (DUPLICATE_SECONDS, UNDO_SECONDS, ScannedCode, is_duplicate, read_code,
                                     undo_refusal, valid_uid)

TOKEN = "q0sWk3Yh2bB1u8e0l4Zr9xVn-_T5c7Ad"  # the shape new_public_token() makes
T0 = datetime(2026, 3, 2, 15, 30, tzinfo=timezone.utc)


def read(text, badge_prefix="BADGE", batch_prefix="BATCH"):
    return read_code(text, badge_prefix=badge_prefix, batch_prefix=batch_prefix)


@pytest.mark.parametrize("text,kind,value", [
    # job and order codes, any case, stray whitespace
    ("A1001B", "job", "A1001B"),
    ("a1001b", "job", "A1001B"),
    ("  A1001B\n", "job", "A1001B"),
    ("\tA1001B\r\n", "job", "A1001B"),
    ("A 1001 B", "job", "A1001B"),
    ("A1001", "order", "A1001"),
    (" a1001 ", "order", "A1001"),
    ("A1001AA", "job", "A1001AA"),
    # a QR code's URL (caps lock on or off, trailing slash, a query)
    ("https://shop.test/jobs/a1001b", "job", "A1001B"),
    ("HTTPS://SHOP.TEST/JOBS/A1001B", "job", "A1001B"),
    ("https://shop.test/jobs/A1001B/", "job", "A1001B"),
    ("https://shop.test/j/A1001B?from=qr", "job", "A1001B"),
    ("http://127.0.0.1:5000/orders/A1001", "order", "A1001"),
    ("/o/a1001#top", "order", "A1001"),
    # a tracking link: the token keeps its case
    (f"https://shop.test/t/{TOKEN}", "token", TOKEN),
    (f"http://shop.test/t/{TOKEN}/", "token", TOKEN),
    (f"  https://shop.test/t/{TOKEN}?utm=sms  ", "token", TOKEN),
    (f"/t/{TOKEN}", "token", TOKEN),
    # operator badges: the prefix, then the username
    ("BADGESAM", "badge", "SAM"),
    ("badgesam", "badge", "SAM"),
    (" BADGE-SAM ", "badge", "SAM"),
    ("BADGE:MARIA.LOPEZ", "badge", "MARIA.LOPEZ"),
    # batches: the prefix and digits
    ("BATCH12", "batch", "BATCH12"),
    ("batch7", "batch", "BATCH7"),
    (" BATCH 7 ", "batch", "BATCH7"),
    # carrier labels: the tracking number inside
    ("1Z999AA10123456784", "label", "1Z999AA10123456784"),
    ("1z999aa10123456784", "label", "1Z999AA10123456784"),
    ("9400 1118 9922 3197 4284 90", "label", "9400111899223197428490"),
    ("420841019400111899223197428490", "label", "9400111899223197428490"),
    ("42084101\x1d9400111899223197428490", "label", "9400111899223197428490"),
    ("420841019312\x1d9400111899223197428490", "label", "9400111899223197428490"),
    ("986578788855", "label", "986578788855"),
    # anything else
    ("hello", "unknown", "HELLO"),
    ("", "unknown", ""),
    ("   ", "unknown", ""),
    ("BATCH", "unknown", "BATCH"),
    ("BATCHX1", "unknown", "BATCHX1"),
    ("https://shop.test/t/short", "unknown", "HTTPS://SHOP.TEST/T/SHORT"),
    ("A-1001", "unknown", "A-1001"),
])
def test_read_code(text, kind, value):
    got = read(text)
    assert (got.kind, got.value) == (kind, value)


def test_job_and_order_codes_carry_their_order():
    assert read("a1001b") == ScannedCode("job", "A1001B", "A1001")
    assert read("A1001") == ScannedCode("order", "A1001", "A1001")


def test_none_reads_as_unknown():
    assert read(None).kind == "unknown"


def test_unknown_value_is_capped():
    assert len(read("X" * 500).value) == 60


@pytest.mark.parametrize("text,kind,value", [
    ("STAFFSAM", "badge", "SAM"),
    ("BADGESAM", "unknown", "BADGESAM"),   # the default prefix means nothing to this shop
    ("RUN42", "batch", "RUN42"),
    ("BATCH42", "unknown", "BATCH42"),
])
def test_a_shops_own_prefixes(text, kind, value):
    got = read(text, badge_prefix="STAFF", batch_prefix="RUN")
    assert (got.kind, got.value) == (kind, value)


# -- double scans -----------------------------------------------------------------------------------

@pytest.mark.parametrize("prev_code,prev_at,code,now,window,expected", [
    (None, None, "A1001A", T0, 5, False),                                   # first scan at the station
    ("A1001A", None, "A1001A", T0, 5, False),
    ("A1001A", T0, "A1001A", T0, 5, True),
    ("A1001A", T0, "A1001A", T0 + timedelta(seconds=2), 5, True),
    ("A1001A", T0, "A1001A", T0 + timedelta(seconds=5), 5, True),           # the edge is inside
    ("A1001A", T0, "A1001A", T0 + timedelta(seconds=5, microseconds=1), 5, False),
    ("A1001A", T0, "A1001A", T0 + timedelta(seconds=30), 5, False),
    ("A1001A", T0, "A1001B", T0 + timedelta(seconds=1), 5, False),          # another code
    ("A1001A", T0, "A1001A", T0 - timedelta(seconds=1), 5, True),           # stored second, timed first
    ("A1001A", T0, "A1001A", T0 - timedelta(seconds=6), 5, False),
    ("A1001A", T0, "A1001A", T0 + timedelta(seconds=8), 10, True),          # a longer window
    ("A1001A", T0, "A1001A", T0 + timedelta(seconds=1), 0, False),          # window 0: never
    ("A1001A", T0, "A1001A", T0, 0, False),
])
def test_is_duplicate(prev_code, prev_at, code, now, window, expected):
    assert is_duplicate(prev_code, prev_at, code, now, window) is expected


def test_default_duplicate_window_is_five_seconds():
    assert DUPLICATE_SECONDS == 5
    assert is_duplicate("A1", T0, "A1", T0 + timedelta(seconds=5))
    assert not is_duplicate("A1", T0, "A1", T0 + timedelta(seconds=6))


# -- undo -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,why", [
    (dict(scan_ok=True, outcome="moved", undone=False, age=0), None),
    (dict(scan_ok=True, outcome="moved", undone=False, age=59), None),
    (dict(scan_ok=True, outcome="moved", undone=False, age=60), None),
    (dict(scan_ok=True, outcome="moved", undone=False, age=61), "within 60 seconds"),
    (dict(scan_ok=True, outcome="moved", undone=True, age=1), "already undone"),
    (dict(scan_ok=True, outcome="moved", undone=True, age=600), "already undone"),
    (dict(scan_ok=False, outcome="refused", undone=False, age=1), "moved something"),
    (dict(scan_ok=True, outcome="duplicate", undone=False, age=1), "moved something"),
    (dict(scan_ok=True, outcome="info", undone=False, age=1), "moved something"),
    (dict(scan_ok=True, outcome="moved", undone=False, age=1, bought_label="9400111899560000000001"),
     "bought label 9400111899560000000001; void the label"),
])
def test_undo_refusal(kw, why):
    age = kw.pop("age")
    got = undo_refusal(**kw, received_at=T0, now=T0 + timedelta(seconds=age))
    if why is None:
        assert got is None
    else:
        assert why in got


def test_undo_window_follows_the_setting():
    assert UNDO_SECONDS == 60
    kw = dict(scan_ok=True, outcome="moved", undone=False, received_at=T0)
    assert undo_refusal(**kw, now=T0 + timedelta(seconds=100), window=120) is None
    assert "within 10 seconds" in undo_refusal(**kw, now=T0 + timedelta(seconds=11), window=10)


# -- scan IDs made on the tablet --------------------------------------------------------------------

@pytest.mark.parametrize("uid,ok", [
    ("0123abcd", True),
    ("a" * 64, True),
    ("3f2b9c1e-5d4a-4b7e-9f00-1a2b3c4d5e6f", True),
    ("scan_2026_03_02", True),
    ("a" * 7, False),
    ("a" * 65, False),
    ("", False),
    (None, False),
    ("has space", False),
    ("abcdefgh\n", False),      # a trailing newline is not part of an ID
    ("abc/defgh", False),
    ("abcdéfgh", False),
    ("١٢٣٤٥٦٧٨", False),        # Arabic-Indic digits are no ID characters
])
def test_valid_uid(uid, ok):
    assert valid_uid(uid) is ok
