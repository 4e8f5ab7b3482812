"""The shop floor in a real browser: drag and drop, live updates across boards, the scan page."""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import open_logged_in, screenshot
from tests.factories import make_order
from tracker.extensions import db
from tracker.models import Event, Job, Scan


def _orders(app, n=3):
    with app.app_context():
        return [make_order([("Team tee", "dtg", 12), ("Cap", "embroidery", 6)], customer_name=f"Customer {i}").code
                for i in range(n)]


def _job_stage(app, code):
    with app.app_context():
        return db.session.scalar(select(Job.stage).where(Job.code == code))


def test_drag_a_card_to_the_next_column_persists(browser, live_app, live_server):
    _orders(live_app, 2)
    page = open_logged_in(browser, live_server)
    card = page.locator("#job-A1001A")
    target = page.locator("#col-preproduction .cards")
    expect(card).to_be_visible()
    card.drag_to(target)
    expect(page.locator("#toast")).to_contain_text("A1001A → Pre-production")  # the server's answer
    expect(page.locator("#col-preproduction #job-A1001A")).to_be_visible()
    assert _job_stage(live_app, "A1001A") == "preproduction"
    page.reload()
    expect(page.locator("#col-preproduction #job-A1001A")).to_be_visible()
    screenshot(page, "board-1280x800")
    page.context.close()


def test_a_refused_drag_says_why_and_the_card_returns(browser, live_app, live_server):
    _orders(live_app, 1)
    page = open_logged_in(browser, live_server)
    page.locator("#job-A1001A").drag_to(page.locator("#col-qc .cards"))
    toast = page.locator("#toast")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text("Pre-production comes next")
    expect(page.locator("#col-received #job-A1001A")).to_be_visible()
    assert _job_stage(live_app, "A1001A") == "received"
    page.context.close()


def test_scan_on_one_page_shows_on_another_open_board_within_2s(browser, live_app, live_server):
    _orders(live_app, 1)
    board = open_logged_in(browser, live_server, viewport=(1024, 768))
    board.select_option("select[name=method]", "dtg")  # the viewer's filter must survive the refresh
    expect(board.locator("#job-A1001B")).to_have_count(0)
    scanner = open_logged_in(browser, live_server, username="maria")
    scanner.goto(live_server.url + "/scan/art-desk")
    scanner.keyboard.type("a1001a")
    scanner.keyboard.press("Enter")
    expect(scanner.locator("#result")).to_have_class("result result-ok")
    expect(board.locator("#col-preproduction #job-A1001A")).to_be_visible(timeout=2000)
    expect(board.locator("#job-A1001B")).to_have_count(0)
    assert "method=dtg" in board.url
    screenshot(board, "board-1024x768-filtered")
    board.context.close()
    scanner.context.close()


def test_keyboard_only_scan_flow_and_wrong_station(browser, live_app, live_server):
    _orders(live_app, 1)
    page = open_logged_in(browser, live_server)
    page.goto(live_server.url + "/scan/qc-1")
    expect(page.locator("#scan-input")).to_be_focused()
    page.keyboard.type("  A1001A \n")  # a keyboard-wedge scanner: the code and Enter
    result = page.locator("#result")
    expect(result).to_have_class("result result-bad")
    expect(result).to_contain_text("A1001A is in Received; Pre-production comes next")
    expect(page.locator("#scan-input")).to_be_focused()
    page.goto(live_server.url + "/scan/art-desk")
    page.keyboard.type("BADGEMARIA\n")
    expect(result).to_contain_text("Scanning as maria")
    expect(page.locator("#operator")).to_have_text("maria")
    page.keyboard.type("A1001A\n")
    expect(result).to_have_class("result result-ok")
    expect(result).to_contain_text("A1001A → Pre-production")
    expect(page.locator("#recent li").first).to_contain_text("A1001A")
    screenshot(page, "scan-1280x800")
    with live_app.app_context():
        ev = db.session.scalars(select(Event).where(Event.kind == "advance", Event.job_id.is_not(None))).one()
        assert (ev.actor, ev.station, ev.source) == ("maria", "art-desk", "scan")
    page.locator("#undo").click()
    expect(result).to_contain_text("Undone")
    assert _job_stage(live_app, "A1001A") == "received"
    page.context.close()


def test_offline_scans_wait_and_are_sent_once_when_back(browser, live_app, live_server):
    _orders(live_app, 2)
    page = open_logged_in(browser, live_server)
    page.goto(live_server.url + "/scan/art-desk")
    page.context.set_offline(True)
    for code in ("A1001A", "A1001B", "A1002A"):
        page.keyboard.type(code + "\n")
    expect(page.locator("#pending-pill")).to_contain_text("3 waiting")
    expect(page.locator("#recent li.pending")).to_have_count(3)
    assert _job_stage(live_app, "A1001A") == "received"
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#pending-pill")).to_be_hidden(timeout=5000)
    expect(page.locator("#recent li.ok")).to_have_count(3)
    for code in ("A1001A", "A1001B", "A1002A"):
        assert _job_stage(live_app, code) == "preproduction"
    # Replaying the same IDs (a tablet that lost the answers) moves nothing twice.
    with live_app.app_context():
        uids = list(db.session.scalars(select(Scan.uid).order_by(Scan.id)))
        events_before = db.session.scalar(select(db.func.count()).select_from(Event))
    for uid in uids:
        resp = page.request.post(live_server.url + "/scan/art-desk", data={"scan_id": uid, "code": "A1001A"},
                                 headers={"X-CSRFToken": page.locator("meta[name=csrf-token]").get_attribute("content")})
        assert resp.json()["replayed"] is True
    with live_app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Event)) == events_before
        assert db.session.scalar(select(db.func.count()).select_from(Scan)) == 3
    page.context.close()


def test_the_order_search_replaces_its_results_and_does_not_nest_them(browser, live_app, live_server):
    """Found looking at the page: the results block was swapped inside itself (two #order-results)."""
    _orders(live_app, 3)
    page = open_logged_in(browser, live_server)
    page.goto(live_server.url + "/orders")
    page.fill("input[name=q]", "Customer 1")
    expect(page.locator("#order-results tbody tr")).to_have_count(1)
    expect(page.locator("#order-results")).to_have_count(1)
    page.fill("input[name=q]", "Customer")
    expect(page.locator("#order-results tbody tr")).to_have_count(3)
    expect(page.locator("#order-results")).to_have_count(1)
    page.context.close()
