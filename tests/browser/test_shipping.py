"""Buying labels in a real browser: the order page's one button, and the ship-out station's package picker
and scan, against a fake EasyPost (real HTTP on 127.0.0.1) and a fake ZPL printer (a real TCP listener)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, open_logged_in, screenshot
from tests.conftest import build_app, make_user
from tests.integrations import fakes
from tests.shipping.conftest import FROM, PACKAGES, packed_order
from tracker.jobs import run_job


@pytest.fixture
def label_shop(tmp_path, printer):
    server, config, _, _ = fakes.BUILDERS["easypost"]()
    server.start()
    stations = [{"key": "ship-1", "name": "Ship-out", "moves_to": "labeled", "printer": "label",
                 "buy_labels": True, "package": "Poly mailer"}]
    app = build_app(tmp_path, config={
        "providers": {"easypost": config}, "packages": PACKAGES, "stations": stations,
        "printers": {"label": {"driver": "zpl", "host": "127.0.0.1", "port": printer.port, "timeout": 2}},
        "shipping": {"from": FROM, "default_package": "Poly mailer"}})
    make_user(app, "sam", "operator")
    with LiveServer(app) as live:
        yield app, server, live
    server.stop()
    from tracker.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def printer():
    from tests.printing.fake_printer import FakePrinter

    p = FakePrinter().start()
    yield p
    p.stop()


def test_one_button_on_the_order_page_buys_and_prints_the_label(browser, label_shop, printer):
    app, provider, live = label_shop
    code = packed_order(app)
    page = open_logged_in(browser, live, viewport=(1024, 768))
    page.goto(f"{live.url}/orders/{code}")
    page.select_option("select[name=package]", "Box M")
    page.locator("#shipping").scroll_into_view_if_needed()
    screenshot(page, "order-label-form")
    page.click("text=Buy and print label")
    expect(page.locator(".flash-success")).to_be_visible()
    number = provider.bought[0]["tracking_code"] if isinstance(provider.bought[0], dict) else None
    expect(page.locator("#shipping")).to_contain_text("Void label")
    screenshot(page, "order-label-bought")
    assert len(provider.bought) == 1
    with app.app_context():
        run_job("print-queue")
    printed = printer.wait_for(1)[0]
    assert printed.startswith(b"^XA") or b"^XA" in printed
    if number:
        assert number.encode() in printed


def test_the_ship_out_station_picks_a_package_by_touch_and_a_scan_buys_the_label(browser, label_shop, printer):
    app, provider, live = label_shop
    code = packed_order(app)
    page = open_logged_in(browser, live, viewport=(1024, 768))
    page.goto(f"{live.url}/scan/ship-1")
    expect(page.locator('[data-package="Poly mailer"]')).to_have_attribute("aria-pressed", "true")
    page.click('[data-package="Box M"]')
    expect(page.locator("#result")).to_contain_text("Package: Box M")
    expect(page.locator('[data-package="Box M"]')).to_have_attribute("aria-pressed", "true")
    page.fill("#scan-input", code)
    page.keyboard.press("Enter")
    expect(page.locator("#result")).to_contain_text("printing on label")
    expect(page.locator("#result")).to_have_class("result result-ok")
    screenshot(page, "ship-out-scan-bought")
    assert len(provider.bought) == 1
    assert provider.calls("POST", "/v2/shipments")[0].json()["shipment"]["parcel"]["weight"] == 40
