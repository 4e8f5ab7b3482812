"""Etsy end to end against a fake Etsy API (a real HTTP server on 127.0.0.1): receipts polled in as orders
once, stored raw first; pages, an expired token, a rate limit, a malformed receipt; tracking sent back
through the outbox when the carrier first scans the parcel, with Etsy's refusals and failures."""
from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from tests.conftest import build_app, login
from tests.factories import MANAGER
from tracker.extensions import db
from tracker.integrations.carriers import CarrierEvent, TrackingUpdate
from tracker.jobs import run_job
from tracker.models import Order, OutboxMessage, SchedulerJob, Shipment, WebhookDelivery
from tracker.services.outbox import backoff
from tracker.services.shipments import add_shipment, replace_tracking_number
from tracker.services.tracking import ingest_update

from .fake_etsy import (FIRST_ACCESS, FIRST_REFRESH, KEYSTRING, SHARED_SECRET, SHOP_ID, FakeEtsy, offsets, receipt,
                        transaction)

T0 = dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.timezone.utc)
NUMBER = "123456789012"  # a FedEx number
NEW_NUMBER = "987654321098"
RULES = [{"sku": "TEE-DTG-*", "method": "dtg"}, {"title": "hoodie", "method": "embroidery"}]


@pytest.fixture
def etsy():
    fake = FakeEtsy().start()
    yield fake
    fake.stop()


def make_app(tmp_path, etsy, **overrides):
    return build_app(tmp_path, config={"marketplaces": {"etsy": etsy.config(**overrides)}, "method_rules": RULES})


def orders():
    return list(db.session.scalars(select(Order).where(Order.channel == "etsy").order_by(Order.id)))


def deliveries():
    return list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.provider == "etsy")
                                   .order_by(WebhookDelivery.id)))


def feed(code, description, minutes, number=NUMBER):
    ev = CarrierEvent(provider="fedex", carrier="fedex", tracking_number=number, code=code, sub_code=None,
                      description=description, occurred_at=T0 + dt.timedelta(minutes=minutes),
                      location="BOISE, ID", provider_event_id=None)
    ingest_update(TrackingUpdate(provider="fedex", delivery_id=None, carrier="fedex", tracking_number=number,
                                 events=(ev,), est_delivery=None, public_url=None), via="poll")
    db.session.commit()


def shipped_etsy_order(etsy, receipt_id=1001):
    """An Etsy order polled in, with a FedEx parcel the carrier has just picked up."""
    etsy.receipts.append(receipt(receipt_id))
    run_job("etsy-orders")
    order = db.session.scalar(select(Order).where(Order.external_ref == str(receipt_id)))
    shipment = add_shipment(order, tracking_number=NUMBER, carrier="fedex", actor=MANAGER, source="web")
    db.session.commit()
    feed("PU", "Picked up", 0)
    return order, shipment


def tracking_messages():
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "etsy_tracking")
                                   .order_by(OutboxMessage.id)))


# -- polling -----------------------------------------------------------------------------------------

def test_not_set_up_is_skipped(app):
    with app.app_context():
        assert run_job("etsy-orders") == {"skipped": "not set up"}


