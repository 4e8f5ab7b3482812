"""CSRF: every state-changing route a browser reaches with its session cookie (all but the token API and
the signed webhooks) refuses a request without the session's CSRF token, as a form field or as the
X-CSRFToken header that HTMX requests and the scan page send (from <meta name="csrf-token">). Walked over
the URL map, logged in as an admin so that the role check never answers first."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.conftest import csrf_from, login
from tests.security.conftest import fill, make_world
from tests.views.conftest import row_counts

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# Not cookie-authenticated: the API takes a bearer token, webhooks a signature (tested elsewhere).
EXEMPT_BLUEPRINTS = ("api.", "webhooks.")
CSRF_MESSAGE = "CSRF check failed"


def _state_changing(app, world):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint.startswith(EXEMPT_BLUEPRINTS):
            continue
        for method in sorted(rule.methods & STATE_CHANGING):
            yield rule, method, fill(rule, world)


def test_every_state_changing_route_refuses_a_request_without_the_token(sec_app):
    client = login(sec_app.test_client(), "admin")
    world = make_world(sec_app)
    before = row_counts(sec_app)
    seen = []
    for rule, method, url in _state_changing(sec_app, world):
        for headers in ({}, {"HX-Request": "true"}, {"HX-Request": "true", "X-CSRFToken": "forged"},
                        {"Content-Type": "application/json"}):
            body = "{}" if headers.get("Content-Type") == "application/json" else None
            resp = client.open(url, method=method, headers=headers, data=body)
            where = f"{method} {url} ({rule.endpoint}) with {sorted(headers)}"
            assert resp.status_code == 400, f"{where} answered {resp.status_code}"
            assert CSRF_MESSAGE in resp.get_data(as_text=True), where
        seen.append(rule.endpoint)
    assert row_counts(sec_app) == before  # nothing was written by a refused request
    assert {"orders.cancel", "orders.regenerate_public_link", "board.move", "scan.submit", "auth.logout",
            "imports.upload"} <= set(seen)


def test_login_form_needs_the_token_too(sec_app):
    from tests.conftest import PASSWORD, make_user

    make_user(sec_app, "sam", "operator")
    client = sec_app.test_client()
    resp = client.post("/login", data={"username": "sam", "password": PASSWORD})
    assert resp.status_code == 400 and CSRF_MESSAGE in resp.get_data(as_text=True)
    assert client.get("/").status_code == 302  # not logged in


def test_a_token_from_another_session_is_refused(sec_app):
    mallory = login(sec_app.test_client(), "operator", username="mallory")
    victim = login(sec_app.test_client(), "manager", username="maria")
    world = make_world(sec_app)
    resp = victim.post(f"/orders/{world['order']}/public-link", data={"csrf_token": mallory.csrf_token})
    assert resp.status_code == 400 and CSRF_MESSAGE in resp.get_data(as_text=True)


def test_the_header_from_the_meta_tag_is_accepted(sec_app):
    """What HTMX sends (static/js/app.js copies the meta tag into X-CSRFToken) passes."""
    client = login(sec_app.test_client(), "manager")
    world = make_world(sec_app)
    token = csrf_from(client.get("/").get_data(as_text=True))
    resp = client.post(f"/orders/{world['order']}/public-link", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert resp.status_code == 302
    app_js = (sec_app.static_folder + "/js/app.js")
    assert 'headers["X-CSRFToken"] = meta.content' in open(app_js, encoding="utf-8").read()


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms, self._open = [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._open = {"method": (a.get("method") or "get").lower(), "action": a.get("action"),
                          "hx": a.get("hx-post"), "token": False}
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None and a.get("name") == "csrf_token" and a.get("value"):
            self._open["token"] = True

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


@pytest.mark.parametrize("role", ["manager"])
def test_every_post_form_on_every_page_carries_the_token(sec_app, role):
    """Each page a manager can open (every GET rule that renders HTML): each POST form has the hidden
    csrf_token field, and the page has the meta tag that HTMX requests read."""
    client = login(sec_app.test_client(), role)
    world = make_world(sec_app)
    pages = 0
    for rule in sorted(sec_app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.endpoint.startswith(("api.", "static", "public.")):
            continue
        resp = client.get(fill(rule, world))
        if resp.status_code != 200 or resp.mimetype != "text/html":
            resp.close()
            continue
        html = resp.get_data(as_text=True)
        pages += 1
        parser = _Forms()
        parser.feed(html)
        for form in parser.forms:
            if form["method"] == "post" or form["hx"]:
                assert form["token"] or form["hx"], f"{rule.rule}: a POST form to {form['action']} has no csrf_token"
        if "<html" in html and 'hx-' in html:
            assert re.search(r'<meta name="csrf-token" content="[^"]+">', html), rule.rule
    assert pages >= 15


def test_the_scan_pages_json_post_without_csrf_gets_a_json_refusal(app, client):
    from tests.conftest import login

    login(client, "operator")
    resp = client.post("/scan/art-desk", json={"code": "A1001A", "scan_id": "csrf-json-0001"},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 400
    assert resp.is_json and "CSRF" in resp.get_json()["error"]


def tampered(token: str) -> str:
    """The token with one character of its signature changed where every bit counts: the last character of
    base64 carries bits the decoder drops, so changing the end could leave the signature as it was (it did,
    about once in a thousand runs)."""
    i = token.rindex(".") + 3
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


def test_a_token_checked_once_still_belongs_to_its_own_session_only(sec_app):
    """security: a token whose signature was checked before (extensions.CSRF keeps those) is still refused
    with another session's cookie, and a changed secret key refuses it."""
    alice = login(sec_app.test_client(), "operator", "alice")
    bob = login(sec_app.test_client(), "operator", "bob")
    scan = {"code": "NOPE1", "scan_id": "csrf-check-0001"}
    for n in range(2):  # the second goes through the kept check; past it, the scan is refused for its code
        resp = alice.post("/scan/art-desk", json={**scan, "scan_id": f"csrf-check-100{n}"},
                          headers={"X-CSRFToken": alice.csrf_token})
        assert resp.status_code == 422 and "Unknown code" in resp.json["message"], resp.get_data(as_text=True)
    resp = bob.post("/scan/art-desk", json={**scan, "scan_id": "csrf-check-0002"},
                    headers={"X-CSRFToken": alice.csrf_token})
    assert resp.status_code == 400 and CSRF_MESSAGE in resp.get_data(as_text=True)
    resp = alice.post("/scan/art-desk", json={**scan, "scan_id": "csrf-check-0003"},
                      headers={"X-CSRFToken": tampered(alice.csrf_token)})
    assert resp.status_code == 400 and CSRF_MESSAGE in resp.get_data(as_text=True)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
