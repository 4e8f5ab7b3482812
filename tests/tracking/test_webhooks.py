"""Carrier webhooks through the real endpoint: signatures, storage before the answer, redeliveries,
out-of-order events, events that arrive before their shipment, and a flood with duplicates."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import Api, api_token, build_app, closing
from tests.factories import MANAGER, make_order
from tracker.extensions import db
from tracker.models import Counter, Event, Shipment, TrackingEvent, WebhookDelivery
from tracker.services.orders import move_order

FIXTURES = Path(__file__).resolve().parent.parent / "integrations" / "fixtures"
PROVIDERS = {
    "easypost": {"api_key": "ep-key", "webhook_secret": "ep-secret", "base_url": "http://127.0.0.1:9"},
    "shippo": {"api_key": "sh-key", "webhook_secret": "sh-token", "base_url": "http://127.0.0.1:9"},
    "aftership": {"api_key": "as-key", "webhook_secret": "as-secret", "base_url": "http://127.0.0.1:9"},
}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def easypost_headers(body: bytes, secret: str = "ep-secret") -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hmac-Signature": f"hmac-sha256-hex={digest}", "Content-Type": "application/json"}


def aftership_headers(body: bytes, secret: str = "as-secret") -> dict:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"aftership-hmac-sha256": digest, "Content-Type": "application/json"}


@pytest.fixture
def tracking_app(tmp_path):
    app = build_app(tmp_path, config={"providers": PROVIDERS}, WEBHOOK_PROCESSING="inline")
    yield from closing(app)


def packed_order(app, number: str, carrier: str, *, jobs=1):
    """An order at packaging with a shipment (the ship-out check already done)."""
    with app.app_context():
        order = make_order([("Tee", "dtg", 3)] * jobs)
        move_order(order, "qc", actor=MANAGER, source="web", note="test set-up: skip to QC")
        move_order(order, "packaging", actor=MANAGER, source="web")
        db.session.commit()
        code = order.code
    api = Api(app.test_client(), api_token(app, "operator"))
    resp = api.post(f"/api/orders/{code}/shipments", json={"carrier": carrier, "tracking_number": number})
    assert resp.status_code == 201, resp.json
    return code, api


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_easypost_fixture_moves_the_order_through_the_carrier_stages(tracking_app):
    code, api = packed_order(tracking_app, "1Z999AA10123456784", "ups")
    assert api.get(f"/api/orders/{code}").json["stage"] == "packaging"  # a label alone does not move it
    body = fixture("easypost_tracker_updated.json")
    client = tracking_app.test_client()
    resp = client.post("/webhooks/easypost", data=body, headers=easypost_headers(body))
    assert resp.status_code == 202
    order = api.get(f"/api/orders/{code}").json
    assert order["stage"] == "out_for_delivery"
    carrier_moves = [(e["from"], e["to"]) for e in order["events"] if e["source"] == "carrier"]
    assert carrier_moves == [("packaging", "labeled"), ("labeled", "picked_up"), ("picked_up", "in_transit"),
                             ("in_transit", "out_for_delivery")]
    (shipment,) = order["shipments"]
    assert shipment["status"] == "out_for_delivery" and shipment["active"] is True
    assert shipment["activated_at"].startswith("2026-02-28T01:48")  # the origin scan, not "label created"
    assert [e["status"] for e in shipment["events"]] == ["pre_transit", "in_transit", "out_for_delivery"]
    # Redelivery: acknowledged, nothing new.
    again = client.post("/webhooks/easypost", data=body, headers=easypost_headers(body))
    assert again.status_code == 200 and again.json["duplicate"] is True
    with tracking_app.app_context():
        assert count(WebhookDelivery) == 1 and count(TrackingEvent) == 3


@pytest.mark.parametrize("headers", [
    {},
    {"X-Hmac-Signature": "hmac-sha256-hex=" + "0" * 64},
    {"X-Hmac-Signature": "sha1=abc"},
])
def test_bad_or_missing_signature_is_401_counted_and_changes_nothing(tracking_app, headers):
    code, api = packed_order(tracking_app, "1Z999AA10123456784", "ups")
    body = fixture("easypost_tracker_updated.json")
    resp = tracking_app.test_client().post("/webhooks/easypost", data=body, headers=headers)
    assert resp.status_code == 401
    with tracking_app.app_context():
        assert count(WebhookDelivery) == 0 and count(TrackingEvent) == 0
        assert db.session.get(Counter, "webhook_rejected:easypost").value == 1
    assert api.get(f"/api/orders/{code}").json["stage"] == "packaging"


def test_tampered_body_is_refused(tracking_app):
    body = fixture("easypost_tracker_updated.json")
    headers = easypost_headers(body)
    resp = tracking_app.test_client().post("/webhooks/easypost", data=body.replace(b"UPS", b"USP"), headers=headers)
    assert resp.status_code == 401


def test_unknown_or_unconfigured_provider_is_404(tracking_app):
    client = tracking_app.test_client()
    assert client.post("/webhooks/nope", data=b"{}").status_code == 404
    assert client.post("/webhooks/fedex", data=b"{}").status_code == 404


def test_events_before_their_shipment_are_kept_and_matched_later(tracking_app):
    body = fixture("aftership_tracking_update.json")
    client = tracking_app.test_client()
    assert client.post("/webhooks/aftership", data=body, headers=aftership_headers(body)).status_code == 202
    with tracking_app.app_context():
        assert count(TrackingEvent, TrackingEvent.shipment_id.is_(None)) == 2
    code, api = packed_order(tracking_app, "794644790132", "fedex")
    order = api.get(f"/api/orders/{code}").json
    assert order["stage"] == "delivered"
    assert order["shipments"][0]["delivered_at"].startswith("2026-03-04T18:42")  # 11:42-07:00


def test_shippo_token_in_the_query(tracking_app):
    code, api = packed_order(tracking_app, "9400111899223197428490", "usps")
    body = fixture("shippo_track_updated.json")
    client = tracking_app.test_client()
    assert client.post("/webhooks/shippo", data=body, content_type="application/json").status_code == 401
    assert client.post("/webhooks/shippo?token=wrong", data=body, content_type="application/json").status_code == 401
    resp = client.post("/webhooks/shippo?token=sh-token", data=body, content_type="application/json")
    assert resp.status_code == 202
    order = api.get(f"/api/orders/{code}").json
    assert order["stage"] == "in_transit"
    assert order["shipments"][0]["exception"] == "delayed"
    alerts = api.get("/api/alerts").json["alerts"]
    assert [a["kind"] for a in alerts] == ["carrier_exception"] and alerts[0]["order_id"] == code


def _easypost_event(number: str, evt_id: str, status: str, when: str) -> bytes:
    data = json.loads(fixture("easypost_tracker_updated.json"))
    data["id"] = evt_id
    data["result"]["tracking_code"] = number
    data["result"]["status"] = status
    data["result"]["tracking_details"] = [{"object": "TrackingDetail", "message": status.replace("_", " "),
                                           "status": status, "status_detail": status, "datetime": when,
                                           "source": "UPS", "tracking_location": {"city": "BOISE", "state": "ID"}}]
    return json.dumps(data).encode()


def test_late_out_for_delivery_never_moves_a_delivered_parcel_back(tracking_app):
    code, api = packed_order(tracking_app, "1Z999AA10123456784", "ups")
    client = tracking_app.test_client()
    for evt, status, when in (("evt_b", "delivered", "2026-03-02T20:00:00Z"),
                              ("evt_a", "out_for_delivery", "2026-03-02T08:00:00Z"),
                              ("evt_c", "in_transit", "2026-03-01T08:00:00Z")):
        body = _easypost_event("1Z999AA10123456784", evt, status, when)
        assert client.post("/webhooks/easypost", data=body, headers=easypost_headers(body)).status_code == 202
    order = api.get(f"/api/orders/{code}").json
    assert order["stage"] == "delivered" and order["shipments"][0]["status"] == "delivered"
    moves = [e["to"] for e in order["events"] if e["source"] == "carrier"]
    assert moves == ["labeled", "picked_up", "in_transit", "out_for_delivery", "delivered"]
    assert [e["status"] for e in order["shipments"][0]["events"]] == ["in_transit", "out_for_delivery", "delivered"]


def test_a_flood_of_1000_deliveries_with_30_percent_duplicates_keeps_exactly_the_unique_events(tracking_app):
    code, api = packed_order(tracking_app, "1Z999AA10123456784", "ups")
    rng = random.Random(5)
    unique = [_easypost_event("1Z999AA10123456784", f"evt_{i:04d}", "in_transit",
                              f"2026-03-01T{i // 60 % 24:02d}:{i % 60:02d}:00Z") for i in range(700)]
    deliveries = unique + [rng.choice(unique) for _ in range(300)]
    rng.shuffle(deliveries)
    client = tracking_app.test_client()
    statuses = [client.post("/webhooks/easypost", data=b, headers=easypost_headers(b)).status_code for b in deliveries]
    assert statuses.count(202) == 700 and statuses.count(200) == 300
    with tracking_app.app_context():
        assert count(WebhookDelivery) == 700
        assert count(WebhookDelivery, WebhookDelivery.processed_at.is_(None)) == 0
        # 700 deliveries describe 700 distinct (time) in-transit events for one parcel.
        assert count(TrackingEvent) == 700
        assert count(Event, Event.source == "carrier") == 3  # labeled, picked up, in transit: once each


def test_deliveries_stored_but_not_processed_are_picked_up_by_the_job(tmp_path):
    from tracker.jobs import run_job

    app = build_app(tmp_path, config={"providers": PROVIDERS}, WEBHOOK_PROCESSING="job")
    code, api = packed_order(app, "1Z999AA10123456784", "ups")
    body = fixture("easypost_tracker_updated.json")
    assert app.test_client().post("/webhooks/easypost", data=body, headers=easypost_headers(body)).status_code == 202
    assert api.get(f"/api/orders/{code}").json["stage"] == "packaging"  # acknowledged, not yet processed
    with app.app_context():
        assert run_job("process-webhooks") == 1
    assert api.get(f"/api/orders/{code}").json["stage"] == "out_for_delivery"


def test_malformed_body_with_a_good_signature_is_kept_for_inspection(tracking_app):
    body = b'{"id": "evt_bad", "result": "not an object"'
    resp = tracking_app.test_client().post("/webhooks/easypost", data=body, headers=easypost_headers(body))
    assert resp.status_code == 202
    with tracking_app.app_context():
        (d,) = db.session.scalars(select(WebhookDelivery)).all()
        assert d.processed_at is not None and d.error.startswith("unreadable")
        assert count(TrackingEvent) == 0


def test_shipments_api_refuses_bad_input(tracking_app):
    code, api = packed_order(tracking_app, "1Z999AA10123456784", "ups")
    for body, field in (({}, "tracking_number"), ({"tracking_number": 5}, "tracking_number"),
                        ({"tracking_number": "1Z1", "carrier": "royalmail"}, "carrier"),
                        ({"tracking_number": "1Z1", "provider": "nope"}, "provider"),
                        ({"tracking_number": "1Z1", "color": "red"}, "color")):
        resp = api.post(f"/api/orders/{code}/shipments", json=body)
        assert resp.status_code == 400 and resp.json["field"] == field, (body, resp.json)
    other, _ = packed_order(tracking_app, "1Z999AA10123456799", "ups")
    taken = api.post(f"/api/orders/{code}/shipments", json={"tracking_number": "1Z999AA10123456799"})
    assert taken.status_code == 409 and other in taken.json["error"]


def test_shipment_api_takes_the_carrier_label_file(tracking_app):
    import base64

    code, api = packed_order(tracking_app, "1Z999AA10123456784", "ups")
    zpl = b"^XA^FDlabel^FS^XZ"
    ok = api.post(f"/api/orders/{code}/shipments", json={"tracking_number": "1Z999AA10123456799",
                                                         "label_base64": base64.b64encode(zpl).decode()})
    assert ok.status_code == 201
    with tracking_app.app_context():
        s = db.session.scalars(select(Shipment).where(Shipment.tracking_number == "1Z999AA10123456799")).one()
        assert (s.label_format, s.label_data) == ("zpl", zpl)
    bad = api.post(f"/api/orders/{code}/shipments", json={"tracking_number": "1Z999AA10123456788",
                                                          "label_base64": "not base64!"})
    assert bad.status_code == 400 and bad.json["field"] == "label_base64"
    junk = api.post(f"/api/orders/{code}/shipments", json={"tracking_number": "1Z999AA10123456788",
                                                           "label_base64": base64.b64encode(b"hello").decode()})
    assert junk.status_code == 409 and "ZPL file" in junk.json["error"]


def _aftership(tag: str, subtag: str, at: str, message: str) -> bytes:
    doc = json.loads(fixture("aftership_tracking_update.json"))
    doc["event_id"] = f"evt-{tag}-{at}"
    checkpoint = {"checkpoint_time": at, "message": message, "tag": tag, "subtag": subtag,
                  "location": "DENVER, CO 80202", "slug": "fedex"}
    doc["msg"].update(tag=tag, subtag=subtag, checkpoints=[checkpoint])
    return json.dumps(doc).encode()


def test_an_exception_alert_closes_by_itself_when_the_parcel_is_delivered(tracking_app):
    from tracker.models import Alert

    code, api = packed_order(tracking_app, "794644790132", "fedex")
    client = tracking_app.test_client()
    body = _aftership("Exception", "Exception_007", "2026-03-03T09:00:00-07:00", "Incorrect address")
    assert client.post("/webhooks/aftership", data=body, headers=aftership_headers(body)).status_code == 202
    with tracking_app.app_context():
        alert = db.session.scalars(select(Alert).where(Alert.kind == "carrier_exception")).one()
        assert alert.closed_at is None
    body = _aftership("Delivered", "Delivered_001", "2026-03-04T11:42:00-07:00", "Delivered")
    assert client.post("/webhooks/aftership", data=body, headers=aftership_headers(body)).status_code == 202
    with tracking_app.app_context():
        alert = db.session.scalars(select(Alert).where(Alert.kind == "carrier_exception")).one()
        assert alert.closed_at is not None  # no sweep ran: the delivery itself closed it
    assert api.get("/api/alerts").json["alerts"] == [] or all(
        a["kind"] != "carrier_exception" for a in api.get("/api/alerts").json["alerts"])


def test_the_fast_answer_carries_what_a_flask_answer_carries(tracking_app):
    """A carrier's delivery is answered ahead of Flask (views/webhooks.FastWebhooks): the same JSON and the
    same security headers as any JSON answer of the app, HSTS over HTTPS only."""
    client = tracking_app.test_client()
    body = fixture("easypost_tracker_updated.json")
    first = client.post("/webhooks/easypost", data=body, headers=easypost_headers(body))
    again = client.post("/webhooks/easypost", data=body, headers=easypost_headers(body),
                        base_url="https://shop.example")
    flask_answer = client.get("/healthz")
    assert (first.status_code, first.json) == (202, {"ok": True, "duplicate": False})
    assert (again.status_code, again.json) == (200, {"ok": True, "duplicate": True})
    assert first.mimetype == "application/json" and first.content_length == len(first.data)
    for name in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
                 "Cross-Origin-Opener-Policy"):
        assert first.headers[name] == again.headers[name] == flask_answer.headers[name], name
    assert "Strict-Transport-Security" not in first.headers and "Set-Cookie" not in first.headers
    assert again.headers["Strict-Transport-Security"].startswith("max-age=")
    refused = client.post("/webhooks/easypost", data=body, headers={"X-Hmac-Signature": "sha1=abc"})
    assert (refused.status_code, refused.json) == (401, {"error": "missing or bad signature"})
    assert refused.headers["X-Frame-Options"] == "DENY"


def test_what_the_fast_path_does_not_take_flask_answers(tracking_app):
    client = tracking_app.test_client()
    body = fixture("easypost_tracker_updated.json")
    assert client.get("/webhooks/easypost").status_code == 405
    assert client.post("/webhooks/easypost/extra", data=body, headers=easypost_headers(body)).status_code == 404
    assert client.post("/webhooks/", data=body, headers=easypost_headers(body)).status_code == 404
    with tracking_app.app_context():
        assert count(WebhookDelivery) == 0


def test_a_delivery_that_fails_is_retried_then_parked_and_spoils_nothing_else(tmp_path):
    """One delivery whose applying raises (stored for a provider this version does not know) between two
    good ones of the same batch: the good ones are applied once; the bad one is tried again each round and
    parked after five attempts with the error kept."""
    from tracker.services.tracking import store_delivery
    from tracker.workers.webhooks import process_pending_deliveries

    app = build_app(tmp_path, config={"providers": PROVIDERS}, WEBHOOK_PROCESSING="job")
    good = [json.loads(fixture("easypost_tracker_updated.json")) for _ in range(2)]
    good[1]["id"] = "evt_second"
    good[1]["result"]["tracking_code"] = "1Z999AA10000000002"
    with app.app_context():
        store_delivery("easypost", "easypost:first", {}, json.dumps(good[0]).encode())
        store_delivery("retired", "retired:x", {}, b"{}")
        store_delivery("easypost", "easypost:second", {}, json.dumps(good[1]).encode())
        rounds = [process_pending_deliveries() for _ in range(6)]
        rows = {d.dedupe_key: d for d in db.session.scalars(select(WebhookDelivery))}
        assert rounds == [3, 1, 1, 1, 1, 0]
        assert [(rows[k].attempts, rows[k].error) for k in ("easypost:first", "easypost:second")] == [(1, None)] * 2
        assert rows["retired:x"].attempts == 5 and rows["retired:x"].processed_at is not None
        assert rows["retired:x"].error == "KeyError: 'retired'"
        assert count(TrackingEvent, TrackingEvent.tracking_number == "1Z999AA10000000002") > 0
