"""Order and job codes and reading scanner input."""
from __future__ import annotations

import base64
import string

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from tracker.domain.codes import (
    ORDER_RE, PREFIX_RE, ParsedCode, job_code, job_suffix, looks_like_token, new_public_token, order_code,
    parse_scan,
)


def _suffix_position(letters: str) -> int:
    """The inverse of job_suffix, written independently: bijective base 26."""
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n - 1


@pytest.mark.parametrize("position,letters", [
    (0, "A"), (1, "B"), (25, "Z"), (26, "AA"), (27, "AB"), (51, "AZ"), (52, "BA"), (701, "ZZ"), (702, "AAA"),
    (18277, "ZZZ"),
])
def test_job_suffix(position, letters):
    assert job_suffix(position) == letters


def test_job_suffix_refuses_negative():
    with pytest.raises(ValueError, match="position must be >= 0"):
        job_suffix(-1)


def test_job_suffix_is_a_bijection_up_to_2000():
    suffixes = [job_suffix(i) for i in range(2001)]
    assert len(set(suffixes)) == 2001
    assert all(s and set(s) <= set(string.ascii_uppercase) for s in suffixes)
    assert [_suffix_position(s) for s in suffixes] == list(range(2001))
    # Spreadsheet order: shorter first, then alphabetical, so jobs list in creation order.
    assert suffixes == sorted(suffixes, key=lambda s: (len(s), s))


@given(st.integers(min_value=0, max_value=2000))
def test_job_suffix_round_trips(position):
    assert _suffix_position(job_suffix(position)) == position


def test_order_and_job_code():
    assert order_code("A", 1042) == "A1042"
    assert order_code("XYZ", 1) == "XYZ1"
    assert job_code("A1042", 0) == "A1042A"
    assert job_code("A1042", 26) == "A1042AA"


@pytest.mark.parametrize("text,expected", [
    ("A1042", ParsedCode("order", "A1042", "A1042")),
    ("a1042", ParsedCode("order", "A1042", "A1042")),
    ("  A1042\r\n", ParsedCode("order", "A1042", "A1042")),
    ("\tab12\t", ParsedCode("order", "AB12", "AB12")),
    ("XYZ123456789", ParsedCode("order", "XYZ123456789", "XYZ123456789")),
    ("A1042B", ParsedCode("job", "A1042B", "A1042")),
    ("a1042b", ParsedCode("job", "A1042B", "A1042")),
    ("A1042AA", ParsedCode("job", "A1042AA", "A1042")),
    ("A 1042 b", ParsedCode("job", "A1042B", "A1042")),
    ("XYZ9ZZZ", ParsedCode("job", "XYZ9ZZZ", "XYZ9")),
    ("https://x/jobs/a1042b", ParsedCode("job", "A1042B", "A1042")),
    ("https://shop.test/jobs/A1042B/", ParsedCode("job", "A1042B", "A1042")),
    ("http://shop.test/orders/a1042", ParsedCode("order", "A1042", "A1042")),
    ("https://shop.test/o/A1042?utm=qr", ParsedCode("order", "A1042", "A1042")),
    ("https://shop.test/j/A1042C#top", ParsedCode("job", "A1042C", "A1042")),
    (" https://shop.test/jobs/a1042b \n", ParsedCode("job", "A1042B", "A1042")),
    # A QR code in alphanumeric mode (or caps lock) sends the whole URL in capitals.
    ("HTTPS://SHOP.TEST/JOBS/A1042B", ParsedCode("job", "A1042B", "A1042")),
    ("HTTPS://SHOP.TEST/J/A1042B", ParsedCode("job", "A1042B", "A1042")),
])
def test_parse_scan_reads_codes(text, expected):
    assert parse_scan(text) == expected


@pytest.mark.parametrize("text", [
    "", "   ", None, "hello", "1042", "A", "ABCD1", "A1042BCDE", "A1234567890", "A-1042", "A1042-B",
    "A1042B1", "Ä1042", "A١٠٤٢", "A１０４２", "https://shop.test/t/abc", "https://shop.test/jobs/",
    "https://shop.test/jobs/A1042B/extra", "1042A",
])
def test_parse_scan_unknown(text):
    parsed = parse_scan(text)
    assert parsed.kind == "unknown"
    assert parsed.order_code is None


def test_unknown_keeps_the_cleaned_text_for_the_message():
    assert parse_scan("  hello world ") == ParsedCode("unknown", "HELLOWORLD")


def test_order_and_job_shapes_never_overlap():
    assert parse_scan("AB1").kind == "order"
    assert parse_scan("A1B").kind == "job"


_prefix = st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=3)
_number = st.integers(min_value=1, max_value=999_999_999)
_position = st.integers(min_value=0, max_value=18277)  # 1 to 3 suffix letters


@hsettings(max_examples=500)
@given(st.text())
def test_parse_scan_never_raises(text):
    parsed = parse_scan(text)
    assert parsed.kind in ("order", "job", "unknown")
    if parsed.kind == "order":
        assert parsed.order_code == parsed.code and ORDER_RE.match(parsed.code)
    elif parsed.kind == "job":
        assert parsed.code.startswith(parsed.order_code) and parsed.code != parsed.order_code
        assert parse_scan(parsed.order_code).kind == "order"
    else:
        assert parsed.order_code is None
    if parsed.kind != "unknown":
        assert parsed.code.isascii() and parsed.code.isalnum() and parsed.code == parsed.code.upper()


@hsettings(max_examples=300)
@given(prefix=_prefix, number=_number, position=_position,
       dressing=st.sampled_from(["{}", "{} ", " \t{}\n", "lower", "https://shop.test/jobs/{}", "/j/{}?x=1"]))
def test_job_codes_parse_back_to_their_order(prefix, number, position, dressing):
    order = order_code(prefix, number)
    job = job_code(order, position)
    text = job.lower() if dressing == "lower" else dressing.format(job)
    assert parse_scan(text) == ParsedCode("job", job, order)


@given(prefix=_prefix, number=_number)
def test_order_codes_parse_as_orders(prefix, number):
    assert PREFIX_RE.match(prefix)
    order = order_code(prefix, number)
    assert parse_scan(order.lower()) == ParsedCode("order", order, order)
    assert parse_scan(f"https://x/orders/{order}") == ParsedCode("order", order, order)


def test_public_token_has_at_least_128_bits():
    tokens = {new_public_token() for _ in range(500)}
    assert len(tokens) == 500
    for token in tokens:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert len(raw) * 8 >= 128
        assert set(token) <= set(string.ascii_letters + string.digits + "-_")
        assert looks_like_token(token)


@pytest.mark.parametrize("text,ok", [
    ("a" * 20, True), ("A-b_9" * 4, True), ("x" * 64, True),
    ("a" * 19, False), ("x" * 65, False), ("", False), (None, False), ("a" * 20 + "\n", False),
    ("a" * 19 + "/", False), ("a" * 19 + "=", False), ("a" * 19 + ".", False),
])
def test_looks_like_token(text, ok):
    assert looks_like_token(text) is ok
