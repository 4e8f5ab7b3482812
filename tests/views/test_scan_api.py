"""POST /api/scans (docs/API.md) and the scan page's own endpoints (POST /scan/<station>, undo): the same
answers, refusals as 4xx JSON {"ok": false, "error"}, bad input as 400, never a 500."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import func, select

from tests.conftest import Api, anonymous_token, api_token, build_app, login, make_user
from tests.factories import make_order
from tests.views.conftest import order_state
from tracker.extensions import db
from tracker.models import Event, Scan
from tracker.services import orders as order_service
from tracker.services.orders import Actor

T0 = datetime(2026, 3, 2, 15, 30, tzinfo=timezone.utc)
STATIONS = [
    {"key": "art-desk", "name": "Artwork desk", "moves_to": "preproduction"},
    {"key": "press-1", "name": "Press 1", "moves_to": "production"},
    {"key": "qc-1", "name": "QC table", "moves_to": "qc"},
    {"key": "pack-1", "name": "Packing bench", "moves_to": "packaging"},
    {"key": "ship-1", "name": "Ship-out check", "moves_to": "labeled"},
]
UPS_NUMBER = "1Z999AA10123456784"


def scans_and_events(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(Scan)),
                db.session.scalar(select(func.count()).select_from(Event)))


def post_scan(api, **body):
    return api.post("/api/scans", json=body)


def bring(app, code: str, to: str) -> None:
    with app.app_context():
        from tracker.queries import get_order
        o = get_order(code)
        order_service.move_order(o, to, actor=Actor("maria", "manager"), source="web", note="set up for the test")
        db.session.commit()


def refused(resp, status: int, text: str | None = None, field: str | None = None) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True))
    body = resp.get_json()
    assert isinstance(body, dict), resp.get_data(as_text=True)
    assert body.get("ok") is False, body
    assert isinstance(body.get("error"), str) and len(body["error"]) > 5, body
    if text is not None:
        assert text.lower() in body["error"].lower(), body["error"]
    if field is not None:
        assert body.get("field") == field, body
    return body


# -- the API: moves ---------------------------------------------------------------------------------

def test_a_scan_moves_the_job_and_answers_the_contract(app, api, order):
    resp = post_scan(api, station="art-desk", code="A1001B")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["ok"] is True
    assert (body["order_id"], body["job_id"], body["from"], body["to"]) == (
        "A1001", "A1001B", "received", "preproduction")
    assert body["message"] == "A1001B → Pre-production" and body["outcome"] == "moved"
    assert body["replayed"] is False and len(body["scan_id"]) >= 8
    assert "error" not in body
    assert order_state(app, "A1001") == ("received", {"A1001A": "received", "A1001B": "preproduction"})
    ev = api.get("/api/orders/A1001").get_json()["events"][-1]
    assert (ev["from"], ev["to"], ev["source"], ev["station"], ev["actor"], ev["job_id"]) == (
        "received", "preproduction", "scan", "art-desk", "token:operator-token", "A1001B")


def test_an_order_scan_has_no_job_id(app, api, order):
    body = post_scan(api, station="art-desk", code="a1001").get_json()
    assert body["ok"] and body["order_id"] == "A1001" and body["job_id"] is None
    assert order_state(app, "A1001") == ("preproduction", {"A1001A": "preproduction", "A1001B": "preproduction"})


@pytest.mark.parametrize("code", ["a1001b", "  A1001B \n", "https://shop.test/jobs/a1001b",
                                  "HTTPS://SHOP.TEST/JOBS/A1001B"])
def test_any_way_of_writing_the_code(app, api, order, code):
    body = post_scan(api, station=" art-desk ", code=code).get_json()
    assert body["ok"] and body["job_id"] == "A1001B"


def test_a_tracking_link(app, api, order):
    link = api.get("/api/orders/A1001").get_json()["tracking_url"]
    body = post_scan(api, station="art-desk", code=link).get_json()
    assert body["ok"] and body["order_id"] == "A1001" and body["kind"] == "token"


def test_the_operator_is_recorded(app, api, order):
    body = post_scan(api, station="art-desk", code="A1001A", operator="lee").get_json()
    assert body["operator"] == "lee"
    assert api.get("/api/orders/A1001").get_json()["events"][-1]["actor"] == "lee"


def test_a_badge_sets_the_operator(app, api):
    make_user(app, "sam", "operator")
    body = post_scan(api, station="press-1", code="BADGESAM").get_json()
    assert body["ok"] and body["operator"] == "sam" and body["kind"] == "badge"
    refused(post_scan(api, station="press-1", code="BADGEGHOST"), 409, "badge")


def test_a_replayed_scan_id_gets_the_first_answer(app, api, order):
    first = post_scan(api, station="art-desk", code="A1001A", scan_id="tablet-9f3a")
    before = scans_and_events(app)
    again = post_scan(api, station="art-desk", code="A1001A", scan_id="tablet-9f3a")
    assert again.status_code == 200
    a, b = first.get_json(), again.get_json()
    assert b["replayed"] is True and b["scan_id"] == "tablet-9f3a"
    assert {**b, "replayed": False} == a
    assert scans_and_events(app) == before


def test_a_replayed_refusal_is_the_same_refusal(app, api, order):
    first = refused(post_scan(api, station="press-1", code="A1001A", scan_id="tablet-0042"), 409)
    again = refused(post_scan(api, station="press-1", code="A1001A", scan_id="tablet-0042"), 409)
    assert again["error"] == first["error"] and again["replayed"] is True


@pytest.mark.parametrize("code,status,refusal", [("A9999A", 422, "unknown"), ("XYZZY", 422, "unknown"),
                                                 ("A1001B", 409, "rules")])
def test_a_refusals_status_is_its_stored_kind_on_a_replay_too(app, api, order, code, status, refusal):
    """The status comes from the kind of refusal stored with the scan (scans.refusal), not from its words:
    the replay answers the same status from the row alone."""
    from tracker.models import Scan

    first = refused(post_scan(api, station="press-1", code=code, scan_id=f"kind-{code}"), status)
    with app.app_context():
        assert db.session.scalar(db.select(Scan.refusal).where(Scan.uid == f"kind-{code}")) == refusal
        db.session.execute(db.update(Scan).where(Scan.uid == f"kind-{code}").values(message="reworded"))
        db.session.commit()
    again = refused(post_scan(api, station="press-1", code=code, scan_id=f"kind-{code}"), status)
    assert again["error"] == "reworded" and again["replayed"] is True and first["replayed"] is False


def test_a_taken_scan_has_no_refusal(app, api, order):
    from tracker.models import Scan

    post_scan(api, station="art-desk", code="A1001A", scan_id="kind-taken")
    with app.app_context():
        assert db.session.scalar(db.select(Scan.refusal).where(Scan.uid == "kind-taken")) is None


def test_a_flood_of_replays(app, api):
    """50 scans, each sent 3 times: first in order, then the resends shuffled (a tablet on bad wifi)."""
    with app.app_context():
        for _ in range(50):
            make_order(commit=False)
        db.session.commit()
    sends = [(f"tablet-{n:05d}", f"A{1001 + n}A") for n in range(50)]
    resends = sends * 2
    random.Random(2026).shuffle(resends)
    _, events_before = scans_and_events(app)
    first_answers = {}
    for uid, code in sends + resends:
        resp = post_scan(api, station="art-desk", code=code, scan_id=uid)
        assert resp.status_code == 200
        body = resp.get_json()
        if uid in first_answers:
            assert body["replayed"] is True and {**body, "replayed": False} == first_answers[uid]
        else:
            first_answers[uid] = body
    scans, events = scans_and_events(app)
    assert scans == 50
    assert events - events_before == 100  # per order: its one job's move and the order following it


def test_every_scan_is_stored_even_refused(app, api, order):
    post_scan(api, station="art-desk", code="A1001A")
    post_scan(api, station="qc-1", code="A1001B")
    post_scan(api, station="art-desk", code="nonsense")
    with app.app_context():
        rows = [(s.code, s.ok, s.outcome, s.source) for s in db.session.scalars(select(Scan).order_by(Scan.id))]
    assert rows == [("A1001A", True, "moved", "api"), ("A1001B", False, "refused", "api"),
                    ("nonsense", False, "refused", "api")]


def test_the_tablets_clock_is_kept(app, api, order):
    post_scan(api, station="art-desk", code="A1001A", scanned_at="2026-03-02T15:29:58Z")
    with app.app_context():
        s = db.session.scalar(select(Scan))
        assert s.scanned_at == datetime(2026, 3, 2, 15, 29, 58, tzinfo=timezone.utc)


# -- the API: refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("station,code,status,text", [
    ("press-1", "A1001B", 409, "A1001B is in Received; Pre-production comes next"),
    ("qc-1", "A1001", 409, "A1001 is in Received; Pre-production comes next"),
    ("pack-1", "A1001", 409, "A1001 cannot be packed until every job has passed QC"),
    ("art-desk", "A9999A", 422, "Unknown code A9999A"),
    ("art-desk", "A9999", 422, "Unknown code A9999"),
    ("art-desk", "XYZZY", 422, "Unknown code"),
    ("art-desk", "BATCH55", 422, "Unknown code BATCH55"),
    ("art-desk", "https://shop.test/t/" + "Q" * 32, 422, "Unknown code"),
    ("art-desk", UPS_NUMBER, 409, "ship-out station"),
])
def test_refusals_say_why_and_change_nothing(app, api, order, station, code, status, text):
    before = order_state(app, "A1001")
    _, events = scans_and_events(app)
    body = refused(post_scan(api, station=station, code=code), status, text)
    assert body["message"] == body["error"]
    assert body["from"] is None and body["to"] is None
    assert order_state(app, "A1001") == before
    assert scans_and_events(app) == (1, events)


def test_wrong_station_answers(app, api, order):
    with time_machine.travel(T0, tick=False) as traveller:
        post_scan(api, station="art-desk", code="A1001A")
        traveller.shift(timedelta(seconds=1))
        dup = post_scan(api, station="art-desk", code="A1001A")  # a double trigger: one move, answered ok
        assert dup.status_code == 200 and dup.get_json()["outcome"] == "duplicate"
        traveller.shift(timedelta(seconds=30))
        refused(post_scan(api, station="art-desk", code="A1001A"), 409, "A1001A is already in Pre-production")
    post_scan(api, station="press-1", code="A1001A")
    refused(post_scan(api, station="art-desk", code="A1001A"), 409, "already past Pre-production")
    bring(app, "A1001", "qc")
    bring(app, "A1001", "packaging")
    refused(post_scan(api, station="pack-1", code="A1001"), 409, "A1001 is already packed")


def test_an_unknown_station_is_404(app, api, order):
    refused(post_scan(api, station="press-9", code="A1001A"), 404, "no station 'press-9'", "station")
    assert scans_and_events(app)[0] == 0


def test_qc_fail_through_the_api(app, api, order):
    bring(app, "A1001", "qc")
    body = post_scan(api, station="qc-1", code="A1001A", action="qc_fail", reason="Misprint").get_json()
    assert body["ok"] and body["action"] == "qc_fail" and (body["from"], body["to"]) == ("qc", "production")
    refused(post_scan(api, station="qc-1", code="A1001B", action="qc_fail", reason="Bad vibes"), 409,
            "not one of this shop's QC fail reasons")
    refused(post_scan(api, station="qc-1", code="A1001B", action="qc_fail"), 409, "say why")
    assert order_state(app, "A1001")[1] == {"A1001A": "production", "A1001B": "qc"}


NOT_TEXT = [12, 1.5, True, ["A1001A"], {"code": "A1001A"}]


@pytest.mark.parametrize("body,field", [
    ({"code": "A1001A"}, "station"),
    ({"station": "art-desk"}, "code"),
    ({"station": "art-desk", "code": ""}, "code"),
    ({"station": "art-desk", "code": "   "}, "code"),
    ({"station": "art-desk", "code": None}, "code"),
    ({"station": "", "code": "A1001A"}, "station"),
    ({"station": None, "code": "A1001A"}, "station"),
    *[({"station": "art-desk", "code": v}, "code") for v in NOT_TEXT],
    *[({"station": v, "code": "A1001A"}, "station") for v in NOT_TEXT],
    *[({"station": "art-desk", "code": "A1001A", k: v}, k) for k in ("operator", "scan_id", "action", "reason")
      for v in (7, ["x"], {"x": 1})],
    ({"station": "art-desk", "code": "A1001A", "colour": "red"}, "colour"),
    ({"station": "art-desk", "code": "A1001A", "Station": "art-desk"}, "Station"),
    ({"station": "art-desk", "code": "A" * 201}, "code"),
    ({"station": "art-desk", "code": "A1001A\u0000"}, "code"),
    ({"station": "art-desk", "code": "A1001A", "scan_id": "short"}, "scan_id"),
    ({"station": "art-desk", "code": "A1001A", "scan_id": "white space id"}, "scan_id"),
    ({"station": "art-desk", "code": "A1001A", "action": "teleport"}, "action"),
    ({"station": "art-desk", "code": "A1001A", "operator": "o" * 81}, "operator"),
    ({"station": "art-desk", "code": "A1001A", "scanned_at": 5}, "scanned_at"),
])
def test_bad_requests_are_400_and_store_nothing(app, api, order, body, field):
    refused(post_scan(api, **body), 400, field=field)
    assert scans_and_events(app)[0] == 0
    assert order_state(app, "A1001") == ("received", {"A1001A": "received", "A1001B": "received"})


@pytest.mark.parametrize("raw,content_type", [
    ("station=art-desk&code=A1001A", "application/x-www-form-urlencoded"),
    ("A1001A", "text/plain"),
    ("{not json", "application/json"),
    ('{"station": "art-desk", "code": "A1001A"', "application/json"),
    ("", "application/json"),
    ("null", "application/json"),
    ('["art-desk", "A1001A"]', "application/json"),
    ('"A1001A"', "application/json"),
    ("\xff\xfe", "application/json"),
    ('{"station": "art-desk", "code": "\\ud800"}', "application/json"),
    ('{"station": "art-desk", "code": "A1001A", "operator": "\\udfff"}', "application/json"),
])
def test_a_body_that_is_not_a_json_object_is_400(app, api, order, raw, content_type):
    resp = api.client.post("/api/scans", data=raw.encode("utf-8", "surrogatepass"), content_type=content_type,
                           headers=api.headers)
    refused(resp, 400)
    assert scans_and_events(app)[0] == 0


def test_a_scan_needs_a_token(client, order):
    resp = client.post("/api/scans", json={"station": "art-desk", "code": "A1001A"})
    assert resp.status_code == 401 and resp.get_json()["error"]
    resp = client.post("/api/scans", json={"station": "art-desk", "code": "A1001A"},
                       headers={"Authorization": "Bearer itk_not-a-real-token"})
    assert resp.status_code == 401


@pytest.mark.parametrize("body", [
    {"station": "art-desk", "code": "A1001A" * 30},
    {"station": "art-desk" * 40, "code": "A1001A"},
    {"station": "\u0000", "code": "A1001A"},
    {"station": "art-desk", "code": "🧵🧵🧵"},
    {"station": "art-desk", "code": "A1001A", "reason": "\u0000" * 300, "action": "qc_fail"},
    {"station": "art-desk", "code": "A1001A", "action": "qc_fail", "reason": "Misprint" * 50},
    {"station": "qc-1", "code": "BATCH" + "9" * 9},
    {"station": "qc-1", "code": "BADGE" + "X" * 195},
    {"station": "qc-1", "code": "https://shop.test/t/" + "a" * 64},
    {"station": "qc-1", "code": "420" + "9" * 40},
    {"station": "art-desk", "code": "A1001A", "scan_id": "x" * 64},
    {"station": "art-desk", "code": "A1001A", "scanned_at": "yesterday"},
    {"station": "art-desk", "code": "A1001A", "scanned_at": "2026-03-02T15:29:58"},
])
def test_odd_input_is_never_a_500(app, api, order, body):
    resp = post_scan(api, **body)
    assert resp.status_code < 500, resp.get_data(as_text=True)
    assert resp.get_json()["ok"] in (True, False)


# -- the scan page ------------------------------------------------------------------------------------

def page_post(client, station, body, csrf=True):
    headers = {"X-CSRFToken": client.csrf_token} if csrf else {}
    return client.post(f"/scan/{station}", json=body, headers=headers)


def test_the_page_answers_like_the_api(app, client, api, order):
    login(client, "operator", "lee")
    page = page_post(client, "art-desk", {"scan_id": "page-scan-0001", "code": "A1001A", "station": "art-desk",
                                          "operator": "lee", "scanned_at": "2026-03-02T15:29:58.120Z",
                                          "action": "move"})
    assert page.status_code == 200
    via_api = post_scan(api, station="art-desk", code="A1001B", scan_id="api-scan-0001")
    p, a = page.get_json(), via_api.get_json()
    assert p.keys() == a.keys()
    assert (p["ok"], p["order_id"], p["job_id"], p["from"], p["to"], p["operator"]) == (
        True, "A1001", "A1001A", "received", "preproduction", "lee")
    # and the same refusals
    rp = refused(page_post(client, "qc-1", {"code": "A1001A"}), 409, "A1001A is in Pre-production; On press comes next")
    ra = refused(post_scan(api, station="qc-1", code="A1001B"), 409, "A1001B is in Pre-production; On press comes next")
    assert rp.keys() == ra.keys()
    refused(page_post(client, "art-desk", {"code": "A9999A"}), 422, "Unknown code A9999A")
    events = api.get("/api/orders/A1001").get_json()["events"]
    assert [e["actor"] for e in events if e["source"] == "scan"][0] == "lee"


def test_the_page_replays_by_scan_id(app, client, order):
    login(client)
    first = page_post(client, "art-desk", {"scan_id": "page-scan-0002", "code": "A1001A"}).get_json()
    again = page_post(client, "art-desk", {"scan_id": "page-scan-0002", "code": "A1001A"}).get_json()
    assert again["replayed"] is True and {**again, "replayed": False} == first
    assert scans_and_events(app)[0] == 1


def test_the_page_refuses_without_csrf(app, client, order):
    login(client)
    resp = page_post(client, "art-desk", {"code": "A1001A"}, csrf=False)
    assert resp.status_code == 400
    resp = client.post("/scan/art-desk", json={"code": "A1001A"}, headers={"X-CSRFToken": "forged"})
    assert resp.status_code == 400
    assert scans_and_events(app)[0] == 0
    assert order_state(app, "A1001")[1]["A1001A"] == "received"


def test_the_page_needs_a_login(app, client, order):
    resp = client.post("/scan/art-desk", json={"code": "A1001A"})
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)  # no token: the CSRF check first
    resp = client.post("/scan/art-desk", json={"code": "A1001A"}, headers={"X-CSRFToken": anonymous_token(client),
                                                                          "Accept": "application/json"})
    assert resp.status_code == 401 and "log in" in resp.json["error"]  # the page's own request: JSON
    resp = client.get("/scan/art-desk")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert scans_and_events(app)[0] == 0


@pytest.mark.parametrize("body,field", [
    ({}, "code"),
    ({"code": ""}, "code"),
    ({"code": 7}, "code"),
    ({"code": "A1001A", "operator": 7}, "operator"),
    ({"code": "A1001A", "operator": "o" * 81}, "operator"),
    ({"code": "A1001A", "scan_id": "tiny"}, "scan_id"),
    ({"code": "A1001A", "action": "teleport"}, "action"),
])
def test_the_page_refuses_bad_scans_with_400(app, client, order, body, field):
    login(client)
    refused(page_post(client, "art-desk", body), 400, field=field)
    assert scans_and_events(app)[0] == 0


def test_the_page_refuses_a_body_that_is_not_json(app, client, order):
    login(client)
    resp = client.post("/scan/art-desk", data="A1001A", content_type="text/plain",
                       headers={"X-CSRFToken": client.csrf_token})
    refused(resp, 400)


def test_the_page_at_an_unknown_station(app, client, order):
    login(client)
    refused(page_post(client, "press-9", {"code": "A1001A"}), 404, field="station")
    assert client.get("/scan/press-9").status_code == 404


def test_the_station_pages_render(app, client, order):
    login(client)
    page = client.get("/scan/qc-1")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "QC table" in html and "Misprint" in html and 'data-station="qc-1"' in html
    assert "Press 1" in client.get("/scan").get_data(as_text=True)
    page_post(client, "art-desk", {"code": "A1001A"})
    assert "A1001A → Pre-production" in client.get("/scan/art-desk").get_data(as_text=True)


# -- undo ---------------------------------------------------------------------------------------------

def undo(client, station, scan_id, csrf=True):
    headers = {"X-CSRFToken": client.csrf_token} if csrf else {}
    return client.post(f"/scan/{station}/undo", json={"scan_id": scan_id}, headers=headers)


# (The login happens inside the time travel: a session cookie signed "in the future" is not accepted.)

def test_undo_within_a_minute(app, client, api, order):
    with time_machine.travel(T0, tick=False) as traveller:
        login(client)
        page_post(client, "art-desk", {"scan_id": "undo-me-0001", "code": "A1001A"})
        traveller.shift(timedelta(seconds=45))
        resp = undo(client, "art-desk", "undo-me-0001")
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert body["undone"] is True and body["message"].startswith("Undone: ")
        assert order_state(app, "A1001")[1]["A1001A"] == "received"
        last = api.get("/api/orders/A1001").get_json()["events"][-1]
        assert (last["kind"], last["from"], last["to"], last["job_id"]) == (
            "undo", "preproduction", "received", "A1001A")
        # twice is refused
        traveller.shift(timedelta(seconds=5))
        refused(undo(client, "art-desk", "undo-me-0001"), 409, "already undone")


def test_undo_after_a_minute_is_refused(app, client, order):
    with time_machine.travel(T0, tick=False) as traveller:
        login(client)
        page_post(client, "art-desk", {"scan_id": "undo-me-0002", "code": "A1001A"})
        traveller.shift(timedelta(seconds=61))
        _, events = scans_and_events(app)
        refused(undo(client, "art-desk", "undo-me-0002"), 409, "within 60 seconds")
    assert order_state(app, "A1001")[1]["A1001A"] == "preproduction"
    assert scans_and_events(app)[1] == events


def test_undo_after_the_job_moved_again_is_refused(app, client, order):
    login(client)
    page_post(client, "art-desk", {"scan_id": "undo-me-0003", "code": "A1001A"})
    page_post(client, "press-1", {"code": "A1001A"})
    refused(undo(client, "art-desk", "undo-me-0003"), 409, "has moved since")
    assert order_state(app, "A1001")[1]["A1001A"] == "production"


def test_undo_of_a_qc_fail_restores_the_reprint_count(app, client, order):
    login(client)
    bring(app, "A1001", "qc")
    page_post(client, "qc-1", {"scan_id": "qc-fail-0001", "code": "A1001A", "action": "qc_fail",
                               "reason": "Misprint"})
    with app.app_context():
        from tracker.queries import get_job
        assert get_job("A1001A").reprints == 1
    assert undo(client, "qc-1", "qc-fail-0001").status_code == 200
    with app.app_context():
        assert get_job("A1001A").reprints == 0 and get_job("A1001A").stage == "qc"


@pytest.mark.parametrize("body,status,field", [
    ({}, 400, "scan_id"),
    ({"scan_id": ""}, 400, "scan_id"),
    ({"scan_id": 5}, 400, "scan_id"),
    ({"scan_id": "never-made-0001"}, 404, "scan_id"),
])
def test_undo_bad_requests(app, client, order, body, status, field):
    login(client)
    resp = client.post("/scan/art-desk/undo", json=body, headers={"X-CSRFToken": client.csrf_token})
    refused(resp, status, field=field)


def test_undo_only_at_the_station_that_scanned(app, client, order):
    login(client)
    page_post(client, "art-desk", {"scan_id": "undo-me-0004", "code": "A1001A"})
    refused(undo(client, "press-1", "undo-me-0004"), 404)
    assert order_state(app, "A1001")[1]["A1001A"] == "preproduction"


def test_undo_needs_csrf(app, client, order):
    login(client)
    page_post(client, "art-desk", {"scan_id": "undo-me-0005", "code": "A1001A"})
    assert undo(client, "art-desk", "undo-me-0005", csrf=False).status_code == 400
    assert order_state(app, "A1001")[1]["A1001A"] == "preproduction"


# -- the ship-out check, through the API ------------------------------------------------------------------

@pytest.fixture
def ship(tmp_path):
    """(app, api) for a shop with a ship-out station (ship-1, moves_to = "labeled"), A1001 packed."""
    app = build_app(tmp_path, config={"stations": STATIONS})
    with app.app_context():
        make_order([("Team tee", "dtg", 12), ("Cap", "embroidery", 6)])
        make_order([("Hoodie", "screen", 20)])
    bring(app, "A1001", "qc")
    bring(app, "A1001", "packaging")
    yield app, Api(app.test_client(), api_token(app, "operator"))
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_ship_out_check_through_the_api(ship):
    app, api = ship
    refused(post_scan(api, station="ship-1", code=UPS_NUMBER), 409, "scan the order first")
    first = post_scan(api, station="ship-1", code="A1001")
    assert first.status_code == 200 and first.get_json()["outcome"] == "info"
    resp = post_scan(api, station="ship-1", code="1z999aa10123456784")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["order_id"], body["from"], body["to"]) == ("A1001", "packaging", "labeled")
    data = api.get("/api/orders/A1001").get_json()
    assert data["stage"] == "labeled"
    assert [(s["carrier"], s["tracking_number"]) for s in data["shipments"]] == [("ups", UPS_NUMBER)]


def test_ship_out_refusals_through_the_api(ship):
    app, api = ship
    refused(post_scan(api, station="ship-1", code="A1002"), 409, "pack it first")
    bring(app, "A1002", "qc")
    bring(app, "A1002", "packaging")
    post_scan(api, station="ship-1", code="A1001")
    post_scan(api, station="ship-1", code=UPS_NUMBER)
    post_scan(api, station="ship-1", code="A1002")
    refused(post_scan(api, station="ship-1", code=UPS_NUMBER, scan_id="second-label-01"), 409, "mismatch")
    assert api.get("/api/orders/A1002").get_json()["stage"] == "packaging"
    ok = post_scan(api, station="ship-1", code="9400 1118 9922 3197 4284 90").get_json()
    assert ok["ok"] and ok["to"] == "labeled"
    shipments = api.get("/api/orders/A1002").get_json()["shipments"]
    assert [(s["carrier"], s["tracking_number"]) for s in shipments] == [("usps", "9400111899223197428490")]
