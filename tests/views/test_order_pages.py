"""Staff order pages: the intake form, the list with search and filters, the order page and its move forms."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from tests.conftest import login
from tests.factories import MANAGER, make_order
from tests.views.conftest import order_state
from tracker.extensions import db
from tracker.models import Event, Order
from tracker.services import orders as order_service


def future(days: int = 30) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


def form(client, **fields) -> dict:
    data = {"csrf_token": client.csrf_token, "customer_name": "Kevin Wu", "customer_email": "kevin@example.com",
            "customer_phone": "+1 303 555 0199", "items-0-description": "Staff polo, left chest logo",
            "items-0-method": "embroidery", "items-0-quantity": "24"}
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def flashes(html: str) -> list[str]:
    return [m.strip() for m in re.findall(r'class="flash flash-\w+"[^>]*>([^<]*)<', html)]


# -- the intake form ---------------------------------------------------------------------------------

def test_new_order_form_has_the_fields(client):
    login(client)
    html = client.get("/orders/new").get_data(as_text=True)
    for name in ("customer_name", "customer_email", "customer_phone", "due_date", "rush", "notes",
                 "items-0-description", "items-0-method", "items-0-quantity", "csrf_token"):
        assert f'name="{name}"' in html, name


def test_new_order_happy_path_redirects_to_the_order_and_makes_jobs(app, client, counts):
    login(client, "operator", "sam")
    resp = client.post("/orders/new", data=form(
        client, due_date=future(), rush="y", notes="Match Pantone 286C",
        **{"items-1-description": "", "items-1-method": "dtg", "items-1-quantity": "",  # a blank row: ignored
           "items-2-description": "Event tees, 2-colour", "items-2-method": "screen", "items-2-quantity": " 150 "}))
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/orders/A1001"
    assert counts() == {"orders": 1, "jobs": 2, "events": 1}
    with app.app_context():
        o = db.session.scalar(select(Order))
        assert (o.customer_name, o.customer_email, o.customer_phone) == ("Kevin Wu", "kevin@example.com",
                                                                         "+1 303 555 0199")
        assert o.rush is True and o.notes == "Match Pantone 286C" and o.due_date.isoformat() == future()
        assert o.channel == "manual" and o.stage == "received"
        assert [(j.code, j.method, j.quantity) for j in o.jobs] == [("A1001A", "embroidery", 24),
                                                                   ("A1001B", "screen", 150)]
        ev = db.session.scalar(select(Event))
        assert (ev.source, ev.actor, ev.to_stage) == ("web", "sam", "received")
    page = client.get("/orders/A1001").get_data(as_text=True)
    assert "Order A1001 created with 2 job(s)." in flashes(page)


BAD_FORMS = [
    ("no items", {"items-0-description": "", "items-0-quantity": ""}, "Add at least one item"),
    ("quantity 0", {"items-0-quantity": "0"}, "Item 1, quantity"),
    ("negative quantity", {"items-0-quantity": "-4"}, "Item 1, quantity"),
    ("quantity abc", {"items-0-quantity": "abc"}, "Item 1, quantity"),
    ("fractional quantity", {"items-0-quantity": "2.5"}, "Item 1, quantity"),
    ("superscript digit", {"items-0-quantity": "²"}, "Item 1, quantity"),
    ("thousands of digits", {"items-0-quantity": "9" * 5000}, "Item 1, quantity"),
    ("huge quantity", {"items-0-quantity": "5000000"}, "Item 1, quantity"),
    ("missing quantity", {"items-0-quantity": ""}, "Item 1, quantity"),
    ("unknown method", {"items-0-method": "sublimation"}, "Item 1, method"),
    ("no method", {"items-0-method": ""}, "Item 1, method"),
    ("quantity without description", {"items-0-description": ""}, "Item 1, description"),
    ("bad second row", {"items-1-description": "Cap", "items-1-method": "dtg", "items-1-quantity": "0"},
     "Item 2, quantity"),
    ("past due date", {"due_date": "2001-01-01"}, "in the past"),
    ("impossible due date", {"due_date": "2030-02-30"}, "Due date: Not a valid date value."),
    ("due date far ahead", {"due_date": "2999-01-01"}, "three years"),
    ("no customer name", {"customer_name": ""}, "Customer name: This field is required."),
    ("bad email", {"customer_email": "kevin-at-example"}, "not an email address"),
    ("email too long", {"customer_email": "k" * 250 + "@example.com"}, "Email: Field cannot be longer than 254"),
    ("phone too long", {"customer_phone": "5" * 41}, "Phone: Field cannot be longer than 40"),
    ("notes too long", {"notes": "n" * 2001}, "Notes: Field cannot be longer than 2000"),
]


@pytest.mark.parametrize("fields,message", [b[1:] for b in BAD_FORMS], ids=[b[0] for b in BAD_FORMS])
def test_bad_intake_re_renders_with_400_and_creates_nothing(client, counts, fields, message):
    login(client)
    resp = client.post("/orders/new", data=form(client, **fields))
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert message in html
    assert 'role="alert"' in html
    assert counts() == {"orders": 0, "jobs": 0, "events": 0}
    if fields.get("customer_name") != "":
        assert 'value="Kevin Wu"' in html  # what was typed is kept


def test_refused_intake_does_not_burn_an_order_number(client):
    login(client)
    assert client.post("/orders/new", data=form(client, **{"items-0-quantity": "0"})).status_code == 400
    resp = client.post("/orders/new", data=form(client))
    assert resp.headers["Location"] == "/orders/A1001"


# -- the orders list -----------------------------------------------------------------------------------

@pytest.fixture
def shop(app):
    with app.app_context():
        make_order(customer_name="Rosa Diaz")  # A1001
        make_order([("Tee", "dtg", 2), ("Cap", "embroidery", 2)], customer_name="Boise Bolts FC",
                   channel="shopify", external_ref="SHOP-5521")  # A1002
        c = make_order(customer_name="Hannah Okafor", channel="etsy", external_ref="ETSY_77")  # A1003
        order_service.move_order(c, "preproduction", actor=MANAGER, source="web")
        d = make_order(customer_name="Tom 100% Becker")  # A1004
        order_service.cancel_order(d, actor=MANAGER, source="web", reason="duplicate")
        db.session.commit()


def listed(client, **params) -> list[str]:
    resp = client.get("/orders", query_string=params)
    assert resp.status_code == 200
    return re.findall(r'<a class="code" href="/orders/(A\d+)">', resp.get_data(as_text=True))


@pytest.mark.parametrize("q,expected", [
    ("", ["A1004", "A1003", "A1002", "A1001"]),
    ("A1002", ["A1002"]),
    ("a1002", ["A1002"]),
    ("  A1002 ", ["A1002"]),
    ("A1002B", ["A1002"]),            # a job ID finds its order
    ("a1001a", ["A1001"]),
    ("http://shop.test/jobs/A1003A", ["A1003"]),  # a scanned QR URL
    ("rosa", ["A1001"]),
    ("BOISE bolts", ["A1002"]),
    ("okaf", ["A1003"]),
    ("SHOP-5521", ["A1002"]),
    ("shop-55", ["A1002"]),
    ("etsy_77", ["A1003"]),
    ("%", ["A1004"]),                 # a literal percent sign, not a wildcard
    ("_", ["A1003"]),                 # a literal underscore
    ("A9999", []),
    ("nobody", []),
])
def test_search(client, shop, q, expected):
    login(client)
    assert listed(client, q=q) == expected


@pytest.mark.parametrize("stage,expected", [
    ("received", ["A1002", "A1001"]), ("preproduction", ["A1003"]), ("cancelled", ["A1004"]),
    ("open", ["A1003", "A1002", "A1001"]), ("qc", []), ("bogus", ["A1004", "A1003", "A1002", "A1001"]),
])
def test_filter_by_stage(client, shop, stage, expected):
    login(client)
    assert listed(client, stage=stage) == expected


def test_search_and_stage_together(client, shop):
    login(client)
    assert listed(client, q="A1003", stage="received") == []
    assert listed(client, q="A1003", stage="preproduction") == ["A1003"]


@pytest.mark.parametrize("page", ["0", "-1", "abc", "99999999999", "2"])
def test_odd_page_numbers_do_not_break_the_list(client, shop, page):
    login(client)
    assert client.get("/orders", query_string={"page": page}).status_code == 200


def test_htmx_search_gets_only_the_results_fragment(client, shop):
    login(client)
    resp = client.get("/orders?q=rosa", headers={"HX-Request": "true", "HX-Target": "order-results"})
    html = resp.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="order-results">')
    assert "<html" not in html and "A1001" in html and "A1002" not in html


# -- the order page ------------------------------------------------------------------------------------

def test_order_page_shows_jobs_stages_timeline_and_tracking_link(app, client, order):
    with app.app_context():
        o = db.session.scalar(select(Order))
        order_service.move_job(o.jobs[0], "preproduction", actor=MANAGER, source="scan", station="art-desk",
                               note="proof signed")
        db.session.commit()
        token = o.public_token
    login(client)
    html = client.get("/orders/a1001").get_data(as_text=True)
    assert "Rosa Diaz" in html
    for code in ("A1001A", "A1001B"):
        assert f'id="job-{code}"' in html
    assert "Team tee" in html and "Cap" in html and "Embroidery" in html
    assert "Pre-production" in html and "Received" in html
    timeline = html[html.index('class="timeline"'):]
    assert timeline.count('<li class="ev') == 2
    assert "station art-desk" in timeline and "maria" in timeline and "proof signed" in timeline
    assert f"http://shop.test/t/{token}" in html


def test_unknown_order_and_job_pages_are_404(client):
    login(client)
    resp = client.get("/orders/A9999")
    assert resp.status_code == 404 and "There is no order A9999." in resp.get_data(as_text=True)
    assert client.get("/jobs/A9999Z").status_code == 404


def test_job_url_goes_to_its_order(client, order):
    login(client)
    resp = client.get("/jobs/a1001b")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/orders/A1001#job-A1001B"


def test_advance_form_moves_to_the_next_stage(app, client, order):
    login(client, "operator", "sam")
    resp = client.post("/orders/A1001/advance", data={"csrf_token": client.csrf_token})
    assert resp.status_code == 302 and resp.headers["Location"] == "/orders/A1001"
    assert order_state(app, "A1001") == ("preproduction", {"A1001A": "preproduction", "A1001B": "preproduction"})
    html = client.get("/orders/A1001").get_data(as_text=True)
    assert "A1001: Received → Pre-production" in flashes(html)
    with app.app_context():
        last = db.session.scalars(select(Event).order_by(Event.id.desc())).first()
        assert (last.source, last.actor, last.from_stage, last.to_stage) == ("web", "sam", "received",
                                                                            "preproduction")


def test_advance_form_with_to_and_note(app, client, order):
    login(client, "manager")
    client.post("/orders/A1001/advance", data={"to": "qc", "note": "reprint, art unchanged",
                                               "csrf_token": client.csrf_token})
    assert order_state(app, "A1001")[0] == "qc"
    with app.app_context():
        notes = set(db.session.scalars(select(Event.note).where(Event.kind == "skip")))
        assert notes == {"reprint, art unchanged"}


def test_job_move_form(app, client, order):
    login(client)
    resp = client.post("/jobs/A1001B/move", data={"csrf_token": client.csrf_token})
    assert resp.status_code == 302 and resp.headers["Location"] == "/orders/A1001"
    assert order_state(app, "A1001") == ("received", {"A1001A": "received", "A1001B": "preproduction"})
    assert "A1001B: Received → Pre-production" in flashes(client.get("/orders/A1001").get_data(as_text=True))


@pytest.mark.parametrize("url,data,reason", [
    ("/orders/A1001/advance", {"to": "qc"}, "needs a manager"),
    ("/orders/A1001/advance", {"to": "packaging"}, "cannot be packed until every job has passed QC"),
    ("/orders/A1001/advance", {"to": "picked_up"}, "set by the carrier"),
    ("/orders/A1001/advance", {"to": "nowhere"}, "is not a stage"),
    ("/orders/A1001/advance", {"to": "received"}, "already at Received"),
    ("/jobs/A1001A/move", {"to": "production"}, "needs a manager"),
    ("/jobs/A1001A/move", {"to": "packaging"}, "done to the whole order"),
    ("/jobs/A1001A/move", {"to": "nowhere"}, "has no stage to move to"),
])
def test_refused_moves_flash_the_reason_and_change_nothing(app, client, order, counts, url, data, reason):
    login(client, "operator")
    before = counts()
    resp = client.post(url, data={**data, "csrf_token": client.csrf_token}, follow_redirects=True)
    assert resp.status_code == 200
    messages = flashes(resp.get_data(as_text=True))
    assert any(reason in m for m in messages), messages
    assert counts() == before
    assert order_state(app, "A1001") == ("received", {"A1001A": "received", "A1001B": "received"})


def test_job_that_passed_qc_is_packed_with_its_order(app, client, order):
    login(client, "manager")
    client.post("/orders/A1001/advance", data={"to": "qc", "note": "reprint", "csrf_token": client.csrf_token})
    resp = client.post("/jobs/A1001A/move", data={"csrf_token": client.csrf_token}, follow_redirects=True)
    assert any("passed QC" in m for m in flashes(resp.get_data(as_text=True)))
    resp = client.post("/orders/A1001/advance", data={"csrf_token": client.csrf_token}, follow_redirects=True)
    assert order_state(app, "A1001") == ("packaging", {"A1001A": "packaging", "A1001B": "packaging"})
    html = resp.get_data(as_text=True)
    assert "Advance order → Label" in html
    client.post("/orders/A1001/advance", data={"csrf_token": client.csrf_token})
    html = client.get("/orders/A1001").get_data(as_text=True)
    assert order_state(app, "A1001")[0] == "labeled"
    assert "Advance order →" not in html  # the next stage belongs to the carrier


@pytest.mark.parametrize("next_url,expected", [
    ("/orders?stage=received", "/orders?stage=received"), ("//evil.example/x", "/orders/A1001"),
    ("https://evil.example/", "/orders/A1001"),
])
def test_move_forms_return_to_a_same_site_page_only(client, order, next_url, expected):
    login(client)
    resp = client.post("/jobs/A1001A/move", data={"next": next_url, "csrf_token": client.csrf_token})
    assert resp.headers["Location"] == expected


def test_moves_on_unknown_orders_and_jobs_are_404(client, counts):
    login(client, "manager")
    for url in ("/orders/A9999/advance", "/jobs/A9999Z/move", "/orders/A9999/cancel"):
        assert client.post(url, data={"reason": "x", "csrf_token": client.csrf_token}).status_code == 404
    assert counts() == {"orders": 0, "jobs": 0, "events": 0}


def test_more_rows_than_the_shop_takes_are_refused_not_silently_dropped(client, counts):
    login(client)
    rows = {}
    for i in range(205):
        rows.update({f"items-{i}-description": f"Tee {i}", f"items-{i}-method": "dtg", f"items-{i}-quantity": "1"})
    resp = client.post("/orders/new", data=form(client, **rows))
    assert resp.status_code == 400
    assert "Too many items" in resp.get_data(as_text=True) and "at most 200" in resp.get_data(as_text=True)
    assert counts() == {"orders": 0, "jobs": 0, "events": 0}


def test_the_shops_full_item_limit_fits_through_the_form(app, client, counts):
    login(client)
    rows = {}
    for i in range(200):
        rows.update({f"items-{i}-description": f"Tee {i}", f"items-{i}-method": "dtg", f"items-{i}-quantity": "1"})
    resp = client.post("/orders/new", data=form(client, **rows))
    assert resp.status_code == 302
    assert counts()["jobs"] == 200


def test_oversized_form_is_413_and_creates_nothing(client, counts):
    login(client)
    resp = client.post("/orders/new", data=form(client, notes="n" * (1024 * 1024 + 10)))
    assert resp.status_code == 413
    assert "too large" in resp.get_data(as_text=True)
    assert counts() == {"orders": 0, "jobs": 0, "events": 0}


def test_order_in_a_stage_the_shop_no_longer_has_still_shows(app, client, order):
    # A shop that added a "curing" stage and later took it out of config.toml.
    with app.app_context():
        o = db.session.scalar(select(Order))
        o.stage = o.jobs[0].stage = o.jobs[1].stage = "curing"
        db.session.commit()
    login(client, "manager")
    resp = client.get("/orders/A1001")
    assert resp.status_code == 200 and "curing" in resp.get_data(as_text=True)
    resp = client.post("/orders/A1001/advance", data={"csrf_token": client.csrf_token}, follow_redirects=True)
    assert resp.status_code == 200 and any("curing" in m for m in flashes(resp.get_data(as_text=True)))


@pytest.mark.parametrize("method,url", [("PUT", "/orders/new"), ("DELETE", "/orders/A1001"), ("PATCH", "/orders"),
                                        ("GET", "/orders/A1001/advance"), ("GET", "/jobs/A1001A/move")])
def test_wrong_http_method_on_a_page_is_405_not_500(client, order, counts, method, url):
    login(client, "manager")
    before = counts()
    resp = client.open(url, method=method, data={"csrf_token": client.csrf_token})
    assert resp.status_code == 405
    assert "not allowed" in resp.get_data(as_text=True)
    assert counts() == before


def test_json_sent_to_the_intake_form_is_refused(client, counts):
    login(client)
    resp = client.post("/orders/new", json={"customer_name": "Kevin Wu", "items-0-description": "Tee"},
                       headers={"X-CSRFToken": client.csrf_token})
    assert resp.status_code == 400
    assert counts() == {"orders": 0, "jobs": 0, "events": 0}
