"""The HTTP client: bodies, errors and what counts as worth retrying, against a real loopback server."""
from __future__ import annotations

import logging
import socket
import threading

import pytest

from tracker.integrations.http import ProviderError, basic_auth, parse_retry_after, request

from .fakes import Reply


def test_json_body_params_and_headers(server):
    @server.route("POST", "/echo")
    def echo(req, match):
        return Reply(201, {"got": req.json(), "query": req.query, "type": req.headers["content-type"]},
                     {"X-Request-Id": "r-1"})

    resp = request("POST", f"{server.url}/echo", json={"a": [1, 2]}, params={"q": "x y", "skip": None},
                   headers={"X-Custom": "1"})
    assert resp.status == 201
    assert resp.json() == {"got": {"a": [1, 2]}, "query": {"q": "x y"}, "type": "application/json"}
    assert resp.headers["x-request-id"] == "r-1" and resp.header("X-Request-ID") == "r-1"
    sent = server.calls("POST")[0]
    assert sent.headers["x-custom"] == "1" and sent.headers["accept"] == "application/json"
    assert "inktrail" in sent.headers["user-agent"].lower()


def test_form_body_and_basic_auth(server):
    @server.route("POST", "/token")
    def token(req, match):
        return Reply(200, {"form": req.form(), "auth": req.headers.get("authorization")})

    resp = request("POST", f"{server.url}/token", form={"grant_type": "client_credentials", "scope": "a b"},
                   headers={"Authorization": basic_auth("id", "s3cr:et")})
    assert resp.json()["form"] == {"grant_type": "client_credentials", "scope": "a b"}
    assert resp.json()["auth"] == "Basic aWQ6czNjcjpldA=="
    assert server.calls()[0].headers["content-type"] == "application/x-www-form-urlencoded"


def test_json_and_form_together_is_a_mistake(server):
    with pytest.raises(TypeError):
        request("POST", server.url, json={}, form={})


def test_non_json_answer(server):
    @server.route("GET", "/html")
    def html(req, match):
        return Reply(200, b"<html>maintenance</html>", {"Content-Type": "text/html"})

    resp = request("GET", f"{server.url}/html")
    with pytest.raises(ValueError, match="not JSON"):
        resp.json()
    assert resp.body == b"<html>maintenance</html>" and resp.header("content-type") == "text/html"


@pytest.mark.parametrize("retry_after", ["7", "0"])
def test_429_is_retryable_with_retry_after(server, retry_after):
    server.fail_next(429, retry_after=retry_after, body={"error": {"message": "Slow down"}})
    with pytest.raises(ProviderError) as caught:
        request("GET", f"{server.url}/anything")
    err = caught.value
    assert (err.status, err.retryable, err.retry_after) == (429, True, float(retry_after))
    assert "Slow down" in str(err) and "429" in str(err)


def test_429_without_retry_after(server):
    server.fail_next(429)
    with pytest.raises(ProviderError) as caught:
        request("GET", f"{server.url}/x")
    assert caught.value.retryable and caught.value.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retryable(server, status):
    server.fail_next(status, retry_after="30" if status == 503 else None)
    with pytest.raises(ProviderError) as caught:
        request("GET", f"{server.url}/x")
    assert caught.value.status == status and caught.value.retryable
    assert caught.value.retry_after == (30.0 if status == 503 else None)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_other_4xx_is_not_retryable(server, status):
    server.fail_next(status, body={"message": "nope"})
    with pytest.raises(ProviderError) as caught:
        request("GET", f"{server.url}/x")
    assert caught.value.status == status and not caught.value.retryable and caught.value.retry_after is None
    assert caught.value.response.json() == {"message": "nope"}


def test_redirects_are_not_followed(server):
    @server.route("GET", "/old")
    def old(req, match):
        return Reply(302, {}, {"Location": f"{server.url}/new"})

    @server.route("GET", "/new")
    def new(req, match):
        return Reply(200, {"ok": True})

    with pytest.raises(ProviderError, match="redirect") as caught:
        request("GET", f"{server.url}/old", headers={"Authorization": "Bearer secret-token"})
    assert caught.value.status == 302 and not caught.value.retryable
    assert server.calls(path="/new") == []  # the token never went anywhere else


def test_connection_refused_is_retryable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProviderError) as caught:
        request("GET", f"http://127.0.0.1:{port}/x")
    assert caught.value.retryable and caught.value.status is None and not caught.value.timed_out


def test_timeout_is_retryable(server):
    release = threading.Event()

    @server.route("GET", "/slow")
    def slow(req, match):
        release.wait(5)
        return Reply(200, {})

    try:
        with pytest.raises(ProviderError, match="failed") as caught:
            request("GET", f"{server.url}/slow", timeout=0.1)
        assert caught.value.retryable and caught.value.status is None and caught.value.timed_out
    finally:
        release.set()


def test_errors_and_logs_carry_no_secrets(server, caplog):
    server.fail_next(401, body={"error": "invalid_client"})
    caplog.set_level(logging.DEBUG, logger="tracker.integrations")
    with pytest.raises(ProviderError) as caught:
        request("GET", f"{server.url}/hook?token=query-secret", headers={"Authorization": "Bearer header-secret"})
    text = str(caught.value) + repr(caught.value) + caplog.text
    assert "query-secret" not in text and "header-secret" not in text
    assert f"{server.url}/hook" in str(caught.value)


def test_debug_log_line(server, caplog):
    @server.route("GET", "/ok")
    def ok(req, match):
        return Reply(200, {})

    caplog.set_level(logging.DEBUG, logger="tracker.integrations")
    request("GET", f"{server.url}/ok?api_key=k-123", headers={"Authorization": "Basic abc"})
    assert f"GET {server.url}/ok -> 200" in caplog.text
    assert "k-123" not in caplog.text and "Basic abc" not in caplog.text


def test_retry_after_as_http_date():
    now = 1_772_640_000.0  # 2026-03-04T16:00:00Z
    assert parse_retry_after("Wed, 04 Mar 2026 16:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 04 Mar 2026 15:59:00 GMT", now=now) == 0.0  # in the past: now
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("", now=now) is None and parse_retry_after(None) is None


def test_calls_to_one_provider_reuse_the_connection(server):
    """One pooled client per process: ten calls, one TCP connection (each call used to open its own)."""
    @server.route("GET", "/ping")
    def ping(req, match):
        return Reply(200, {"ok": True})

    for _ in range(10):
        assert request("GET", f"{server.url}/ping").json() == {"ok": True}
    assert len({call.client for call in server.calls("GET", "/ping")}) == 1
