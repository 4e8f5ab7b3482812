"""Who may reach what, walked over the whole URL map (not a list of URLs: a route added tomorrow is
covered, or the test fails and says what to decide).

- Anonymous: every rule and method except the PUBLIC endpoints refuses: a page redirects to /login, the
  API and data URLs answer 401 JSON. CSRF is switched off here so that the login check itself is what
  answers (test_csrf.py covers CSRF).
- Roles: ROLES gives each staff endpoint its minimum role. An operator gets 403 on manager and admin
  actions, a manager on admin actions, and the minimum role itself is let through (the table is exact).
  The API's token roles likewise.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.conftest import api_token, build_app, closing, login
from tests.security.conftest import PRINTERS, fill, make_world
from tracker.domain.lifecycle import role_at_least
from tracker.extensions import db

# Open to anyone, on purpose: the login form, the customer's tracking page and its data and proofs (the
# link's token is the key: an unknown one is 404), signed webhooks
# (checked by signature instead), static files and the health check.
PUBLIC = {"auth.login", "public.tracking_page", "public.tracking_json", "webhooks.receive", "static",
          "health.healthz", "public.proof_file", "public.answer_proof"}
# Flask answers OPTIONS itself with the allowed methods and nothing else; HEAD runs the GET view.
SKIP_METHODS = {"OPTIONS", "HEAD"}

# The minimum role of every staff endpoint ("login": any logged-in user). A new endpoint must be added
# here, with a decision.
ROLES = {
    "auth.logout": "login",
    "board.index": "operator", "board.alerts": "operator", "board.acknowledge_alert": "operator",
    "board.snooze_alert": "operator", "board.columns": "operator", "board.move": "operator",
    "batches.index": "operator",
    "orders.index": "operator", "orders.new": "operator", "orders.show": "operator", "orders.job": "operator",
    "orders.advance": "operator", "orders.move_job": "operator", "orders.add_shipment": "operator",
    "orders.attach_carrier_label": "operator", "orders.print_carrier_label": "operator",
    "orders.replace_number": "operator",
    "orders.cancel": "manager", "orders.regenerate_public_link": "manager",
    "printing.printers": "operator", "printing.test_print": "operator", "printing.retry": "operator",
    "printing.print_order_labels": "operator", "printing.job_label_png": "operator",
    "printing.packing_png": "operator", "printing.browser_print": "operator",
    "scan.stations": "operator", "scan.page": "operator", "scan.submit": "operator", "scan.undo": "operator", "orders.buy_postage": "operator", "orders.void_postage": "operator",
    "orders.edit_ship_to": "operator", "orders.post_proof": "operator", "orders.proof_file": "operator",
    "scan.choose_package": "operator",
    "imports.index": "manager", "imports.upload": "manager", "imports.mapping": "manager",
    "imports.result": "manager", "imports.template": "manager",
    "marketplaces.index": "manager", "marketplaces.etsy_fetch": "manager",
    "marketplaces.amazon_import": "manager", "marketplaces.amazon_import_checked": "manager",
    "marketplaces.amazon_confirmations": "manager", "marketplaces.amazon_confirmations_again": "manager",
    "reports.index": "manager", "reports.show": "manager", "reports.export": "manager",
    "export.index": "manager", "export.download_json": "manager", "export.download_zip": "manager",
}
# The token API (Authorization: Bearer): the token's role.
API_ROLES = {
    "api.create_order": "operator", "api.show_order": "operator", "api.advance_order": "operator",
    "api.cancel_order": "manager", "api.create_scan": "operator", "api.print_labels": "operator",
    "api.add_shipment": "operator", "api.postage_rates": "operator", "api.buy_postage": "operator",
    "api.list_postage": "operator", "api.void_postage": "operator", "api.alerts": "operator", "api.acknowledge_alert": "operator",
    "api.snooze_alert": "operator", "api.post_proof": "operator", "api.list_proofs": "operator",
}


@pytest.fixture
def open_app(tmp_path):
    app = build_app(tmp_path, config={"printers": PRINTERS}, WTF_CSRF_ENABLED=False)
    yield from closing(app)


def _requests(app, world):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods - SKIP_METHODS):
            yield rule, method, fill(rule, world)


def _is_json_url(url: str) -> bool:
    path = urlsplit(url).path
    return path.startswith("/api/") or path.endswith(".json")


def test_every_endpoint_has_a_decision(open_app):
    endpoints = {rule.endpoint for rule in open_app.url_map.iter_rules()}
    undecided = sorted(endpoints - PUBLIC - set(ROLES) - set(API_ROLES))
    assert not undecided, f"new endpoints without a role in tests/security/test_access.py: {undecided}"
    gone = sorted((set(ROLES) | set(API_ROLES) | PUBLIC) - endpoints)
    assert not gone, f"endpoints in the tables that no longer exist: {gone}"


def test_anonymous_is_refused_everywhere_but_the_public_routes(open_app):
    client = open_app.test_client()
    world = make_world(open_app)
    checked = []
    for rule, method, url in _requests(open_app, world):
        if rule.endpoint in PUBLIC:
            continue
        resp = client.open(url, method=method)
        where = f"{method} {url} ({rule.endpoint})"
        if _is_json_url(url):
            assert resp.status_code == 401, f"{where} answered {resp.status_code} to an anonymous request"
            assert resp.is_json and resp.get_json()["error"], where
        else:
            assert resp.status_code == 302, f"{where} answered {resp.status_code} to an anonymous request"
            assert urlsplit(resp.headers["Location"]).path == "/login", where
        checked.append(where)
    # Sanity: the walk really covered the staff surface (every method of every non-public rule).
    assert len(checked) == sum(len(r.methods - SKIP_METHODS) for r in open_app.url_map.iter_rules()
                               if r.endpoint not in PUBLIC)
    assert len(checked) >= 60


def test_a_made_up_route_without_a_guard_would_be_caught(open_app):
    """The walk is over the map: a new unguarded staff route shows up as undecided and as let in."""
    open_app.add_url_rule("/oops/<code>", "oops.leak", lambda code: "Rosa Diaz's order")
    endpoints = {rule.endpoint for rule in open_app.url_map.iter_rules()}
    assert "oops.leak" in endpoints - PUBLIC - set(ROLES) - set(API_ROLES)
    world = make_world(open_app)
    rule = next(r for r in open_app.url_map.iter_rules() if r.endpoint == "oops.leak")
    assert open_app.test_client().get(fill(rule, world)).status_code == 200  # what the walk would flag


def _page_status(client, method, url):
    resp = client.open(url, method=method)
    resp.get_data()  # read streamed downloads (the export) to the end before the next request
    resp.close()
    return resp.status_code, resp


@pytest.mark.parametrize("role", ["operator", "manager", "admin"])
def test_each_staff_page_checks_its_role(open_app, role):
    client = login(open_app.test_client(), role)
    world = make_world(open_app)
    for rule, method, url in _requests(open_app, world):
        minimum = ROLES.get(rule.endpoint)
        if minimum is None or rule.endpoint == "auth.logout":
            continue
        status, resp = _page_status(client, method, url)
        where = f"{role}: {method} {url} ({rule.endpoint}, needs {minimum})"
        assert status < 500, f"{where} answered {status}"
        if minimum == "login" or role_at_least(role, minimum):
            assert status != 403, f"{where} was refused"
            assert not (status == 302 and urlsplit(resp.headers["Location"]).path == "/login"), where
        else:
            assert status == 403, f"{where} answered {status}"
            body = resp.get_data(as_text=True)
            assert f"This needs a {minimum} or above" in body, where


@pytest.mark.parametrize("role", ["operator", "manager", "admin"])
def test_each_api_call_checks_the_token_role(open_app, role):
    client = open_app.test_client()
    headers = {"Authorization": f"Bearer {api_token(open_app, role)}"}
    world = make_world(open_app)
    for rule, method, url in _requests(open_app, world):
        minimum = API_ROLES.get(rule.endpoint)
        if minimum is None:
            continue
        kwargs = {"json": {}} if method == "POST" else {}
        resp = client.open(url, method=method, headers=headers, **kwargs)
        where = f"{role} token: {method} {url} ({rule.endpoint}, needs {minimum})"
        assert resp.status_code < 500, f"{where} answered {resp.status_code}"
        if role_at_least(role, minimum):
            assert resp.status_code not in (401, 403), f"{where} was refused: {resp.get_json()}"
        else:
            assert resp.status_code == 403, f"{where} answered {resp.status_code}"
            assert f"the {minimum} role or above" in resp.get_json()["error"], where


def test_a_bad_or_revoked_token_is_refused_everywhere_in_the_api(open_app):
    from tracker.models import ApiToken, utcnow

    client = open_app.test_client()
    token = api_token(open_app, "admin")
    with open_app.app_context():
        row = db.session.scalar(db.select(ApiToken))
        row.revoked_at = utcnow()
        db.session.commit()
    world = make_world(open_app)
    for rule, method, url in _requests(open_app, world):
        if rule.endpoint not in API_ROLES:
            continue
        for header in (f"Bearer {token}", "Bearer itk_" + "x" * 43, "Basic c2FtOnB3", token):
            resp = client.open(url, method=method, headers={"Authorization": header}, json={})
            assert resp.status_code == 401, f"{method} {url} with {header[:12]}...: {resp.status_code}"