def test_a_body_that_is_not_a_form_is_checked_by_its_header_only(sec_app, content_type):
    """security: a request without form fields (JSON, plain text, no body type) is checked by its X-CSRFToken
    header (extensions.CSRF reads no form for it); a token placed in such a body is not a token."""
    client = login(sec_app.test_client(), "operator", "carol")
    headers = {"Content-Type": content_type} if content_type else {}
    body = f'{{"code": "NOPE1", "scan_id": "csrf-body-0001", "csrf_token": "{client.csrf_token}"}}'
    resp = client.post("/scan/art-desk", data=body, headers=headers)
    assert resp.status_code == 400 and CSRF_MESSAGE in resp.get_data(as_text=True)
    resp = client.post("/scan/art-desk", data=body, headers={**headers, "X-CSRFToken": client.csrf_token})
    assert resp.status_code != 400 or CSRF_MESSAGE not in resp.get_data(as_text=True)


def test_a_form_post_still_reads_its_field_first(sec_app):
    """A form's csrf_token field still counts (and wins over a forged header), as Flask-WTF has it."""
    client = login(sec_app.test_client(), "operator", "dave")
    resp = client.post("/scan/art-desk", data={"csrf_token": client.csrf_token, "code": "NOPE1"},
                       headers={"X-CSRFToken": "forged"})
    assert CSRF_MESSAGE not in resp.get_data(as_text=True)
    resp = client.post("/scan/art-desk", data={"code": "NOPE1"}, headers={"X-CSRFToken": client.csrf_token})
    assert CSRF_MESSAGE not in resp.get_data(as_text=True)  # a form without the field: the header is read
    resp = client.post("/scan/art-desk", data={"code": "NOPE1"})
    assert resp.status_code == 400 and CSRF_MESSAGE in resp.get_data(as_text=True)
