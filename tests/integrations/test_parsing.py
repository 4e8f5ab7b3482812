"""Parsing webhook payloads: the shared fixture files, UPS Track Alert events, lenient and strict edges."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from tracker.integrations.carriers import PROVIDERS, UnsupportedEvent, aftership, easypost, shippo, ups
from tracker.integrations.carriers.common import (carrier_code, format_location, parse_date, parse_datetime,
                                                  parse_offset)

LOCAL_FIXTURES = Path(__file__).resolve().parent / "fixtures"
# shared/ sits beside the repository: /work/shared next to /work/main.
SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
FIXTURE_FILES = ("easypost_tracker_updated.json", "shippo_track_updated.json", "aftership_tracking_update.json",
                 "shopify_orders_create.json")
UTC = dt.timezone.utc


def tz(hours: int) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=hours))


def body(name: str) -> bytes:
    return (LOCAL_FIXTURES / name).read_bytes()


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_local_fixture_copies_match_shared(name):
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("shared/fixtures is not beside this checkout")
    assert (LOCAL_FIXTURES / name).read_bytes() == (SHARED_FIXTURES / name).read_bytes()


# --- the fixture files ---

def test_easypost_tracker_updated():
    update = easypost.parse_webhook(body("easypost_tracker_updated.json"))
    assert (update.provider, update.delivery_id, update.carrier) == ("easypost", "evt_0a1b2c3d4e5f", "ups")
    assert update.tracking_number == "1Z999AA10123456784"
    assert update.est_delivery == dt.date(2026, 3, 2)
    assert update.public_url == "https://track.easypost.com/example"
    assert (update.status, update.status_detail) == ("out_for_delivery", "out_for_delivery")
    assert len(update.events) == 3
    first, second, last = update.events
    assert first.occurred_at == dt.datetime(2026, 2, 27, 14, 24, tzinfo=UTC)
    assert first.occurred_at.utcoffset() == dt.timedelta(0)
    assert (first.code, first.sub_code, first.description) == ("pre_transit", "label_created", "Shipper created a label")
    assert first.location is None  # every part of the location is null
    assert second.location == "PORTLAND, OR"
    assert (last.code, last.sub_code, last.description) == ("out_for_delivery", "out_for_delivery",
                                                            "Out For Delivery Today")
    assert last.occurred_at == dt.datetime(2026, 3, 2, 8, 5, tzinfo=UTC)
    assert last.location == "BOISE, ID 83702"
    assert all(e.provider == "easypost" and e.carrier == "ups" and e.tracking_number == update.tracking_number
               and e.provider_event_id is None for e in update.events)


def test_shippo_track_updated():
    update = shippo.parse_webhook(body("shippo_track_updated.json"))
    assert (update.provider, update.delivery_id, update.carrier) == ("shippo", None, "usps")
    assert update.tracking_number == "9400111899223197428490"
    assert update.est_delivery == dt.date(2026, 3, 4)
    assert (update.status, update.status_detail) == ("TRANSIT", "delayed")
    # tracking_status is the last history entry (same object_id): two events, not three
    assert [e.provider_event_id for e in update.events] == ["c0ffee00", "c0ffee01"]
    first, last = update.events
    assert (first.code, first.sub_code, first.description) == ("PRE_TRANSIT", "information_received",
                                                               "Shipping label created")
    assert first.occurred_at == dt.datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    assert first.location == "Portland, OR 97201"
    assert (last.code, last.sub_code, last.description) == ("TRANSIT", "delayed", "Your item has been delayed.")
    assert last.occurred_at == dt.datetime(2026, 3, 3, 14, 10, tzinfo=UTC)
    assert last.location == "Sacramento, CA 95813"


def test_aftership_tracking_update_keeps_each_checkpoints_offset():
    update = aftership.parse_webhook(body("aftership_tracking_update.json"))
    assert (update.provider, update.carrier) == ("aftership", "fedex")
    assert update.delivery_id == "5c1e2f9a-7d3b-4e58-9a61-0b2c3d4e5f60"
    assert update.tracking_number == "794644790132"
    assert update.est_delivery == dt.date(2026, 3, 4)
    assert (update.status, update.status_detail) == ("Delivered", "Delivered_001")
    picked, delivered = update.events
    assert picked.occurred_at.utcoffset() == dt.timedelta(hours=-8)
    assert picked.occurred_at == dt.datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
    assert picked.occurred_at.hour == 9  # the carrier's local time is kept
    assert delivered.occurred_at.utcoffset() == dt.timedelta(hours=-7)
    assert delivered.occurred_at == dt.datetime(2026, 3, 4, 18, 42, tzinfo=UTC)
    assert (picked.code, picked.sub_code, picked.description) == ("InTransit", "InTransit_001", "Picked up")
    assert (delivered.code, delivered.sub_code) == ("Delivered", "Delivered_001")
    assert (picked.location, delivered.location) == ("PORTLAND, OR 97201", "DENVER, CO 80202")


def test_every_webhook_provider_parses_its_fixture_as_a_frozen_update():
    for name, file in (("easypost", "easypost_tracker_updated.json"), ("shippo", "shippo_track_updated.json"),
                       ("aftership", "aftership_tracking_update.json")):
        update = PROVIDERS[name].parse_webhook(body(file))
        assert isinstance(update.events, tuple)
        with pytest.raises(dataclasses.FrozenInstanceError):
            update.carrier = "dhl"
        with pytest.raises(dataclasses.FrozenInstanceError):
            update.events[0].code = "x"
        times = [e.occurred_at for e in update.events]
        assert times == sorted(times) and all(t.tzinfo is not None for t in times)


# --- UPS Track Alert (shaped like the examples in UPS's published UPSTrackAlert.yaml) ---

def alert(**overrides) -> bytes:
    doc = {
        "trackingNumber": " 1Z204W4R0308071865",
        "localActivityDate": "20260302", "localActivityTime": "091519",
        "gmtActivityDate": "20260302", "gmtActivityTime": "161519",
        "activityLocation": {"city": "Boise", "stateProvince": "ID", "postalCode": "", "country": "US"},
        "activityStatus": {"type": "I", "code": "OT", "description": "Out for Delivery", "descriptionCode": "021"},
        "scheduledDeliveryDate": "20260302", "actualDeliveryDate": "", "actualDeliveryTime": "",
        "deliveryStartTime": "", "deliveryEndTime": "", "deliveryTimeDescription": "end of day", "deliveryPhoto": "",
    }
    doc.update(overrides)
    return json.dumps(doc).encode()


def test_ups_track_alert_event():
    update = ups.parse_webhook(alert())
    assert (update.provider, update.carrier, update.delivery_id) == ("ups", "ups", None)
    assert update.tracking_number == "1Z204W4R0308071865"  # UPS's own example has a leading space
    assert update.est_delivery == dt.date(2026, 3, 2)
    (event,) = update.events
    assert (event.code, event.sub_code, event.description) == ("I", "OT", "Out for Delivery")
    assert event.occurred_at == dt.datetime(2026, 3, 2, 9, 15, 19, tzinfo=tz(-7))
    assert event.location == "Boise, ID"
    assert (update.status, update.status_detail) == ("I", "OT")


def test_ups_track_alert_offset_across_midnight():
    update = ups.parse_webhook(alert(localActivityDate="20260301", localActivityTime="212901",
                                     gmtActivityDate="20260302", gmtActivityTime="052901"))
    assert update.events[0].occurred_at == dt.datetime(2026, 3, 1, 21, 29, 1, tzinfo=tz(-8))


def test_ups_track_alert_delivered():
    update = ups.parse_webhook(alert(
        activityStatus={"type": "D", "code": "FS", "description": "Delivered", "descriptionCode": "011"},
        activityLocation={"city": "CHARLOTTE", "stateProvince": "NC", "postalCode": "28209", "country": "US"},
        scheduledDeliveryDate="", actualDeliveryDate="20260302", actualDeliveryTime="095004"))
    (event,) = update.events
    assert (event.code, event.sub_code, event.location) == ("D", "FS", "CHARLOTTE, NC 28209")
    assert update.est_delivery is None


def test_ups_track_alert_without_gmt_is_taken_as_utc():
    update = ups.parse_webhook(alert(gmtActivityDate="", gmtActivityTime=""))
    assert update.events[0].occurred_at == dt.datetime(2026, 3, 2, 9, 15, 19, tzinfo=UTC)


# --- malformed and unsupported deliveries ---

@pytest.mark.parametrize("module", [easypost, shippo, aftership, ups], ids=lambda m: m.NAME)
@pytest.mark.parametrize("raw, message", [
    (b"", "not JSON"), (b"not json", "not JSON"), (b"\xff\xfe", "not UTF-8"), (b"[1, 2]", "not an object"),
    (b'"text"', "not an object"), (b"{}", None),
])
def test_malformed_bodies_raise_value_error(module, raw, message):
    with pytest.raises(ValueError, match=message) as caught:
        module.parse_webhook(raw)
    assert module.NAME in str(caught.value)
    assert not isinstance(caught.value, UnsupportedEvent)


@pytest.mark.parametrize("module, raw", [
    (easypost, {"description": "tracker.updated", "result": {"object": "Tracker", "tracking_details": []}}),
    (shippo, {"event": "track_updated", "data": {"carrier": "usps"}}),
    (aftership, {"event": "tracking_update", "msg": {"slug": "ups"}}),
    (ups, {"activityStatus": {"type": "I"}}),
    (ups, {"trackingNumber": "1Z204W4R0308071865"}),
    (easypost, {"description": "tracker.updated", "result": "trk_1"}),
    (shippo, {"event": "track_updated", "data": []}),
])
def test_missing_essentials_raise_value_error(module, raw):
    with pytest.raises(ValueError):
        module.parse_webhook(json.dumps(raw).encode())


@pytest.mark.parametrize("module, raw", [
    (easypost, {"description": "batch.updated", "result": {"object": "Batch"}}),
    (easypost, {"description": "tracker.updated", "result": {"object": "Refund"}}),
    (shippo, {"event": "transaction_created", "data": {"object_id": "x"}}),
    (aftership, {"event": "return_created", "msg": {}}),
])
def test_other_event_types_are_unsupported_not_malformed(module, raw):
    with pytest.raises(UnsupportedEvent):
        module.parse_webhook(json.dumps(raw).encode())


def test_parsing_is_lenient_about_extra_fields_missing_times_and_order():
    doc = json.loads(body("easypost_tracker_updated.json"))
    details = doc["result"]["tracking_details"]
    details.append({"message": "No time", "status": "in_transit", "datetime": None, "new_field": [1]})
    details.reverse()  # out of order
    doc["result"]["carrier"] = "UPSDAP"
    doc["result"]["est_delivery_date"] = None
    doc["brand_new"] = {"nested": True}
    update = easypost.parse_webhook(json.dumps(doc).encode())
    assert [e.description for e in update.events] == ["Shipper created a label", "Origin Scan",
                                                      "Out For Delivery Today"]
    assert update.carrier == "ups" and update.est_delivery is None


def test_aftership_edd_revise_and_newer_estimate_fields():
    doc = json.loads(body("aftership_tracking_update.json"))
    doc["event"] = "edd_revise"
    del doc["msg"]["expected_delivery"]
    doc["msg"]["latest_estimated_delivery"] = {"type": "specific", "source": "Carrier EDD",
                                               "datetime": "2026-03-05T12:00:00-07:00"}
    doc["msg"]["aftership_tracking_url"] = "https://example.aftership.com/tracking/794644790132"
    doc["msg"]["checkpoints"].append({"checkpoint_time": "2026-03-05T08:00:00", "message": "Naive time",
                                      "tag": "InTransit", "city": "Denver", "state": "CO", "zip": "80202",
                                      "country_region": "USA", "location": "12 Elm St, Denver"})
    update = aftership.parse_webhook(json.dumps(doc).encode())
    assert update.est_delivery == dt.date(2026, 3, 5)
    assert update.public_url == "https://example.aftership.com/tracking/794644790132"
    naive = update.events[-1]
    assert naive.occurred_at == dt.datetime(2026, 3, 5, 8, 0, tzinfo=UTC)  # no offset given: UTC
    assert naive.location == "Denver, CO 80202"  # the structured parts, not the free text with a street


def test_shippo_current_status_not_in_history_is_added():
    doc = json.loads(body("shippo_track_updated.json"))
    doc["data"]["tracking_history"] = doc["data"]["tracking_history"][:1]
    update = shippo.parse_webhook(json.dumps(doc).encode())
    assert [e.provider_event_id for e in update.events] == ["c0ffee00", "c0ffee01"]
    doc["data"]["tracking_status"] = None
    doc["data"]["eta"] = None
    update = shippo.parse_webhook(json.dumps(doc).encode())
    assert len(update.events) == 1 and update.status is None and update.est_delivery is None


# --- the lenient helpers ---

@pytest.mark.parametrize("raw, expected", [
    ("2026-03-02T16:20:00Z", dt.datetime(2026, 3, 2, 16, 20, tzinfo=UTC)),
    ("2026-03-02T09:00:00-08:00", dt.datetime(2026, 3, 2, 9, 0, tzinfo=tz(-8))),
    ("2026-03-02T09:00:00-0800", dt.datetime(2026, 3, 2, 9, 0, tzinfo=tz(-8))),
    ("2024-08-12T15:18:10 -0500", dt.datetime(2024, 8, 12, 15, 18, 10, tzinfo=tz(-5))),
    ("2026-03-02T09:00:00.123+05:30",
     dt.datetime(2026, 3, 2, 9, 0, 0, 123000, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))),
    ("2026-03-02T09:00:00", dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),
    ("2026-03-02", dt.datetime(2026, 3, 2, tzinfo=UTC)),
    ("", None), ("yesterday", None), (None, None), ({"t": 1}, None), ("2026-13-02T00:00:00Z", None),
    ("2026-03-02T25:00:00Z", None),
])
def test_parse_datetime(raw, expected):
    parsed = parse_datetime(raw)
    assert parsed == expected
    if expected is not None:
        assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("raw, expected", [
    ("2026-03-04", dt.date(2026, 3, 4)), ("20260304", dt.date(2026, 3, 4)),
    ("2026-03-04T00:00:00Z", dt.date(2026, 3, 4)), ("2026-03-04T23:30:00-07:00", dt.date(2026, 3, 4)),
    ("", None), (None, None), ("2026-02-30", None), ("March 4", None),
])
def test_parse_date(raw, expected):
    assert parse_date(raw) == expected


def test_parse_offset():
    assert parse_offset("-05:00") == tz(-5) and parse_offset("+0530") == dt.timezone(dt.timedelta(hours=5, minutes=30))
    assert parse_offset("") is None and parse_offset("EST") is None and parse_offset("+25:00") is None


@pytest.mark.parametrize("raw, expected", [
    ("UPS", "ups"), ("UPSDAP", "ups"), ("ups-mi", "ups"), ("USPS", "usps"), ("usps", "usps"), ("FedEx", "fedex"),
    ("FedExSmartPost", "fedex"), ("fedex-uk", "fedex"), ("DHLExpress", "dhl"), ("dhl_express", "dhl"),
    ("dhl-global-mail", "dhl"), ("OnTrac", None), ("", None), (None, None),
])
def test_carrier_code(raw, expected):
    assert carrier_code(raw) == expected


def test_format_location():
    assert format_location("BOISE", "ID", "83702", "US") == "BOISE, ID 83702"
    assert format_location("Berlin", None, "10115", "DE") == "Berlin, 10115, DE"
    assert format_location(None, None, None, "US") is None
    assert format_location("", " ", None, "USA") is None
    assert format_location(None, "OR", None, None) == "OR"
