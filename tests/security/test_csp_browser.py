"""The pages still work under the Content-Security-Policy, in real Chromium: the board (with its HTMX
refresh and a drag), the scan page (a scan posted with the CSRF header), the order page (the regenerate
button), reports, the login page and the public tracking page (with the shop's brand colour: its inline
<style> carries the nonce). Every securitypolicyviolation event, console error and page error fails it."""
from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from tests.browser.conftest import CHROMIUM, PASSWORD, LiveServer
from tests.conftest import build_app, make_user
from tests.factories import make_order
from tracker.extensions import db
from tracker.models import Job, Order

STATIONS = [{"key": "art-desk", "name": "Artwork desk", "moves_to": "preproduction"},
            {"key": "press-1", "name": "Press 1", "moves_to": "production"}]
# Runs before any page script, outside the page's CSP: collects every violation the page reports.
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sample || '') + ' at ' + e.sourceFile + ':' + e.lineNumber + ':' + e.columnNumber);
});
"""


def in_own_browser(scenario):
    """Runs scenario(browser) in a thread with its own Playwright: tests/browser keeps a session-wide
    Playwright open in the main thread, and two sync Playwrights cannot share one thread."""
    failure = []

    def run():
        try:
            with sync_playwright() as pw:
                chromium = pw.chromium.launch(executable_path=CHROMIUM, args=[
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
                try:
                    scenario(chromium)
                finally:
                    chromium.close()
        except BaseException as exc:  # handed to the test's own thread
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive(), "the browser scenario did not finish in 5 minutes"
    if failure:
        raise failure[0]


@pytest.fixture
def csp_server(tmp_path):
    app = build_app(tmp_path, config={"stations": STATIONS,
                                      "shop": {"name": "Ink Co", "brand_color": "#7c3aed"}})
    make_user(app, "maria", "manager")
    with app.app_context():
        for i in range(2):
            make_order([("Team tee", "dtg", 12), ("Cap", "embroidery", 6)], customer_name=f"Customer {i}")
    with LiveServer(app) as server:
        yield app, server
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


class Watched:
    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        # A failed load is reported by URL below (the console line does not say which); the browser's own
        # /favicon.ico request is the one 404 that is expected.
        self.page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
                     and self.problems.append(f"console: {m.text}"))
        self.page.on("response", lambda r: r.status >= 400 and not r.url.endswith("/favicon.ico")
                     and r.request.resource_type != "document" and self.problems.append(f"{r.status}: {r.url}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", lambda d: d.accept())

    def visit(self, url: str):
        resp = self.page.goto(url)
        assert resp.status == 200, f"{url}: {resp.status}"
        assert "script-src 'self'" in resp.headers["content-security-policy"]
        self.settle()

    def settle(self):
        self.page.wait_for_load_state("networkidle")
        self.check()

    def check(self):
        violations = self.page.evaluate("window.__violations || []")
        assert not violations, f"{self.page.url}: CSP violations {violations}"
        assert not self.problems, f"{self.page.url}: {self.problems}"


def test_every_screen_works_under_the_policy(csp_server):
    in_own_browser(lambda browser: _every_screen(browser, *csp_server))


def _every_screen(browser, app, server):
    w = Watched(browser)
    page = w.page
    w.visit(server.url + "/login")
    page.fill("input[name=username]", "maria")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
    w.settle()

    # The board: its HTMX refresh runs (every second) and a drag posts through HTMX with the CSRF header.
    with page.expect_response(lambda r: "/board/columns" in r.url and r.status in (200, 204)):
        pass
    page.locator("#job-A1001A").drag_to(page.locator("#col-preproduction .cards"))
    expect(page.locator("#col-preproduction #job-A1001A")).to_be_visible()
    w.check()
    # An HTMX POST from the page itself: the header from the meta tag passes the CSRF check.
    status = page.evaluate("""() => new Promise(function (resolve) {
        document.body.addEventListener('htmx:afterRequest', function (e) { resolve(e.detail.xhr.status); }, {once: true});
        htmx.ajax('POST', '/board/move', {target: '#board', values: {code: 'A1001B', to: 'preproduction'}});
    })""")
    assert status == 200
    w.check()

    # The scan page: a scan goes out with fetch and X-CSRFToken.
    w.visit(server.url + "/scan/press-1")
    page.keyboard.type("A1001A\n")
    expect(page.locator("#result")).to_have_class("result result-ok")
    w.check()

    # The order page, and its regenerate button (a form with a data-confirm dialog).
    with app.app_context():
        old = db.session.scalar(select(Order.public_token).where(Order.code == "A1001"))
    w.visit(server.url + "/orders/A1001")
    expect(page.locator("img[alt^='Label preview']").first).to_be_visible()
    page.click("text=Regenerate public link")
    expect(page.locator(".flash")).to_contain_text("new tracking link")
    w.settle()
    with app.app_context():
        new = db.session.scalar(select(Order.public_token).where(Order.code == "A1001"))
        assert db.session.scalar(select(Job.stage).where(Job.code == "A1001A")) == "production"
    assert new != old

    # Reports: the index and each report with its server-drawn charts.
    w.visit(server.url + "/reports")
    for link in page.locator("a[href^='/reports/']:not([href$='.csv'])").evaluate_all("els => els.map(e => e.href)"):
        w.visit(link)

    # The public page (no login, brand colour in a nonce'd inline style), old link gone.
    public = Watched(browser)
    public.visit(f"{server.url}/t/{new}")
    brand = public.page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--brand').trim()")
    assert brand == "#7c3aed"  # the inline style was applied, not blocked
    assert public.page.goto(f"{server.url}/t/{old}").status == 404
    public.context.close()
    w.context.close()


def test_an_injected_inline_script_is_blocked(csp_server):
    """The other side: the policy really is enforced (an inline script in a page is refused)."""
    in_own_browser(lambda browser: _inline_script_blocked(browser, *csp_server))


def _inline_script_blocked(browser, app, server):
    w = Watched(browser)
    w.visit(server.url + "/login")
    w.page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
                              document.body.appendChild(s); }""")
    assert w.page.evaluate("window.__ran") is None
    assert any("script-src" in v for v in w.page.evaluate("window.__violations"))
    w.context.close()