def test_poll_creates_each_order_once_and_keeps_the_raw_receipt(tmp_path, etsy):
    app = make_app(tmp_path, etsy)
    etsy.receipts += [
        receipt(1001),
        receipt(1002, name="Ann O&#39;Neil", message_from_buyer="", is_gift=True, gift_message="Happy birthday!",
                transactions=[transaction(10021, title="Zip hoodie", quantity=1, sku=None, variations=[
                    {"formatted_name": "Color", "formatted_value": "Navy"},
                    {"formatted_name": "Personalization", "formatted_value": "ANN 23"}]),
                    transaction(10022, title="Sticker", quantity=3, sku="STK-1", variations=[])]),
    ]
    with time_machine.travel(T0), app.app_context():
        first = run_job("etsy-orders")
        assert first["created"] == 2 and first["new"] == 2 and first["pages"] == 1
        second = run_job("etsy-orders")  # the same receipts again: stored once, one order each
        assert second["receipts"] == 2 and second["new"] == 0 and second["created"] == 0
        a, b = orders()
        assert len(orders()) == 2
        assert (a.external_ref, a.external_name, a.customer_name, a.customer_email) == \
            ("1001", "#1001", "Rosa Diaz", "rosa@example.com")
        assert (a.ship_city, a.ship_region, a.ship_country) == ("Boise", "ID", "US")
        assert a.due_date == dt.date(2026, 3, 6)  # Etsy's expected ship date, in the shop's time zone
        assert a.notes == "Buyer's note: Please use the blue ink"
        [job] = a.jobs
        assert (job.description, job.method, job.quantity, job.external_ref) == \
            ('Custom "Team" Tee (Size: L)', "dtg", 2, "10011")
        assert b.customer_name == "Ann O'Neil"
        assert [(j.description, j.method, j.quantity, j.external_ref) for j in b.jobs] == [
            ("Zip hoodie (Color: Navy)", "embroidery", 1, "10021"), ("Sticker", "other", 3, "10022")]
        assert b.notes == "Personalization (Zip hoodie): ANN 23\nGift: Happy birthday!"

        stored = deliveries()
        assert [d.dedupe_key for d in stored] == [f"etsy:receipt:1001:{etsy.receipts[0]['updated_timestamp']}",
                                                  f"etsy:receipt:1002:{etsy.receipts[1]['updated_timestamp']}"]
        assert json.loads(stored[0].body) == etsy.receipts[0]
        assert all(d.processed_at is not None and d.error is None for d in stored)

        # Etsy updates a receipt (a new updated_timestamp): kept raw again, still one order.
        etsy.receipts[0]["updated_timestamp"] += 600
        third = run_job("etsy-orders")
        assert third["new"] == 1 and third["existing"] == 1 and third["created"] == 0
        assert len(orders()) == 2 and len(deliveries()) == 3
        assert deliveries()[-1].error.startswith("ignored: already order")

    call = etsy.receipt_calls()[0]
    assert call.headers["x-api-key"] == f"{KEYSTRING}:{SHARED_SECRET}"
    assert call.headers["authorization"] == f"Bearer {FIRST_ACCESS}"
    assert {k: call.query[k] for k in ("was_paid", "was_shipped", "limit", "offset")} == \
        {"was_paid": "true", "was_shipped": "false", "limit": "100", "offset": "0"}


def test_every_page_is_read(tmp_path, etsy):
    app = make_app(tmp_path, etsy)
    etsy.receipts += [receipt(2000 + i) for i in range(201)]
    with app.app_context():
        result = run_job("etsy-orders")
        assert result["pages"] == 3 and result["created"] == 201
        assert db.session.scalar(select(func.count()).select_from(Order)) == 201
    assert offsets(etsy.receipt_calls()) == [0, 100, 200]


def test_an_expired_token_is_renewed_once_and_kept_for_a_restart(tmp_path, etsy):
    app = make_app(tmp_path, etsy)
    etsy.receipts.append(receipt(1001))
    etsy.expire_access()
    with app.app_context():
        assert run_job("etsy-orders")["created"] == 1
    [refresh] = etsy.calls("POST", "/v3/public/oauth/token")
    assert refresh.form() == {"grant_type": "refresh_token", "client_id": KEYSTRING, "refresh_token": FIRST_REFRESH}
    auths = [c.headers["authorization"] for c in etsy.receipt_calls()]
    assert auths == [f"Bearer {FIRST_ACCESS}", "Bearer 12345678.access-2"]

    # Etsy rotated the refresh token: the new pair is kept (owner-only file), and a restarted app uses it.
    path = Path(app.instance_path) / "etsy_tokens.json"
    kept = json.loads(path.read_text())
    assert (kept["access_token"], kept["refresh_token"]) == ("12345678.access-2", "12345678.refresh-2")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    from tracker.integrations.marketplaces import etsy as api

    api._MEMORY.clear()  # what a restart forgets
    with app.app_context():
        run_job("etsy-orders")
    assert etsy.receipt_calls()[-1].headers["authorization"] == "Bearer 12345678.access-2"
    assert len(etsy.calls("POST", "/v3/public/oauth/token")) == 1


def test_a_refused_token_without_a_refresh_token_is_a_clear_job_error(tmp_path, etsy):
    app = make_app(tmp_path, etsy, refresh_token=None)
    etsy.expire_access()
    with app.app_context():
        assert run_job("etsy-orders", scheduled=True) is None
        error = db.session.get(SchedulerJob, "etsy-orders").last_error
    assert "no refresh_token" in error and "access_token" in error


def test_missing_shared_secret_is_named(tmp_path, etsy):
    app = make_app(tmp_path, etsy, shared_secret=None)
    with app.app_context():
        run_job("etsy-orders", scheduled=True)
        error = db.session.get(SchedulerJob, "etsy-orders").last_error
    assert "Shared secret is required" in error and "set shared_secret" in error


