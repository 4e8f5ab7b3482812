"""The JSON API for orders (docs/API.md): intake with every kind of bad input, idempotent external refs,
advance and cancel with the rules' refusals, and the order read with its audit trail.

Every refusal is a 4xx JSON {"error": sentence, "field"?}, never a 500, and writes nothing."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from tests.conftest import Api, api_token
from tests.views.conftest import ITEM, create_via_api, order_body
from tracker.extensions import db
from tracker.models import ApiToken, utcnow


def assert_refused(resp, status: int, field: str | None = None):
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True))
    body = resp.get_json()
    assert isinstance(body, dict), resp.get_data(as_text=True)
    assert isinstance(body.get("error"), str) and len(body["error"]) > 5
    if field is not None:
        assert body.get("field") == field, body
    return body


def advance(api, order_id, **body):
    return api.post(f"/api/orders/{order_id}/advance", json=body)


# -- intake: bad input ---------------------------------------------------------------------------

def _without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


BAD_ORDERS = [
    # missing fields
    ("no customer", _without(order_body(), "customer"), "customer"),
    ("no items", _without(order_body(), "items"), "items"),
    ("empty items", order_body(items=[]), "items"),
    ("customer without name", order_body(customer={"email": "rosa@example.com"}), "customer.name"),
    ("blank name", order_body(customer={"name": "   "}), "customer.name"),
    ("item without description", order_body(items=[_without(ITEM, "description")]), "items[0].description"),
    ("item without method", order_body(items=[_without(ITEM, "method")]), "items[0].method"),
    ("item without quantity", order_body(items=[_without(ITEM, "quantity")]), "items[0].quantity"),
    # extra fields, at every level
    ("extra top-level field", order_body(priority="high"), "priority"),
    ("extra customer field", order_body(customer={"name": "Rosa", "vip": True}), "customer.vip"),
    ("extra item field", order_body(items=[{**ITEM, "colour": "red"}]), "items[0].colour"),
    # wrong types
    ("customer is text", order_body(customer="Rosa Diaz"), "customer"),
    ("name is a number", order_body(customer={"name": 42}), "customer.name"),
    ("items is an object", order_body(items=ITEM), "items"),
    ("item is text", order_body(items=["Team tee"]), "items[0]"),
    ("quantity is text", order_body(items=[{**ITEM, "quantity": "12"}]), "items[0].quantity"),
    ("quantity is a fraction", order_body(items=[{**ITEM, "quantity": 1.5}]), "items[0].quantity"),
    ("quantity is a bool", order_body(items=[{**ITEM, "quantity": True}]), "items[0].quantity"),
    ("quantity is null", order_body(items=[{**ITEM, "quantity": None}]), "items[0].quantity"),
    ("method is a list", order_body(items=[{**ITEM, "method": ["dtg"]}]), "items[0].method"),
    ("due date is a number", order_body(due_date=20300101), "due_date"),
    ("rush is text", order_body(rush="yes"), "rush"),
    ("notes is a number", order_body(notes=7), "notes"),
    ("bad email", order_body(customer={"name": "Rosa", "email": "rosa-at-example"}), "customer.email"),
    ("bad phone", order_body(customer={"name": "Rosa", "phone": "call me"}), "customer.phone"),
    ("unknown channel", order_body(channel="ebay"), "channel"),
    ("ref with spaces", order_body(external_ref="SO 1"), "external_ref"),
    ("ref is an object", order_body(external_ref={"id": 1}), "external_ref"),
    # unknown decoration method
    ("unknown method", order_body(items=[{**ITEM, "method": "sublimation"}]), "items[0].method"),
    ("unknown method in second item", order_body(items=[ITEM, {**ITEM, "method": "laser"}]), "items[1].method"),
    # quantities
    ("zero quantity", order_body(items=[{**ITEM, "quantity": 0}]), "items[0].quantity"),
    ("negative quantity", order_body(items=[{**ITEM, "quantity": -3}]), "items[0].quantity"),
    ("huge quantity", order_body(items=[{**ITEM, "quantity": 10**9}]), "items[0].quantity"),
    ("astronomical quantity", order_body(items=[{**ITEM, "quantity": 10**40}]), "items[0].quantity"),
    ("too many items", order_body(items=[ITEM] * 201), "items"),
    # impossible due dates
    ("30 February", order_body(due_date="2030-02-30"), "due_date"),
    ("month 13", order_body(due_date="2030-13-01"), "due_date"),
    ("not a date", order_body(due_date="next friday"), "due_date"),
    ("other date format", order_body(due_date="01/02/2030"), "due_date"),
    ("date in the past", order_body(due_date="2001-01-01"), "due_date"),
    ("date centuries ahead", order_body(due_date="2999-01-01"), "due_date"),
    ("name too long", order_body(customer={"name": "R" * 201}), "customer.name"),
    ("control characters", order_body(customer={"name": "Rosa\x00Diaz"}), "customer.name"),
]


@pytest.mark.parametrize("body,field", [b[1:] for b in BAD_ORDERS], ids=[b[0] for b in BAD_ORDERS])
def test_bad_order_is_refused_with_field_and_writes_nothing(api, counts, body, field):
    before = counts()
    body = assert_refused(api.post("/api/orders", json=body), 400, field)
    assert field.split(".")[-1].split("[")[0] in body["error"]
    assert counts() == before


RAW_BODIES = [
    ("not JSON", b"{customer: rosa}", "application/json", 400),
    ("truncated JSON", b'{"customer": {"name": "Rosa"', "application/json", 400),
    ("empty body", b"", "application/json", 400),
    ("invalid UTF-8", b'{"customer": "\xff\xfe"}', "application/json", 400),
    ("a JSON list", b"[1, 2]", "application/json", 400),
    ("a JSON string", b'"order"', "application/json", 400),
    ("JSON null", b"null", "application/json", 400),
    ("Infinity quantity", b'{"customer": {"name": "R"}, "items": [{"description": "T", "method": "dtg", '
                          b'"quantity": Infinity}]}', "application/json", 400),
    ("NaN quantity", b'{"customer": {"name": "R"}, "items": [{"description": "T", "method": "dtg", '
                     b'"quantity": NaN}]}', "application/json", 400),
    ("5000-digit quantity", b'{"customer": {"name": "R"}, "items": [{"description": "T", "method": "dtg", '
                            b'"quantity": ' + b"9" * 5000 + b"}]}", "application/json", 400),
    ("JSON sent as text/plain", json.dumps(order_body()).encode(), "text/plain", 415),
    ("form-encoded", b"customer=Rosa&items=1", "application/x-www-form-urlencoded", 415),
    ("no content type", json.dumps(order_body()).encode(), None, 415),
]


@pytest.mark.parametrize("raw,content_type,status", [r[1:] for r in RAW_BODIES], ids=[r[0] for r in RAW_BODIES])
def test_unreadable_body_is_refused(api, counts, raw, content_type, status):
    before = counts()
    headers = {"Content-Type": content_type} if content_type else {}
    assert_refused(api.post("/api/orders", data=raw, headers=headers), status)
    assert counts() == before


def test_oversized_body_is_refused_with_413(api, counts):
    before = counts()
    body = json.dumps(order_body(notes="x" * (1024 * 1024 + 10)))
    body = assert_refused(api.post("/api/orders", data=body, headers={"Content-Type": "application/json"}), 413)
    assert "1 MB" in body["error"]
    assert counts() == before


def test_oversized_body_to_advance_is_refused_with_413(api, counts):
    order = create_via_api(api)
    before = counts()
    body = json.dumps({"note": "x" * (1024 * 1024 + 10)})
    assert_refused(api.post(f"/api/orders/{order['order_id']}/advance", data=body,
                            headers={"Content-Type": "application/json"}), 413)
    assert counts() == before


@pytest.mark.parametrize("method,url", [
    ("DELETE", "/api/orders"), ("PUT", "/api/orders"), ("GET", "/api/orders"), ("PATCH", "/api/orders/A1001"),
    ("DELETE", "/api/orders/A1001"), ("GET", "/api/orders/A1001/advance"), ("PUT", "/api/orders/A1001/cancel"),
])
def test_unknown_http_method_is_a_json_405(api, counts, method, url):
    create_via_api(api)
    before = counts()
    assert_refused(api.client.open(url, method=method, headers=api.headers), 405)
    assert counts() == before


def test_unknown_api_url_is_a_json_404(api):
    assert_refused(api.get("/api/nothing-here"), 404)


def test_string_external_ref_of_digits_and_number_are_the_same_ref(api, counts):
    first = api.post("/api/orders", json=order_body(channel="shopify", external_ref=5001))
    assert first.status_code == 201
    again = api.post("/api/orders", json=order_body(channel="shopify", external_ref="5001"))
    assert again.status_code == 200
    assert again.get_json()["order_id"] == first.get_json()["order_id"]


# -- intake: tokens ------------------------------------------------------------------------------

@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Token itk_abc", "Basic dXNlcjpwYXNz", "itk_no-scheme",
    "Bearer itk_not-a-real-token", "Bearer not-our-prefix", "Bearer itk_" + "x" * 500,
], ids=["missing", "empty", "bearer-alone", "bearer-blank", "other-scheme", "basic", "no-scheme",
        "unknown-token", "foreign-token", "oversized-token"])
def test_missing_or_bad_token_is_401_and_writes_nothing(client, counts, header):
    before = counts()
    headers = {"Authorization": header} if header is not None else {}
    for resp in (client.post("/api/orders", json=order_body(), headers=headers),
                 client.get("/api/orders/A1001", headers=headers),
                 client.post("/api/orders/A1001/advance", json={}, headers=headers)):
        assert_refused(resp, 401)
    assert counts() == before


def test_revoked_token_is_401(app, client, counts):
    token = api_token(app, "manager", "shopify-sync")
    api = Api(client, token)
    assert api.post("/api/orders", json=order_body()).status_code == 201
    with app.app_context():
        row = db.session.scalar(db.select(ApiToken).where(ApiToken.name == "shopify-sync"))
        row.revoked_at = utcnow()
        db.session.commit()
    before = counts()
    body = assert_refused(api.post("/api/orders", json=order_body()), 401)
    assert "revoked" in body["error"]
    assert_refused(api.get("/api/orders/A1001"), 401)
    assert counts() == before


def test_token_use_is_recorded_by_reads_too_and_only_every_few_minutes(app, api):
    def last_used():
        with app.app_context():
            return db.session.scalar(db.select(ApiToken.last_used_at))

    t0 = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)
    assert last_used() is None
    with time_machine.travel(t0, tick=False):
        assert api.get("/api/orders/A1001").status_code == 404  # a read, and a refused one at that
    assert last_used() == t0
    with time_machine.travel(t0 + timedelta(minutes=2), tick=False):
        api.get("/api/orders/A1001")
    assert last_used() == t0
    with time_machine.travel(t0 + timedelta(minutes=6), tick=False):
        api.get("/api/orders/A1001")
    assert last_used() == t0 + timedelta(minutes=6)


# -- intake: the happy path and idempotency --------------------------------------------------------

def test_create_answers_201_with_jobs_and_tracking_url(api, counts):
    resp = api.post("/api/orders", json=order_body(due_date=(utcnow() + timedelta(days=10)).date().isoformat(),
                                                   rush=True, notes="Match Pantone 286C",
                                                   items=[{"description": " Team tee ", "method": "DTG",
                                                           "quantity": 12}]))
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["order_id"] == "A1001" and body["stage"] == "received"
    assert body["channel"] == "api"  # API orders default to the api channel
    assert body["rush"] is True and body["notes"] == "Match Pantone 286C"
    assert body["jobs"] == [{"job_id": "A1001A", "description": "Team tee", "method": "dtg", "quantity": 12,
                             "stage": "received", "stage_entered_at": body["jobs"][0]["stage_entered_at"],
                             "proof_state": None, "waiting_for_customer_since": None}]
    assert body["tracking_url"].startswith("http://shop.test/t/")
    assert counts() == {"orders": 1, "jobs": 1, "events": 1}


def test_same_channel_and_external_ref_returns_the_same_order(api, counts):
    first = api.post("/api/orders", json=order_body(channel="shopify", external_ref="SO-1001"))
    assert first.status_code == 201
    before = counts()
    again = api.post("/api/orders", json=order_body(channel="shopify", external_ref="SO-1001",
                                                    items=[{**ITEM, "quantity": 99}]))
    assert again.status_code == 200
    assert again.get_json()["order_id"] == first.get_json()["order_id"]
    assert again.get_json()["jobs"] == first.get_json()["jobs"]
    assert again.get_json()["events"] == first.get_json()["events"]
    assert counts() == before


def test_same_external_ref_on_another_channel_is_another_order(api, counts):
    a = api.post("/api/orders", json=order_body(channel="shopify", external_ref="1001"))
    b = api.post("/api/orders", json=order_body(channel="etsy", external_ref="1001"))
    c = api.post("/api/orders", json=order_body(external_ref="1001"))  # channel api
    assert (a.status_code, b.status_code, c.status_code) == (201, 201, 201)
    assert len({a.get_json()["order_id"], b.get_json()["order_id"], c.get_json()["order_id"]}) == 3
    assert counts()["orders"] == 3


def test_orders_without_external_ref_are_never_merged(api, counts):
    create_via_api(api)
    create_via_api(api)
    assert counts()["orders"] == 2


# -- reading an order --------------------------------------------------------------------------------

def test_read_order_has_stage_jobs_shipments_and_events_oldest_first(app, api, manager_api):
    t0 = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)
    with time_machine.travel(t0, tick=False):
        order = create_via_api(api)
    with time_machine.travel(t0 + timedelta(hours=2), tick=False):
        assert advance(api, order["order_id"], job_id="A1001A").status_code == 200
    with time_machine.travel(t0 + timedelta(hours=3), tick=False):
        assert advance(manager_api, order["order_id"], to="production", note="art was pre-approved").status_code == 200
    resp = api.get("/api/orders/a1001")  # any case
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["order_id"] == "A1001" and body["stage"] == "production"
    assert [(j["job_id"], j["stage"]) for j in body["jobs"]] == [("A1001A", "production"), ("A1001B", "production")]
    assert body["shipments"] == []
    events = body["events"]
    for ev in events:
        assert {"at", "from", "to", "source", "actor", "station"} <= set(ev)
    assert [(e["job_id"], e["from"], e["to"]) for e in events] == [
        (None, None, "received"),
        ("A1001A", "received", "preproduction"),
        ("A1001A", "preproduction", "production"),
        ("A1001B", "received", "production"),
        (None, "received", "production"),
    ]
    assert [e["at"] for e in events] == [
        "2026-03-02T15:00:00+00:00", "2026-03-02T17:00:00+00:00",
        "2026-03-02T18:00:00+00:00", "2026-03-02T18:00:00+00:00", "2026-03-02T18:00:00+00:00"]
    assert events[0]["actor"] == "token:operator-token" and events[0]["source"] == "api"
    assert events[-1]["actor"] == "token:manager-token" and events[-1]["note"] == "art was pre-approved"
    assert events[-1]["kind"] == "skip"
    assert all(e["station"] is None for e in events)


def test_read_order_lists_its_shipments(app, api):
    from tracker.models import Order, Shipment

    order = create_via_api(api)
    with app.app_context():
        o = db.session.scalar(db.select(Order))
        o.shipments.append(Shipment(carrier="ups", tracking_number="1Z999AA10123456784", service="Ground",
                                    status="in_transit", activated_at=datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc)))
        db.session.commit()
    shipments = api.get(f"/api/orders/{order['order_id']}").get_json()["shipments"]
    assert len(shipments) == 1
    s = shipments[0]
    assert (s["carrier"], s["tracking_number"], s["service"], s["status"], s["activated_at"], s["delivered_at"]) == (
        "ups", "1Z999AA10123456784", "Ground", "in_transit", "2026-03-03T09:00:00+00:00", None)


def test_read_unknown_order_is_404_json(api):
    body = assert_refused(api.get("/api/orders/A9999"), 404)
    assert "A9999" in body["error"]
    assert_refused(api.get("/api/orders/not-a-code"), 404)


# -- advancing -----------------------------------------------------------------------------------

def test_advance_with_no_body_moves_every_job_one_stage(api, counts):
    order = create_via_api(api)
    resp = api.post(f"/api/orders/{order['order_id']}/advance", json={})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["stage"] == "preproduction"
    assert {j["stage"] for j in body["jobs"]} == {"preproduction"}
    assert counts()["events"] == 1 + 2 + 1  # create, one per job, the order's own move


def test_advance_with_no_body_at_all(api):
    order = create_via_api(api)
    resp = api.client.post(f"/api/orders/{order['order_id']}/advance", headers=api.headers)
    assert resp.status_code == 200 and resp.get_json()["stage"] == "preproduction"


def test_advance_with_to(api):
    order = create_via_api(api)
    body = advance(api, order["order_id"], to="preproduction", note="artwork approved by email").get_json()
    assert body["stage"] == "preproduction"
    assert body["events"][-1]["note"] == "artwork approved by email"


def test_advance_a_single_job(api):
    order = create_via_api(api)
    resp = advance(api, order["order_id"], job_id="a1001b")
    assert resp.status_code == 200
    body = resp.get_json()
    assert [(j["job_id"], j["stage"]) for j in body["jobs"]] == [("A1001A", "received"), ("A1001B", "preproduction")]
    assert body["stage"] == "received"  # the order is where its earliest job is
    assert body["events"][-1]["job_id"] == "A1001B"


def test_manager_may_skip_with_a_reason(manager_api):
    order = create_via_api(manager_api)
    resp = advance(manager_api, order["order_id"], to="qc", note="reprint of a checked order")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["stage"] == "qc"
    assert {e["kind"] for e in body["events"][1:]} == {"skip"}


def _to_stage(manager_api, order_id, stage):
    resp = advance(manager_api, order_id, to=stage, note="test setup")
    assert resp.status_code == 200, resp.get_json()


def test_packing_then_label_then_carrier_stages_refused(api, manager_api):
    order = create_via_api(api, items=[ITEM])
    oid = order["order_id"]
    _to_stage(manager_api, oid, "qc")
    body = advance(api, oid).get_json()
    assert body["stage"] == "packaging" and body["jobs"][0]["stage"] == "packaging"
    body = advance(api, oid).get_json()
    assert body["stage"] == "labeled"
    # picked_up and beyond belong to the carrier: by default and by name.
    assert "carrier" in assert_refused(advance(api, oid), 409)["error"]
    assert_refused(advance(manager_api, oid, to="in_transit", note="handed over"), 409)
    assert_refused(advance(manager_api, oid, to="delivered", note="customer picked up"), 409)


REFUSED_MOVES = [
    ("operator skip", "operator", {"to": "production", "note": "in a hurry"}),
    ("operator skip to qc", "operator", {"to": "qc"}),
    ("manager skip without reason", "manager", {"to": "production"}),
    ("manager skip with blank reason", "manager", {"to": "qc", "note": "   "}),
    ("packing before QC", "manager", {"to": "packaging", "note": "rush"}),
    ("label before packing", "manager", {"to": "labeled", "note": "rush"}),
    ("carrier stage by hand", "manager", {"to": "picked_up", "note": "handed over"}),
    ("delivered by hand", "manager", {"to": "delivered", "note": "customer collected"}),
    ("move to the current stage", "operator", {"to": "received"}),
    ("job to packaging", "manager", {"to": "packaging", "job_id": "A1001A", "note": "x"}),
    ("job to a carrier stage", "manager", {"to": "in_transit", "job_id": "A1001A", "note": "x"}),
    ("operator job skip", "operator", {"to": "qc", "job_id": "A1001A"}),
]


@pytest.mark.parametrize("role,body", [m[1:] for m in REFUSED_MOVES], ids=[m[0] for m in REFUSED_MOVES])
def test_forbidden_moves_are_409_and_change_nothing(api, manager_api, counts, role, body):
    order = create_via_api(api)
    before = counts()
    client = api if role == "operator" else manager_api
    assert_refused(advance(client, order["order_id"], **body), 409)
    assert counts() == before
    after = api.get(f"/api/orders/{order['order_id']}").get_json()
    assert after["stage"] == "received" and {j["stage"] for j in after["jobs"]} == {"received"}


def test_packing_is_refused_until_every_job_passed_qc(api, manager_api, counts):
    order = create_via_api(api)
    oid = order["order_id"]
    assert advance(manager_api, oid, job_id="A1001A", to="qc", note="checked").status_code == 200
    before = counts()
    body = assert_refused(advance(api, oid, to="packaging"), 409)
    assert "A1001B" in body["error"]
    assert counts() == before
    # A job that passed QC cannot be packed alone either.
    assert_refused(advance(api, oid, job_id="A1001A"), 409)
    assert counts() == before


def test_cancelled_order_cannot_move(api, manager_api, counts):
    order = create_via_api(api)
    assert manager_api.post(f"/api/orders/{order['order_id']}/cancel", json={"reason": "duplicate"}).status_code == 200
    before = counts()
    assert_refused(advance(api, order["order_id"]), 409)
    assert_refused(advance(api, order["order_id"], job_id="A1001A"), 409)
    assert counts() == before


BAD_ADVANCE = [
    ("unknown stage", {"to": "shipped"}, "to"),
    ("cancelled is not a stage to move to", {"to": "cancelled"}, "to"),
    ("stage label instead of key", {"to": "Quality check"}, "to"),
    ("to is a number", {"to": 3}, "to"),
    ("to is a list", {"to": ["qc"]}, "to"),
    ("note is a number", {"note": 12}, "note"),
    ("note is too long", {"note": "n" * 2001}, "note"),
    ("note has a lone surrogate", {"note": "\ud800"}, "note"),
    ("note has a NUL", {"note": "a\x00b"}, "note"),
    ("job_id is a number", {"job_id": 1}, "job_id"),
    ("unknown field", {"stage": "qc"}, "stage"),
    ("unknown field beside good ones", {"to": "preproduction", "force": True}, "force"),
]


@pytest.mark.parametrize("body,field", [b[1:] for b in BAD_ADVANCE], ids=[b[0] for b in BAD_ADVANCE])
def test_bad_advance_is_400_with_field(api, counts, body, field):
    order = create_via_api(api)
    before = counts()
    assert_refused(advance(api, order["order_id"], **body), 400, field)
    assert counts() == before


@pytest.mark.parametrize("raw,content_type,status", [
    (b"[]", "application/json", 400), (b"nope", "application/json", 400), (b'{"to": "qc"}', "text/plain", 415),
])
def test_unreadable_advance_body(api, counts, raw, content_type, status):
    order = create_via_api(api)
    before = counts()
    assert_refused(api.post(f"/api/orders/{order['order_id']}/advance", data=raw,
                            headers={"Content-Type": content_type}), status)
    assert counts() == before


def test_advance_unknown_order_is_404(api, counts):
    before = counts()
    assert_refused(advance(api, "A4242"), 404)
    assert counts() == before


def test_advance_unknown_job_is_404_and_names_the_field(api, counts):
    order = create_via_api(api)
    before = counts()
    assert_refused(advance(api, order["order_id"], job_id="A1001Z"), 404, "job_id")
    # a job of another order is not a job of this one
    other = create_via_api(api)
    assert_refused(advance(api, order["order_id"], job_id=other["jobs"][0]["job_id"]), 404, "job_id")
    assert counts()["events"] == before["events"] + 1


# -- cancelling ----------------------------------------------------------------------------------

def test_cancel_needs_a_manager_token(api, counts):
    order = create_via_api(api)
    before = counts()
    body = assert_refused(api.post(f"/api/orders/{order['order_id']}/cancel", json={"reason": "customer asked"}), 403)
    assert "manager" in body["error"]
    assert counts() == before
    assert api.get(f"/api/orders/{order['order_id']}").get_json()["stage"] == "received"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": None},
                                  {"reason": "\ud800"}, {"reason": "a\x00b"}])  # found by fuzzing: a 500
def test_cancel_needs_a_reason(api, manager_api, counts, body):
    order = create_via_api(api)
    before = counts()
    assert_refused(manager_api.post(f"/api/orders/{order['order_id']}/cancel", json=body), 400, "reason")
    assert counts() == before


@pytest.mark.parametrize("body,field", [({"reason": 5}, "reason"), ({"reason": "x", "refund": True}, "refund")])
def test_cancel_bad_body(api, manager_api, counts, body, field):
    order = create_via_api(api)
    before = counts()
    assert_refused(manager_api.post(f"/api/orders/{order['order_id']}/cancel", json=body), 400, field)
    assert counts() == before


def test_cancel_with_reason(api, manager_api):
    order = create_via_api(api)
    resp = manager_api.post(f"/api/orders/{order['order_id']}/cancel", json={"reason": "customer changed their mind"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["stage"] == "cancelled" and body["cancelled_at"]
    assert {j["stage"] for j in body["jobs"]} == {"cancelled"}
    last = body["events"][-1]
    assert (last["kind"], last["from"], last["to"], last["note"], last["actor"]) == (
        "cancel", "received", "cancelled", "customer changed their mind", "token:manager-token")
    # twice is refused
    assert_refused(manager_api.post(f"/api/orders/{order['order_id']}/cancel", json={"reason": "again"}), 409)


def test_cancel_unknown_order_is_404(manager_api):
    assert_refused(manager_api.post("/api/orders/A4242/cancel", json={"reason": "x"}), 404)


# -- labels: refusals by kind (the service's refusal family; the API reads the kind, not the words) ---------

def test_labels_on_a_printer_that_is_not_set_up_is_a_400_naming_the_printer(app, api, manager_api):
    order_id = create_via_api(api)["order_id"]
    body = assert_refused(api.post(f"/api/orders/{order_id}/labels", json={"printer": "nope"}), 400, "printer")
    assert body["error"].startswith("there is no printer 'nope' (printers: ")
    assert_refused(api.post(f"/api/orders/{order_id}/labels", json={"kind": "sticker"}), 400, "kind")


def test_labels_for_an_order_with_no_active_job_is_a_409(tmp_path):
    from tests.conftest import build_app

    app = build_app(tmp_path, config={"printers": {"front": {"driver": "file", "path": str(tmp_path / "labels")}}})
    api, manager_api = Api(app.test_client(), api_token(app)), Api(app.test_client(), api_token(app, "manager"))
    order_id = create_via_api(api)["order_id"]
    assert manager_api.post(f"/api/orders/{order_id}/cancel", json={"reason": "customer asked"}).status_code == 200
    body = assert_refused(api.post(f"/api/orders/{order_id}/labels", json={}), 409)
    assert body["error"] == f"{order_id} has no jobs to label"
    with app.app_context():
        db.engine.dispose()
