"""Every JSON endpoint under /api with fuzzed bodies (wrong types, missing and extra keys, huge numbers,
nested junk, not JSON at all, the wrong content type) and fuzzed tokens: a 2xx, or a 4xx JSON answer with an
"error" sentence; never a 5xx; and a refused request writes nothing."""
from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import api_token
from tests.factories import make_order
from tracker.extensions import db

from .conftest import any_text, assert_clear_refusal, fuzz, json_junk, odd_text, state

GOOD_ORDER = {"customer": {"name": "Rosa Diaz", "email": "rosa@example.com", "phone": "+1 208 555 0100"},
              "items": [{"description": "Team tee", "method": "dtg", "quantity": 12}],
              "due_date": (dt.date.today() + dt.timedelta(days=20)).isoformat(), "rush": False, "notes": "front print",
              "channel": "api", "external_ref": "R-1", "ship_to": {"city": "Boise", "region": "ID", "country": "US"}}
GOOD = {
    "orders": GOOD_ORDER,
    "advance": {"to": "preproduction", "note": "ready", "job_id": None},
    "cancel": {"reason": "customer changed their mind"},
    "labels": {"printer": None, "kind": "job"},
    "shipments": {"carrier": "ups", "tracking_number": "1Z999AA10123456784", "provider": None, "service": "Ground",
                  "label_base64": "XlhBXkZPNTAsNTBeQURONTBeRkRIaV5GU15YWg=="},
    "snooze": {"for": "1h"},
    "acknowledge": {},
}
odd_values = st.one_of(json_junk, odd_text, st.integers(min_value=-(10**30), max_value=10**30),
                       st.sampled_from([0, -1, 1.5, 10**18, 1e308, -1e308, True, "", " ", "12", "1e3", [], {}, None,
                                        "2026-02-30", "0000-00-00", "9999-12-31", "tomorrow", "\x00", "\ud800"])
                       ).map(copy.deepcopy)  # a sampled [] must not be appended to by a later mutation


@st.composite
def mutated(draw, good):
    """A valid body bent in a few places: a value swapped for junk, a key dropped, an unknown key added,
    inside nested objects and lists too."""
    body = json.loads(json.dumps(good))
    for _ in range(draw(st.integers(0, 3))):
        target = body
        path = []
        while isinstance(target, (dict, list)) and target and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(target) if isinstance(target, dict) else range(len(target))))
            if not isinstance(target[key], (dict, list)):
                break
            path.append(key)
            target = target[key]
        if isinstance(target, list):
            choice = draw(st.sampled_from(["append", "clear", "many"]))
            if choice == "append":
                target.append(draw(odd_values))
            elif choice == "clear":
                target.clear()
            else:
                target.extend([target[0] if target else {}] * draw(st.integers(1, 300)))
            continue
        if not isinstance(target, dict):
            continue
        what = draw(st.sampled_from(["swap", "swap", "drop", "add"]))
        if what == "add" or not target:
            target[draw(st.one_of(any_text, st.sampled_from(["id", "stage", "order_id", "__proto__"])))] = draw(odd_values)
        else:
            key = draw(st.sampled_from(sorted(target)))
            if what == "drop":
                del target[key]
            else:
                target[key] = draw(odd_values)
    return body


def bodies(name):
    return st.one_of(mutated(GOOD[name]), mutated(GOOD[name]), json_junk)


def send(client, url, token, body, how, raw=b""):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if how == "json":
        return client.post(url, data=json.dumps(body), headers={**headers, "Content-Type": "application/json"})
    if how == "charset":
        return client.post(url, data=json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass"),
                           headers={**headers, "Content-Type": "application/json; charset=utf-8"})
    if how == "text":
        return client.post(url, data=json.dumps(body), headers={**headers, "Content-Type": "text/plain"})
    if how == "form":
        # A form on the wire is UTF-8: a lone surrogate cannot be sent (a browser sends "?" or U+FFFD).
        text = str(body)[:100].encode("utf-8", "replace").decode("utf-8")
        return client.post(url, data={"body": text}, headers=headers)
    if how == "none":
        return client.post(url, headers=headers)
    return client.post(url, data=raw, headers={**headers, "Content-Type": "application/json"})


HOW = st.sampled_from(["json"] * 6 + ["charset", "text", "form", "none", "raw"])
RAW = st.one_of(st.binary(max_size=300), st.sampled_from([b"{", b"[]", b"null", b"\xef\xbb\xbf{}", b"{\"a\":1}{",
                                                          b"{\"customer\": NaN}", b"1" * 5000, b"[" * 2000 + b"]" * 2000,
                                                          b"{\"items\": 1e999999}", b"\xff\xfe{\x00}\x00"]))


