"""The board: moving cards (POST /board/move), polling by version (GET /board/columns?v=) and the filters."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone

import pytest
import time_machine

from tests.conftest import Api, anonymous_token, api_token, login
from tests.factories import MANAGER, make_order
from tests.views.conftest import order_state
from tracker.extensions import db
from tracker.services import orders as order_service

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=timezone.utc)  # 08:30 in the shop's America/Denver
TODAY = date(2026, 3, 2)


def columns(html: str) -> dict[str, list[str]]:
    """{stage key: [card codes, top to bottom]} from the board's HTML."""
    out = {}
    for m in re.finditer(r'<section class="column" id="col-([a-z_]+)"(.*?)</section>', html, re.S):
        out[m.group(1)] = re.findall(r'data-code="([A-Z0-9]+)"', m.group(2))
    return out


def cards(html: str) -> set[str]:
    return {c for codes in columns(html).values() for c in codes}


def version_in(html: str) -> str:
    m = re.search(r'id="board-version" name="v" value="([\d.]+)"', html)
    assert m, "no board version in the HTML"
    return m.group(1)


def move(client, csrf=True, **form):
    if csrf:
        form["csrf_token"] = client.csrf_token
    return client.post("/board/move", data=form)


def message_of(resp) -> dict:
    return json.loads(resp.headers["HX-Trigger"])["board-message"]


# -- moving cards -------------------------------------------------------------------------------------

def test_the_board_shows_each_job_in_its_stage(app, client, order):
    login(client)
    html = client.get("/").get_data(as_text=True)
    cols = columns(html)
    assert cols["received"] == ["A1001A", "A1001B"]
    assert set(cols) == {"received", "preproduction", "production", "qc", "packaging", "labeled"}


def test_dropping_a_card_moves_the_job_and_returns_the_columns(app, client, order):
    login(client)
    resp = move(client, code="A1001A", to="preproduction")
    assert resp.status_code == 200
    cols = columns(resp.get_data(as_text=True))
    assert cols["received"] == ["A1001B"] and cols["preproduction"] == ["A1001A"]
    assert message_of(resp) == {"level": "ok", "text": "A1001A → Pre-production"}
    assert order_state(app, "A1001") == ("received", {"A1001A": "preproduction", "A1001B": "received"})


def test_the_advance_button_moves_one_stage_on(app, client, order):
    login(client)
    assert move(client, code="a1001b").status_code == 200
    assert order_state(app, "A1001")[1]["A1001B"] == "preproduction"


def test_an_order_card_moves_the_whole_order(app, client, order):
    login(client)
    assert move(client, code="A1001", to="preproduction").status_code == 200
    assert order_state(app, "A1001") == ("preproduction", {"A1001A": "preproduction", "A1001B": "preproduction"})


def test_a_job_past_qc_dropped_on_packaging_packs_its_order(app, client, order):
    with app.app_context():
        from tracker.queries import get_order
        order_service.move_order(get_order("A1001"), "qc", actor=MANAGER, source="web", note="test set-up")
        db.session.commit()
    login(client)
    resp = move(client, code="A1001B", to="packaging")
    assert resp.status_code == 200
    assert columns(resp.get_data(as_text=True))["packaging"] == ["A1001"]
    assert order_state(app, "A1001")[0] == "packaging"


@pytest.mark.parametrize("form,reason", [
    ({"code": "A1001A", "to": "production"}, "A1001A is in Received; Pre-production comes next"),
    ({"code": "A1001A", "to": "packaging"}, "A1001 cannot be packed until every job has passed QC"),
    ({"code": "A1001A", "to": "in_transit"}, "set by the carrier"),
    ({"code": "A1001A", "to": "received"}, "A1001A is already in Received"),
    ({"code": "A1001A", "to": "bogus"}, "'bogus' is not a stage"),
    ({"code": "A9999A", "to": "preproduction"}, "There is no job A9999A"),
    ({"code": "A9999", "to": "preproduction"}, "There is no order A9999"),
    ({"code": "not a code", "to": "preproduction"}, "is not an order or job code"),
    ({"code": "", "to": "preproduction"}, "no card was given to move"),
    ({"code": "A1001", "to": "labeled"}, "cannot be packed until every job has passed QC"),
])
def test_a_refused_move_is_409_with_the_reason_and_changes_nothing(app, client, order, counts, form, reason):
    login(client)
    before = counts()
    resp = move(client, **form)
    assert resp.status_code == 409
    msg = message_of(resp)
    assert msg["level"] == "error" and reason.lower() in msg["text"].lower(), msg
    assert not msg["text"][0].islower()  # a sentence
    assert "col-received" in resp.get_data(as_text=True)  # the columns come back as they are
    assert counts() == before
    assert order_state(app, "A1001") == ("received", {"A1001A": "received", "A1001B": "received"})


