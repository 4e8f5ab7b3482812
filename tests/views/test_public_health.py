"""The customer's tracking link (no login, nothing private) and /healthz."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select

from tests.factories import MANAGER, make_order
from tracker.extensions import db
from tracker.models import Shipment
from tracker.services import orders as order_service

PRIVATE = ("Diaz", "Maria", "rosa@example.com", "208 555 0100", "Boise", "Pantone", "SO-777")


@pytest.fixture
def tracked(app):
    """An order with everything private filled in; returns its public token."""
    with app.app_context():
        o = make_order(customer_name="Rosa Maria Diaz", customer_email="rosa@example.com",
                       customer_phone="+1 208 555 0100", ship_city="Boise", ship_region="ID", notes="Match Pantone 286C",
                       channel="shopify", external_ref="SO-777")
        return o.public_token


def assert_private(text: str):
    for secret in PRIVATE:
        assert secret not in text, secret


def test_public_page_needs_no_login_and_hides_private_details(client, tracked):
    resp = client.get(f"/t/{tracked}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "A1001" in html and "Hi Rosa," in html and "Order received" in html
    assert_private(html)
    assert resp.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert resp.headers["Referrer-Policy"] == "no-referrer"


def test_public_json_needs_no_login_and_hides_private_details(client, tracked):
    resp = client.get(f"/t/{tracked}.json")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["order_id"] == "A1001" and body["stage"] == "received" and body["customer_first_name"] == "Rosa"
    assert_private(json.dumps(body))
    assert "customer" not in body and "events" not in body
    assert [s["key"] for s in body["steps"] if s["done"]] == ["received"]
    assert [s["key"] for s in body["steps"] if s["current"]] == ["received"]


@pytest.mark.parametrize("name", ["Rosa\tDiaz", "Rosa\nDiaz", "Rosa\u00a0Diaz", "Rosa  Diaz"])
def test_odd_whitespace_in_the_name_never_leaks_the_last_name(app, client, api, name):
    resp = api.post("/api/orders", json={"customer": {"name": name},
                                         "items": [{"description": "Tee", "method": "dtg", "quantity": 1}]})
    assert resp.status_code == 201
    token = resp.get_json()["tracking_url"].rsplit("/", 1)[1]
    body = client.get(f"/t/{token}.json").get_json()
    assert body["customer_first_name"] == "Rosa"
    assert "Diaz" not in client.get(f"/t/{token}").get_data(as_text=True)


def test_a_single_name_is_shown_as_it_is(app, client):
    with app.app_context():
        token = make_order(customer_name="Cher").public_token
    assert client.get(f"/t/{token}.json").get_json()["customer_first_name"] == "Cher"


def test_public_view_follows_the_order_and_shows_only_active_shipments(app, client):
    t0 = datetime(2026, 5, 4, 14, 0, tzinfo=timezone.utc)
    with app.app_context():
        o = make_order(at=t0)
        order_service.move_order(o, "qc", actor=MANAGER, source="web", note="reprint", at=t0 + timedelta(hours=1))
        order_service.move_order(o, "packaging", actor=MANAGER, source="web", at=t0 + timedelta(hours=2))
        order_service.move_order(o, "labeled", actor=MANAGER, source="web", at=t0 + timedelta(hours=3))
        o.shipments.append(Shipment(carrier="ups", tracking_number="1Z999AA10123456784", status="label_created"))
        db.session.commit()
        token = o.public_token
    body = client.get(f"/t/{token}.json").get_json()
    assert body["stage"] == "labeled" and body["stage_label"] == "Label created"
    assert body["shipments"] == [] and body["label_waiting"] is True
    steps = {s["key"]: s for s in body["steps"]}
    assert steps["received"]["at"] == "2026-05-04T14:00:00+00:00"
    assert steps["qc"]["at"] == "2026-05-04T15:00:00+00:00"
    assert steps["labeled"]["current"] and not steps["picked_up"]["done"]
    with app.app_context():
        s = db.session.scalar(select(Shipment))
        s.activated_at = t0 + timedelta(hours=5)
        db.session.commit()
    body = client.get(f"/t/{token}.json").get_json()
    assert body["shipments"] == [{"carrier": "ups", "tracking_number": "1Z999AA10123456784", "status": "label_created"}]
    assert "1Z999AA10123456784" in client.get(f"/t/{token}").get_data(as_text=True)


def test_cancelled_order_says_so(app, client):
    with app.app_context():
        o = make_order()
        order_service.cancel_order(o, actor=MANAGER, source="web", reason="customer asked")
        db.session.commit()
        token = o.public_token
    assert client.get(f"/t/{token}.json").get_json()["cancelled"] is True
    html = client.get(f"/t/{token}").get_data(as_text=True)
    assert "Cancelled" in html and "customer asked" not in html


BAD_TOKENS = [
    "A" * 32,                       # the right shape, but no order has it
    "short",                        # malformed: too short
    "x" * 65,                       # malformed: too long
    "x" * 5000,
    "abc%20def" + "x" * 20,         # malformed: characters a token never has
    "not.a.token." + "x" * 20,
    "A1001",                        # an order code is not a tracking token
]


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_unknown_or_malformed_token_is_404(client, tracked, token):
    page = client.get(f"/t/{token}")
    assert page.status_code == 404
    assert "not valid" in page.get_data(as_text=True) or "Nothing is here" in page.get_data(as_text=True)
    data = client.get(f"/t/{token}.json")
    assert data.status_code == 404
    assert data.is_json and data.get_json()["error"]


def test_unknown_and_malformed_tokens_answer_the_same(client, tracked):
    # Time frozen: the page's CSRF token carries a timestamp, and two requests either side of a second's edge differ.
    with time_machine.travel(datetime.now(timezone.utc), tick=False):
        unknown = client.get("/t/" + "B" * 32)
        malformed = client.get("/t/short")
        assert unknown.get_data() == malformed.get_data()
        assert client.get("/t/" + "B" * 32 + ".json").get_json() == client.get("/t/short.json").get_json()


def test_a_token_differing_only_in_case_is_not_the_order(client, tracked):
    other = tracked.swapcase()
    if other != tracked:
        assert client.get(f"/t/{other}").status_code == 404


# -- /healthz ------------------------------------------------------------------------------------------

def test_healthz_answers_json_without_login(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.is_json
    body = resp.get_json()
    assert body["ok"] is True
    assert body["database"]["ok"] is True
    assert body["database"]["dialect"] in ("sqlite", "postgresql")
    assert body["scheduler"]["running"] is False  # no heartbeat yet
    assert body["scheduler"]["last_heartbeat"] is None


def test_healthz_reports_the_scheduler_heartbeat_and_its_age(app, client):
    from tracker.jobs import run_job

    t0 = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
    with time_machine.travel(t0, tick=False):
        with app.app_context():
            run_job("heartbeat", scheduled=True)
        body = client.get("/healthz").get_json()
    assert body["scheduler"]["running"] is True
    assert body["scheduler"]["last_heartbeat"] == "2026-06-01T12:00:00+00:00"
    beat = body["scheduler"]["jobs"]["heartbeat"]
    assert beat["runs"] == 1 and beat["last_error"] is None
    assert beat["next_run_at"] == "2026-06-01T12:00:30+00:00"
    with time_machine.travel(t0 + timedelta(seconds=89), tick=False):
        assert client.get("/healthz").get_json()["scheduler"]["running"] is True
    with time_machine.travel(t0 + timedelta(minutes=5), tick=False):
        late = client.get("/healthz")
    assert late.status_code == 200  # the web side still serves
    assert late.get_json()["scheduler"]["running"] is False


def test_healthz_counts_webhooks_waiting_to_be_processed(app, client):
    from tracker.services.tracking import store_delivery
    from tracker.workers.webhooks import process_pending_deliveries

    t0 = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
    assert client.get("/healthz").get_json()["webhooks"] == {"pending": 0, "oldest_pending_at": None}
    with app.app_context():
        for n in range(3):
            with time_machine.travel(t0 + timedelta(seconds=n), tick=False):
                store_delivery("easypost", f"easypost:evt_{n}", {}, b'{"object": "Event"}')
        db.session.commit()
    assert client.get("/healthz").get_json()["webhooks"] == {"pending": 3,
                                                             "oldest_pending_at": "2026-06-01T12:00:00+00:00"}
    with app.app_context():
        process_pending_deliveries()
    assert client.get("/healthz").get_json()["webhooks"]["pending"] == 0


def test_healthz_says_when_the_database_is_down(app, client, monkeypatch):
    def down(*args, **kwargs):
        from sqlalchemy.exc import OperationalError

        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "execute", down)
    resp = client.get("/healthz")
    assert resp.status_code == 503 and resp.is_json
    body = resp.get_json()
    assert body["ok"] is False and body["database"]["ok"] is False
    assert body["database"]["error"] == "OperationalError"


def test_healthz_reads_only(client, counts):
    before = counts()
    client.get("/healthz")
    assert counts() == before
