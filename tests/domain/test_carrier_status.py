"""Carrier words in our words, and a shipment's state from all its events: alone, no app, no database.

The JSON payloads in fixtures/ are copies of the providers' documented webhook shapes (shared fixtures)."""
from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from tracker.domain.carrier_status import (
    CARRIER_STAGES, EXCEPTIONS, FINAL, LABEL_CREATED, NO_EVENTS, PHYSICAL, PROVIDERS, RANK, STATUSES,
    VOCABULARIES, Normalized, ShipmentState, TrackingEventIn, Vocabulary, derive_state, event_key, normalise,
    order_carrier_stage, parcel_stage,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def ev(hours: float, status: str, exception: str | None = None, key: str | None = None) -> TrackingEventIn:
    at = T0 + dt.timedelta(hours=hours)
    return TrackingEventIn(key=key or f"{status}@{hours}", occurred_at=at, status=status, exception=exception)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


# -- the vocabulary --------------------------------------------------------------------------------------

def test_api_constants():
    assert STATUSES == ("unknown", "pre_transit", "picked_up", "in_transit", "out_for_delivery",
                        "available_for_pickup", "delivered", "returned", "failure", "cancelled")
    assert EXCEPTIONS == ("delayed", "delivery_attempted", "held", "address_problem", "weather", "damaged", "lost")
    assert FINAL == {"delivered", "returned", "failure"}
    assert PHYSICAL == {"picked_up", "in_transit", "out_for_delivery", "available_for_pickup", "delivered",
                        "returned", "failure"}
    assert set(RANK) == set(STATUSES)
    assert set(PROVIDERS) == {"easypost", "shippo", "aftership", "ups", "fedex", "usps"}
    # Progress statuses climb in the order a parcel lives them; finals share the top.
    climb = ["pre_transit", "picked_up", "in_transit", "out_for_delivery", "available_for_pickup", "delivered"]
    assert [RANK[s] for s in climb] == sorted({RANK[s] for s in climb})
    assert {RANK[s] for s in FINAL} == {max(RANK.values())}


def test_tables_only_speak_our_words():
    for vocab in VOCABULARIES.values():
        assert set(vocab.statuses.values()) <= set(STATUSES)
        assert set(vocab.refine.values()) <= set(STATUSES)
        assert set(vocab.exceptions.values()) <= set(EXCEPTIONS) | {None}
        assert set(vocab.alerts.values()) <= set(EXCEPTIONS)
    with pytest.raises(ValueError, match="not our statuses"):
        Vocabulary(statuses={"X": "lost_in_space"})
    with pytest.raises(ValueError, match="not our exceptions"):
        Vocabulary(statuses={"X": "in_transit"}, exceptions={"y": "grumpy"})


EASYPOST = [
    # status, status_detail, message -> status, exception
    ("unknown", None, None, "unknown", None),
    ("pre_transit", "label_created", "Shipper created a label", "pre_transit", None),
    ("pre_transit", "status_update", None, "pre_transit", None),
    ("pre_transit", "picked_up", None, "picked_up", None),
    ("in_transit", "picked_up", "Pickup Scan", "in_transit", None),
    ("in_transit", "received_at_origin_facility", "Origin Scan", "in_transit", None),
    ("in_transit", "origin_scan", None, "in_transit", None),
    ("in_transit", "arrived_at_facility", None, "in_transit", None),
    ("in_transit", "departed_facility", None, "in_transit", None),
    ("in_transit", "delayed", None, "in_transit", "delayed"),
    ("in_transit", "weather_delay", None, "in_transit", "weather"),
    ("in_transit", "held", None, "in_transit", "held"),
    ("in_transit", "held_at_facility", None, "in_transit", "held"),
    ("in_transit", "address_correction", None, "in_transit", "address_problem"),
    ("in_transit", "incorrect_address", None, "in_transit", "address_problem"),
    ("in_transit", "damaged", None, "in_transit", "damaged"),
    ("in_transit", "lost", None, "in_transit", "lost"),
    ("in_transit", "transit_exception", "Severe weather in the area", "in_transit", "weather"),
    ("in_transit", "transit_exception", "Something happened", "in_transit", "delayed"),
    ("in_transit", "out_for_delivery", None, "out_for_delivery", None),
    ("in_transit", "arrived_at_pickup_location", None, "available_for_pickup", None),
    ("in_transit", "return_to_sender", None, "returned", None),
    ("out_for_delivery", "out_for_delivery", "Out For Delivery Today", "out_for_delivery", None),
    ("out_for_delivery", "delivery_attempted", None, "out_for_delivery", "delivery_attempted"),
    ("out_for_delivery", "attempted_delivery", None, "out_for_delivery", "delivery_attempted"),
    ("out_for_delivery", "delivery_exception", "Receiver not available", "out_for_delivery", "delivery_attempted"),
    ("delivered", "arrived_at_destination", "Delivered", "delivered", None),
    ("delivered", "damaged", None, "delivered", "damaged"),
    ("available_for_pickup", "arrived_at_pickup_location", None, "available_for_pickup", None),
    ("return_to_sender", "return_to_sender", None, "returned", None),
    ("failure", "lost", None, "failure", "lost"),
    ("failure", None, None, "failure", None),
    ("cancelled", None, None, "cancelled", None),
    ("error", "unknown", None, "unknown", None),
    ("unknown", "delayed", None, "unknown", None),  # an unknown event carries nothing
    ("teleported", None, None, "unknown", None),
]


@pytest.mark.parametrize("code,sub,text,status,exception", EASYPOST)
def test_easypost(code, sub, text, status, exception):
    assert normalise("easypost", code, sub, text) == Normalized(status, exception)


SHIPPO = [
    ("PRE_TRANSIT", "information_received", "Shipping label created", "pre_transit", None),
    ("PRE_TRANSIT", None, None, "pre_transit", None),
    ("PRE_TRANSIT", "package_accepted", None, "picked_up", None),
    ("TRANSIT", "package_accepted", None, "in_transit", None),
    ("TRANSIT", "package_arrived", None, "in_transit", None),
    ("TRANSIT", "package_departed", None, "in_transit", None),
    ("TRANSIT", "package_processed", None, "in_transit", None),
    ("TRANSIT", "package_processing", None, "in_transit", None),
    ("TRANSIT", "package_forwarded", None, "in_transit", None),
    ("TRANSIT", "delivery_scheduled", None, "in_transit", None),
    ("TRANSIT", "out_for_delivery", None, "out_for_delivery", None),
    ("TRANSIT", "pickup_available", None, "available_for_pickup", None),
    ("TRANSIT", "return_to_sender", None, "returned", None),
    ("TRANSIT", "delayed", "Your item has been delayed.", "in_transit", "delayed"),
    ("TRANSIT", "address_issue", None, "in_transit", "address_problem"),
    ("TRANSIT", "contact_carrier", None, "in_transit", "held"),
    ("TRANSIT", "delivery_attempted", None, "in_transit", "delivery_attempted"),
    ("TRANSIT", "notice_left", None, "in_transit", "delivery_attempted"),
    ("TRANSIT", "location_inaccessible", None, "in_transit", "delivery_attempted"),
    ("TRANSIT", "delivery_rescheduled", None, "in_transit", "delayed"),
    ("TRANSIT", "rescheduled", None, "in_transit", "delayed"),
    ("TRANSIT", "package_damaged", None, "in_transit", "damaged"),
    ("TRANSIT", "package_held", None, "in_transit", "held"),
    ("TRANSIT", "package_unclaimed", None, "in_transit", "held"),
    ("TRANSIT", "package_undeliverable", None, "in_transit", "delivery_attempted"),
    ("TRANSIT", None, None, "in_transit", None),
    ("DELIVERED", "delivered", None, "delivered", None),
    ("RETURNED", "return_to_sender", None, "returned", None),
    ("RETURNED", "returned", None, "returned", None),
    ("FAILURE", "package_undeliverable", None, "failure", "delivery_attempted"),
    ("FAILURE", "lost", None, "failure", "lost"),
    ("FAILURE", "package_lost", None, "failure", "lost"),
    ("UNKNOWN", None, None, "unknown", None),
    ("transit", "out_for_delivery", None, "out_for_delivery", None),  # any case
]


@pytest.mark.parametrize("code,sub,text,status,exception", SHIPPO)
def test_shippo(code, sub, text, status, exception):
    assert normalise("shippo", code, sub, text) == Normalized(status, exception)


AFTERSHIP = [
    ("Pending", "Pending_001", None, "unknown", None),
    ("InfoReceived", "InfoReceived_001", None, "pre_transit", None),
    ("InTransit", "InTransit_001", "Picked up", "in_transit", None),
    ("InTransit", "InTransit_002", "Acceptance scan", "in_transit", None),
    ("InTransit", "InTransit_007", "Departure scan", "in_transit", None),
    ("InTransit", "InTransit_008", "Problem resolved", "in_transit", None),
    ("OutForDelivery", "OutForDelivery_001", None, "out_for_delivery", None),
    ("AttemptFail", "AttemptFail_001", "Addressee not available", "out_for_delivery", "delivery_attempted"),
    ("AttemptFail", "AttemptFail_002", "Business closed", "out_for_delivery", "delivery_attempted"),
    ("AttemptFail", None, None, "out_for_delivery", "delivery_attempted"),
    ("AttemptFail", "AttemptFail_001", "Incorrect address", "out_for_delivery", "address_problem"),
    ("Delivered", "Delivered_001", "Delivered", "delivered", None),
    ("Delivered", "Delivered_002", "Picked up by the customer", "delivered", None),
    ("AvailableForPickup", "AvailableForPickup_001", None, "available_for_pickup", None),
    ("Exception", "Exception_002", None, "in_transit", "address_problem"),
    ("Exception", "Exception_003", None, "in_transit", "delivery_attempted"),
    ("Exception", "Exception_004", None, "in_transit", "held"),
    ("Exception", "Exception_005", None, "in_transit", "delayed"),
    ("Exception", "Exception_006", None, "in_transit", "held"),
    ("Exception", "Exception_007", None, "in_transit", "address_problem"),
    ("Exception", "Exception_010", "Returning to sender", "returned", None),
    ("Exception", "Exception_011", "Returned to sender", "returned", None),
    ("Exception", "Exception_012", None, "in_transit", "damaged"),
    ("Exception", "Exception_013", None, "in_transit", "lost"),
    ("Exception", "Exception_017", None, "in_transit", "weather"),
    ("Exception", "Exception_001", "Shipment exception", "in_transit", "delayed"),  # not named: the default
    ("Exception", "Exception_099", "Flood in the depot", "in_transit", "weather"),  # unknown subtag: the text
    ("Exception", None, None, "in_transit", "delayed"),
    ("Expired", "Expired_001", None, "unknown", None),
    ("intransit", None, None, "in_transit", None),
]


@pytest.mark.parametrize("code,sub,text,status,exception", AFTERSHIP)
def test_aftership(code, sub, text, status, exception):
    assert normalise("aftership", code, sub, text) == Normalized(status, exception)


UPS = [
    # status.type, status.code, status.description
    ("M", "MP", "Shipper created a label, UPS has not received the package yet.", "pre_transit", None),
    ("MV", None, "Billing Information Voided", "cancelled", None),
    ("P", "PU", "Pickup Scan", "picked_up", None),
    ("I", "PU", "Pickup Scan", "picked_up", None),
    ("I", "OR", "Origin Scan", "in_transit", None),
    ("I", "AR", "Arrived at Facility", "in_transit", None),
    ("I", "DP", "Departed from Facility", "in_transit", None),
    ("I", None, "Out For Delivery Today", "out_for_delivery", None),
    ("O", None, "Out For Delivery Today", "out_for_delivery", None),
    # Type D is "delivery information": out for delivery as well as delivered.
    ("D", "OT", "Out For Delivery Today", "out_for_delivery", None),
    ("D", "OF", "Out For Delivery", "out_for_delivery", None),
    ("D", "OT", None, "out_for_delivery", None),
    ("D", None, "Out For Delivery Today", "out_for_delivery", None),
    ("D", "KB", "DELIVERED", "delivered", None),
    ("D", "FS", "Delivered", "delivered", None),
    ("D", "KM", None, "delivered", None),
    ("D", "9E", None, "delivered", None),
    ("D", "ZZ", "DELIVERED", "delivered", None),
    ("D", None, "Delivered", "delivered", None),
    ("D", None, "Package could not be delivered", "out_for_delivery", None),
    ("D", None, None, "out_for_delivery", None),   # says nothing: never a false final
    ("X", "U2", "THE RECEIVER WAS NOT AVAILABLE FOR DELIVERY. WE'LL MAKE A SECOND ATTEMPT THE NEXT BUSINESS DAY.",
     "in_transit", "delivery_attempted"),
    ("X", "UE", "The address has been corrected. Delivery has been rescheduled.", "in_transit", "address_problem"),
    ("X", None, "Severe weather conditions have delayed delivery.", "in_transit", "weather"),
    ("X", None, "The package was damaged and is being repackaged", "in_transit", "damaged"),
    ("X", None, "Your package is being held at a UPS facility", "in_transit", "held"),
    ("X", None, "Your package is delayed", "in_transit", "delayed"),
    ("X", None, "Exception", "in_transit", "delayed"),
    ("X", None, "The receiver refused the delivery. It will be returned to the sender.", "returned",
     "delivery_attempted"),
    ("RS", None, "Returned to shipper", "returned", None),
    ("DO", None, "Delivered Origin CFS", "in_transit", None),
    ("DD", None, "Delivered Destination CFS", "in_transit", None),
    ("W", None, "Warehousing", "in_transit", None),
    ("NA", None, "Not Available", "unknown", None),
    ("Q", None, "Something new", "unknown", None),
]


@pytest.mark.parametrize("code,sub,text,status,exception", UPS)
def test_ups(code, sub, text, status, exception):
    assert normalise("ups", code, sub, text) == Normalized(status, exception)


FEDEX = [
    ("OC", None, "Shipment information sent to FedEx", "pre_transit", None),
    ("PU", None, "Picked up", "picked_up", None),
    ("IT", None, "In transit", "in_transit", None),
    ("AR", None, "Arrived at FedEx location", "in_transit", None),
    ("DP", None, "Departed FedEx location", "in_transit", None),
    ("OD", None, "On FedEx vehicle for delivery", "out_for_delivery", None),
    ("DL", None, "Delivered", "delivered", None),
    ("DE", "08", "Customer not available or business closed", "in_transit", "delivery_attempted"),
    ("DE", "03", "Incorrect address", "in_transit", "address_problem"),
    ("DE", None, None, "in_transit", "delivery_attempted"),
    ("SE", None, "Package damaged", "in_transit", "damaged"),
    ("SE", None, "Shipment exception", "in_transit", "delayed"),
    ("DY", None, "Delay", "in_transit", "delayed"),
    ("DY", None, "Weather delay", "in_transit", "weather"),
    ("CD", None, "Clearance delay", "in_transit", "held"),
    ("PD", None, "Pickup delay", "pre_transit", "delayed"),
    ("HL", None, "Hold at location", "available_for_pickup", None),
    ("HP", None, "Ready for recipient pickup", "available_for_pickup", None),
    ("RS", None, "Return to shipper", "returned", None),
    ("CA", None, "Shipment cancelled by sender", "cancelled", None),
    ("ZZ", None, "Something new", "unknown", None),
    ("dl", None, None, "delivered", None),
]


@pytest.mark.parametrize("code,sub,text,status,exception", FEDEX)
def test_fedex(code, sub, text, status, exception):
    assert normalise("fedex", code, sub, text) == Normalized(status, exception)


USPS = [
    ("Pre-Shipment", "GX", "Shipping Label Created, USPS Awaiting Item", "pre_transit", None),
    ("Accepted", "03", "USPS in possession of item", "picked_up", None),
    ("In Transit", "10", "Arrived at USPS Regional Facility", "in_transit", None),
    ("In-Transit", None, "Departed USPS Facility", "in_transit", None),
    ("Out for Delivery", "OF", "Out for Delivery", "out_for_delivery", None),
    ("Delivered", "01", "Delivered, In/At Mailbox", "delivered", None),
    ("Delivered", "01", "Delivered, To Original Sender", "returned", None),
    ("Available for Pickup", "16", "Available for Pickup", "available_for_pickup", None),
    ("Alert", None, "In Transit, Arriving Late", "in_transit", "delayed"),
    ("Alert", None, "Delivery delayed", "in_transit", "delayed"),
    ("Alert", None, "Held at Post Office, At Customer Request", "in_transit", "held"),
    ("Alert", None, "Insufficient Address", "in_transit", "address_problem"),
    ("Alert", None, "Addressee Unknown", "in_transit", "address_problem"),
    ("Alert", "05", "Undeliverable as Addressed", "in_transit", "address_problem"),
    ("Alert", None, "Moved, Left No Address", "in_transit", "address_problem"),
    ("Alert", None, "Addressee not available", "in_transit", "delivery_attempted"),
    ("Alert", "02", "Notice Left (No Authorized Recipient Available)", "in_transit", "delivery_attempted"),
    ("Alert", None, "Delivery Attempted - No Access to Delivery Location", "in_transit", "delivery_attempted"),
    ("Alert", None, "Damaged", "in_transit", "damaged"),
    ("Alert", None, "Weather Delay", "in_transit", "weather"),
    ("Alert", None, "Something unusual", "in_transit", "delayed"),
    ("Alert", "09", "Return to Sender", "returned", None),
    ("Alert", None, "Addressee Unknown, Return to Sender", "returned", "address_problem"),
    ("In Transit", None, "Return to Sender Processed", "returned", None),
    ("Delivery Attempt", None, "Notice Left", "out_for_delivery", "delivery_attempted"),
    ("pre shipment", None, None, "pre_transit", None),
    ("Lost in the mail", None, None, "unknown", None),
]


@pytest.mark.parametrize("code,sub,text,status,exception", USPS)
def test_usps(code, sub, text, status, exception):
    assert normalise("usps", code, sub, text) == Normalized(status, exception)


USPS_EVENTS = [
    # Each v3 tracking event has an eventCode and an eventType text (no category of its own).
    ("GX", "Shipping Label Created, USPS Awaiting Item", "pre_transit", None),
    ("MA", "Pre-Shipment Info Sent to USPS, USPS Awaiting Item", "pre_transit", None),
    ("03", "USPS picked up item", "picked_up", None),
    ("OA", "Accepted at USPS Origin Facility", "picked_up", None),
    ("10", "Arrived at USPS Regional Facility", "in_transit", None),
    ("EF", "Departed USPS Regional Facility", "in_transit", None),
    ("07", "Arrived at Post Office", "in_transit", None),
    ("OF", "Out for Delivery", "out_for_delivery", None),
    ("02", "Notice Left (No Authorized Recipient Available)", "out_for_delivery", "delivery_attempted"),
    ("02", None, "out_for_delivery", "delivery_attempted"),
    ("04", "Refused", "out_for_delivery", "delivery_attempted"),
    ("05", "Undeliverable as Addressed", "in_transit", "address_problem"),
    ("08", "Missent", "in_transit", "delayed"),
    ("16", "Available for Pickup", "available_for_pickup", None),
    ("01", "Delivered, In/At Mailbox", "delivered", None),
    ("01", "Delivered, To Original Sender", "returned", None),
    ("09", "Return to Sender", "returned", None),
    ("22", "Insufficient Address", "returned", "address_problem"),
    ("27", "Unclaimed", "returned", None),
    ("11", "Dead Letter", "failure", None),
    ("DX", "Delivery Status Not Updated", "unknown", None),
    ("43", "Picked Up", "unknown", None),   # by whom? not guessed
]


@pytest.mark.parametrize("code,text,status,exception", USPS_EVENTS)
def test_usps_event_codes(code, text, status, exception):
    assert normalise("usps", code, None, text) == Normalized(status, exception)


@pytest.mark.parametrize("provider", ["dhl", "", "easy post", None])
def test_unknown_provider_raises(provider):
    with pytest.raises(ValueError, match="unknown tracking provider"):
        normalise(provider, "delivered")


@pytest.mark.parametrize("provider,code,status", [("EasyPost", "delivered", "delivered"), (" ups ", "RS", "returned"),
                                                  ("FEDEX", "DL", "delivered")])
def test_provider_name_any_case(provider, code, status):
    assert normalise(provider, code).status == status


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
@pytest.mark.parametrize("code", [None, "", "   ", "???", "4242", "in transit please"])
def test_unknown_codes_never_raise(provider, code):
    assert normalise(provider, code, "whatever", "delayed, damaged and lost") == Normalized("unknown", None)


@given(provider=st.sampled_from(PROVIDERS), code=st.one_of(st.none(), st.text(max_size=20)),
       sub=st.one_of(st.none(), st.text(max_size=20)), text=st.one_of(st.none(), st.text(max_size=60)))
@hsettings(max_examples=300, deadline=None)
def test_normalise_total(provider, code, sub, text):
    """Whatever a provider sends, normalise answers with our words and never raises."""
    result = normalise(provider, code, sub, text)
    assert result.status in STATUSES
    assert result.exception is None or result.exception in EXCEPTIONS
    if result.status == "unknown":
        assert result.exception is None


# -- the fixture payloads -------------------------------------------------------------------------------

def easypost_events() -> list[tuple[str, str, str, str]]:
    """(status, status_detail, message, datetime) of the fixture's tracking details."""
    tracker = load("easypost_tracker_updated.json")["result"]
    return [(d["status"], d["status_detail"], d["message"], d["datetime"]) for d in tracker["tracking_details"]]


def test_easypost_fixture():
    tracker = load("easypost_tracker_updated.json")["result"]
    assert normalise("easypost", tracker["status"], tracker["status_detail"]) == Normalized("out_for_delivery", None)
    got = [normalise("easypost", s, d, m) for s, d, m, _ in easypost_events()]
    assert got == [Normalized("pre_transit", None), Normalized("in_transit", None),
                   Normalized("out_for_delivery", None)]

    state = derive_state(
        TrackingEventIn(event_key("ups", tracker["tracking_code"], f"{s}/{d}", when(t)), when(t),
                        *_norm("easypost", s, d, m))
        for s, d, m, t in easypost_events()
    )
    assert state.status == "out_for_delivery" and state.active and not state.final
    assert state.activated_at == when("2026-02-28T01:48:00Z")  # the origin scan, not the label
    assert state.last_event_at == when("2026-03-02T08:05:00Z")


def _norm(provider, code, sub=None, text=None) -> tuple[str, str | None]:
    n = normalise(provider, code, sub, text)
    return n.status, n.exception


def test_shippo_fixture():
    data = load("shippo_track_updated.json")["data"]
    current = data["tracking_status"]
    assert normalise("shippo", current["status"], current["substatus"]["code"], current["status_details"]) \
        == Normalized("in_transit", "delayed")
    history = data["tracking_history"]
    got = [normalise("shippo", h["status"], (h.get("substatus") or {}).get("code"), h["status_details"])
           for h in history]
    assert got == [Normalized("pre_transit", None), Normalized("in_transit", "delayed")]

    state = derive_state(
        TrackingEventIn(h["object_id"], when(h["status_date"]),
                        *_norm("shippo", h["status"], h["substatus"]["code"], h["status_details"]))
        for h in history
    )
    assert state == ShipmentState(status="in_transit", exception="delayed", active=True,
                                  activated_at=when("2026-03-03T14:10:00Z"), delivered_at=None,
                                  last_event_at=when("2026-03-03T14:10:00Z"), final=False)


def test_aftership_fixture():
    msg = load("aftership_tracking_update.json")["msg"]
    assert normalise("aftership", msg["tag"], msg["subtag"], msg["subtag_message"]) == Normalized("delivered", None)
    got = [normalise("aftership", c["tag"], c["subtag"], c["message"]) for c in msg["checkpoints"]]
    assert got == [Normalized("in_transit", None), Normalized("delivered", None)]

    state = derive_state(
        TrackingEventIn(event_key(c["slug"], msg["tracking_number"], c["subtag"], when(c["checkpoint_time"])),
                        when(c["checkpoint_time"]), *_norm("aftership", c["tag"], c["subtag"], c["message"]))
        for c in msg["checkpoints"]
    )
    assert state.status == "delivered" and state.final and state.exception is None
    assert state.activated_at == when("2026-03-02T09:00:00-08:00")
    assert state.delivered_at == when("2026-03-04T11:42:00-07:00")
    assert state.delivered_at.tzinfo == UTC


# -- derive_state ---------------------------------------------------------------------------------------

def test_no_events_is_label_created():
    assert derive_state([]) == NO_EVENTS
    assert NO_EVENTS == ShipmentState(LABEL_CREATED, None, False, None, None, None, False)


def test_delivered_then_late_out_for_delivery_stays_delivered():
    state = derive_state([ev(0, "in_transit"), ev(5, "delivered"), ev(6, "out_for_delivery", "delivery_attempted")])
    assert state.status == "delivered" and state.final
    assert state.exception is None
    assert state.delivered_at == at(5)
    assert state.last_event_at == at(6)


def test_a_lower_status_later_does_not_move_back():
    state = derive_state([ev(0, "picked_up"), ev(1, "out_for_delivery"), ev(2, "in_transit")])
    assert state.status == "out_for_delivery"


def test_exception_cleared_by_a_newer_normal_event():
    raised = [ev(0, "in_transit"), ev(1, "in_transit", "delayed")]
    assert derive_state(raised).exception == "delayed"
    assert derive_state(raised + [ev(2, "in_transit")]).exception is None
    assert derive_state(raised + [ev(2, "out_for_delivery")]).exception is None


def test_exception_not_cleared_by_an_older_event_arriving_late():
    events = [ev(0, "picked_up"), ev(3, "in_transit", "weather")]
    late = ev(2, "in_transit", key="late-scan")  # received after, but happened before
    state = derive_state(events + [late])
    assert state.exception == "weather"
    assert state.status == "in_transit"


def test_newer_exception_replaces_older():
    state = derive_state([ev(0, "in_transit", "delayed"), ev(1, "out_for_delivery", "delivery_attempted")])
    assert state == ShipmentState("out_for_delivery", "delivery_attempted", True, at(0), None, at(1), False)


def test_final_keeps_the_final_events_exception_only():
    assert derive_state([ev(0, "in_transit", "damaged"), ev(1, "delivered")]).exception is None
    assert derive_state([ev(0, "in_transit"), ev(1, "failure", "lost"), ev(2, "in_transit", "delayed")]) \
        == ShipmentState("failure", "lost", True, at(0), None, at(2), True)


def test_cancelled_holds_without_a_later_physical_scan():
    state = derive_state([ev(0, "pre_transit"), ev(1, "cancelled")])
    assert state == ShipmentState("cancelled", None, False, None, None, at(1), False)
    # A later label event is no scan: still cancelled.
    assert derive_state([ev(0, "pre_transit"), ev(1, "cancelled"), ev(2, "pre_transit")]).status == "cancelled"


def test_cancelled_then_a_later_physical_scan_is_active_and_in_transit():
    state = derive_state([ev(0, "pre_transit"), ev(1, "cancelled"), ev(2, "in_transit")])
    assert state.status == "in_transit"
    assert state.active and state.activated_at == at(2)
    assert not state.final


def test_cancel_after_the_last_scan_holds():
    state = derive_state([ev(0, "picked_up"), ev(1, "in_transit"), ev(2, "cancelled")])
    assert state.status == "cancelled"
    assert state.active and state.activated_at == at(0)  # it was scanned: a fact, even if voided since
    # ... and a scan after that cancel wins again, at the highest rank reached.
    assert derive_state([ev(0, "picked_up"), ev(1, "in_transit"), ev(2, "cancelled"), ev(3, "picked_up")]).status \
        == "in_transit"


def test_cancel_does_not_undo_a_final():
    assert derive_state([ev(0, "in_transit"), ev(1, "delivered"), ev(2, "cancelled")]).status == "delivered"


@pytest.mark.parametrize("final", sorted(FINAL))
def test_finals_are_final(final):
    state = derive_state([ev(0, "in_transit"), ev(1, final), ev(2, "out_for_delivery"), ev(3, "in_transit"),
                          ev(4, "cancelled")])
    assert state.status == final and state.final


def test_returned_is_final_even_if_delivered_back_to_the_shop_later():
    state = derive_state([ev(0, "in_transit"), ev(1, "returned"), ev(9, "delivered")])
    assert state.status == "returned" and state.final
    assert state.delivered_at is None


def test_unknown_events_are_ignored():
    base = [ev(0, "picked_up"), ev(1, "in_transit", "delayed")]
    with_unknown = base + [ev(2, "unknown"), ev(3, "unknown", "lost"), ev(4, "teleported")]
    assert derive_state(with_unknown) == derive_state(base)
    assert derive_state([ev(0, "unknown")]) == NO_EVENTS


def test_activation_at_first_physical_event_not_label_or_info():
    events = [ev(0, "pre_transit", key="label"), ev(1, "pre_transit", key="info"), ev(4, "picked_up"),
              ev(6, "in_transit")]
    state = derive_state(events)
    assert state.activated_at == at(4)
    assert derive_state(events[:2]) == ShipmentState("pre_transit", None, False, None, None, at(1), False)


def test_duplicates_count_once():
    e = ev(1, "in_transit", "delayed", key="same")
    assert derive_state([e, e, e]) == derive_state([e])
    # A key that comes back with other content: the same one wins whichever arrives first.
    later = TrackingEventIn("same", at(2), "in_transit", None)
    assert derive_state([e, later]) == derive_state([later, e])


def test_times_compared_as_instants():
    berlin = dt.timezone(dt.timedelta(hours=1))
    a = TrackingEventIn("a", dt.datetime(2026, 3, 2, 10, 30, tzinfo=berlin), "in_transit", "delayed")  # 09:30Z
    b = TrackingEventIn("b", dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC), "in_transit", None)           # 10:00Z
    state = derive_state([b, a])
    assert state.exception is None  # b is the newer one
    assert state.activated_at == dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


