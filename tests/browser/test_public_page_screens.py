"""The customer's tracking page on a phone (390x844) in real Chromium: before shipping, in transit and
delivered. Saves screenshots to test-artifacts/public-*.png (look at them when the page changes)."""
from __future__ import annotations

import datetime as dt

from tests.browser.conftest import screenshot
from tests.factories import MANAGER, make_order
from tracker.extensions import db
from tracker.integrations.carriers.common import CarrierEvent, TrackingUpdate
from tracker.services.orders import move_order
from tracker.services.shipments import add_shipment
from tracker.services.tracking import ingest_update

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _order(app, name, number, events=(), est=None):
    t0 = NOW - dt.timedelta(days=3)
    with app.app_context():
        o = make_order([("Team tee, navy", "dtg", 24)], customer_name=f"{name} Private", customer_email="x@example.com",
                       ship_city="Boise", notes="secret", due_date=(NOW + dt.timedelta(days=4)).date(), at=t0)
        for n, stage in enumerate(["preproduction", "production", "qc", "packaging", "labeled"], 1):
            move_order(o, stage, actor=MANAGER, source="web", at=t0 + dt.timedelta(hours=5 * n))
        add_shipment(o, tracking_number=number, carrier="ups", actor=MANAGER, source="web")
        db.session.commit()
        if events:
            evs = tuple(CarrierEvent("easypost", "ups", number, code, None, desc, NOW - dt.timedelta(hours=ago), loc, None)
                        for code, desc, ago, loc in events)
            ingest_update(TrackingUpdate("easypost", None, "ups", number, evs, est, None))
            db.session.commit()
        return o.public_token


def test_public_page_on_a_phone(browser, live_app, live_server):
    tokens = {
        "before-shipping": _order(live_app, "Rosa", "1Z999AA10123456784"),
        "in-transit": _order(live_app, "Jamal", "1Z999AA10123456785", [
            ("in_transit", "Picked up", 30, "SALT LAKE CITY, UT 84101"),
            ("in_transit", "Arrived at facility", 20, "OGDEN, UT 84401"),
            ("in_transit", "Departed facility", 10, "OGDEN, UT 84401")], est=(NOW + dt.timedelta(days=1)).date()),
        "delivered": _order(live_app, "Mei", "1Z999AA10123456786", [
            ("in_transit", "Picked up", 40, "SALT LAKE CITY, UT 84101"),
            ("out_for_delivery", "Out for delivery", 6, "BOISE, ID 83702"),
            ("delivered", "Delivered, front door", 2, "BOISE, ID 83702")]),
    }
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False,
                                  device_scale_factor=1, is_mobile=True)
    page = context.new_page()
    for name, token in tokens.items():
        resp = page.goto(f"{live_server.url}/t/{token}")
        assert resp.status == 200
        assert page.locator("h1").count() == 1
        text = page.inner_text("body")
        assert "Private" not in text and "Boise" not in text and "secret" not in text
        if name == "before-shipping":
            assert "the carrier has not picked up" in text and "1Z999AA10123456784" not in text
        else:
            assert "Track on UPS" in text
        path = screenshot(page, f"public-{name}")
        page.screenshot(path=str(path).replace(".png", "-full.png"), full_page=True)
    context.close()