def test_a_move_needs_csrf_and_a_login(app, client, order, counts):
    before = counts()
    resp = client.post("/board/move", data={"code": "A1001A", "to": "preproduction"})
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)  # anonymous, no token: CSRF first
    resp = client.post("/board/move", data={"code": "A1001A", "to": "preproduction",
                                            "csrf_token": anonymous_token(client)})
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    login(client)
    assert move(client, csrf=False, code="A1001A", to="preproduction").status_code == 400
    assert counts() == before


def test_a_move_keeps_the_viewers_filters(app, client):
    with app.app_context():
        make_order([("Tee", "dtg", 1)])                       # A1001
        make_order([("Cap", "embroidery", 1)])                # A1002
    login(client)
    resp = move(client, code="A1001A", to="preproduction", method="embroidery")
    assert resp.status_code == 200
    assert cards(resp.get_data(as_text=True)) == {"A1002A"}
    assert resp.headers["HX-Replace-Url"] == "/?method=embroidery"


# -- polling by version ---------------------------------------------------------------------------------

def test_an_unchanged_board_answers_204(app, client, order):
    login(client)
    v = version_in(client.get("/").get_data(as_text=True))
    for _ in range(3):
        resp = client.get("/board/columns", query_string={"v": v})
        assert resp.status_code == 204 and resp.get_data() == b""


@pytest.mark.parametrize("change", ["board move", "scan", "api advance", "new order", "undo", "cancel"])
def test_any_change_answers_200_with_the_new_columns(app, client, order, change):
    login(client)
    v = version_in(client.get("/").get_data(as_text=True))
    api = Api(app.test_client(), api_token(app, "manager"))
    if change == "board move":
        assert move(client, code="A1001A", to="preproduction").status_code == 200
    elif change == "scan":
        assert api.post("/api/scans", json={"station": "art-desk", "code": "A1001A"}).status_code == 200
    elif change == "api advance":
        assert api.post("/api/orders/A1001/advance", json={}).status_code == 200
    elif change == "new order":
        with app.app_context():
            make_order([("Tote", "screen", 3)])
    elif change == "undo":
        first = api.post("/api/scans", json={"station": "art-desk", "code": "A1001A", "scan_id": "undo-board-1"})
        assert first.status_code == 200
        v = version_in(client.get("/").get_data(as_text=True))
        assert client.post("/scan/art-desk/undo", json={"scan_id": "undo-board-1"},
                           headers={"X-CSRFToken": client.csrf_token}).status_code == 200
    elif change == "cancel":
        assert api.post("/api/orders/A1001/cancel", json={"reason": "customer called"}).status_code == 200
    resp = client.get("/board/columns", query_string={"v": v})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert version_in(html) != v
    assert client.get("/board/columns", query_string={"v": version_in(html)}).status_code == 204


def test_boards_share_a_render_for_a_second_then_see_the_change(app, client, order):
    # Ten tablets polling after a change cost one render, not ten: a render is reused by every board
    # with the same filters for a second (RENDER_REUSE_SECONDS); the change shows at the next poll after.
    other = app.test_client()
    api = Api(app.test_client(), api_token(app, "manager"))
    with time_machine.travel(NOW, tick=False) as clock:
        login(client)
        login(other)
        v = version_in(client.get("/").get_data(as_text=True))
        assert api.post("/api/scans", json={"station": "art-desk", "code": "A1001A"}).status_code == 200
        first = client.get("/board/columns", query_string={"v": v})
        assert first.status_code == 200 and columns(first.get_data(as_text=True))["preproduction"] == ["A1001A"]
        shown = version_in(first.get_data(as_text=True))
        assert api.post("/api/scans", json={"station": "art-desk", "code": "A1001B"}).status_code == 200
        clock.shift(0.5)
        shared = other.get("/board/columns", query_string={"v": v})  # the first board's render, as it was
        assert shared.get_data() == first.get_data()
        assert client.get("/board/columns", query_string={"v": shown}).status_code == 204  # shows it already
        other_filters = other.get("/board/columns", query_string={"v": v, "method": "embroidery"})  # not shared
        assert "A1001B" in columns(other_filters.get_data(as_text=True))["preproduction"]
        clock.shift(0.6)  # past the second: rendered afresh
        fresh = client.get("/board/columns", query_string={"v": shown})
        assert fresh.status_code == 200 and "A1001B" in columns(fresh.get_data(as_text=True))["preproduction"]


def test_a_move_on_the_board_is_rendered_fresh_for_the_mover(app, client, order):
    other = app.test_client()
    with time_machine.travel(NOW, tick=False):
        login(client)
        login(other)
        v = version_in(client.get("/").get_data(as_text=True))
        assert other.get("/board/columns").status_code == 200  # a render now shared for a second
        resp = move(client, code="A1001A", to="preproduction")
        assert resp.status_code == 200 and columns(resp.get_data(as_text=True))["preproduction"] == ["A1001A"]
        polled = other.get("/board/columns", query_string={"v": v})  # the mover's render is shared on
        assert columns(polled.get_data(as_text=True))["preproduction"] == ["A1001A"]