# -- the property: a function of the set of events -------------------------------------------------------

ZONES = [UTC, dt.timezone(dt.timedelta(hours=-8)), dt.timezone(dt.timedelta(hours=5, minutes=30))]


def _events():
    """Events with unique keys: statuses and exceptions of every kind, times that often tie (a few minutes
    apart) or spread over days, written in different time zones."""
    minutes = st.one_of(st.integers(min_value=0, max_value=5), st.integers(min_value=0, max_value=60 * 24 * 5))
    one = st.tuples(minutes, st.sampled_from(ZONES), st.sampled_from(STATUSES),
                    st.one_of(st.none(), st.sampled_from(EXCEPTIONS)))
    return st.lists(one, max_size=12).map(
        lambda rows: [TrackingEventIn(f"k{i}", (T0 + dt.timedelta(minutes=m)).astimezone(zone), s, x)
                      for i, (m, zone, s, x) in enumerate(rows)]
    )


@given(events=_events(), seed=st.integers(), copies=st.lists(st.integers(min_value=0, max_value=11), max_size=8))
@hsettings(max_examples=400, deadline=None)
def test_any_permutation_and_duplication_gives_the_same_state(events, seed, copies):
    expected = derive_state(events)
    mixed = list(events) + [events[i] for i in copies if i < len(events)]
    random.Random(seed).shuffle(mixed)
    assert derive_state(mixed) == expected
    assert derive_state(iter(mixed)) == expected  # any iterable, read once


