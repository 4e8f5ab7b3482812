"""Security headers on every response, cookies (HttpOnly, SameSite, Secure over TLS) and the trusted-proxy
setting (X-Forwarded-* believed only from the configured number of proxies)."""
from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD, build_app, csrf_from, login, make_user
from tests.factories import make_order
from tests.security.conftest import fill, make_world
from tracker.extensions import db, limiter


def csp(resp) -> dict[str, list[str]]:
    header = resp.headers.get("Content-Security-Policy")
    assert header, f"{resp.request.path if hasattr(resp, 'request') else ''}: no Content-Security-Policy"
    out = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def assert_safe_headers(resp, where: str):
    policy = csp(resp)
    assert policy["default-src"] == ["'self'"], where
    # No inline script, no eval, no other host; the scan page may compile its WebAssembly barcode decoder
    # ('wasm-unsafe-eval' allows WebAssembly only, not JavaScript's eval), and no other page may.
    wasm = ["'wasm-unsafe-eval'"] if re.fullmatch(r"GET /scan/[\w-]+ -> 200", where) else []
    assert policy["script-src"] == ["'self'", *wasm], where
    assert "'unsafe-inline'" not in policy["style-src"] and "'unsafe-eval'" not in policy["style-src"], where
    assert policy["frame-ancestors"] == ["'none'"], where
    assert policy["object-src"] == ["'none'"], where
    assert policy["base-uri"] == ["'self'"], where
    assert policy["form-action"] == ["'self'"], where
    assert resp.headers["X-Content-Type-Options"] == "nosniff", where
    assert resp.headers["X-Frame-Options"] == "DENY", where
    assert resp.headers["Referrer-Policy"] in ("strict-origin-when-cross-origin", "no-referrer"), where
    for name in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
                 "Cross-Origin-Opener-Policy"):  # a header the view set is not added a second time
        assert len(resp.headers.getlist(name)) == 1, (where, name)


PROOF_FILES = {"public.proof_file", "orders.proof_file"}


