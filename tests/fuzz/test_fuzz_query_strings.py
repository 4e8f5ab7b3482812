"""Every GET route, walked from the app's URL map while logged in as an admin, with fuzzed query strings
(unknown keys, junk dates for reports' from/to, huge numbers, repeated keys, unicode, NUL, broken percent
escapes) and URL parameters that name a real object or junk: never a 5xx."""
from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.conftest import login
from tests.factories import MANAGER, make_order
from tracker.extensions import db
from tracker.reports import load_all
from tracker.services import csv_import
from tracker.services.orders import move_order
from tracker.services.shipments import add_shipment

from .conftest import any_text, fuzz, odd_text

KEYS = ["from", "to", "q", "stage", "method", "channel", "rush", "due", "page", "size", "kind", "printer", "table",
        "export", "expand", "v", "next", "sort", "id", "format", "limit", ""]
VALUES = st.one_of(
    odd_text, any_text,
    st.sampled_from(["", "0", "-1", "1", "99999999999999999999999999", "1e309", "nan", "inf", "2026-02-30", "2026-13-01",
                     "0000-01-01", "9999-12-31", "10000-01-01", "2026-06-01T25:00", "yesterday", "2026/06/01",
                     "true", "on", "null", "qc", "production", "dtg", "csv", "http://evil.test/", "//evil.test",
                     "/orders?x=1", "javascript:alert(1)", "\x00", "%00", "\ud800", "A" * 5000, "[]", "{}"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.dates(min_value=__import__("datetime").date(1, 1, 1)).map(lambda d: d.isoformat()),
)


def query_strings():
    pairs = st.lists(st.tuples(st.one_of(st.sampled_from(KEYS), any_text), VALUES), max_size=6)
    encoded = pairs.map(lambda p: urllib.parse.urlencode(p, encoding="utf-8", errors="surrogatepass"))
    broken = st.sampled_from(["%", "%zz", "%FF%FE", "from=%E0%80%80", "a=%00&a=%00", "&&&=&=", "to=" + "%41" * 3000,
                              "from=2026-01-01&from=2026-02-01&to=2025-01-01", "page=1&page=-1&page=abc",
                              "q=%F0%9F%92%A9", ";;;", "from=2026-06-01&to=2026-05-01", "from=1900-01-01&to=9999-12-31"])
    return st.one_of(encoded, encoded, broken)


@pytest.fixture
def world(app, client):
    """An admin session and one of each thing a URL can name: an order with jobs and a parcel, an import."""
    with app.app_context():
        order = make_order([("Tee", "dtg", 3), ("Cap", "embroidery", 2)])
        move_order(order, "qc", actor=MANAGER, source="web", note="fuzz set-up")
        move_order(order, "packaging", actor=MANAGER, source="web")
        add_shipment(order, tracking_number="1Z999AA10123456784", carrier="ups", actor=MANAGER, source="web")
        run = csv_import.store_upload("o.csv", b"Order ID,Customer,Product,Qty\n1,Rosa,Tee,3\n", "fuzz")
        db.session.commit()
        world = {"code": [order.code] + [j.code for j in order.jobs], "run_id": [run.id], "name": sorted(load_all()),
                 "station": ["press-1", "qc-1"], "filename": ["css/app.css", "js/scan.js"]}
        db.session.remove()
    login(client, "admin")
    return world


JUNK_PARTS = st.one_of(st.sampled_from(["A9999", "a1001", "0", "x" * 300, "%00", "%FF", "..%2F..%2Fapp.py", "%E2%80%AE",
                                        "production", "nope.csv"]),
                       st.text(st.characters(min_codepoint=48, max_codepoint=122), min_size=1, max_size=20))


def get_rules(app):
    return sorted((r for r in app.url_map.iter_rules() if "GET" in r.methods), key=lambda r: r.rule)


@fuzz(800)
@given(data=st.data())
def test_every_get_route_answers_fuzzed_query_strings_without_a_5xx(app, client, world, data):
    rule = data.draw(st.sampled_from(get_rules(app)), "rule")
    values = {}
    for arg in sorted(rule.arguments):
        real = world.get(arg, [])
        if arg in rule._converters and rule._converters[arg].__class__.__name__ == "IntegerConverter":
            values[arg] = str(data.draw(st.one_of(st.sampled_from(real or [1]), st.integers(0, 2**70)), arg))
        else:
            values[arg] = data.draw(st.one_of(st.sampled_from(real), JUNK_PARTS) if real else JUNK_PARTS, arg)
    path = rule.rule
    for arg, value in values.items():
        path = path.replace(f"<{rule._converters[arg].__class__.__name__ == 'IntegerConverter' and 'int:' or ''}{arg}>", value)
        path = path.replace(f"<path:{arg}>", value).replace(f"<{arg}>", value)
    query = data.draw(query_strings(), "query")
    resp = client.get(f"{path}?{query}", headers=data.draw(st.sampled_from(
        [{}, {"HX-Request": "true"}, {"Accept": "application/json"}, {"HX-Request": "true", "HX-Target": "col-qc"}]),
        "headers"))
    body = resp.get_data().decode("utf-8", "replace")
    event(f"status {resp.status_code // 100}xx")
    assert resp.status_code < 500, f"GET {path}?{query} -> {resp.status_code}: {body[:400]}"
    if resp.status_code >= 400:
        assert body.strip(), f"GET {path}?{query}: an empty {resp.status_code}"


def test_the_walk_covers_every_get_route(app):
    """The routes the test above draws from: a new GET page is fuzzed without anyone listing it."""
    rules = {r.rule for r in get_rules(app)}
    assert {"/", "/reports/<name>", "/reports/<name>.csv", "/orders", "/orders/<code>", "/scan/<station>",
            "/imports/<int:run_id>", "/t/<token>", "/api/alerts", "/healthz"} <= rules