@pytest.fixture
def world(app):
    """A manager's token (cancelling needs one) and an order with two jobs for the order URLs."""
    with app.app_context():
        order = make_order([("Tee", "dtg", 3), ("Cap", "embroidery", 2)])
        codes = [order.code] + [j.code for j in order.jobs]
        db.session.remove()
    return {"token": api_token(app, "manager"), "codes": codes}


def order_ids(codes):
    return st.one_of(st.sampled_from(codes[:1]), st.sampled_from(["A9999", "a1001", "A1001A", "0", "-1", "%00",
                                                                  "A1001%0A", "..", "%F0%9F%92%A9", "x" * 300]),
                     st.text(st.characters(min_codepoint=48, max_codepoint=122), min_size=1, max_size=12))


ENDPOINTS = ["orders", "advance", "cancel", "labels", "shipments", "snooze", "acknowledge"]


def url_for(name, order_id, alert_id):
    return {"orders": "/api/orders", "advance": f"/api/orders/{order_id}/advance",
            "cancel": f"/api/orders/{order_id}/cancel", "labels": f"/api/orders/{order_id}/labels",
            "shipments": f"/api/orders/{order_id}/shipments", "snooze": f"/api/alerts/{alert_id}/snooze",
            "acknowledge": f"/api/alerts/{alert_id}/acknowledge"}[name]


@fuzz(600)
@given(data=st.data())
def test_every_json_endpoint_answers_fuzzed_bodies_clearly_and_a_refusal_writes_nothing(app, client, world, data):
    name = data.draw(st.sampled_from(ENDPOINTS), "endpoint")
    url = url_for(name, data.draw(order_ids(world["codes"]), "order_id"),
                  data.draw(st.sampled_from([1, 2, 0, 99999, 2**31, 2**63]), "alert_id"))
    body = data.draw(bodies(name), "body")
    how = data.draw(HOW, "how")
    raw = data.draw(RAW, "raw") if how == "raw" else b""
    before = state(app)
    resp = send(client, url, world["token"], body, how, raw)
    assert_clear_refusal(resp)
    if resp.status_code >= 400:
        assert state(app) == before, (resp.status_code, resp.get_json())
    else:
        assert isinstance(resp.get_json(), dict)


@fuzz(200)
@given(order_id=st.one_of(st.sampled_from(["A1001", "A1001A", "A9999"]), st.text(st.characters(exclude_categories=("Cs",)), max_size=40).filter(lambda s: s.strip("/"))))
def test_reading_an_order_by_any_id_is_the_order_or_a_404(app, client, world, order_id):
    resp = client.get("/api/orders/" + order_id.replace("?", "%3F").replace("#", "%23"),
                      headers={"Authorization": f"Bearer {world['token']}"})
    assert_clear_refusal(resp, allowed={200, 404, 405, 308})


latin1 = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=80)


@fuzz(300)
@given(auth=st.one_of(st.none(), latin1, st.builds(lambda t: "Bearer " + t, latin1),
                      st.sampled_from(["Bearer", "Bearer ", "bearer  x", "Basic dXNlcjpwYXNz", "Bearer \x7f",
                                       "Bearer " + "A" * 5000, "Token abc"])),
       url=st.sampled_from(["/api/orders", "/api/alerts", "/api/scans", "/api/orders/A1001",
                            "/api/orders/A1001/advance", "/api/alerts/1/snooze"]))
def test_a_missing_or_wrong_token_is_a_401_with_a_sentence(app, client, world, auth, url):
    headers = {"Authorization": auth} if auth is not None else {}
    before = state(app)
    if url in ("/api/alerts", "/api/orders/A1001"):
        resp = client.get(url, headers=headers)
    else:
        resp = client.post(url, json=GOOD_ORDER, headers=headers)
    assert_clear_refusal(resp, allowed={401})
    assert state(app) == before


def test_a_body_over_one_megabyte_is_a_413_with_a_sentence(app, client, world):
    big = json.dumps({**GOOD_ORDER, "notes": "x" * (1024 * 1024)})
    before = state(app)
    resp = client.post("/api/orders", data=big, headers={"Authorization": f"Bearer {world['token']}",
                                                         "Content-Type": "application/json"})
    assert_clear_refusal(resp, allowed={413})
    assert state(app) == before
