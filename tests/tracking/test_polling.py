"""Polling and registration against fake provider servers on 127.0.0.1 (real HTTP), with frozen time:
cadence, 429 and 500 backoff, the outbox retrying a failed registration, and the carrier alerts."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from tests.conftest import Api, api_token, build_app
from tests.factories import MANAGER, make_order
from tests.integrations import fakes
from tracker.extensions import db
from tracker.integrations.oauth import TOKENS
from tracker.jobs import run_job
from tracker.models import Alert, OutboxMessage, Shipment
from tracker.services.orders import move_order

T0 = dt.datetime(2026, 3, 1, 16, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(autouse=True)
def fresh_tokens():
    TOKENS.clear()
    yield
    TOKENS.clear()


@pytest.fixture
def provider(tmp_path):
    """provider(name) -> (app, fake server, tracking number, carrier) with only that provider switched on."""
    servers = []

    def start(name, **kw):
        server, config, number, carrier = fakes.BUILDERS[name]()
        servers.append(server.start())
        app = build_app(tmp_path, config={"providers": {name: config}, **kw}, WEBHOOK_PROCESSING="inline")
        return app, server, number, carrier

    yield start
    for s in servers:
        s.stop()


def ship(app, number, carrier):
    with app.app_context():
        order = make_order([("Tee", "dtg", 3)], at=T0 - dt.timedelta(days=2))
        move_order(order, "qc", actor=MANAGER, source="web", note="set-up", at=T0 - dt.timedelta(days=1))
        move_order(order, "packaging", actor=MANAGER, source="web", at=T0 - dt.timedelta(hours=3))
        db.session.commit()
        code = order.code
    api = Api(app.test_client(), api_token(app))
    resp = api.post(f"/api/orders/{code}/shipments", json={"carrier": carrier, "tracking_number": number})
    assert resp.status_code == 201, resp.json
    return code, api


def shipment(app) -> Shipment:
    return db.session.scalars(select(Shipment)).one()


def test_fedex_polling_moves_the_order_and_stops_when_delivered(provider):
    app, server, number, carrier = provider("fedex")
    with time_machine.travel(T0, tick=False) as clock:
        code, api = ship(app, number, carrier)
        with app.app_context():
            s = shipment(app)
            assert s.provider == "fedex" and s.next_poll_at > T0
            assert run_job("poll-carriers")["polled"] == 0  # not due yet
            clock.shift(dt.timedelta(hours=2))
            assert run_job("poll-carriers") == {"polled": 1, "errors": 0, "skipped": 0}
        order = api.get(f"/api/orders/{code}").json
        assert order["stage"] == "delivered"
        assert [e["to"] for e in order["events"] if e["source"] == "carrier"] == [
            "labeled", "picked_up", "in_transit", "out_for_delivery", "delivered"]
        with app.app_context():
            s = shipment(app)
            assert s.final and s.next_poll_at is None
            calls = len(server.calls())
            clock.shift(dt.timedelta(days=2))
            assert run_job("poll-carriers")["polled"] == 0  # never after a final state
            assert len(server.calls()) == calls


def test_429_backs_off_at_least_as_long_as_asked_and_500_backs_off(provider):
    app, server, number, carrier = provider("fedex")
    with time_machine.travel(T0, tick=False) as clock:
        ship(app, number, carrier)
        clock.shift(dt.timedelta(hours=2))
        with app.app_context():
            server.fail_next(429, retry_after="1800")
            assert run_job("poll-carriers")["errors"] == 1
            s = shipment(app)
            assert s.poll_failures == 1 and "429" in s.last_poll_error
            assert s.next_poll_at >= dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1800)
            clock.shift(dt.timedelta(minutes=31))
            server.fail_next(500, times=3)
            assert run_job("poll-carriers")["errors"] == 1
            db.session.expire_all()
            assert shipment(app).poll_failures == 2
            clock.shift(dt.timedelta(hours=1))
            for _ in range(3):  # the fake's remaining failures are used up, then a poll succeeds
                run_job("poll-carriers")
                clock.shift(dt.timedelta(hours=7))
            db.session.expire_all()
            s = shipment(app)
            assert s.status == "delivered" and s.poll_failures == 0 and s.last_poll_error is None


def test_registration_is_retried_from_the_outbox_until_it_works(provider):
    app, server, number, carrier = provider("easypost")
    with time_machine.travel(T0, tick=False) as clock:
        ship(app, "1Z999AA10123456799", "ups")
        with app.app_context():
            (msg,) = db.session.scalars(select(OutboxMessage)).all()
            assert (msg.kind, msg.status) == ("register_tracking", "pending")
            server.fail_next(500)
            assert run_job("outbox") == {"sent": 0, "retry": 1, "failed": 0}
            assert run_job("outbox")["sent"] == 0  # backing off
            clock.shift(dt.timedelta(minutes=5))
            assert run_job("outbox") == {"sent": 1, "retry": 0, "failed": 0}
            db.session.expire_all()
            s = shipment(app)
            assert s.provider == "easypost" and s.provider_ref.startswith("trk_") and s.registered_at is not None
            posts = server.calls("POST", "/v2/trackers")
            assert len(posts) == 2 and posts[-1].json()["tracker"]["tracking_code"] == "1Z999AA10123456799"
            assert run_job("outbox")["sent"] == 0  # sent once


def test_a_webhook_resets_the_polling_clock(provider):
    import hashlib
    import hmac

    app, server, number, carrier = provider("easypost")
    with time_machine.travel(T0, tick=False):
        ship(app, number, carrier)
        body = (fakes.FIXTURES / "easypost_tracker_updated.json").read_bytes()
        sig = hmac.new(b"ep-secret", body, hashlib.sha256).hexdigest()
        resp = app.test_client().post("/webhooks/easypost", data=body,
                                      headers={"X-Hmac-Signature": f"hmac-sha256-hex={sig}"})
        assert resp.status_code == 202
        with app.app_context():
            assert shipment(app).next_poll_at >= T0 + dt.timedelta(hours=12)


def test_carrier_alerts_label_without_scan_and_no_movement(provider):
    app, server, number, carrier = provider("fedex", tracking={"label_no_scan_days": 1, "no_movement_days": 3})
    with time_machine.travel(T0, tick=False) as clock:
        code, api = ship(app, number, carrier)
        with app.app_context():
            db.session.execute(Shipment.__table__.update().values(next_poll_at=None))  # no polling in this test
            db.session.commit()
            run_job("carrier-alerts")
            assert api.get("/api/alerts").json["alerts"] == []
            clock.shift(dt.timedelta(hours=25))  # Monday afternoon: Sunday did not count
            run_job("carrier-alerts")
            assert api.get("/api/alerts").json["alerts"] == []
            clock.shift(dt.timedelta(hours=15))  # Tuesday 08:00 UTC: one working day has passed
            run_job("carrier-alerts")
            run_job("carrier-alerts")  # once only
            alerts = api.get("/api/alerts").json["alerts"]
            assert [(a["kind"], a["order_id"]) for a in alerts] == [("label_no_scan", code)]
            assert "not scanned" in alerts[0]["message"]  # T0 is a Sunday: one working day ends Tuesday 00:00 local
            # The carrier scans it: the alert closes at the next sweep.
            from tracker.integrations.carriers import CarrierEvent, TrackingUpdate
            from tracker.services.tracking import ingest_update

            pickup = CarrierEvent(provider="fedex", carrier="fedex", tracking_number=number, code="PU", sub_code=None,
                                  description="Picked up", occurred_at=dt.datetime.now(dt.timezone.utc),
                                  location="PORTLAND, OR", provider_event_id=None)
            ingest_update(TrackingUpdate(provider="fedex", delivery_id=None, carrier="fedex", tracking_number=number,
                                         events=(pickup,), est_delivery=None, public_url=None), via="poll")
            db.session.commit()
            run_job("carrier-alerts")
            assert api.get("/api/alerts").json["alerts"] == []
            assert api.get(f"/api/orders/{code}").json["stage"] == "picked_up"
            clock.shift(dt.timedelta(days=4))
            run_job("carrier-alerts")
            alerts = api.get("/api/alerts").json["alerts"]
            assert [a["kind"] for a in alerts] == ["no_movement"]
            with app.app_context():
                assert db.session.scalar(select(db.func.count()).select_from(Alert)) == 2
