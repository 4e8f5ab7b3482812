"""config.toml, fuzzed: valid TOML with wrong types and values in every known section, unknown keys, tables
where lists belong, broken TOML, files that are not UTF-8. load_settings answers Settings or a ConfigError
whose message names the key ("config: shop.timezone: ..."); never a bare TypeError, KeyError or
AttributeError."""
from __future__ import annotations

import datetime as dt
import json
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.settings import ConfigError, TOP_LEVEL, load_settings

from .conftest import any_text, bend_document, fuzz

BASE = {
    "shop": {"name": "Demo Print Co", "public_url": "http://127.0.0.1:5000", "timezone": "America/Denver",
             "order_prefix": "A", "first_order_number": 1001, "brand_color": "#1d4ed8",
             "support_email": "help@example.com"},
    "stages": [{"key": "qc", "label": "Quality check", "sla_hours": 8},
               {"key": "finishing", "label": "Finishing", "after": "production", "sla_hours": 4}],
    "stations": [{"key": "qc-1", "name": "QC table", "moves_to": "qc", "printer": "front"}],
    "printers": {"front": {"driver": "zpl", "host": "127.0.0.1", "port": 9100, "timeout": 5},
                 "desk": {"driver": "escpos-usb", "vendor_id": "0x04b8", "product_id": 514, "width_mm": 80}},
    "providers": {"easypost": {"api_key": "env:EASYPOST_API_KEY", "webhook_secret": "s", "base_url": "https://x.test"}},
    "marketplaces": {"shopify": {"shop_domain": "demo.myshopify.com", "webhook_secret": "s", "notify_customer": True},
                     "etsy": {"shop_id": 42, "carrier_names": {"dhl": "dhl-express"}}},
    "notifications": {"email": {"smtp_host": "127.0.0.1", "smtp_port": 25, "sender": "orders@example.com"},
                      "kinds": {"shipped": True}, "webhook": {"url": "https://hook.test", "secret": "s"}},
    "intake": {"max_quantity": 5000, "max_items": 50, "default_method": "screen", "label_printer": "front"},
    "method_rules": [{"sku": "TEE-*", "method": "dtg"}],
    "scanning": {"badge_prefix": "BADGE", "batch_prefix": "BATCH", "qc_fail_reasons": ["Misprint"],
                 "duplicate_seconds": 5, "undo_seconds": 60},
    "tracking": {"label_no_scan_days": 1, "no_movement_days": 3},
    "alerts": {"emails": ["owner@example.com"], "digest_time": "07:30", "end_of_day": "17:00",
               "at_risk_margin_hours": 2},
    "housekeeping": {"at": "03:00", "keep_days": 90, "label_days": 30},
    "calendar": {"open_days": ["mon", "tue", "wed", "thu", "fri"], "opens": "08:00", "closes": "17:00",
                 "holidays": ["2026-12-25", dt.date(2027, 1, 1)], "hours": {"sat": "09:00-13:00"}},
    "backup": {"at": "02:30", "keep_days": 14},
    "security": {"trusted_proxies": 1, "secure_cookies": "auto", "login_rate": "20/minute"},
}
BAD_VALUES = st.one_of(
    st.sampled_from(["", " ", "env:", "env:1BAD", "env:UNSET_FUZZ_VARIABLE", "America", "Mars/Olympus", "../etc",
                     "24:30", "7:5", "25:00", "-1", "#zzzzzz", "ftp://x", "javascript:alert(1)", "a\x00b", "\u202e",
                     "nope", "x" * 500, "mon", "0x", "0xFFFFF", "dtg", "qc", "packaging", "delivered", "front",
                     "1/second", "0/minute", "99999999999999999999/day"]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(), st.booleans(),
    st.dates(), st.datetimes(), st.times(), any_text,
    st.lists(st.one_of(st.integers(), any_text, st.booleans()), max_size=3),
    st.dictionaries(st.sampled_from(["key", "x", "driver", "method", "mon"]), st.one_of(st.integers(), any_text),
                    max_size=3),
)


def toml_value(value) -> str:
    """One TOML value, inline (tables as { }, arrays as [ ]): enough to write any config as key = value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string; a lone surrogate makes invalid TOML, also worth a try
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml(doc: dict) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in doc.items())


@st.composite
def configs(draw) -> dict:
    doc = json.loads(json.dumps(BASE, default=str))
    doc["calendar"]["holidays"][1] = dt.date(2027, 1, 1)
    bend_document(draw, doc, rounds=draw(st.integers(1, 3)), junk=BAD_VALUES, descend=st.integers(0, 3),
                  drop=st.integers(0, 4).map(lambda n: n == 0),
                  add_keys=("unknown", "Key", "driver", "max_items", "enabled"))
    return doc


@pytest.fixture
def load(tmp_path, monkeypatch):
    for name in ("TRACKER_DATABASE_URL", "TRACKER_CONFIG", "UNSET_FUZZ_VARIABLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRACKER_SECRET_KEY", "fuzz")  # no key file written per example
    path = tmp_path / "config.toml"

    def load(content: bytes):
        path.write_bytes(content)
        return load_settings(tmp_path / "instance", path)
    return load


NAMED = re.compile(r"^config: (?P<key>[A-Za-z_][\w.\[\]-]*|\S+\.toml is not (valid TOML|UTF-8 text)|cannot read \S+)")


def check(load, content: bytes, sections=()):
    try:
        load(content)
    except ConfigError as exc:
        message = str(exc)
        m = NAMED.match(message)
        assert m, message
        key = m.group("key")
        if message.endswith("unknown section (known: " + ", ".join(sorted(TOP_LEVEL)) + ")"):
            return  # the file's own top-level key, named as written
        if not key.endswith(("TOML", "UTF-8 text")) and not key.startswith("cannot read"):
            assert key.split(".")[0].split("[")[0] in TOP_LEVEL | set(sections), message


@fuzz(1200)
@given(configs())
def test_a_config_with_wrong_types_or_values_is_a_config_error_naming_the_key(load, doc):
    check(load, toml(doc).encode("utf-8", "surrogatepass"), doc)


@fuzz(400)
@given(st.one_of(st.binary(max_size=200), any_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
                 configs().map(lambda d: toml(d).encode("utf-16")),
                 configs().map(lambda d: toml(d).encode("utf-8", "surrogatepass")[:-7]),
                 st.sampled_from([b"[shop", b"[[stations]]\nkey = ", b"shop = 1\nshop = 2", b"\xff\xfe",
                                  b"[shop]\nname = \"Caf\xe9\"", b"\x00", b"a.b.c.d = 1"])))
def test_a_config_that_is_not_toml_or_not_utf8_is_a_config_error(load, content):
    check(load, content)


def test_a_config_file_saved_in_windows_1252_is_a_config_error_not_a_traceback(load):
    """Found by fuzzing: read_text(encoding="utf-8") raised UnicodeDecodeError past the TOML error handler."""
    with pytest.raises(ConfigError, match=r"^config: .*config\.toml is not UTF-8 text .*line 2"):
        load(b'[shop]\nname = "Caf\xe9 Print"\n')