@given(events=_events(), seed=st.integers(), keys=st.lists(st.integers(min_value=0, max_value=3), max_size=12))
@hsettings(max_examples=300, deadline=None)
def test_same_key_with_other_content_is_order_independent(events, seed, keys):
    """Keys reused by different events (a provider correcting itself): still one answer for any order."""
    clashing = [TrackingEventIn(f"k{k}", e.occurred_at, e.status, e.exception) for e, k in zip(events, keys)]
    shuffled = list(clashing)
    random.Random(seed).shuffle(shuffled)
    assert derive_state(shuffled) == derive_state(clashing)


@given(events=_events(), extra=_events())
@hsettings(max_examples=300, deadline=None)
def test_more_events_never_move_a_shipment_back(events, extra):
    before = derive_state(events)
    after = derive_state(events + [TrackingEventIn(f"x{e.key}", e.occurred_at, e.status, e.exception) for e in extra])
    if before.final:
        assert after.final  # (an earlier final, found late, may take its place: the first one holds)
    if before.active:
        assert after.active and after.activated_at <= before.activated_at
    if before.status not in ("cancelled", LABEL_CREATED) and after.status != "cancelled":
        assert RANK[after.status] >= RANK[before.status]


@given(events=_events())
@hsettings(max_examples=300, deadline=None)
def test_state_is_consistent(events):
    s = derive_state(events)
    assert s.status in STATUSES or s.status == LABEL_CREATED
    assert s.status != "unknown"
    assert s.final == (s.status in FINAL)
    assert s.exception is None or s.exception in EXCEPTIONS
    assert s.active == (s.activated_at is not None)
    assert (s.delivered_at is not None) == (s.status == "delivered")
    if s.status in PHYSICAL:
        assert s.active
    if s.activated_at is not None:
        assert s.activated_at <= s.last_event_at


