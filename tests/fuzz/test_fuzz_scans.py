"""Scan codes, fuzzed: what a keyboard-wedge scanner (or anything else) types, through the code reader, the
scan service, POST /api/scans and the scan page's endpoint. Always a clear answer, never a 5xx; a refused
scan moves nothing."""
from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import api_token, login
from tests.factories import make_order
from tracker.domain.codes import JOB_RE, ORDER_RE, parse_scan
from tracker.domain.scanning import read_code
from tracker.extensions import db
from tracker.services.orders import Actor
from tracker.services.scanning import ScanInputError, record_scan

from .conftest import any_text, assert_clear_refusal, fuzz, json_junk, odd_text, state

STATIONS = ["art-desk", "press-1", "qc-1", "pack-1"]
KINDS = {"order", "job", "unknown"}


@fuzz(1500)
@given(odd_text)
def test_parse_scan_reads_any_text_into_a_code_or_unknown(text):
    parsed = parse_scan(text)
    assert parsed.kind in KINDS
    if parsed.kind == "order":
        assert ORDER_RE.match(parsed.code) and parsed.order_code == parsed.code
    elif parsed.kind == "job":
        assert JOB_RE.match(parsed.code) and parsed.code.startswith(parsed.order_code)
    # Whatever the case or the spaces a scanner adds, the same code reads the same.
    if parsed.kind != "unknown":
        assert parse_scan(f"  {text.lower()}\t") == parsed or parse_scan(text.lower()).kind == parsed.kind


@fuzz(1000)
@given(odd_text)
def test_read_code_never_raises(text):
    read = read_code(text, badge_prefix="BADGE", batch_prefix="BATCH")
    assert read.kind in {"order", "job", "unknown", "badge", "batch", "label", "token"}


@pytest.fixture
def orders(app):
    """Two orders (one job each, one with two jobs) for the scans to aim at."""
    with app.app_context():
        codes = [make_order().code, make_order([("Tee", "dtg", 3), ("Cap", "embroidery", 2)]).code]
        db.session.remove()
    return codes


def near_valid(codes):
    """Real codes bent: other case, spaces, a URL around them, a letter off, a character too many."""
    real = st.sampled_from(codes + [c + "A" for c in codes] + [c + "B" for c in codes])
    return st.one_of(
        real,
        st.builds(lambda c, pre, post: pre + c + post, real, st.sampled_from(["", " ", "\t", "\n", "\x00", "https://shop.test/orders/"]),
                  st.sampled_from(["", " ", "\r\n", "\x00", "Z", "0", "?x=1", "\ud800"])),
        st.builds(str.lower, real),
        odd_text,
    )


@fuzz(400)
@given(data=st.data())
def test_record_scan_refuses_clearly_and_a_refusal_moves_nothing(app, orders, data):
    station = data.draw(st.sampled_from(STATIONS + ["nowhere", "", " press-1 "]), "station")
    code = data.draw(near_valid(orders), "code")
    action = data.draw(st.sampled_from(["move", "move", "qc_fail", "explode"]), "action")
    before = state(app)
    with app.app_context():
        try:
            scan, _ = record_scan(station, code, actor=Actor("fuzz", "operator"), action=action,
                                  reason=data.draw(st.one_of(st.none(), any_text), "reason"))
        except ScanInputError as exc:
            db.session.rollback()
            assert exc.status in (400, 404) and len(exc.message) > 5
            refused, stored = True, False
        else:
            db.session.commit()
            refused, stored = not scan.ok, True
            assert scan.message or scan.ok
        db.session.remove()
    after = state(app)
    if refused:
        # A refused scan is kept (one row in scans) but moves no order or job and writes no event.
        assert after[1] == before[1]
        changed = [i for i, (a, b) in enumerate(zip(before[0], after[0])) if a != b]
        assert changed == ([3] if stored else []), (before, after)


def scan_bodies(codes):
    fields = {"station": st.one_of(st.sampled_from(STATIONS), json_junk), "code": st.one_of(near_valid(codes), json_junk),
              "operator": st.one_of(odd_text, json_junk), "scan_id": st.one_of(st.uuids().map(str), odd_text, json_junk),
              "action": st.one_of(st.sampled_from(["move", "qc_fail"]), json_junk),
              "reason": st.one_of(odd_text, json_junk), "scanned_at": st.one_of(odd_text, json_junk,
                                                                               st.datetimes().map(str)),
              "extra": json_junk}
    objects = st.fixed_dictionaries({}, optional={k: v for k, v in fields.items()})
    return st.one_of(objects, objects, json_junk)


