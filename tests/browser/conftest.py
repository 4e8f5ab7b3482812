"""Browser tests: real Chromium (Debian's, driven by Playwright) against the app served by waitress on
127.0.0.1 in a thread, with its own database. Skipped when Chromium is missing, unless
INKTRAIL_REQUIRE_BROWSER=1 (CI sets it, so there they fail instead)."""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, build_app, make_user

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"

if not CHROMIUM and os.environ.get("INKTRAIL_REQUIRE_BROWSER") != "1":
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)


class LiveServer:
    def __init__(self, app):
        from waitress import create_server

        self.app = app
        self.server = create_server(app, host="127.0.0.1", port=0, threads=8)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.close()
        self.thread.join(timeout=5)


@pytest.fixture
def live_app(tmp_path):
    stations = [{"key": "art-desk", "name": "Artwork desk", "moves_to": "preproduction"},
                {"key": "press-1", "name": "Press 1", "moves_to": "production"},
                {"key": "qc-1", "name": "QC table", "moves_to": "qc"},
                {"key": "pack-1", "name": "Packing bench", "moves_to": "packaging"},
                {"key": "ship-1", "name": "Ship-out", "moves_to": "labeled"}]
    app = build_app(tmp_path, config={"stations": stations})
    make_user(app, "sam", "operator")
    make_user(app, "maria", "manager")
    yield app
    from tracker.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live_server(live_app):
    with LiveServer(live_app) as server:
        yield server


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def playwright():
    """One Playwright for the session (its sync API cannot run twice at once)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


def open_logged_in(browser, server, username="sam", viewport=(1280, 800)):
    """A fresh browser context (its own cookies and localStorage), logged in through the login form."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, has_touch=True)
    page = context.new_page()
    page.goto(server.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
    return page


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