# -- event_key --------------------------------------------------------------------------------------------

def test_event_key_is_a_stable_sha256():
    k = event_key("ups", "1Z999AA10123456784", "I:AR", T0)
    assert len(k) == 64 and int(k, 16) >= 0
    assert k == event_key("ups", "1Z999AA10123456784", "I:AR", T0)
    # The same event however it is written: carrier and code in any case, the number with spaces, the
    # time in another zone.
    assert k == event_key("UPS ", "1z 999 aa1 01 2345 6784", "i:ar",
                          T0.astimezone(dt.timezone(dt.timedelta(hours=-7))))


@pytest.mark.parametrize("change", [
    ("fedex", "1Z999AA10123456784", "I:AR", T0),
    ("ups", "1Z999AA10123456785", "I:AR", T0),
    ("ups", "1Z999AA10123456784", "I:DP", T0),
    ("ups", "1Z999AA10123456784", "I:AR", T0 + dt.timedelta(minutes=1)),
])
def test_event_key_tells_events_apart(change):
    assert event_key(*change) != event_key("ups", "1Z999AA10123456784", "I:AR", T0)


def test_event_key_naive_time_is_utc():
    assert event_key("usps", "9400111899223197428490", "Alert", T0.replace(tzinfo=None)) \
        == event_key("usps", "9400111899223197428490", "Alert", T0)