@fuzz(400)
@given(data=st.data())
def test_api_scans_answer_fuzzed_bodies_with_ok_or_a_clear_4xx(app, client, orders, data):
    if not hasattr(app, "_fuzz_token"):
        app._fuzz_token = api_token(app, "operator")
    headers = {"Authorization": f"Bearer {app._fuzz_token}"}
    body = data.draw(scan_bodies(orders), "body")
    how = data.draw(st.sampled_from(["json", "json", "json", "text", "form", "raw"]), "how")
    before = state(app)
    if how == "json":
        resp = client.post("/api/scans", data=json.dumps(body), headers={**headers, "Content-Type": "application/json"})
    elif how == "text":
        resp = client.post("/api/scans", data=json.dumps(body), headers={**headers, "Content-Type": "text/plain"})
    elif how == "form":
        # Encoded by hand: a lone surrogate (a broken character) goes out as the bytes a broken client
        # would send, where the test client's own encoding would refuse it before any request is made.
        form = urlencode({"station": "press-1", "code": str(body)[:50]}, encoding="utf-8", errors="surrogatepass")
        resp = client.post("/api/scans", data=form,
                           headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})
    else:
        raw = data.draw(st.binary(max_size=200), "raw")
        resp = client.post("/api/scans", data=raw, headers={**headers, "Content-Type": "application/json"})
    assert_clear_refusal(resp)
    answer = resp.get_json()
    assert isinstance(answer.get("ok"), bool)
    if resp.status_code >= 400:
        assert answer["ok"] is False
        after = state(app)
        assert after[1] == before[1]  # no order or job moved
        if resp.status_code == 400 or resp.status_code == 404:
            assert after == before  # an unusable request stores nothing at all


def test_a_form_body_with_a_broken_character_gets_a_clear_refusal(app, client, orders):
    # Found by the fuzz test above: a lone surrogate in a form body (sent as its raw bytes).
    headers = {"Authorization": f"Bearer {api_token(app, 'operator')}",
               "Content-Type": "application/x-www-form-urlencoded"}
    before = state(app)
    resp = client.post("/api/scans", data=b"station=press-1&code=%ED%A0%80", headers=headers)
    assert_clear_refusal(resp)
    assert resp.status_code >= 400 and resp.get_json()["ok"] is False
    assert state(app) == before


@fuzz(300)
@given(data=st.data())
def test_scan_page_endpoint_answers_fuzzed_bodies_with_ok_or_a_clear_4xx(app, client, orders, data):
    if not hasattr(client, "csrf_token"):
        login(client, "operator")
    station = data.draw(st.sampled_from(STATIONS), "station")
    body = data.draw(scan_bodies(orders), "body")
    before = state(app)
    resp = client.post(f"/scan/{station}", data=json.dumps(body),
                       headers={"Content-Type": "application/json", "X-CSRFToken": client.csrf_token,
                                "Accept": "application/json"})
    assert_clear_refusal(resp)
    if resp.status_code >= 400:
        assert resp.get_json()["ok"] is False
        assert state(app)[1] == before[1]


@fuzz(150)
@given(body=st.one_of(json_junk, st.fixed_dictionaries({"scan_id": st.one_of(odd_text, json_junk)})))
def test_scan_undo_answers_fuzzed_bodies_clearly(app, client, body):
    if not hasattr(client, "csrf_token"):
        login(client, "operator")
    before = state(app)
    resp = client.post("/scan/press-1/undo", data=json.dumps(body),
                       headers={"Content-Type": "application/json", "X-CSRFToken": client.csrf_token})
    assert_clear_refusal(resp)
    if resp.status_code >= 400:
        assert state(app) == before


@pytest.mark.parametrize("scan_id", ["\ud800", "abc\x00defgh", "x" * 65, "short"])
def test_undo_of_a_scan_id_no_scan_can_have_is_a_400_not_a_500(app, client, scan_id):
    """Found by the fuzz test above: a lone surrogate (JSON "\\ud800") reached the database driver, which
    raised UnicodeEncodeError (a 500)."""
    login(client, "operator")
    resp = client.post("/scan/press-1/undo", data=json.dumps({"scan_id": scan_id}),
                       headers={"Content-Type": "application/json", "X-CSRFToken": client.csrf_token})
    assert resp.status_code == 400
    assert resp.get_json() == {"ok": False, "error": "scan_id must be 8 to 64 letters, digits, - or _",
                               "field": "scan_id"}