def test_a_rate_limit_stops_the_round_and_the_next_round_after_retry_after_finishes(tmp_path, etsy):
    app = make_app(tmp_path, etsy)
    etsy.receipts += [receipt(3000 + i) for i in range(150)]
    etsy.rate_limit_at[100] = "120"
    with time_machine.travel(T0, tick=False) as traveller, app.app_context():
        first = run_job("etsy-orders")
        assert first["rate_limited"] is True and first["retry_after"] == 120 and first["created"] == 100
        traveller.shift(60)
        waiting = run_job("etsy-orders")  # Etsy said two minutes: this round does not ask
        assert "rate limit" in waiting["skipped"]
        assert len(etsy.receipt_calls()) == 2
        traveller.shift(61)
        last = run_job("etsy-orders")
        assert last["created"] == 50 and last["new"] == 50 and "rate_limited" not in last
        assert len(orders()) == 150
    assert offsets(etsy.receipt_calls()) == [0, 100, 0, 100]


def test_a_malformed_receipt_is_kept_with_its_error_and_the_others_come_in(tmp_path, etsy):
    app = make_app(tmp_path, etsy)
    etsy.receipts += [
        receipt(1001),
        receipt(1002, transactions=[transaction(10021, quantity="lots")]),
        {"name": "No id at all", "transactions": []},
        receipt(1003, transactions=[transaction(10031, is_digital=True)]),
        receipt(1004),
    ]
    with app.app_context():
        result = run_job("etsy-orders")
        assert (result["created"], result["unreadable"], result["ignored"]) == (2, 2, 1)
        assert [o.external_ref for o in orders()] == ["1001", "1004"]
        stored = {d.dedupe_key.split(":")[2]: d for d in deliveries()}
        assert len(stored) == 5 and all(d.processed_at for d in stored.values())
        assert stored["1002"].error == ("unreadable: receipt 1002 transaction 1 (10021): quantity 'lots' is not a "
                                        "whole number of at least 1")
        assert stored["unknown"].error == "unreadable: the receipt has no receipt_id"
        assert stored["1003"].error == "ignored: receipt 1003 has only digital items (1)"
        again = run_job("etsy-orders")  # stored once: not read again every round
        assert again["new"] == 0 and len(deliveries()) == 5


# -- tracking back ------------------------------------------------------------------------------------

def test_tracking_goes_to_etsy_once_when_the_carrier_first_scans(tmp_path, etsy):
    app = make_app(tmp_path, etsy)
    with time_machine.travel(T0), app.app_context():
        order, shipment = shipped_etsy_order(etsy)
        [msg] = tracking_messages()
        assert msg.dedupe_key == f"etsy:tracking:{shipment.id}:{NUMBER}"
        run_job("outbox")
        feed("DL", "Delivered", 120)  # later events do not send it again
        run_job("outbox")
        shipment = db.session.get(Shipment, shipment.id)
        assert (shipment.marketplace_ref, shipment.marketplace_number) == ("etsy:receipt:1001", NUMBER)
        assert [m.status for m in tracking_messages()] == ["done"]
    [call] = etsy.tracking_calls()
    assert call.path == f"/v3/application/shops/{SHOP_ID}/receipts/1001/tracking"
    assert call.headers["x-api-key"] == f"{KEYSTRING}:{SHARED_SECRET}"
    assert call.headers["authorization"] == f"Bearer {FIRST_ACCESS}"
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.form() == {"tracking_code": NUMBER, "carrier_name": "fedex", "send_bcc": "false"}


def test_a_refusal_is_given_up_with_etsys_message(tmp_path, etsy):
    app = make_app(tmp_path, etsy)
    with time_machine.travel(T0), app.app_context():
        shipped_etsy_order(etsy)
        etsy.fail_next(400, body={"error": "Tracking code 123456789012 is not valid for carrier fedex"})
        assert run_job("outbox")["failed"] == 1
        [msg] = tracking_messages()
        assert msg.status == "failed"
        assert "Etsy refused tracking 123456789012 for receipt 1001" in msg.last_error
        assert "is not valid for carrier fedex" in msg.last_error
        run_job("outbox")
    assert len(etsy.tracking_calls()) == 1
    with time_machine.travel(T0):
        page = login(app.test_client(), "manager").get("/marketplaces").get_data(as_text=True)
    assert "not sent" in page and "is not valid for carrier fedex" in page


def test_refused_credentials_are_retried_not_given_up(tmp_path, etsy):
    app = make_app(tmp_path, etsy)
    with time_machine.travel(T0), app.app_context():
        shipped_etsy_order(etsy)
        etsy.fail_next(403, body={"error": "Invalid API key"})
        assert run_job("outbox")["retry"] == 1
        [msg] = tracking_messages()
        assert msg.status == "pending" and "Etsy refused our credentials" in msg.last_error
        assert "check api_key and shared_secret" in msg.last_error


