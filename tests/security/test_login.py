"""Logging in: the lockout after failed tries (per username, known or not, time frozen), the rate limit per
client address, and how passwords are stored."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from tests.conftest import PASSWORD, build_app, csrf_from, make_user
from tracker.extensions import db, limiter
from tracker.models import LoginThrottle, User

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
LOCKED = "Too many failed logins for that username"
NO_MATCH = "That username and password do not match."


def attempt(client, username, password):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_from(page.get_data(as_text=True))})


def body(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def shop(app):
    make_user(app, "sam", "operator")
    return app


def test_ten_failures_in_a_row_lock_the_name_for_fifteen_minutes(shop):
    client = shop.test_client()
    with time_machine.travel(T0, tick=False) as clock:
        for i in range(9):
            resp = attempt(client, "sam", f"wrong-{i}")
            assert resp.status_code == 401 and NO_MATCH in body(resp)
        resp = attempt(client, "sam", "wrong-9")  # the tenth
        assert resp.status_code == 429 and LOCKED in body(resp) and "15 minutes" in body(resp)
        # Locked: the right password is refused too, without being checked.
        resp = attempt(client, "sam", PASSWORD)
        assert resp.status_code == 429 and LOCKED in body(resp)
        assert client.get("/").status_code == 302
        clock.shift(dt.timedelta(minutes=14, seconds=59))
        assert attempt(client, "sam", PASSWORD).status_code == 429
        clock.shift(dt.timedelta(seconds=1))  # the lock has run out
        resp = attempt(client, "sam", PASSWORD)
        assert resp.status_code == 302
    with shop.app_context():
        assert db.session.get(LoginThrottle, "sam") is None  # a good login forgets the failures


def test_a_good_login_resets_the_count(shop):
    client = shop.test_client()
    with time_machine.travel(T0, tick=False):
        for i in range(9):
            attempt(client, "sam", "nope-nope")
        assert attempt(client, "sam", PASSWORD).status_code == 302
        client.post("/logout", data={"csrf_token": csrf_from(body(client.get("/")))})
        for i in range(9):
            assert attempt(client, "sam", "nope-nope").status_code == 401  # 9 again: not locked
        assert attempt(client, "sam", PASSWORD).status_code == 302


def test_after_a_lock_runs_out_the_count_starts_again(shop):
    client = shop.test_client()
    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(10):
            attempt(client, "sam", "nope-nope")
        clock.shift(dt.timedelta(minutes=16))
        assert attempt(client, "sam", "nope-nope").status_code == 401  # one failure, not a new lock
        with shop.app_context():
            row = db.session.get(LoginThrottle, "sam")
            assert row.failures == 1 and row.locked_until is None


def test_a_lockout_says_nothing_about_whether_the_user_exists(shop):
    """An unknown name answers exactly like a real one: same words, same status, same count."""
    real, ghost = shop.test_client(), shop.test_client()
    with time_machine.travel(T0, tick=False):
        for i in range(11):
            a, b = attempt(real, "sam", "wrong-pass"), attempt(ghost, "nobody-here", "wrong-pass")
            assert a.status_code == b.status_code
            assert _flash(a) == _flash(b)
    assert LOCKED in _flash(a)


def _flash(resp) -> str:
    import re

    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>(.*?)<', body(resp), re.S)).strip()


def test_the_name_is_counted_whatever_its_case_or_spaces(shop):
    client = shop.test_client()
    with time_machine.travel(T0, tick=False):
        for name in ["sam", "SAM", " Sam ", "sAm", "sam", "Sam", "SAM", "sam", "sam", "Sam"]:
            attempt(client, name, "wrong-pass")
        assert attempt(client, "sam", PASSWORD).status_code == 429


def test_unlock_user_command_lifts_the_lock(shop):
    client = shop.test_client()
    with time_machine.travel(T0, tick=False):
        for _ in range(10):
            attempt(client, "sam", "wrong-pass")
        result = shop.test_cli_runner().invoke(args=["tracker", "unlock-user", "sam"])
        assert result.exit_code == 0 and "sam is unlocked" in result.output
        assert attempt(client, "sam", PASSWORD).status_code == 302
    again = shop.test_cli_runner().invoke(args=["tracker", "unlock-user", "sam"])
    assert again.exit_code == 0 and "was not locked out" in again.output


def test_resetting_the_password_lifts_the_lock(shop):
    client = shop.test_client()
    with time_machine.travel(T0, tick=False):
        for _ in range(10):
            attempt(client, "sam", "wrong-pass")
        make_user(shop, "sam", "operator", password="a-brand-new-password")
        assert attempt(client, "sam", "a-brand-new-password").status_code == 302


def test_lockout_is_configurable(tmp_path):
    app = build_app(tmp_path, config={"security": {"lockout_after": 3, "lockout_minutes": 2}})
    make_user(app, "sam", "operator")
    client = app.test_client()
    with time_machine.travel(T0, tick=False) as clock:
        codes = [attempt(client, "sam", "wrong-pass").status_code for _ in range(3)]
        assert codes == [401, 401, 429] and "2 minutes" in body(attempt(client, "sam", PASSWORD))
        clock.shift(dt.timedelta(minutes=2))
        assert attempt(client, "sam", PASSWORD).status_code == 302
    with app.app_context():
        db.engine.dispose()


def test_an_inactive_user_is_refused_like_a_wrong_password(shop):
    with shop.app_context():
        db.session.scalar(select(User).where(User.username == "sam")).active = False
        db.session.commit()
    resp = attempt(shop.test_client(), "sam", PASSWORD)
    assert resp.status_code == 401 and NO_MATCH in body(resp)


# -- the rate limit per address -------------------------------------------------------------------

def test_login_posts_are_rate_limited_per_address(tmp_path):
    app = build_app(tmp_path, config={"security": {"login_rate": "5/minute"}}, RATELIMIT_ENABLED=True)
    limiter.reset()
    make_user(app, "sam", "operator")
    tablet = app.test_client()
    tablet.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    with time_machine.travel(T0, tick=False) as clock:
        token = csrf_from(body(tablet.get("/login")))
        codes = [tablet.post("/login", data={"username": f"guess{i}", "password": "x" * 8, "csrf_token": token}).status_code
                 for i in range(6)]
        assert codes == [401] * 5 + [429]
        resp = tablet.post("/login", data={"username": "sam", "password": PASSWORD, "csrf_token": token})
        assert resp.status_code == 429 and "Too many requests" in body(resp)
        assert tablet.get("/login").status_code == 200  # the form itself still opens
        other = app.test_client()
        other.environ_base["REMOTE_ADDR"] = "192.0.2.11"
        assert attempt(other, "sam", PASSWORD).status_code == 302  # another address is not held up
        clock.shift(dt.timedelta(minutes=1, seconds=1))
        resp = tablet.post("/login", data={"username": "sam", "password": PASSWORD, "csrf_token": token})
        assert resp.status_code == 302
    limiter.reset()
    with app.app_context():
        db.engine.dispose()


# -- stored passwords -----------------------------------------------------------------------------

def test_passwords_are_stored_with_scrypt(shop):
    with shop.app_context():
        stored = db.session.scalar(select(User.password_hash).where(User.username == "sam"))
    method, salt, digest = stored.split("$")
    assert method == "scrypt:32768:8:1"  # n=2**15, r=8, p=1: werkzeug's default, a modern memory-hard cost
    assert len(salt) >= 16 and len(digest) == 128 and PASSWORD not in stored


def test_an_old_pbkdf2_hash_still_verifies_and_is_upgraded_at_login(shop):
    from werkzeug.security import generate_password_hash

    with shop.app_context():
        user = db.session.scalar(select(User).where(User.username == "sam"))
        user.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:600000")
        db.session.commit()
    client = shop.test_client()
    assert attempt(client, "sam", "wrong-password").status_code == 401
    assert attempt(client, "sam", PASSWORD).status_code == 302
    with shop.app_context():
        assert db.session.scalar(select(User.password_hash).where(User.username == "sam")).startswith("scrypt:")


# -- API tokens -----------------------------------------------------------------------------------

def test_a_leaked_api_token_is_revoked_by_name(app):
    from tests.conftest import api_token

    token = api_token(app, "operator", name="zapier")
    keep = api_token(app, "operator", name="packing-station")
    client = app.test_client()
    assert client.get("/api/alerts", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    result = app.test_cli_runner().invoke(args=["tracker", "revoke-token", "zapier"])
    assert result.exit_code == 0 and "Revoked 1 API token named zapier" in result.output
    resp = client.get("/api/alerts", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and "revoked" in resp.get_json()["error"]
    assert client.get("/api/alerts", headers={"Authorization": f"Bearer {keep}"}).status_code == 200
    again = app.test_cli_runner().invoke(args=["tracker", "revoke-token", "zapier"])
    assert again.exit_code == 1 and "no live API token is named 'zapier'" in again.output