def test_event_key_value_is_pinned():
    """Keys are stored: the recipe must not change between releases."""
    assert event_key("ups", "1Z999AA10123456784", "D:KB", dt.datetime(2026, 3, 2, 16, 20, tzinfo=UTC)) \
        == __import__("hashlib").sha256(
            "ups\x1f1Z999AA10123456784\x1fd:kb\x1f2026-03-02T16:20:00+00:00".encode()).hexdigest()


# -- order_carrier_stage ----------------------------------------------------------------------------------

def parcel(status: str) -> ShipmentState:
    """A parcel's state as derive_state would give it for a simple history ending in `status`."""
    if status == LABEL_CREATED:
        return NO_EVENTS
    history = {"pre_transit": ["pre_transit"], "cancelled": ["pre_transit", "cancelled"]}.get(
        status, ["picked_up", status])
    s = derive_state([ev(i, st_) for i, st_ in enumerate(history)])
    assert s.status == status
    return s


@pytest.mark.parametrize("statuses,stage", [
    ([], None),
    ([LABEL_CREATED], "labeled"),
    (["pre_transit"], "labeled"),
    ([LABEL_CREATED, "pre_transit"], "labeled"),
    (["picked_up"], "picked_up"),
    (["in_transit"], "in_transit"),
    (["available_for_pickup"], "in_transit"),
    (["out_for_delivery"], "out_for_delivery"),
    (["delivered"], "delivered"),
    (["returned"], "in_transit"),
    (["failure"], "in_transit"),
    # Several parcels: the least advanced active one; delivered only when all are.
    (["delivered", "in_transit"], "in_transit"),
    (["delivered", "out_for_delivery"], "out_for_delivery"),
    (["delivered", "delivered"], "delivered"),
    (["delivered", "delivered", "delivered"], "delivered"),
    (["delivered", "returned"], "in_transit"),
    (["delivered", "failure"], "in_transit"),
    (["out_for_delivery", "picked_up"], "picked_up"),
    (["in_transit", LABEL_CREATED], "in_transit"),     # a parcel not scanned yet does not hold it back
    (["delivered", LABEL_CREATED], "in_transit"),      # ... but keeps it from being delivered
    ([LABEL_CREATED, LABEL_CREATED], "labeled"),
    # Cancelled parcels are ignored when there are others.
    (["delivered", "cancelled"], "delivered"),
    (["out_for_delivery", "cancelled"], "out_for_delivery"),
    (["cancelled", LABEL_CREATED], "labeled"),
    (["cancelled"], "labeled"),
    (["cancelled", "cancelled"], "labeled"),
])
def test_order_carrier_stage(statuses, stage):
    assert order_carrier_stage([parcel(s) for s in statuses]) == stage


def test_active_parcel_with_a_pre_transit_status_counts_as_picked_up():
    # A scan, then the carrier's words fall back to label-ish ones (state built by hand).
    odd = ShipmentState("pre_transit", None, True, at(0), None, at(1), False)
    assert parcel_stage(odd) == "picked_up"
    assert order_carrier_stage([odd, parcel("in_transit")]) == "picked_up"
    scanned_then_voided = derive_state([ev(0, "picked_up"), ev(1, "cancelled")])
    assert order_carrier_stage([scanned_then_voided]) == "picked_up"
    assert order_carrier_stage([scanned_then_voided, parcel(LABEL_CREATED)]) == "labeled"


def test_order_stage_is_a_carrier_stage_and_order_free():
    parcels = [parcel(s) for s in ("delivered", "in_transit", "out_for_delivery", LABEL_CREATED, "cancelled")]
    stages = {order_carrier_stage(p) for p in
              (parcels, parcels[::-1], parcels[1:] + parcels[:1], parcels[2:] + parcels[:2])}
    assert stages == {"in_transit"}
    assert stages <= set(CARRIER_STAGES)
