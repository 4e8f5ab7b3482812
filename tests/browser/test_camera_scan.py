"""Camera scanning in a real Chromium whose camera is a video file: the test renders a job label the way
Inktrail prints it, films it into a .y4m (Chromium's fake capture device), and the scan page reads it."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, open_logged_in, screenshot
from tests.factories import make_order
from tracker.extensions import db
from tracker.models import Event, Job, Scan

FRAME = (1280, 720)


def label_video(png: bytes, path: Path, *, frames: int = 3) -> Path:
    """The label (one printer dot a pixel) on a grey desk, filling the frame's height, as 4:2:0 YUV."""
    from PIL import Image

    label = Image.open(io.BytesIO(png)).convert("L")
    height = FRAME[1] - 40
    label = label.resize((round(label.width * height / label.height), height), Image.LANCZOS)
    frame = Image.new("L", FRAME, 170)
    frame.paste(label, ((FRAME[0] - label.width) // 2, 20))
    luma = frame.tobytes()
    chroma = bytes([128]) * (FRAME[0] // 2 * FRAME[1] // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{FRAME[0]} H{FRAME[1]} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + luma + chroma + chroma)
    return path


@pytest.fixture
def job_code(live_app):
    with live_app.app_context():
        return make_order([("Team tee", "dtg", 12)], customer_name="Camera Customer").jobs[0].code


@pytest.fixture
def camera_browser(playwright, live_app, job_code, tmp_path):
    """Chromium with a fake rear camera filming job_code's label."""
    from tracker.labels.render import render_png
    from tracker.services.label_content import job_label

    with live_app.app_context():
        png = render_png(job_label(db.session.scalar(select(Job).where(Job.code == job_code))))
    video = label_video(png, tmp_path / "label.y4m")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}"])
    yield browser
    browser.close()


def _stage(app, code):
    with app.app_context():
        return db.session.scalar(select(Job.stage).where(Job.code == code))


def _scans(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Scan))


def _reads(page) -> int:
    return int(page.evaluate("document.getElementById('scan').dataset.cameraReads || '0'"))


@pytest.mark.parametrize("viewport", [(1024, 768), (390, 844)], ids=["tablet", "phone"])
def test_the_camera_reads_a_real_job_label_and_the_job_moves_once(camera_browser, live_app, live_server, job_code,
                                                                  viewport):
    page = open_logged_in(camera_browser, live_server, viewport=viewport)
    page.goto(live_server.url + "/scan/art-desk")
    page.click("#camera-toggle")
    expect(page.locator("#camera")).to_be_visible()
    expect(page.locator("#result")).to_contain_text(job_code, timeout=15000)
    expect(page.locator("#result")).to_have_class("result result-ok")
    assert _stage(live_app, job_code) == "preproduction"
    # The label stays in view: the camera keeps reading it and sends nothing more.
    seen = _reads(page)
    page.wait_for_function("n => Number(document.getElementById('scan').dataset.cameraReads) >= n", arg=seen + 6)
    assert _scans(live_app) == 1
    with live_app.app_context():
        moves = db.session.scalar(select(func.count()).select_from(Event).where(
            Event.scan_id.is_not(None), Event.job_id.is_not(None), Event.to_stage == "preproduction"))
    assert moves == 1
    # the same page feedback as a typed scan: the row, the undo button
    expect(page.locator("#recent .scan-row.ok")).to_have_count(1)
    expect(page.locator("#undo")).to_be_visible()
    # no torch on a fake camera; the page fits the screen
    expect(page.locator("#camera-torch")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport[0]
    screenshot(page, f"camera-scan-{viewport[0]}x{viewport[1]}")
    page.click("#camera-stop")
    expect(page.locator("#camera")).to_be_hidden()
    assert page.evaluate("document.getElementById('scan').dataset.camera") == "off"


def test_the_camera_stops_when_the_page_is_hidden_and_comes_back(camera_browser, live_app, live_server, job_code):
    page = open_logged_in(camera_browser, live_server, viewport=(1024, 768))
    page.goto(live_server.url + "/scan/art-desk")
    page.click("#camera-toggle")
    expect(page.locator("#scan")).to_have_attribute("data-camera", "on")
    live = "() => { const v = document.querySelector('#camera video'); return v.srcObject && " \
           "v.srcObject.getVideoTracks().some(t => t.readyState === 'live'); }"
    assert page.evaluate(live)
    page.evaluate("Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
                  "document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("#scan")).to_have_attribute("data-camera", "off")
    assert not page.evaluate(live)
    page.evaluate("Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});"
                  "document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("#scan")).to_have_attribute("data-camera", "on")


def test_over_plain_http_on_the_network_the_camera_button_says_it_needs_https(playwright, live_server):
    """A tablet opening http://<shop computer>:5000 is not a secure context: no camera, and the page says so."""
    port = live_server.url.rsplit(":", 1)[1]
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_ARGS, "--host-resolver-rules=MAP shop-computer.lan 127.0.0.1"])
    try:
        class Remote:
            url = f"http://shop-computer.lan:{port}"
        page = open_logged_in(browser, Remote, viewport=(1024, 768))
        page.goto(Remote.url + "/scan/art-desk")
        assert page.evaluate("window.isSecureContext") is False
        expect(page.locator("#camera-toggle")).to_be_disabled()
        expect(page.locator("#camera-note")).to_contain_text("HTTPS")
        # typing still works there
        expect(page.locator("#scan-input")).to_be_focused()
    finally:
        browser.close()