@pytest.mark.parametrize("v", ["", "0", "abc", "-1", "99999999"])
def test_a_missing_or_stale_version_gets_the_columns(app, client, order, v):
    login(client)
    resp = client.get("/board/columns", query_string={"v": v})
    assert resp.status_code == 200 and "A1001A" in resp.get_data(as_text=True)


def test_a_refused_move_does_not_change_the_version(app, client, order):
    login(client)
    v = version_in(client.get("/").get_data(as_text=True))
    assert move(client, code="A1001A", to="qc").status_code == 409
    assert client.get("/board/columns", query_string={"v": v}).status_code == 204


def test_polling_needs_a_login(client, order):
    resp = client.get("/board/columns", query_string={"v": "1"})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


# -- filters --------------------------------------------------------------------------------------------

@pytest.fixture
def shop(app):
    """Orders with every kind of card, at a fixed 'today' (2026-03-02 in the shop's time zone)."""
    with app.app_context():
        make_order([("Tee", "dtg", 12)], customer_name="Rosa Diaz", at=NOW)                      # A1001
        make_order([("Cap", "embroidery", 6)], customer_name="Boise Bolts FC", channel="shopify",
                   due_date=TODAY - timedelta(days=1), rush=True, at=NOW)                            # A1002 late
        make_order([("Tote", "screen", 50)], customer_name="Hannah Okafor", channel="etsy",
                   due_date=TODAY, at=NOW)                                                           # A1003 today
        make_order([("Hoodie", "dtf", 4)], customer_name="Tom Becker", due_date=TODAY + timedelta(days=3),
                   at=NOW)                                                                           # A1004 week
        make_order([("Tee", "dtg", 2)], customer_name="Ana Lima", channel="amazon",
                   due_date=TODAY + timedelta(days=30), at=NOW)                                      # A1005 later
        packed = make_order([("Tee", "dtg", 5), ("Cap", "embroidery", 5)], customer_name="Packed Pat",
                            at=NOW)                                                                  # A1006
        order_service.move_order(packed, "qc", actor=MANAGER, source="web", note="test set-up", at=NOW)
        order_service.move_order(packed, "packaging", actor=MANAGER, source="web", at=NOW)
        db.session.commit()


ALL = {"A1001A", "A1002A", "A1003A", "A1004A", "A1005A", "A1006"}


@pytest.mark.parametrize("params,expected", [
    ({}, ALL),
    ({"method": "embroidery"}, {"A1002A", "A1006"}),       # an order card shows when any job matches
    ({"method": "dtg"}, {"A1001A", "A1005A", "A1006"}),
    ({"method": "screen"}, {"A1003A"}),
    ({"channel": "shopify"}, {"A1002A"}),
    ({"channel": "manual"}, {"A1001A", "A1004A", "A1006"}),
    ({"channel": "etsy", "method": "dtg"}, set()),
    ({"rush": "1"}, {"A1002A"}),
    ({"due": "late"}, {"A1002A"}),
    ({"due": "today"}, {"A1003A"}),
    ({"q": "rosa"}, {"A1001A"}),
    ({"q": "BOISE"}, {"A1002A"}),
    ({"q": "a1003"}, {"A1003A"}),
    ({"q": "A1006"}, {"A1006"}),
    ({"q": "nobody"}, set()),
    ({"q": "%"}, set()),
    ({"rush": "1", "due": "late", "channel": "shopify", "method": "embroidery", "q": "bolts"}, {"A1002A"}),
    # unknown values are ignored, not refused
    ({"method": "sublimation"}, ALL),
    ({"channel": "ebay"}, ALL),
    ({"due": "someday"}, ALL),
    ({"rush": "maybe"}, ALL),
])
def test_filters_narrow_the_cards(app, client, shop, params, expected):
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        login(client)
        for url in ("/", "/board/columns"):
            resp = client.get(url, query_string=params)
            assert resp.status_code == 200
            assert cards(resp.get_data(as_text=True)) == expected, (url, params)


def test_due_this_week(app, client, shop):
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        login(client)
        got = cards(client.get("/", query_string={"due": "week"}).get_data(as_text=True))
    assert "A1004A" in got and "A1005A" not in got and "A1001A" not in got  # no due date: not this week


def test_a_job_code_in_the_search_finds_its_card(app, client, shop):
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        login(client)
        got = cards(client.get("/", query_string={"q": "A1003A"}).get_data(as_text=True))
    assert got == {"A1003A"}


def test_filters_survive_polling(app, client, shop):
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        login(client)
        resp = client.get("/board/columns", query_string={"method": "screen", "v": "0"})
        assert cards(resp.get_data(as_text=True)) == {"A1003A"}
        assert resp.headers["HX-Replace-Url"] == "/?method=screen"
