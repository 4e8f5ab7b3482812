"""A signed session cookie verified once is not verified again (security.CookieSessions): the same answers
as Flask's own cookie sessions, an expired cookie still refused, a changed secret key still refused, and
no request's changes reach another's copy."""
from __future__ import annotations

import datetime as dt

import time_machine

from tests.conftest import build_app, closing, login
from tracker.security import CookieSessions


def _cookie(client, app) -> str:
    return client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session")).value


def test_a_kept_cookie_still_expires_when_flask_would_expire_it(tmp_path):
    start = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.timezone.utc)
    with time_machine.travel(start, tick=False) as clock:
        app = build_app(tmp_path, PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=1))
        for _ in closing(app):
            client = login(app.test_client(), "operator")
            assert client.get("/scan").status_code == 200
            assert client.get("/scan").status_code == 200  # the kept contents answered it
            assert _cookie(client, app) in CookieSessions._opened
            clock.shift(dt.timedelta(minutes=59))
            assert client.get("/scan").status_code == 200
            clock.shift(dt.timedelta(minutes=2))  # past the hour since the cookie was signed
            cookie = _cookie(client, app)
            stranger = app.test_client()
            stranger.set_cookie(app.config.get("SESSION_COOKIE_NAME", "session"), cookie)
            resp = stranger.get("/scan")
            assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_a_changed_secret_key_refuses_a_kept_cookie(tmp_path):
    app = build_app(tmp_path)
    for _ in closing(app):
        client = login(app.test_client(), "operator")
        assert client.get("/scan").status_code == 200
        app.secret_key = "another-secret-key-of-enough-length-0123456789"
        resp = client.get("/scan")
        assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_each_request_gets_its_own_copy_of_a_kept_session(tmp_path):
    app = build_app(tmp_path)
    for _ in closing(app):
        client = login(app.test_client(), "operator")
        client.get("/scan")
        cookie = _cookie(client, app)
        kept = dict(CookieSessions._opened[cookie][2])
        with app.test_request_context("/", headers={"Cookie": f"{app.config.get('SESSION_COOKIE_NAME', 'session')}={cookie}"}):
            from flask import session

            session["something"] = "changed in one request"
        assert CookieSessions._opened[cookie][2] == kept
