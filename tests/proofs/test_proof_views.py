"""Proofs over HTTP: the API upload (multipart), the order page's form, the staff file, and the customer's
tracking page (preview, approve, request changes), with the bad inputs each one must refuse clearly."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from tests.conftest import Api, api_token, closing, csrf_from, login
from tests.factories import OPERATOR, make_order
from tests.proofs.conftest import PDF, PNG, proof_app
from tracker.extensions import db
from tracker.models import Event, Job, Proof
from tracker.services import proofs as service


def api_post(api: Api, job_code: str, data: dict, **kw):
    return api.client.post(f"/api/jobs/{job_code}/proofs", data=data, headers=api.headers,
                           content_type="multipart/form-data", **kw)


@pytest.fixture
def api(app, client):
    return Api(client, api_token(app, "operator"))


def new_order(app, items=None):
    with app.app_context():
        order = make_order(items)
        return order.code, [j.code for j in order.jobs], order.public_token


def test_the_api_takes_a_proof_and_answers_201_with_its_id_and_version(app, api):
    code, (job,), _ = new_order(app)
    resp = api_post(api, job, {"file": (io.BytesIO(PNG), "front.png"), "note": "Logo 10 in wide"})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["version"] == 1 and isinstance(body["proof_id"], int) and body["state"] == "pending"
    assert (body["job_id"], body["content_type"], body["note"]) == (job, "image/png", "Logo 10 in wide")
    again = api_post(api, job.lower(), {"file": (io.BytesIO(PDF), "v2.pdf")})
    assert again.status_code == 201 and again.get_json()["version"] == 2
    listed = api.get(f"/api/jobs/{job}/proofs").get_json()
    assert [(p["version"], p["state"]) for p in listed["proofs"]] == [(1, "superseded"), (2, "pending")]
    assert listed["proof_state"] == "pending"
    with app.app_context():
        events = db.session.scalars(select(Event).where(Event.kind == "proof")).all()
        assert [e.source for e in events] == ["api", "api"]


@pytest.mark.parametrize("data, status, field, words", [
    ({}, 400, "file", "missing"),
    ({"file": (io.BytesIO(b""), "empty.png")}, 400, "file", "empty"),
    ({"file": (io.BytesIO(b"<html><script>x</script>"), "proof.png")}, 400, "file", "checked by its content"),
    ({"file": (io.BytesIO(PNG), "a.png"), "colour": "red"}, 400, "colour", "unknown field"),
    ({"file": (io.BytesIO(PNG), "a.png"), "note": "x" * 2001}, 400, "note", "too long"),
])
def test_the_api_refuses_bad_uploads_with_the_field(app, api, data, status, field, words):
    _, (job,), _ = new_order(app)
    resp = api_post(api, job, data)
    assert resp.status_code == status and resp.get_json()["field"] == field and words in resp.get_json()["error"]
    with app.app_context():
        assert db.session.scalar(select(Proof.id)) is None and db.session.get(Job, 1).proof_state is None


def test_the_api_refuses_json_an_unknown_job_a_large_file_and_a_printed_job(tmp_path):
    app = proof_app(tmp_path, max_upload_mb=0.1)
    client = app.test_client()
    api = Api(client, api_token(app, "operator"))
    code, (job,), _ = new_order(app)
    assert api.post(f"/api/jobs/{job}/proofs", json={"file": "x"}).status_code == 415
    assert api_post(api, "A9999A", {"file": (io.BytesIO(PNG), "a.png")}).status_code == 404
    big = api_post(api, job, {"file": (io.BytesIO(PNG + b"\0" * 200_000), "big.png")})
    assert big.status_code == 413 and "0.1 MB at most" in big.get_json()["error"]
    # Past the web server's own limit for this request too (the file plus the form): refused, not read.
    huge = api_post(api, job, {"file": (io.BytesIO(PNG + b"\0" * 600_000), "huge.png")})
    assert huge.status_code == 413
    moved = api.post(f"/api/orders/{code}/advance", json={"to": "preproduction"}), \
        api.post(f"/api/orders/{code}/advance", json={"to": "production"})
    assert [r.status_code for r in moved] == [200, 200]
    printed = api_post(api, job, {"file": (io.BytesIO(PNG), "late.png")})
    assert printed.status_code == 409 and "a proof is approved before printing" in printed.get_json()["error"]
    assert client.post(f"/api/jobs/{job}/proofs", data={"file": (io.BytesIO(PNG), "a.png")}).status_code == 401
    list(closing(app))


def test_staff_post_a_proof_from_the_order_page(app, client):
    code, (job, other), _ = new_order(app, [("Tee", "dtg", 1), ("Hat", "embroidery", 2)])
    login(client)
    page = client.get(f"/orders/{code}").get_data(as_text=True)
    assert 'id="proofs"' in page and 'enctype="multipart/form-data"' in page and f'<option value="{other}">' in page
    resp = client.post(f"/orders/{code}/proofs", data={"csrf_token": client.csrf_token, "job": other,
                                                       "file": (io.BytesIO(PNG), "hat.png"), "note": "Thread 1000"},
                       content_type="multipart/form-data")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/orders/{code}#proofs")
    page = client.get(f"/orders/{code}").get_data(as_text=True)
    assert f"Proof v1 for {other} posted and the customer was e-mailed a link." in page
    assert "hat.png" in page and "Waiting for the customer" in page and "Thread 1000" in page
    with app.app_context():
        proof = db.session.scalars(select(Proof)).one()
        assert proof.job.code == other and proof.posted_by == "operator1"
    served = client.get(f"/proofs/{proof.id}")
    assert served.status_code == 200 and served.data == PNG and served.mimetype == "image/png"
    assert "sandbox" in served.headers["Content-Security-Policy"] and served.headers["Cache-Control"] == "private, no-store"
    assert "script-src" not in served.headers["Content-Security-Policy"]
    assert client.get("/proofs/99999").status_code == 404


def test_the_order_page_form_says_what_is_wrong(app, client):
    code, (job,), _ = new_order(app)
    login(client)

    def send(**data):
        resp = client.post(f"/orders/{code}/proofs", data={"csrf_token": client.csrf_token, **data},
                           content_type="multipart/form-data", follow_redirects=True)
        return resp.status_code, resp.get_data(as_text=True)

    assert "Choose which job the proof is for." in send(file=(io.BytesIO(PNG), "a.png"))[1]
    assert "Choose the proof&#39;s image or PDF to upload." in send(job=job)[1]
    status, page = send(job=job, file=(io.BytesIO(b"GIF89a...."), "a.gif"))
    assert status == 200 and "The file is not a PNG, JPEG or WebP image, or a PDF" in page
    no_csrf = client.post(f"/orders/{code}/proofs", data={"job": job, "file": (io.BytesIO(PNG), "a.png")},
                          content_type="multipart/form-data")
    assert no_csrf.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Proof.id)) is None


def test_staff_pages_need_a_login(app, client):
    code, (job,), _ = new_order(app)
    with app.app_context():
        proof = service.post_proof(db.session.get(Job, 1), filename="a.png", content=PNG, note=None, actor=OPERATOR,
                                   source="web")
        db.session.commit()
        proof_id = proof.id
    assert client.get(f"/proofs/{proof_id}").status_code == 302
    assert client.post(f"/orders/{code}/proofs", data={"job": job}).status_code == 302


def posted(app, content=PNG, items=None):
    code, jobs, token = new_order(app, items)
    with app.app_context():
        job = db.session.scalar(select(Job).where(Job.code == jobs[0]))
        proof = service.post_proof(job, filename="front.png", content=content, note="Is the red right?",
                                   actor=OPERATOR, source="web")
        db.session.commit()
        return code, jobs[0], token, proof.id


def form_token(html: str) -> str:
    return csrf_from(html)


def test_the_tracking_page_shows_the_pending_proof_with_approve_and_changes(app, client):
    code, job, token, proof_id = posted(app)
    page = client.get(f"/t/{token}").get_data(as_text=True)
    assert "Your proof is ready for your approval" in page and "Is the red right?" in page
    assert f'<img class="proof-img" src="/t/{token}/proofs/{proof_id}"' in page
    assert 'value="approve"' in page and 'value="changes"' in page and 'name="csrf_token"' in page
    assert "<script" not in page and "rosa@example.com" not in page and "sam" not in page
    data = client.get(f"/t/{token}.json").get_json()
    assert data["waiting_for_you"] is True
    assert [(p["proof_id"], p["version"], p["state"]) for p in data["proofs"]] == [(proof_id, 1, "pending")]
    served = client.get(f"/t/{token}/proofs/{proof_id}")
    assert served.status_code == 200 and served.data == PNG and served.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert "sandbox" in served.headers["Content-Security-Policy"]


def test_a_pdf_proof_is_linked_and_served_for_the_browsers_viewer(app, client):
    _, _, token, proof_id = posted(app, content=PDF)
    page = client.get(f"/t/{token}").get_data(as_text=True)
    assert "Open the proof (PDF)" in page and "proof-img" not in page
    served = client.get(f"/t/{token}/proofs/{proof_id}")
    assert served.mimetype == "application/pdf" and served.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert served.headers["Content-Disposition"].startswith("inline")


def test_another_orders_proof_and_a_bad_token_are_404(app, client):
    _, _, token, _ = posted(app)
    _, _, other_token, other_id = posted(app)
    assert client.get(f"/t/{token}/proofs/{other_id}").status_code == 404
    assert client.get(f"/t/{'x' * 43}/proofs/{other_id}").status_code == 404
    page = client.get(f"/t/{token}").get_data(as_text=True)
    resp = client.post(f"/t/{token}/proofs/{other_id}", data={"csrf_token": form_token(page), "answer": "approve"})
    assert resp.status_code == 404
    with app.app_context():
        assert db.session.get(Proof, other_id).state == "pending"


def test_the_customer_approves_and_the_job_goes_to_production(app, client):
    code, job, token, proof_id = posted(app)
    page = client.get(f"/t/{token}").get_data(as_text=True)
    resp = client.post(f"/t/{token}/proofs/{proof_id}", data={"csrf_token": form_token(page), "answer": "approve"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/t/{token}?answered=approved#proofs")
    thanks = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Thank you, your approval is in." in thanks and "Approved on" in thanks and 'value="approve"' not in thanks
    with app.app_context():
        j = db.session.scalar(select(Job).where(Job.code == job))
        assert j.stage == "production" and j.proof_state == "approved"
        assert db.session.scalars(select(Event.source).where(Event.job_id == j.id, Event.source == "customer")).all() \
            == ["customer", "customer"]
    again = client.post(f"/t/{token}/proofs/{proof_id}", data={"csrf_token": form_token(page), "answer": "approve"})
    assert again.status_code == 200 and "You already approved version 1. Nothing was changed." in again.get_data(as_text=True)


def test_the_customer_asks_for_changes_and_the_board_card_shows_the_comment(app, client):
    code, job, token, proof_id = posted(app)
    page = client.get(f"/t/{token}").get_data(as_text=True)
    blank = client.post(f"/t/{token}/proofs/{proof_id}", data={"csrf_token": form_token(page), "answer": "changes",
                                                               "comment": "   "})
    html = blank.get_data(as_text=True)
    assert blank.status_code == 400 and "Say what should change" in html and "<details class=\"proof-changes\" open>" in html
    resp = client.post(f"/t/{token}/proofs/{proof_id}", data={"csrf_token": form_token(page), "answer": "changes",
                                                              "comment": "Red should be darker <b>please</b>"})
    assert resp.status_code == 303
    assert "we have your comment" in client.get(resp.headers["Location"]).get_data(as_text=True)
    staff = app.test_client()
    login(staff)
    board = staff.get("/").get_data(as_text=True)
    card = re.search(rf'<article[^>]*id="job-{job}".*?</article>', board, re.S).group(0)
    assert "Changes asked" in card and "Red should be darker &lt;b&gt;please&lt;/b&gt;" in card
    assert "is-stalled" not in card


def test_the_board_card_shows_a_proof_waiting_for_the_customer(app, client):
    _, job, _, _ = posted(app)
    login(client)
    board = client.get("/").get_data(as_text=True)
    card = re.search(rf'<article[^>]*id="job-{job}".*?</article>', board, re.S).group(0)
    assert "Proof sent" in card


def test_an_answer_without_the_forms_token_is_refused(app, client):
    _, _, token, proof_id = posted(app)
    resp = client.post(f"/t/{token}/proofs/{proof_id}", data={"answer": "approve"})
    assert resp.status_code == 400
    bad = client.post(f"/t/{token}/proofs/{proof_id}",
                      data={"csrf_token": form_token(client.get(f"/t/{token}").get_data(as_text=True)), "answer": "yes"})
    assert bad.status_code == 400 and "Answer with approve or changes" in bad.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Proof, proof_id).state == "pending"


def test_the_order_page_refuses_a_file_over_the_limit_with_a_flash(tmp_path):
    app = proof_app(tmp_path, max_upload_mb=0.1)
    client = app.test_client()
    code, (job,), _ = new_order(app)
    login(client)
    for size in (200_000, 600_000):  # over the proof limit; over the request's limit too (never read)
        resp = client.post(f"/orders/{code}/proofs", data={"csrf_token": client.csrf_token, "job": job,
                                                           "file": (io.BytesIO(PNG + b"\0" * size), "big.png")},
                           content_type="multipart/form-data", follow_redirects=True)
        assert resp.status_code == 200 and "too large: a proof may be 0.1 MB at most" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Proof.id)) is None
    list(closing(app))
