"""No secret in the logs: every log record at DEBUG, including werkzeug's request lines from a real
`flask run`-style server, while someone logs in (also with a wrong password), uses an API token (also a
revoked one), a carrier sends signed webhooks and a customer opens the tracking page and its JSON."""
from __future__ import annotations

import hashlib
import hmac
import http.cookiejar
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, api_token, build_app, closing, csrf_from, make_user
from tests.factories import make_order

FIXTURE = Path(__file__).resolve().parent.parent / "integrations" / "fixtures" / "easypost_tracker_updated.json"
WEBHOOK_SECRET = "whsec-7Hq2-do-not-log-me"
API_KEY = "ep-live-key-do-not-log"
PROVIDERS = {"easypost": {"api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET, "base_url": "http://127.0.0.1:9"}}


@pytest.fixture
def logged_app(tmp_path):
    app = build_app(tmp_path, config={"providers": PROVIDERS}, WEBHOOK_PROCESSING="inline")
    yield from closing(app)


class DevServer:
    """werkzeug's development server (what `flask run` uses), which logs a line per request with its URL."""

    def __init__(self, app):
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=5)


def _open(opener, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_no_password_token_secret_or_header_reaches_a_log(logged_app, caplog):
    caplog.set_level(logging.DEBUG)  # everything, from every logger
    make_user(logged_app, "sam", "manager")
    token = api_token(logged_app, "operator")
    with logged_app.app_context():
        order = make_order()
        code, public = order.code, order.public_token
    secrets = {"password": PASSWORD, "wrong password": "Wr0ng-but-secret-pass", "API token": token,
               "API token body": token.removeprefix("itk_"), "webhook secret": WEBHOOK_SECRET,
               "provider API key": API_KEY, "public token": public}

    with DevServer(logged_app) as server:
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        # Logging in: a wrong password first, then the right one (the form posts both in the body).
        for password, expected in (("Wr0ng-but-secret-pass", 401), (PASSWORD, 200)):
            status, page = _open(browser, server.url + "/login")
            form = urllib.parse.urlencode({"username": "sam", "password": password,
                                           "csrf_token": csrf_from(page)}).encode()
            assert _open(browser, server.url + "/login", form)[0] == expected
        assert _open(browser, f"{server.url}/orders/{code}")[0] == 200  # the page shows the public link
        # The API with the token, and with a revoked-looking one.
        plain = urllib.request.build_opener()
        assert _open(plain, f"{server.url}/api/orders/{code}", headers={"Authorization": f"Bearer {token}"})[0] == 200
        assert _open(plain, f"{server.url}/api/orders/{code}", headers={"Authorization": f"Bearer {token}x"})[0] == 401
        # Signed webhooks: one good, one with a bad signature.
        body = FIXTURE.read_bytes()
        sig = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        for signature, expected in ((sig, 202), ("0" * 64, 401)):
            headers = {"X-Hmac-Signature": f"hmac-sha256-hex={signature}", "Content-Type": "application/json"}
            assert _open(plain, server.url + "/webhooks/easypost", body, headers)[0] == expected
        # The customer's tracking page and its JSON, by token in the URL.
        assert _open(plain, f"{server.url}/t/{public}")[0] == 200
        assert _open(plain, f"{server.url}/t/{public}.json")[0] == 200
        assert _open(plain, f"{server.url}/t/{public}?utm=mail")[0] == 200

    records = caplog.records
    lines = []
    for record in records:
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            lines.append(record.stack_info)
    text = "\n".join(lines)
    assert any(r.name == "werkzeug" and "/t/" in r.getMessage() for r in records), "no request lines captured"
    assert any(r.name == "werkzeug" and "/login" in r.getMessage() for r in records)
    for what, value in secrets.items():
        assert value not in text, f"the {what} appears in the log"
    assert "Authorization" not in text and "Bearer" not in text
    # The request lines keep what helps: method, path shape and status.
    assert any('"GET /t/[token] HTTP/1.1" 200' in r.getMessage() for r in records)
    assert any('"GET /t/[token].json HTTP/1.1" 200' in r.getMessage() for r in records)


def test_the_mask_covers_the_shapes_secrets_come_in():
    from tracker.security import redact

    cases = {
        '"GET /t/q0sWk3Yh2bB1u8e0l4Zr9xVn-_T5c7Ad HTTP/1.1" 200': '"GET /t/[token] HTTP/1.1" 200',
        "GET /t/q0sWk3Yh2bB1u8e0l4Zr9xVn-_T5c7Ad.json": "GET /t/[token].json",
        "token itk_AbC-123_xyz refused": "token itk_[token] refused",
        "Authorization: Bearer abc.def": "Authorization: Bearer [hidden]",
        "{'Authorization': 'Basic c2FtOnB3'}": "{'Authorization': 'Basic [hidden]'}",
        "password=hunter2&user=sam": "password=[hidden]&user=sam",
        '{"webhook_secret": "s3cr3t"}': '{"webhook_secret": "[hidden]"}',
    }
    for raw, masked in cases.items():
        out = redact(raw)
        assert "hunter2" not in out and "s3cr3t" not in out and "c2FtOnB3" not in out and "abc.def" not in out, out
        assert out == masked or masked in out, (raw, out)
