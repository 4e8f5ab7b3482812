"""Polling and registering against fake provider servers on 127.0.0.1: auth, shapes, tokens, errors."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
import time_machine

from tracker.integrations.carriers import PROVIDERS, ProviderError, TrackingUpdate

from . import fakes

ALL = tuple(PROVIDERS)
OAUTH = ("ups", "fedex", "usps")
TOKEN_PATHS = {"ups": "/security/v1/oauth/token", "fedex": "/oauth/token", "usps": "/oauth2/v3/token"}
UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 4, 16, 0, tzinfo=UTC)


def tz(hours: int) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=hours))


def secrets_of(config) -> list[str]:
    return [v for v in (config.api_key, config.client_secret, config.webhook_secret) if v]


# --- every provider ---

@pytest.mark.parametrize("name", ALL)
def test_fetch_known_number(fake, name):
    server, config, number, carrier = fake(name)
    update = PROVIDERS[name].fetch(config, number, carrier)
    assert isinstance(update, TrackingUpdate)
    assert (update.provider, update.tracking_number, update.carrier) == (name, number, carrier)
    assert update.delivery_id is None  # polled, not delivered
    assert update.events, "the fake knows this number's history"
    times = [e.occurred_at for e in update.events]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    assert all(e.provider == name and e.tracking_number == number for e in update.events)


@pytest.mark.parametrize("name", ALL)
def test_429_is_retryable_with_retry_after(fake, name):
    server, config, number, carrier = fake(name)
    server.fail_next(429, retry_after="42")
    with pytest.raises(ProviderError) as caught:
        PROVIDERS[name].fetch(config, number, carrier)
    assert (caught.value.status, caught.value.retryable, caught.value.retry_after) == (429, True, 42.0)
    # the next call goes through
    assert PROVIDERS[name].fetch(config, number, carrier).tracking_number == number


@pytest.mark.parametrize("name", ALL)
def test_500_is_retryable(fake, name):
    server, config, number, carrier = fake(name)
    server.fail_next(500, times=2)
    for _ in range(2):
        with pytest.raises(ProviderError) as caught:
            PROVIDERS[name].fetch(config, number, carrier)
        assert caught.value.status == 500 and caught.value.retryable
    assert PROVIDERS[name].fetch(config, number, carrier).events


@pytest.mark.parametrize("name", ALL)
def test_wrong_credentials_401_is_not_retryable(fake, name):
    if name in OAUTH:
        server, config, number, carrier = fake(name, client_secret="the-right-one")
        config = replace(config, client_secret="a-wrong-one")
    else:
        server, config, number, carrier = fake(name)
        config = replace(config, api_key="a-wrong-key")
    with pytest.raises(ProviderError) as caught:
        PROVIDERS[name].fetch(config, number, carrier)
    err = caught.value
    assert err.status == 401 and not err.retryable
    for secret in ("a-wrong-one", "a-wrong-key", "the-right-one"):
        assert secret not in str(err) and secret not in repr(err)
    if name in OAUTH:
        assert "client_id and client_secret" in str(err)


@pytest.mark.parametrize("name, number, status", [
    ("shippo", "NOSUCHNUMBER", 404), ("ups", "1Z0000000000000000", 404), ("usps", "9400000000000000000000", 404),
    ("fedex", "111111111111", 200),  # FedEx answers 200 with an error inside
])
def test_unknown_number_is_not_retryable(fake, name, number, status):
    server, config, _, carrier = fake(name)
    with pytest.raises(ProviderError) as caught:
        PROVIDERS[name].fetch(config, number, carrier)
    assert caught.value.status == status and not caught.value.retryable


@pytest.mark.parametrize("name", ALL)
def test_missing_credentials_say_which_key(fake, name):
    server, config, number, carrier = fake(name)
    key = "client_id" if name in OAUTH else "api_key"
    with pytest.raises(ProviderError, match=f"{key} is not configured") as caught:
        PROVIDERS[name].fetch(replace(config, **{key: None}), number, carrier)
    assert not caught.value.retryable
    assert server.calls() == []


@pytest.mark.parametrize("name", ALL)
def test_nothing_secret_in_debug_logs(fake, name, caplog):
    server, config, number, carrier = fake(name)
    caplog.set_level(logging.DEBUG)
    PROVIDERS[name].fetch(config, number, carrier)
    assert caplog.text  # the client did log its requests
    for secret in secrets_of(config) + [t for t in getattr(server, "oauth", fakes.OAuthState("x", 1)).valid]:
        assert secret not in caplog.text


# --- EasyPost ---

def test_easypost_fetch(fake):
    server, config, number, carrier = fake("easypost")
    update = PROVIDERS["easypost"].fetch(config, number, carrier)
    assert len(update.events) == 3 and update.est_delivery == dt.date(2026, 3, 2)
    assert update.events[-1].location == "BOISE, ID 83702"
    (call,) = server.calls()
    assert (call.method, call.path) == ("GET", "/v2/trackers")
    assert call.query == {"tracking_code": number, "carrier": "UPS"}
    assert call.headers["authorization"] == fakes.basic(config.api_key, "")


def test_easypost_fetch_creates_the_tracker_it_does_not_have(fake):
    server, config, _, _ = fake("easypost")
    update = PROVIDERS["easypost"].fetch(config, "9400100000000000000000", "usps")
    assert update.tracking_number == "9400100000000000000000" and update.carrier == "usps"
    assert update.events == () and update.status == "unknown"
    assert [(c.method, c.path) for c in server.calls()] == [("GET", "/v2/trackers"), ("POST", "/v2/trackers")]
    assert server.calls("POST")[0].json() == {"tracker": {"tracking_code": "9400100000000000000000", "carrier": "USPS"}}


def test_easypost_register(fake):
    server, config, _, _ = fake("easypost")
    first = PROVIDERS["easypost"].register(config, "9400100000000000000001", "usps")
    again = PROVIDERS["easypost"].register(config, "9400100000000000000001", "usps")
    assert first.startswith("trk_") and again == first  # EasyPost answers the existing tracker
    known = PROVIDERS["easypost"].register(config, "1Z999AA10123456784", "ups")
    assert known == "trk_fake0001"


# --- Shippo ---

def test_shippo_fetch(fake):
    server, config, number, carrier = fake("shippo")
    update = PROVIDERS["shippo"].fetch(config, number, carrier)
    assert [e.provider_event_id for e in update.events] == ["c0ffee00", "c0ffee01"]
    assert update.est_delivery == dt.date(2026, 3, 4) and update.status == "TRANSIT"
    (call,) = server.calls()
    assert (call.method, call.path) == ("GET", f"/tracks/usps/{number}")
    assert call.headers["authorization"] == f"ShippoToken {config.api_key}"


def test_shippo_spells_dhl_its_way_and_needs_a_carrier(fake):
    server, config, _, _ = fake("shippo")
    PROVIDERS["shippo"].fetch(config, "1234567890", "dhl")
    assert server.calls()[0].path == "/tracks/dhl_express/1234567890"
    for carrier in (None, "other"):
        with pytest.raises(ProviderError, match="carrier") as caught:
            PROVIDERS["shippo"].fetch(config, "1234567890", carrier)
        assert not caught.value.retryable
    assert len(server.calls()) == 1


def test_shippo_register(fake):
    server, config, _, _ = fake("shippo")
    assert PROVIDERS["shippo"].register(config, "1Z999AA10123456784", "ups") == "1Z999AA10123456784"
    (call,) = server.calls()
    assert (call.method, call.path) == ("POST", "/tracks/")
    assert call.json() == {"carrier": "ups", "tracking_number": "1Z999AA10123456784"}
    assert call.headers["authorization"] == f"ShippoToken {config.api_key}"


# --- AfterShip ---

def test_aftership_fetch(fake):
    server, config, number, carrier = fake("aftership")
    update = PROVIDERS["aftership"].fetch(config, number, carrier)
    assert [e.occurred_at.utcoffset() for e in update.events] == [dt.timedelta(hours=-8), dt.timedelta(hours=-7)]
    assert update.status == "Delivered" and update.est_delivery == dt.date(2026, 3, 4)
    (call,) = server.calls()
    assert (call.method, call.path) == ("GET", "/tracking/2026-01/trackings")
    assert call.query == {"tracking_numbers": number, "slug": "fedex"}
    assert call.headers["as-api-key"] == config.api_key


def test_aftership_api_version_is_configurable(fake):
    server, config, number, carrier = fake("aftership", version="2025-04")
    assert PROVIDERS["aftership"].fetch(replace(config, api_version="2025-04"), number, carrier).events
    assert server.calls()[0].path == "/tracking/2025-04/trackings"


def test_aftership_fetch_creates_an_unknown_tracking(fake):
    server, config, _, _ = fake("aftership")
    update = PROVIDERS["aftership"].fetch(config, "1Z999AA10123456784", "ups")
    assert update.tracking_number == "1Z999AA10123456784" and update.events == () and update.status == "Pending"
    assert [c.method for c in server.calls()] == ["GET", "POST"]


def test_aftership_register_and_already_exists(fake):
    server, config, _, _ = fake("aftership")
    created = PROVIDERS["aftership"].register(config, "9400100000000000000002", "usps")
    assert created
    assert server.calls("POST")[0].json() == {"tracking_number": "9400100000000000000002", "slug": "usps"}
    # a second time: AfterShip answers 400 / meta.code 4003, which counts as success
    assert PROVIDERS["aftership"].register(config, "9400100000000000000002", "usps") == created
    assert [c.method for c in server.calls()] == ["POST", "POST", "GET"]


def test_aftership_other_400s_are_errors(fake):
    server, config, _, _ = fake("aftership")
    server.fail_next(400, body={"meta": {"code": 4005, "message": "The value of tracking_number is invalid.",
                                         "type": "BadRequest"}, "data": {}})
    with pytest.raises(ProviderError, match="tracking_number is invalid") as caught:
        PROVIDERS["aftership"].register(config, "x", None)
    assert caught.value.status == 400 and not caught.value.retryable


# --- UPS ---

def test_ups_fetch(fake):
    server, config, number, _ = fake("ups")
    update = PROVIDERS["ups"].fetch(config, number, "ups")
    label, out, delivered = update.events  # UPS sends newest first; we answer oldest first
    assert (label.code, label.sub_code, label.description) == ("M", "MP", "Shipper created a label")
    assert label.occurred_at == dt.datetime(2026, 2, 27, 14, 24, tzinfo=tz(-8))  # offset from gmtDate/gmtTime
    assert out.occurred_at == dt.datetime(2026, 3, 2, 8, 5, tzinfo=tz(-7))  # "80500": UPS dropped the leading zero
    assert (delivered.code, delivered.sub_code) == ("D", "FS")
    assert delivered.occurred_at == dt.datetime(2026, 3, 2, 14, 30, tzinfo=tz(-7))
    assert delivered.location == "BOISE, ID 83702"  # and no street line
    assert update.est_delivery == dt.date(2026, 3, 2) and (update.status, update.status_detail) == ("D", "FS")
    token_call, api_call = server.calls()
    assert (token_call.method, token_call.path) == ("POST", "/security/v1/oauth/token")
    assert token_call.headers["authorization"] == fakes.basic("ups-client", "ups-secret")
    assert token_call.form() == {"grant_type": "client_credentials"}
    assert api_call.path == f"/api/track/v1/details/{number}"
    assert api_call.headers["authorization"] == "Bearer ups-token-1"
    assert api_call.headers["transactionsrc"] == "inktrail" and len(api_call.headers["transid"]) <= 32


def test_ups_register_needs_a_webhook_url(fake):
    server, config, number, _ = fake("ups")
    assert PROVIDERS["ups"].register(config, number, "ups") is None
    assert server.calls() == []


def test_ups_register_subscribes_to_track_alert(fake):
    server, config, number, _ = fake("ups")
    config = replace(config, webhook_url="https://shop.example/webhooks/ups")
    assert PROVIDERS["ups"].register(config, number, "ups") == number
    call = server.calls("POST", "/api/track/v1/subscription/standard/package")[0]
    assert call.json() == {"locale": "en_US", "countryCode": "US", "trackingNumberList": [number],
                           "destination": {"url": "https://shop.example/webhooks/ups", "credentialType": "Bearer",
                                           "credential": config.webhook_secret}}
    with pytest.raises(ProviderError, match="refused") as caught:
        PROVIDERS["ups"].register(config, "NOT-A-1Z", "ups")
    assert not caught.value.retryable


# --- FedEx ---

def test_fedex_fetch(fake):
    server, config, number, _ = fake("fedex")
    update = PROVIDERS["fedex"].fetch(config, number, "fedex")
    assert [e.code for e in update.events] == ["PU", "AR", "OD", "DL"]
    picked, arrived, out, delivered = update.events
    assert picked.occurred_at == dt.datetime(2026, 3, 2, 9, 0, tzinfo=tz(-8))
    assert arrived.occurred_at == dt.datetime(2026, 3, 3, 5, 0, tzinfo=tz(-7))  # written "... -0700"
    assert delivered.sub_code == "014"
    assert delivered.description == "Delivered: Left at front door. Signature Service not requested."
    assert delivered.location == "DENVER, CO 80202" and "MAIN" not in delivered.location
    assert out.sub_code is None and out.description == "On FedEx vehicle for delivery"
    assert update.est_delivery == dt.date(2026, 3, 4) and update.status == "DL"
    token_call, api_call = server.calls()
    assert token_call.form() == {"grant_type": "client_credentials", "client_id": "fedex-client",
                                 "client_secret": "fedex-secret"}
    assert api_call.json() == {"includeDetailedScans": True,
                               "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": number}}]}
    assert api_call.headers["authorization"] == "Bearer fedex-token-1"


def test_fedex_unknown_number_message(fake):
    server, config, _, _ = fake("fedex")
    with pytest.raises(ProviderError, match="TRACKING.TRACKINGNUMBER.NOTFOUND"):
        PROVIDERS["fedex"].fetch(config, "111111111111", "fedex")


# --- USPS ---

def test_usps_fetch(fake):
    server, config, number, _ = fake("usps")
    update = PROVIDERS["usps"].fetch(config, number, "usps")
    accepted, out, delivered = update.events
    assert delivered.occurred_at == dt.datetime(2026, 3, 4, 13, 45, tzinfo=tz(-8))  # from GMTTimestamp + GMTOffset
    assert out.occurred_at == dt.datetime(2026, 3, 4, 8, 15, tzinfo=tz(-8))  # local time + GMTOffset
    assert accepted.occurred_at == dt.datetime(2026, 3, 1, 10, 0, tzinfo=UTC)  # no offset at all: UTC
    assert (delivered.code, delivered.description) == ("01", "Delivered, In/At Mailbox")
    assert delivered.location == "RENO, NV 89501" and accepted.location == "PORTLAND, OR 97201"
    assert (update.status, update.status_detail) == ("Delivered", "Delivered, In/At Mailbox")
    assert update.est_delivery == dt.date(2026, 3, 4)
    token_call, api_call = server.calls()
    assert token_call.json() == {"grant_type": "client_credentials", "client_id": "usps-client",
                                 "client_secret": "usps-secret"}
    assert api_call.query == {"expand": "DETAIL"} and api_call.headers["authorization"] == "Bearer usps-token-1"


@pytest.mark.parametrize("name", ["fedex", "usps"])
def test_polled_providers_have_nothing_to_register(fake, name):
    server, config, number, carrier = fake(name)
    assert PROVIDERS[name].register(config, number, carrier) is None
    assert server.calls() == []


# --- OAuth tokens ---

@pytest.mark.parametrize("name", OAUTH)
def test_token_is_fetched_once_for_two_fetches(fake, name):
    server, config, number, carrier = fake(name)
    PROVIDERS[name].fetch(config, number, carrier)
    PROVIDERS[name].fetch(config, number, carrier)
    assert len(server.calls("POST", TOKEN_PATHS[name])) == 1
    assert len(server.calls()) == 3


@pytest.mark.parametrize("name, lifetime", [("ups", 14399), ("fedex", 3599), ("usps", 28799)])
def test_token_is_refreshed_shortly_before_it_expires(fake, name, lifetime):
    server, config, number, carrier = fake(name)
    with time_machine.travel(T0, tick=False) as traveller:
        PROVIDERS[name].fetch(config, number, carrier)
        traveller.shift(dt.timedelta(seconds=lifetime - 120))  # still comfortably valid: cached
        PROVIDERS[name].fetch(config, number, carrier)
        assert len(server.calls("POST", TOKEN_PATHS[name])) == 1
        traveller.shift(dt.timedelta(seconds=90))  # 30 s before expiry: inside the margin, refreshed
        PROVIDERS[name].fetch(config, number, carrier)
    tokens = server.calls("POST", TOKEN_PATHS[name])
    assert len(tokens) == 2
    assert server.calls()[-1].headers["authorization"] == f"Bearer {name}-token-2"


@pytest.mark.parametrize("name", OAUTH)
def test_revoked_token_is_replaced_once(fake, name):
    server, config, number, carrier = fake(name)
    PROVIDERS[name].fetch(config, number, carrier)
    server.oauth.revoke()  # the provider stops honouring the cached token before it expires
    assert PROVIDERS[name].fetch(config, number, carrier).events
    assert len(server.calls("POST", TOKEN_PATHS[name])) == 2


@pytest.mark.parametrize("name", OAUTH)
def test_a_second_401_is_not_retried_again(fake, name):
    server, config, number, carrier = fake(name)
    PROVIDERS[name].fetch(config, number, carrier)
    server.fail_next(401, times=2, body={"errors": [{"message": "no"}]})
    with pytest.raises(ProviderError) as caught:
        PROVIDERS[name].fetch(config, number, carrier)
    assert caught.value.status == 401 and not caught.value.retryable
    # the API's 401, then one new token asked for and refused too: two more requests, no loop
    assert len(server.calls()) == 2 + 2


def test_tokens_are_kept_per_account_and_host(fake):
    first, config_a, number, _ = fake("ups")
    second, config_b, _, _ = fake("ups")
    PROVIDERS["ups"].fetch(config_a, number, "ups")
    PROVIDERS["ups"].fetch(config_b, number, "ups")  # same client_id, other base_url: its own token
    assert len(first.calls("POST", TOKEN_PATHS["ups"])) == 1
    assert len(second.calls("POST", TOKEN_PATHS["ups"])) == 1


def test_concurrent_fetches_share_one_token_request(fake):
    server, config, number, _ = fake("ups")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: PROVIDERS["ups"].fetch(config, number, "ups"), range(16)))
    assert all(r.tracking_number == number for r in results)
    assert len(server.calls("POST", TOKEN_PATHS["ups"])) == 1
    assert len(server.calls("GET")) == 16


def test_token_errors_other_than_refusal_keep_their_meaning(fake):
    server, config, number, _ = fake("fedex")
    server.fail_next(503, retry_after="5")
    with pytest.raises(ProviderError) as caught:
        PROVIDERS["fedex"].fetch(config, number, "fedex")
    assert (caught.value.status, caught.value.retryable, caught.value.retry_after) == (503, True, 5.0)
