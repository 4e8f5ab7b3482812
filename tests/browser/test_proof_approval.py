"""Artwork proof approval in real Chromium: staff attach a proof on the order page (desktop), the customer
asks for changes and then approves on a phone-sized page with touch. Screenshots in test-artifacts/proof-*.png."""
from __future__ import annotations

import io

from PIL import Image, ImageDraw
from sqlalchemy import select

from tests.browser.conftest import open_logged_in, screenshot
from tests.factories import make_order
from tracker.extensions import db
from tracker.models import Event, Job


def artwork() -> bytes:
    img = Image.new("RGB", (1200, 900), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((150, 100, 1050, 800), outline="black", width=12)
    draw.ellipse((400, 250, 800, 650), fill=(200, 30, 40))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def test_a_customer_asks_for_changes_then_approves_on_a_phone(browser, live_app, live_server, tmp_path):
    with live_app.app_context():
        order = make_order([("Team tee, navy", "dtg", 24)], customer_name="Rosa Diaz")
        code, job_code, token = order.code, order.jobs[0].code, order.public_token
    proof_file = tmp_path / "front.png"
    proof_file.write_bytes(artwork())

    staff = open_logged_in(browser, live_server)
    staff.goto(f"{live_server.url}/orders/{code}")
    staff.set_input_files("#proofs input[type=file]", str(proof_file))
    staff.fill("#proofs input[name=note]", "Logo 10 in wide, centred")
    with staff.expect_navigation():
        staff.click("#proofs button[type=submit]")
    assert f"Proof v1 for {job_code} posted" in staff.inner_text(".flash")
    staff.locator("#proofs").scroll_into_view_if_needed()
    screenshot(staff, "proof-order-page")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                device_scale_factor=2).new_page()
    phone.goto(f"{live_server.url}/t/{token}")
    assert phone.inner_text("h1") == "Your proof is ready for your approval"
    preview = phone.locator(".proof-img")
    assert preview.evaluate("img => img.complete && img.naturalWidth") == 1200
    assert preview.bounding_box()["width"] <= 390  # scaled to the phone, no sideways scrolling
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "proof-pending-phone")

    phone.tap("summary:has-text('Request changes')")
    phone.fill("textarea[name=comment]", "Please make the red darker")
    phone.tap("button:has-text('Send my changes')")
    phone.wait_for_url("**answered=changes#proofs")
    assert "we have your comment" in phone.inner_text("#proofs")
    assert "You asked for changes" in phone.inner_text("#proofs")

    staff.goto(f"{live_server.url}/")
    assert "Please make the red darker" in staff.inner_text(f"#job-{job_code}")
    screenshot(staff, "proof-board")
    staff.goto(f"{live_server.url}/orders/{code}")
    staff.set_input_files("#proofs input[type=file]", str(proof_file))
    with staff.expect_navigation():
        staff.click("#proofs button[type=submit]")

    phone.goto(f"{live_server.url}/t/{token}")
    assert "version 2" in phone.inner_text("#proofs")
    approve = phone.locator("button:has-text('Approve this proof')")
    box = approve.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 300  # a thumb-sized target
    approve.tap()
    phone.wait_for_url("**answered=approved#proofs")
    assert "your approval is in" in phone.inner_text("#proofs")
    screenshot(phone, "proof-approved-phone")

    with live_app.app_context():
        job = db.session.scalar(select(Job).where(Job.code == job_code))
        assert job.stage == "production" and job.proof_state == "approved"
        notes = db.session.scalars(select(Event.note).where(Event.job_id == job.id, Event.source == "customer")).all()
        assert notes == ["Changes requested on proof v1: Please make the red darker",
                         "Proof v2 approved by the customer", "Proof v2 approved"]
