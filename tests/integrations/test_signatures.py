"""Webhook verification: the fixture README's check value, good and bad signatures, constant time."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

import pytest
import time_machine
from werkzeug.datastructures import Headers, MultiDict

from tracker.integrations.carriers import aftership, easypost, fedex, shippo, ups, usps
from tracker.settings import ProviderSettings

# The check value from shared/fixtures/README.md (exact bytes).
CHECK_SECRET = "hush"
CHECK_BODY = b'{"id":820982911946154508,"name":"#1001"}'
CHECK_BASE64 = "Mkf2s8BiWQBb/dlay3RDP15QWaH8IejS3UDTmBxVmfo="
CHECK_EASYPOST = "hmac-sha256-hex=3247f6b3c06259005bfdd95acb74433f5e5059a1fc21e8d2dd40d3981c5599fa"
NOW = dt.datetime(2026, 3, 4, 16, 0, tzinfo=dt.timezone.utc)
NOW_TS = int(NOW.timestamp())


def test_check_values():
    assert aftership.sign(CHECK_BODY, CHECK_SECRET) == CHECK_BASE64
    assert easypost.sign(CHECK_BODY, CHECK_SECRET) == CHECK_EASYPOST


# --- EasyPost ---

EP = ProviderSettings(webhook_secret=CHECK_SECRET)


def test_easypost_good():
    assert easypost.verify({"X-Hmac-Signature": CHECK_EASYPOST}, CHECK_BODY, {}, EP)


def test_easypost_header_name_and_hex_case_do_not_matter():
    assert easypost.verify({"x-hmac-signature": CHECK_EASYPOST.upper().replace("HMAC-SHA256-HEX", "hmac-sha256-hex")},
                           CHECK_BODY, {}, EP)
    assert easypost.verify(Headers([("X-HMAC-SIGNATURE", CHECK_EASYPOST)]), CHECK_BODY, {}, EP)


@pytest.mark.parametrize("headers", [
    pytest.param({"X-Hmac-Signature": "hmac-sha256-hex=" + "0" * 64}, id="bad"),
    pytest.param({}, id="missing"),
    pytest.param({"X-Hmac-Signature": ""}, id="empty"),
    pytest.param({"X-Hmac-Signature": CHECK_EASYPOST.split("=", 1)[1]}, id="no-scheme"),
    pytest.param({"X-Hmac-Signature": "sha256=" + CHECK_EASYPOST.split("=", 1)[1]}, id="wrong-scheme"),
    pytest.param({"X-Hmac-Signature": "hmac-sha1-hex=" + CHECK_EASYPOST.split("=", 1)[1]}, id="other-algorithm"),
    pytest.param({"X-Hub-Signature": CHECK_EASYPOST}, id="wrong-header"),
])
def test_easypost_refused(headers):
    assert not easypost.verify(headers, CHECK_BODY, {}, EP)


def test_easypost_tampered_body():
    assert not easypost.verify({"X-Hmac-Signature": CHECK_EASYPOST}, CHECK_BODY.replace(b"1001", b"1002"), {}, EP)
    assert not easypost.verify({"X-Hmac-Signature": CHECK_EASYPOST}, CHECK_BODY + b" ", {}, EP)


@pytest.mark.parametrize("secret", [None, "", "  "])
def test_easypost_without_a_secret_refuses_everything(secret):
    # as config.toml is read
    config = ProviderSettings.read({"webhook_secret": secret}, "providers.easypost", name="easypost")
    assert config.webhook_secret is None
    assert not easypost.verify({"X-Hmac-Signature": CHECK_EASYPOST}, CHECK_BODY, {}, config)
    assert not easypost.verify({"X-Hmac-Signature": CHECK_EASYPOST}, CHECK_BODY, {}, ProviderSettings())


def test_easypost_secret_is_nfkd_normalised():
    # "ﬁ" (U+FB01) is "fi" under NFKD: EasyPost signs with the normalised secret.
    signed = "hmac-sha256-hex=" + hmac.new(b"fi-secret", CHECK_BODY, hashlib.sha256).hexdigest()
    assert easypost.verify({"X-Hmac-Signature": signed}, CHECK_BODY, {},
                           ProviderSettings(webhook_secret="\ufb01-secret"))


# --- AfterShip ---

AS = ProviderSettings(webhook_secret=CHECK_SECRET)


def test_aftership_good():
    assert aftership.verify({"aftership-hmac-sha256": CHECK_BASE64}, CHECK_BODY, {}, AS)
    assert aftership.verify(Headers([("Aftership-Hmac-Sha256", CHECK_BASE64)]), CHECK_BODY, {}, AS)


@pytest.mark.parametrize("headers", [
    pytest.param({"aftership-hmac-sha256": base64.b64encode(b"\0" * 32).decode()}, id="bad"),
    pytest.param({}, id="missing"),
    pytest.param({"aftership-hmac-sha256": "sha256=" + CHECK_BASE64}, id="wrong-scheme"),
    pytest.param({"aftership-hmac-sha256": CHECK_EASYPOST}, id="hex-not-base64"),
    pytest.param({"as-signature-hmac-sha256": CHECK_BASE64}, id="other-product-header"),
])
def test_aftership_refused(headers):
    assert not aftership.verify(headers, CHECK_BODY, {}, AS)


def test_aftership_tampered_body_and_missing_secret():
    assert not aftership.verify({"aftership-hmac-sha256": CHECK_BASE64}, CHECK_BODY[:-1] + b" }", {}, AS)
    assert not aftership.verify({"aftership-hmac-sha256": CHECK_BASE64}, CHECK_BODY, {},
                                ProviderSettings(webhook_secret=None))


# --- Shippo ---

SH = ProviderSettings(webhook_secret="tok-123")


def test_shippo_token_alone():
    assert shippo.verify({}, CHECK_BODY, {"token": "tok-123"}, SH)
    assert shippo.verify({}, CHECK_BODY, MultiDict([("token", "tok-123")]), SH)
    assert shippo.verify({}, CHECK_BODY, {"token": ["tok-123"]}, SH)


@pytest.mark.parametrize("query", [{}, {"token": ""}, {"token": "tok-12"}, {"token": "tok-1234"}, {"Token": "tok-123"}])
def test_shippo_bad_or_missing_token(query):
    assert not shippo.verify({}, CHECK_BODY, query, SH)


def test_shippo_without_a_secret_refuses_everything():
    assert not shippo.verify({}, CHECK_BODY, {"token": "tok-123"}, ProviderSettings(webhook_secret=None))
    assert not shippo.verify({}, CHECK_BODY, {"token": ""}, ProviderSettings(webhook_secret=""))


@time_machine.travel(NOW, tick=False)
def test_shippo_token_and_signature():
    header = shippo.sign(CHECK_BODY, "tok-123", NOW_TS)
    assert header.startswith(f"t={NOW_TS},v1=")
    assert shippo.verify({"Shippo-Auth-Signature": header}, CHECK_BODY, {"token": "tok-123"}, SH)
    # a good signature does not stand in for the token
    assert not shippo.verify({"Shippo-Auth-Signature": header}, CHECK_BODY, {}, SH)


@time_machine.travel(NOW, tick=False)
def test_shippo_signature_check_value():
    expected = hmac.new(b"tok-123", f"{NOW_TS}.".encode() + CHECK_BODY, hashlib.sha256).hexdigest()
    assert shippo.sign(CHECK_BODY, "tok-123", NOW_TS) == f"t={NOW_TS},v1={expected}"


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("age, ok", [(0, True), (299, True), (300, True), (301, False), (3600, False),
                                     (-299, True), (-301, False)])
def test_shippo_stale_or_future_timestamps(age, ok):
    header = shippo.sign(CHECK_BODY, "tok-123", NOW_TS - age)
    assert shippo.verify({"Shippo-Auth-Signature": header}, CHECK_BODY, {"token": "tok-123"}, SH) is ok


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("header", [
    "garbage", "", "t=,v1=", f"t={NOW_TS}", f"v1={'0' * 64}", f"t={NOW_TS},v1={'0' * 64}",
    f"t=abc,v1={'0' * 64}", f"t={NOW_TS},t={NOW_TS},v1={'0' * 64}",
])
def test_shippo_malformed_or_bad_signature(header):
    assert not shippo.verify({"Shippo-Auth-Signature": header}, CHECK_BODY, {"token": "tok-123"}, SH)


@time_machine.travel(NOW, tick=False)
def test_shippo_tampered_body():
    header = shippo.sign(CHECK_BODY, "tok-123", NOW_TS)
    assert not shippo.verify({"Shippo-Auth-Signature": header}, CHECK_BODY + b"\n", {"token": "tok-123"}, SH)


@time_machine.travel(NOW, tick=False)
def test_shippo_signature_with_several_v1_and_spaces():
    good = shippo.sign(CHECK_BODY, "tok-123", NOW_TS).split("v1=")[1]
    header = f"t={NOW_TS}, v1={'0' * 64}, v1={good.upper()}"
    assert shippo.verify({"shippo-auth-signature": header}, CHECK_BODY, {"token": "tok-123"}, SH)


@time_machine.travel(NOW, tick=False)
def test_shippo_separate_hmac_secret_and_required_signature():
    config = ProviderSettings(webhook_secret="tok-123", hmac_secret="signing-key", require_signature=True)
    header = shippo.sign(CHECK_BODY, "signing-key", NOW_TS)
    assert shippo.verify({"Shippo-Auth-Signature": header}, CHECK_BODY, {"token": "tok-123"}, config)
    wrong_key = shippo.sign(CHECK_BODY, "tok-123", NOW_TS)
    assert not shippo.verify({"Shippo-Auth-Signature": wrong_key}, CHECK_BODY, {"token": "tok-123"}, config)
    assert not shippo.verify({}, CHECK_BODY, {"token": "tok-123"}, config)  # required and missing


# --- UPS Track Alert ---

UPS = ProviderSettings(webhook_secret="long-random-credential")


def test_ups_credential_header():
    assert ups.verify({"credential": "long-random-credential", "User-Agent": "UPSPubSubTrackingService"}, b"{}", {}, UPS)
    assert ups.verify(Headers([("Credential", "long-random-credential")]), b"{}", {}, UPS)


@pytest.mark.parametrize("headers", [{}, {"credential": ""}, {"credential": "long-random-credentia"},
                                     {"credential": "Bearer long-random-credential"},
                                     {"authorization": "long-random-credential"}])
def test_ups_refused(headers):
    assert not ups.verify(headers, b"{}", {}, UPS)


def test_ups_without_a_secret_refuses_everything():
    assert not ups.verify({"credential": "x"}, b"{}", {}, ProviderSettings(webhook_secret=None))


# --- polled-only providers ---

@pytest.mark.parametrize("module", [fedex, usps])
def test_polled_providers_refuse_every_webhook(module):
    assert module.WEBHOOKS is False
    assert not module.verify({"credential": "x", "X-Hmac-Signature": CHECK_EASYPOST}, CHECK_BODY, {"token": "x"},
                             ProviderSettings(webhook_secret="x"))
    assert not hasattr(module, "parse_webhook")


# --- constant time ---

@time_machine.travel(NOW, tick=False)
def test_every_check_goes_through_compare_digest(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    cases = [
        (easypost, {"X-Hmac-Signature": CHECK_EASYPOST}, {}, EP),
        (aftership, {"aftership-hmac-sha256": CHECK_BASE64}, {}, AS),
        (shippo, {"Shippo-Auth-Signature": shippo.sign(CHECK_BODY, "tok-123", NOW_TS)}, {"token": "tok-123"}, SH),
        (ups, {"credential": "long-random-credential"}, {}, UPS),
    ]
    for module, headers, query, config in cases:
        before = len(calls)
        assert module.verify(headers, CHECK_BODY, query, config)
        assert len(calls) > before, module.NAME
