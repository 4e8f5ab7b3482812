"""Who may do what: anonymous visitors go to /login (pages) or get 401 JSON (API); operators cannot skip
stages or cancel; every form POST needs the session's CSRF token."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import PASSWORD, Api, api_token, csrf_from, login, make_user
from tests.views.conftest import order_body, order_state

STAFF_PAGES = ["/", "/orders", "/orders?q=A1001&stage=received", "/orders/new", "/orders/A1001", "/orders/A9999",
               "/jobs/A1001A", "/jobs/A9999Z"]


@pytest.mark.parametrize("url", STAFF_PAGES)
def test_anonymous_is_sent_to_login_from_every_staff_page(client, order, url):
    resp = client.get(url)
    assert resp.status_code == 302
    loc = urlsplit(resp.headers["Location"])
    assert loc.path == "/login"
    assert parse_qs(loc.query)["next"] == [url]
    assert "Rosa" not in resp.get_data(as_text=True)


def test_login_then_lands_on_the_page_asked_for(client, order):
    resp = client.get("/orders/A1001")
    target = resp.headers["Location"]
    make_user(client.application, "sam", "operator")
    page = client.get(target)
    resp = client.post(target, data={"username": "sam", "password": PASSWORD,
                                     "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 302 and resp.headers["Location"] == "/orders/A1001"
    assert "Rosa Diaz" in client.get("/orders/A1001").get_data(as_text=True)


@pytest.mark.parametrize("next_url", ["//evil.example", "https://evil.example/x", "/\\evil.example",
                                      "\\\\evil.example", "/\t/evil.example", "javascript:alert(1)"])
def test_login_never_redirects_off_site(client, next_url):
    make_user(client.application, "sam", "operator")
    page = client.get("/login")
    resp = client.post("/login", query_string={"next": next_url},
                       data={"username": "sam", "password": PASSWORD, "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 302
    loc = resp.headers["Location"]
    # A same-site path only (a backslash is sent percent-encoded, which browsers keep as a path).
    assert loc.startswith("/") and not loc.startswith(("//", "/\\")) and not urlsplit(loc).netloc
    assert loc == "/" or loc.startswith("/%5C")


def test_wrong_password_is_refused(client):
    make_user(client.application, "sam", "operator")
    page = client.get("/login")
    resp = client.post("/login", data={"username": "sam", "password": "wrong-password",
                                       "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 401
    assert "do not match" in resp.get_data(as_text=True)
    assert client.get("/orders").status_code == 302


def test_logout_needs_post_and_ends_the_session(client):
    login(client, "operator")
    assert client.get("/orders").status_code == 200
    assert client.get("/logout").status_code == 405
    resp = client.post("/logout", data={"csrf_token": client.csrf_token})
    assert resp.status_code == 302
    assert client.get("/orders").status_code == 302


API_CALLS = [("GET", "/api/orders/A1001", None), ("POST", "/api/orders", order_body()),
             ("POST", "/api/orders/A1001/advance", {}), ("POST", "/api/orders/A1001/cancel", {"reason": "x"})]


@pytest.mark.parametrize("method,url,body", API_CALLS)
def test_anonymous_gets_401_json_from_the_api(client, order, counts, method, url, body):
    before = counts()
    resp = client.open(url, method=method, json=body)
    assert resp.status_code == 401
    assert resp.is_json and "token" in resp.get_json()["error"]
    assert counts() == before


@pytest.mark.parametrize("method,url,body", API_CALLS)
def test_a_staff_session_is_not_an_api_token(client, order, counts, method, url, body):
    login(client, "admin")
    before = counts()
    resp = client.open(url, method=method, json=body, headers={"X-CSRFToken": client.csrf_token})
    assert resp.status_code == 401 and resp.is_json
    assert counts() == before


# -- operators cannot skip or cancel ----------------------------------------------------------------

def test_operator_cannot_skip_with_the_page_form(app, client, order, counts):
    login(client, "operator")
    before = counts()
    resp = client.post("/orders/A1001/advance", data={"to": "production", "note": "in a hurry",
                                                      "csrf_token": client.csrf_token}, follow_redirects=True)
    assert resp.status_code == 200
    assert "needs a manager" in resp.get_data(as_text=True)
    assert counts() == before
    assert order_state(app, "A1001")[0] == "received"


def test_operator_cannot_skip_a_job_with_the_page_form(app, client, order, counts):
    login(client, "operator")
    before = counts()
    resp = client.post("/jobs/A1001A/move", data={"to": "qc", "note": "x", "csrf_token": client.csrf_token},
                       follow_redirects=True)
    assert "needs a manager" in resp.get_data(as_text=True)
    assert counts() == before


def test_operator_cannot_skip_with_the_api(app, client, order, counts):
    api = Api(client, api_token(app, "operator"))
    before = counts()
    resp = api.post("/api/orders/A1001/advance", json={"to": "qc", "note": "rush"})
    assert resp.status_code == 409 and "manager" in resp.get_json()["error"]
    assert counts() == before


def test_manager_can_skip_with_a_reason_on_the_page(app, client, order):
    login(client, "manager")
    resp = client.post("/orders/A1001/advance", data={"to": "production", "note": "art approved on the phone",
                                                      "csrf_token": client.csrf_token}, follow_redirects=True)
    assert resp.status_code == 200
    assert order_state(app, "A1001") == ("production", {"A1001A": "production", "A1001B": "production"})


def test_operator_cancel_is_a_403_page(app, client, order, counts):
    login(client, "operator")
    before = counts()
    resp = client.post("/orders/A1001/cancel", data={"reason": "customer asked", "csrf_token": client.csrf_token})
    assert resp.status_code == 403
    assert "manager" in resp.get_data(as_text=True)
    assert "<html" in resp.get_data(as_text=True)
    assert counts() == before
    assert order_state(app, "A1001")[0] == "received"


def test_cancel_form_is_shown_to_managers_only(client, order):
    login(client, "operator")
    assert "/orders/A1001/cancel" not in client.get("/orders/A1001").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": client.csrf_token})
    login(client, "manager")
    assert "/orders/A1001/cancel" in client.get("/orders/A1001").get_data(as_text=True)


def test_manager_cancels_with_a_reason(app, client, order):
    login(client, "manager")
    resp = client.post("/orders/A1001/cancel", data={"reason": "customer changed their mind",
                                                     "csrf_token": client.csrf_token}, follow_redirects=True)
    assert resp.status_code == 200
    assert "A1001 is cancelled" in resp.get_data(as_text=True)
    assert order_state(app, "A1001") == ("cancelled", {"A1001A": "cancelled", "A1001B": "cancelled"})


def test_manager_cancel_without_reason_changes_nothing(app, client, order, counts):
    login(client, "manager")
    before = counts()
    resp = client.post("/orders/A1001/cancel", data={"reason": "  ", "csrf_token": client.csrf_token},
                       follow_redirects=True)
    assert "Say why the order is cancelled" in resp.get_data(as_text=True)
    assert counts() == before
    assert order_state(app, "A1001")[0] == "received"


# -- CSRF ------------------------------------------------------------------------------------------

FORM_POSTS = [
    ("/orders/new", {"customer_name": "Kevin Wu", "items-0-description": "Tee", "items-0-method": "dtg",
                     "items-0-quantity": "3"}),
    ("/orders/A1001/advance", {}),
    ("/orders/A1001/advance", {"to": "preproduction"}),
    ("/jobs/A1001A/move", {}),
    ("/orders/A1001/cancel", {"reason": "customer asked"}),
]


@pytest.mark.parametrize("url,data", FORM_POSTS)
@pytest.mark.parametrize("token", [None, "", "not-the-token"], ids=["missing", "empty", "wrong"])
def test_form_post_without_the_csrf_token_is_400_and_changes_nothing(app, client, order, counts, url, data, token):
    login(client, "manager")
    before = counts()
    if token is not None:
        data = {**data, "csrf_token": token}
    resp = client.post(url, data=data)
    assert resp.status_code == 400
    assert "CSRF" in resp.get_data(as_text=True)
    assert counts() == before
    assert order_state(app, "A1001") == ("received", {"A1001A": "received", "A1001B": "received"})


@pytest.mark.parametrize("url,data", FORM_POSTS)
def test_form_post_with_the_csrf_token_works(app, client, order, counts, url, data):
    login(client, "manager")
    before = counts()
    resp = client.post(url, data={**data, "csrf_token": client.csrf_token})
    assert resp.status_code == 302
    assert counts()["events"] > before["events"]


def test_csrf_token_in_the_htmx_header_works(app, client, order):
    login(client, "operator")
    resp = client.post("/jobs/A1001A/move", headers={"X-CSRFToken": client.csrf_token, "HX-Request": "true"})
    assert resp.status_code == 302
    assert order_state(app, "A1001")[1]["A1001A"] == "preproduction"


def test_login_form_needs_csrf(client):
    make_user(client.application, "sam", "operator")
    resp = client.post("/login", data={"username": "sam", "password": PASSWORD})
    assert resp.status_code == 400
    assert client.get("/orders").status_code == 302


def test_logout_needs_csrf(client):
    login(client, "operator")
    assert client.post("/logout").status_code == 400
    assert client.get("/orders").status_code == 200
