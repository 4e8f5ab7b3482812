"""Buying labels in a real browser: the order page's one button, and the ship-out station's package picker
and scan, against a fake EasyPost (real HTTP on 127.0.0.1) and a fake ZPL printer (a real TCP listener)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, open_logged_in, screenshot
from tests.conftest import make_user
from tests.shipping.conftest import packed_order, printer, shop  # noqa: F401 (fixtures)
from tracker.jobs import run_job


@pytest.fixture
def label_shop(shop):
    """The shipping tests' shop (a fake EasyPost, a fake ZPL printer, ship-1 buys labels), served live."""
    app, server, _ = shop("easypost")
    make_user(app, "sam", "operator")
    with LiveServer(app) as live:
        yield app, server, live


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
    expect(page.locator("#shipping")).to_contain_text("Void label")
    screenshot(page, "order-label-bought")
    (bought,) = provider.bought
    expect(page.locator("#shipping")).to_contain_text(bought["tracking_code"])
    with app.app_context():
        run_job("print-queue")
    printed = printer.wait_for(1)[0]
    assert printed.startswith(b"^XA") and bought["tracking_code"].encode() in printed


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