def assert_proof_file_headers(resp, where: str):
    """A proof image is served under a policy stricter than a page's: nothing loads, nothing runs."""
    policy = csp(resp)
    assert policy["default-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], where
    assert "sandbox" in policy and "script-src" not in policy, where
    assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["X-Frame-Options"] == "DENY", where


def test_every_page_and_answer_carries_the_headers(sec_app):
    world = make_world(sec_app)
    anonymous = sec_app.test_client()
    manager = login(sec_app.test_client(), "manager")
    seen = 0
    for rule in sorted(sec_app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods:
            continue
        url = fill(rule, world)
        for client in (anonymous, manager):
            resp = client.get(url)
            resp.get_data()
            resp.close()
            where = f"GET {url} -> {resp.status_code}"
            if rule.endpoint in PROOF_FILES and resp.status_code == 200:
                assert_proof_file_headers(resp, where)
            else:
                assert_safe_headers(resp, where)
            seen += 1
    # Refusals and errors too: 404, 405, 400 (CSRF), 401 JSON, 413.
    for resp in (anonymous.get("/nowhere"), anonymous.put("/login"), anonymous.post("/login"),
                 anonymous.get("/api/alerts"), anonymous.post("/webhooks/easypost", data=b"x" * (2 * 1024 * 1024))):
        assert_safe_headers(resp, f"{resp.status_code}")
    assert seen >= 60


def test_public_page_sends_no_referrer_and_allows_only_its_nonce_style(tmp_path):
    app = build_app(tmp_path, config={"shop": {"name": "Ink Co", "brand_color": "#0055aa",
                                               "logo_url": "https://cdn.inkco.example/logo.png"}})
    with app.app_context():
        token = make_order().public_token
    client = app.test_client()
    nonces = set()
    for _ in range(2):
        resp = client.get(f"/t/{token}")
        assert resp.status_code == 200
        assert resp.headers["Referrer-Policy"] == "no-referrer"  # the token never leaves in a Referer
        policy = csp(resp)
        nonce = re.search(r'<style nonce="([^"]+)">', resp.get_data(as_text=True)).group(1)
        assert policy["style-src"] == ["'self'", f"'nonce-{nonce}'"]
        assert policy["img-src"] == ["'self'", "data:", "https://cdn.inkco.example"]  # the shop's logo
        nonces.add(nonce)
    assert len(nonces) == 2 and all(len(n) >= 20 for n in nonces)  # a new one per response
    staff = client.get("/login")
    assert csp(staff)["style-src"] == ["'self'"]  # no nonce where no inline style is used


def test_hsts_only_over_https(sec_app):
    client = sec_app.test_client()
    assert "Strict-Transport-Security" not in client.get("/login").headers
    assert client.get("/login", base_url="https://shop.example").headers["Strict-Transport-Security"].startswith("max-age=")


# -- cookies --------------------------------------------------------------------------------------

def _login(client, base_url="http://localhost", headers=None, remember=True):
    make_user(client.application, "sam", "operator")
    page = client.get("/login", base_url=base_url, headers=headers or {})
    data = {"username": "sam", "password": PASSWORD, "csrf_token": csrf_from(page.get_data(as_text=True))}
    if remember:
        data["remember"] = "y"
    # Over HTTPS, Flask-WTF also wants a same-site Referer (browsers send it: the policy is
    # strict-origin-when-cross-origin).
    host = (headers or {}).get("X-Forwarded-Host") or base_url.split("://")[1]
    scheme = "https" if (base_url.startswith("https") or (headers or {}).get("X-Forwarded-Proto") == "https") else "http"
    referer = {"Referer": f"{scheme}://{host}/login"}
    resp = client.post("/login", data=data, base_url=base_url, headers={**(headers or {}), **referer})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return {c.split("=", 1)[0]: c for c in resp.headers.getlist("Set-Cookie")}


def _attrs(cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}


def test_cookies_over_plain_http_are_httponly_and_lax_but_not_secure(sec_app):
    cookies = _login(sec_app.test_client())
    assert {"session", "remember_token"} <= set(cookies)
    for name in ("session", "remember_token"):
        attrs = _attrs(cookies[name])
        assert "httponly" in attrs and "secure" not in attrs, cookies[name]  # a LAN tablet over http still logs in
        assert re.search(r"SameSite=Lax", cookies[name]), cookies[name]


def test_cookies_over_https_are_secure(sec_app):
    cookies = _login(sec_app.test_client(), base_url="https://shop.example")
    for name in ("session", "remember_token"):
        attrs = _attrs(cookies[name])
        assert {"httponly", "secure"} <= attrs and "SameSite=Lax" in cookies[name], cookies[name]


def test_forwarded_proto_is_ignored_unless_the_proxy_is_trusted(tmp_path):
    """Without [security] trusted_proxies, anyone can send X-Forwarded-Proto: it changes nothing."""
    app = build_app(tmp_path)
    cookies = _login(app.test_client(), headers={"X-Forwarded-Proto": "https"})
    assert "secure" not in _attrs(cookies["session"])
    assert "Strict-Transport-Security" not in app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"}).headers


def test_behind_a_trusted_proxy_tls_is_seen_and_cookies_are_secure(tmp_path):
    app = build_app(tmp_path, config={"security": {"trusted_proxies": 1}})
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "track.inkco.example", "X-Forwarded-For": "203.0.113.7"}
    # The login passes the HTTPS Referer check with https://track.inkco.example/login as Referer: the app
    # sees the forwarded host and scheme, not the proxy's plain-http connection to localhost.
    cookies = _login(app.test_client(), headers=proxy)
    for name in ("session", "remember_token"):
        assert {"httponly", "secure"} <= _attrs(cookies[name]), cookies[name]
    resp = app.test_client().get("/login", headers=proxy)
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


def test_a_form_over_https_from_another_site_is_refused(sec_app):
    """Flask-WTF's strict Referer check over TLS: a post whose Referer is another site fails CSRF."""
    make_user(sec_app, "sam", "operator")
    client = sec_app.test_client()
    page = client.get("/login", base_url="https://shop.example")
    data = {"username": "sam", "password": PASSWORD, "csrf_token": csrf_from(page.get_data(as_text=True))}
    resp = client.post("/login", data=data, base_url="https://shop.example", headers={"Referer": "https://evil.example/"})
    assert resp.status_code == 400 and "CSRF check failed" in resp.get_data(as_text=True)


def test_secure_cookies_can_be_forced(tmp_path):
    app = build_app(tmp_path, config={"security": {"secure_cookies": True}})
    cookies = _login(app.test_client())
    assert "secure" in _attrs(cookies["session"])


def test_rate_limits_count_the_forwarded_client_only_behind_a_trusted_proxy(tmp_path):
    """Behind the proxy every request comes from the proxy's address: the limit must count the client
    from X-Forwarded-For, and without a trusted proxy a forged header must not buy a fresh budget."""
    trusted = build_app(tmp_path / "a", config={"security": {"trusted_proxies": 1, "public_rate": "3/minute"}},
                        RATELIMIT_ENABLED=True)
    limiter.reset()
    client = trusted.test_client()
    url = "/t/" + "Q" * 32
    assert [client.get(url, headers={"X-Forwarded-For": "198.51.100.1"}).status_code for _ in range(4)] == [404] * 3 + [429]
    assert client.get(url, headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 404  # another customer

    untrusted = build_app(tmp_path / "b", config={"security": {"public_rate": "3/minute"}}, RATELIMIT_ENABLED=True)
    limiter.reset()
    client = untrusted.test_client()
    codes = [client.get(url, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(4)]
    assert codes == [404] * 3 + [429]
    limiter.reset()
    for app in (trusted, untrusted):
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("bad", [{"trusted_proxies": -1}, {"trusted_proxies": "yes"}, {"secure_cookies": "sometimes"},
                                 {"login_rate": "lots"}, {"webhook_rate": "10"}, {"lockout_after": 0},
                                 {"colour": "red"}])
def test_bad_security_settings_stop_start_up_with_the_key(tmp_path, bad):
    from tracker.settings import ConfigError

    with pytest.raises(ConfigError, match=r"config: security\.(" + "|".join(bad) + ")"):
        build_app(tmp_path, config={"security": bad})


def test_a_new_secret_key_ends_sessions_and_a_fallback_keeps_them(sec_app):
    """The session's signing serializer is built once per set of keys (security.CookieSessions): a changed key
    (or fallbacks) is seen by the next request."""
    client = login(sec_app.test_client(), "manager")
    assert client.get("/").status_code == 200
    old_key = sec_app.secret_key
    sec_app.secret_key = "another-key-" + "x" * 40
    assert client.get("/").status_code == 302  # signed with the old key: signed out
    sec_app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    assert client.get("/").status_code == 200  # the old key accepted as a fallback
