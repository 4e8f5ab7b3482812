"""The customer's tracking page and its JSON: the whole journey, the tracking number only once the carrier
has the parcel, the delivery estimate, privacy, the brand, and the rate limit."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import time_machine

from tests.conftest import build_app
from tests.factories import MANAGER, make_order
from tracker.extensions import db
from tracker.integrations.carriers.common import CarrierEvent, TrackingUpdate
from tracker.services.orders import move_order
from tracker.services.shipments import add_shipment
from tracker.services.tracking import ingest_update

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday
NUMBER = "1Z999AA10123456784"
PRIVATE = ("Diaz", "Maria", "rosa@example.com", "208 555 0100", "555 0100", "2085550100", "Boise", "BOISE", "83702",
           "Pantone", "SO-777", "12 Elm")


def _order(**kw):
    fields = dict(customer_name="Rosa Maria Diaz", customer_email="rosa@example.com", customer_phone="+1 208 555 0100",
                  ship_city="Boise", ship_region="ID", ship_country="US", notes="Match Pantone 286C, 12 Elm Street",
                  channel="shopify", external_ref="SO-777", due_date=dt.date(2026, 3, 10), at=T0)
    fields.update(kw)
    return make_order(**fields)


def _packed(order, *, label=True):
    move_order(order, "preproduction", actor=MANAGER, source="web", at=T0 + dt.timedelta(hours=2))
    move_order(order, "production", actor=MANAGER, source="web", at=T0 + dt.timedelta(hours=20))
    move_order(order, "qc", actor=MANAGER, source="web", at=T0 + dt.timedelta(hours=30))
    move_order(order, "packaging", actor=MANAGER, source="web", at=T0 + dt.timedelta(hours=32))
    if label:
        move_order(order, "labeled", actor=MANAGER, source="web", at=T0 + dt.timedelta(hours=34))
        add_shipment(order, tracking_number=NUMBER, carrier="ups", actor=MANAGER, source="web")
    db.session.commit()


def _carrier(*events, est=None):
    """events: (code, description, at, location)."""
    evs = tuple(CarrierEvent("easypost", "ups", NUMBER, code, None, desc, at, loc, None) for code, desc, at, loc in events)
    ingest_update(TrackingUpdate("easypost", None, "ups", NUMBER, evs, est, None))
    db.session.commit()


PICKUP = ("in_transit", "Picked up", T0 + dt.timedelta(days=2), "SALT LAKE CITY, UT 84101")
HUB = ("in_transit", "Arrived at facility", T0 + dt.timedelta(days=2, hours=8), "OGDEN, UT 84401")
OUT = ("out_for_delivery", "Out for delivery", T0 + dt.timedelta(days=3), "BOISE, ID 83702")
DONE = ("delivered", "Delivered, front door", T0 + dt.timedelta(days=3, hours=5), "BOISE, ID 83702")


def _get(client, token):
    page, data = client.get(f"/t/{token}"), client.get(f"/t/{token}.json")
    assert page.status_code == 200 and data.status_code == 200
    return page.get_data(as_text=True), data.get_json()


def _assert_private(html, body):
    for text in (html, json.dumps(body)):
        for secret in PRIVATE:
            assert secret not in text, secret


def test_before_shipping_says_the_label_waits_and_shows_no_number(app, client):
    with app.app_context():
        o = _order()
        _packed(o)
        token = o.public_token
    html, body = _get(client, token)
    assert "the carrier has not picked up the parcel yet" in html
    assert NUMBER not in html and NUMBER not in json.dumps(body)
    assert body["parcels"] == [] and body["carrier_events"] == [] and body["label_waiting"] is True
    assert "Packed and ready to ship" in html
    for words in ("Order received", "Artwork approved", "Printing", "Quality check", "Packed"):
        assert words in html
    journey = {s["key"]: s for s in body["journey"]}
    assert journey["production"]["at"].startswith("2026-03-03") and journey["packaging"]["current"]
    assert not journey["on_its_way"]["done"]
    _assert_private(html, body)


def test_in_transit_shows_number_link_and_carrier_events_newest_first(app, client):
    with app.app_context():
        o = _order()
        _packed(o)
        _carrier(PICKUP, HUB)
        token = o.public_token
    html, body = _get(client, token)
    assert NUMBER in html and "ups.com" in html
    parcel = body["parcels"][0]
    assert parcel["tracking_number"] == NUMBER and parcel["tracking_url"] and "ups" in parcel["tracking_url"]
    assert [e["description"] for e in body["carrier_events"]] == ["Arrived at facility", "Picked up"]
    assert body["carrier_events"][0]["location"] == "Ogden, UT"
    assert html.index("Arrived at facility") < html.index("Picked up")
    assert "the carrier has not picked up" not in html
    assert body["headline"] in ("In transit", "Picked up by the carrier", "On its way")
    _assert_private(html, body)


def test_delivered_shows_the_day_and_hides_the_customers_city(app, client):
    with app.app_context():
        o = _order()
        _packed(o)
        _carrier(PICKUP, HUB, OUT, DONE)
        token = o.public_token
    html, body = _get(client, token)
    assert body["delivered"] and body["stage"] == "delivered" and body["estimated_delivery"] is None
    assert "Delivered" in html and "Thu Mar 5" in html
    assert {e["location"] for e in body["carrier_events"]} == {None, "Salt Lake City, UT", "Ogden, UT"}
    assert [s["key"] for s in body["journey"] if s["current"]] == ["delivered"]
    _assert_private(html, body)


def test_page_has_no_script_and_says_noindex(app, client):
    with app.app_context():
        token = _order().public_token
    resp = client.get(f"/t/{token}")
    html = resp.get_data(as_text=True)
    assert "<script" not in html.lower()
    assert not re.search(r"\son[a-z]+=", html)
    assert '<meta name="robots" content="noindex' in html
    assert resp.headers["X-Robots-Tag"].startswith("noindex")
    assert resp.headers["Cache-Control"] == "private, max-age=60"
    for tag in ("<header", "<main", "<ol", "<footer", "<h1"):
        assert tag in html
    headings = [int(h) for h in re.findall(r"<h([1-6])", html)]
    assert headings[0] == 1 and all(b - a <= 1 for a, b in zip(headings, headings[1:]))


@pytest.mark.parametrize("token", ["B" * 32, "short", "x" * 65, "not.a.token." + "x" * 20])
def test_unknown_and_malformed_tokens_404_identically(client, token):
    # Time frozen: the page's CSRF token carries a timestamp, and two requests either side of a second's edge differ.
    with time_machine.travel(T0, tick=False):
        _compare_404s(client, token)


def _compare_404s(client, token):
    ref_page, ref_json = client.get("/t/" + "C" * 32), client.get("/t/" + "C" * 32 + ".json")
    page, data = client.get(f"/t/{token}"), client.get(f"/t/{token}.json")
    assert page.status_code == data.status_code == 404
    assert page.get_data() == ref_page.get_data() and data.get_json() == ref_json.get_json()


# -- the estimate ---------------------------------------------------------------------------------

def test_carrier_estimate_wins(app, client):
    with app.app_context():
        o = _order()
        _packed(o)
        _carrier(PICKUP, est=dt.date(2026, 3, 6))
        token = o.public_token
    with time_machine.travel(T0 + dt.timedelta(days=2, hours=1), tick=False):
        html, body = _get(client, token)
    assert (body["estimated_delivery"], body["estimate_source"], body["late"]) == ("2026-03-06", "carrier", False)
    assert body["promised"] == "2026-03-10"
    assert "Fri Mar 6" in html and "Running late" not in html


def test_late_flag_when_the_estimate_passes_the_promised_date(app, client):
    with app.app_context():
        o = _order(due_date=dt.date(2026, 3, 3))
        _packed(o)
        _carrier(PICKUP, est=dt.date(2026, 3, 5))
        token = o.public_token
    with time_machine.travel(T0 + dt.timedelta(days=2, hours=1), tick=False):
        html, body = _get(client, token)
    assert body["late"] is True
    assert "Running late: now expected Thu Mar 5, after the promised Tue Mar 3" in html


def test_sla_fallback_while_history_is_thin(app, client):
    # Received Monday 08:00 (shop time UTC): SLAs 4+24+24+8+8+8 = 76 working hours -> Thursday 12:00,
    # then 3 days of transit -> Sunday Mar 8.
    with app.app_context():
        token = _order(due_date=dt.date(2026, 3, 6)).public_token
    with time_machine.travel(T0, tick=False):
        html, body = _get(client, token)
    assert body["estimate_source"] == "typical times"
    assert body["estimated_delivery"] == "2026-03-08" and body["late"] is True
    assert "Running late" in html


def test_shop_history_medians_replace_the_slas(app, client):
    with app.app_context():
        # Five earlier orders that spent 1 working hour in each stage up to the label, and UPS parcels
        # that took one day: the estimate for a fresh order becomes about 6 hours + 1 day.
        start = T0 - dt.timedelta(days=7)
        for i in range(5):
            o = make_order(customer_name=f"Old {i}", at=start)
            for n, stage in enumerate(["preproduction", "production", "qc", "packaging", "labeled", "picked_up"], 1):
                move_order(o, stage, actor=MANAGER, source="carrier" if stage == "picked_up" else "web",
                           at=start + dt.timedelta(hours=n))
            s = add_shipment(o, tracking_number=f"1Z999AA1012345{i:04d}", carrier="ups", actor=MANAGER, source="web")
            s.activated_at, s.delivered_at = start + dt.timedelta(hours=6), start + dt.timedelta(hours=30)
        db.session.commit()
        token = _order().public_token
        add_shipment(db.session.merge(_order_by_token(token)), tracking_number="1Z999AA10199999999", carrier="ups",
                     actor=MANAGER, source="web")
        db.session.commit()
    with time_machine.travel(T0, tick=False):
        body = client.get(f"/t/{token}.json").get_json()
    assert body["estimate_source"] == "shop history"
    assert body["estimated_delivery"] == "2026-03-03"



def test_the_shops_history_is_read_once_per_five_minutes(app, client):
    # Reading the history costs up to 20,000 moves (about 100 ms on a busy shop): the page reuses it for
    # SHARED_HISTORY_SECONDS, then reads it again, so a new pace shows within five minutes.
    from tracker.queries import SHARED_HISTORY_SECONDS

    with app.app_context():
        token = _order().public_token
    with time_machine.travel(T0, tick=False) as clock:
        assert client.get(f"/t/{token}.json").get_json()["estimate_source"] == "typical times"
        with app.app_context():
            start = T0 - dt.timedelta(days=7)
            for i in range(5):  # the shop's history arrives: five fast orders
                o = make_order(customer_name=f"Old {i}", at=start)
                for n, stage in enumerate(["preproduction", "production", "qc", "packaging", "labeled"], 1):
                    move_order(o, stage, actor=MANAGER, source="web", at=start + dt.timedelta(hours=n))
            db.session.commit()
        clock.shift(SHARED_HISTORY_SECONDS - 1)
        assert client.get(f"/t/{token}.json").get_json()["estimate_source"] == "typical times"  # reused
        clock.shift(1)
        assert client.get(f"/t/{token}.json").get_json()["estimate_source"] == "shop history"  # read again

def _order_by_token(token):
    from sqlalchemy import select

    from tracker.models import Order

    return db.session.scalar(select(Order).where(Order.public_token == token))


# -- the brand ------------------------------------------------------------------------------------

def test_brand_from_config_shows_on_the_page(tmp_path):
    app = build_app(tmp_path, config={"shop": {"name": "Ink & Thread", "brand_color": "#FACC15",
                                               "logo_url": "/static/logo.png", "support_email": "help@inkthread.test",
                                               "support_phone": "+1 555 0199", "support_url": "https://inkthread.test/help"}})
    with app.app_context():
        token = make_order().public_token
    html = app.test_client().get(f"/t/{token}").get_data(as_text=True)
    assert "--brand: #facc15; --on-brand: #111827" in html  # dark text on a light brand colour
    assert 'src="/static/logo.png"' in html and 'alt="Ink &amp; Thread"' in html
    assert "mailto:help@inkthread.test" in html and "+1 555 0199" in html and "https://inkthread.test/help" in html


@pytest.mark.parametrize("key,value", [("brand_color", "blue"), ("brand_color", "#12345"),
                                       ("logo_url", "javascript:alert(1)"), ("support_url", "ftp://x"),
                                       ("support_email", "nope")])
def test_bad_brand_keys_are_refused(tmp_path, key, value):
    from tracker.settings import ConfigError

    with pytest.raises(ConfigError, match=f"shop.{key}"):
        build_app(tmp_path, config={"shop": {key: value}})


# -- the rate limit -------------------------------------------------------------------------------

def test_rate_limit_answers_429_with_a_sentence(tmp_path):
    app = build_app(tmp_path, RATELIMIT_ENABLED=True)
    from tracker.extensions import limiter

    limiter.reset()
    client = app.test_client()
    codes = [client.get("/t/" + "D" * 32).status_code for _ in range(60)]
    assert set(codes) == {404}
    page = client.get("/t/" + "D" * 32)
    assert page.status_code == 429 and "Too many requests" in page.get_data(as_text=True)
    data = client.get("/t/" + "D" * 32 + ".json")
    assert data.status_code == 429 and "Too many requests" in data.get_json()["error"]
    assert client.get("/healthz").status_code == 200  # other routes are not limited
    limiter.reset()