def test_a_server_error_is_retried_after_the_backoff(tmp_path, etsy):
    app = make_app(tmp_path, etsy)
    with time_machine.travel(T0, tick=False) as traveller, app.app_context():
        shipped_etsy_order(etsy)
        etsy.fail_next(500)
        run_job("outbox")
        [msg] = tracking_messages()
        assert msg.status == "pending" and "500" in msg.last_error
        assert msg.next_attempt_at == T0 + dt.timedelta(seconds=backoff(1))
        run_job("outbox")  # not due yet
        assert len(etsy.tracking_calls()) == 1
        traveller.shift(backoff(1) + 1)
        run_job("outbox")
        db.session.expire_all()
        assert tracking_messages()[0].status == "done"
    assert len(etsy.tracking_calls()) == 2


def test_a_changed_number_is_sent_again(tmp_path, etsy):
    app = make_app(tmp_path, etsy)
    with time_machine.travel(T0), app.app_context():
        _, shipment = shipped_etsy_order(etsy)
        run_job("outbox")
        replace_tracking_number(db.session.get(Shipment, shipment.id), NEW_NUMBER, actor=MANAGER, source="web")
        db.session.commit()
        run_job("outbox")
        feed("PU", "Picked up", 30, number=NEW_NUMBER)  # the new number's first scan: already sent, not again
        run_job("outbox")
        assert db.session.get(Shipment, shipment.id).marketplace_number == NEW_NUMBER
    assert [c.form()["tracking_code"] for c in etsy.tracking_calls()] == [NUMBER, NEW_NUMBER]


def test_a_number_changed_before_it_went_out_sends_only_the_new_one(tmp_path, etsy):
    app = make_app(tmp_path, etsy)
    with time_machine.travel(T0), app.app_context():
        _, shipment = shipped_etsy_order(etsy)
        replace_tracking_number(db.session.get(Shipment, shipment.id), NEW_NUMBER, actor=MANAGER, source="web")
        db.session.commit()
        run_job("outbox")
        old, new = tracking_messages()
        assert old.status == "failed" and old.last_error.startswith("superseded:")
        assert new.status == "done"
    assert [c.form()["tracking_code"] for c in etsy.tracking_calls()] == [NEW_NUMBER]


# -- the page -----------------------------------------------------------------------------------------

def test_fetch_now_on_the_marketplaces_page(tmp_path, etsy):
    app = make_app(tmp_path, etsy)
    etsy.receipts.append(receipt(1001))
    client = login(app.test_client(), "manager")
    page = client.get("/marketplaces")
    assert page.status_code == 200 and "Fetch now" in page.get_data(as_text=True)
    resp = client.post("/marketplaces/etsy/fetch", data={"csrf_token": client.csrf_token}, follow_redirects=True)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "1 new order" in text
    with app.app_context():
        assert [o.external_ref for o in orders()] == ["1001"]
        assert db.session.get(SchedulerJob, "etsy-orders").runs == 1
    assert "#1001" in client.get("/marketplaces").get_data(as_text=True)


def test_fetch_now_shows_etsys_refusal(tmp_path, etsy):
    app = make_app(tmp_path, etsy, refresh_token=None)
    etsy.expire_access()
    client = login(app.test_client(), "manager")
    resp = client.post("/marketplaces/etsy/fetch", data={"csrf_token": client.csrf_token}, follow_redirects=True)
    assert resp.status_code == 200
    assert "no refresh_token" in resp.get_data(as_text=True)


def test_nothing_is_queued_for_etsy_when_etsy_is_not_set_up(tmp_path):
    from tests.conftest import build_app
    from tests.factories import MANAGER, make_order
    from tracker.extensions import db
    from tracker.integrations.carriers import CarrierEvent, TrackingUpdate
    from tracker.models import OutboxMessage
    from tracker.services.shipments import add_shipment
    from tracker.services.tracking import ingest_update

    app = build_app(tmp_path)
    with app.app_context(), time_machine.travel(dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.timezone.utc), tick=False):
        order = make_order(channel="etsy", external_ref="1234567")
        add_shipment(order, tracking_number="123456789012", carrier="fedex", actor=MANAGER, source="web")
        db.session.commit()
        ingest_update(TrackingUpdate(provider="fedex", delivery_id=None, carrier="fedex", tracking_number="123456789012",
                                     events=(CarrierEvent(provider="fedex", carrier="fedex", tracking_number="123456789012",
                                                          code="PU", sub_code=None, description="Picked up",
                                                          occurred_at=dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.timezone.utc),
                                                          location=None, provider_event_id=None),),
                                     est_delivery=None, public_url=None), via="poll")
        db.session.commit()
        assert order.shipments[0].activated_at is not None
        assert [m.kind for m in db.session.scalars(db.select(OutboxMessage))] == []
