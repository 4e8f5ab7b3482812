"""The HTTP client for provider APIs, on httpx (one pooled client per process: connections to a provider
are kept open and reused between calls).

    resp = request("GET", url, headers={...}, params={...}, timeout=10)
    resp.status, resp.headers["content-type"], resp.body, resp.json()

Any answer outside 2xx, and any network failure, raises `ProviderError`, which tells the caller whether
trying again later can help (`retryable`) and, for 429, how long the provider asked us to wait
(`retry_after`, seconds). Callers never see httpx's exceptions.

What this client deliberately does not do:
- follow redirects: the Authorization header would go to wherever a 3xx points; an API that redirects
  means base_url is wrong, which is better said than silently followed;
- retry: the poller owns retries and backoff (domain/polling.py), so one call is one request;
- log headers, bodies or query strings: they carry API keys, tokens and customer data. At DEBUG level it
  logs the method, scheme://host/path, the status and the time taken, nothing else.
"""
from __future__ import annotations

import base64
import datetime as dt
import email.utils
import ipaddress
import json as jsonlib
import logging
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Mapping

import httpx

log = logging.getLogger(__name__)

USER_AGENT = "Inktrail (order tracker for print shops)"
DETAIL_MAX = 200  # characters of a provider's error message kept in ProviderError


class ProviderError(Exception):
    """A provider call that did not work.

    status: the HTTP status when the provider answered (None for network errors).
    retry_after: seconds the provider asked us to wait (429, sometimes 503), else None.
    retryable: True when the same call may work later (network errors, 429, 5xx); False when it will
        not until someone changes something (bad credentials, unknown tracking number, bad request).
    response: the provider's answer when there was one (for provider-specific error codes).
    timed_out: True when the provider did not answer in time (the call may still have been done).
    """

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None,
                 retryable: bool = False, response: "Response | None" = None, timed_out: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.retryable = retryable
        self.response = response
        self.timed_out = timed_out

    def __repr__(self) -> str:
        return (f"ProviderError({self.message!r}, status={self.status!r}, retry_after={self.retry_after!r}, "
                f"retryable={self.retryable!r})")


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str] = field(repr=False)  # names in lower case
    body: bytes = field(repr=False)

    def json(self) -> Any:
        """The body as JSON (None for an empty body); ValueError when it is not JSON."""
        if not self.body.strip():
            return None
        try:
            return jsonlib.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"the answer is not JSON ({exc.__class__.__name__})") from None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30)
_CLIENT = httpx.Client(follow_redirects=False, limits=_LIMITS)  # HTTPS_PROXY and the like are honoured
# Loopback never goes through an HTTP proxy from the environment (tests, local fakes, sidecars).
_DIRECT_CLIENT = httpx.Client(follow_redirects=False, limits=_LIMITS, trust_env=False)


def basic_auth(user: str, password: str = "") -> str:
    """The value of an `Authorization: Basic ...` header."""
    raw = f"{user}:{password}".encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def request(method: str, url: str, *, headers: Mapping[str, str] | None = None, json: Any = None,
            form: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None,
            timeout: float = 10) -> Response:
    """One HTTP request. `json` or `form` (not both) becomes the body; `params` is added to the query
    string. Returns the Response for 2xx; raises ProviderError for anything else."""
    if json is not None and form is not None:
        raise TypeError("request(): pass json or form, not both")
    method = method.upper()
    if params:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        url = f"{url}{'&' if '?' in url else '?'}{query}"
    sent_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    data = None
    if json is not None:
        data = jsonlib.dumps(json, separators=(",", ":")).encode("utf-8")
        sent_headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode("ascii")
        sent_headers["Content-Type"] = "application/x-www-form-urlencoded"
    sent_headers.update(headers or {})

    where = _where(url)
    client = _DIRECT_CLIENT if _is_loopback(url) else _CLIENT
    started = time.monotonic()
    try:
        raw = client.request(method, url, content=data, headers=sent_headers, timeout=timeout)
        resp = Response(raw.status_code, _lower(raw.headers), raw.content)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:  # a malformed URL: no use retrying
        raise ProviderError(f"{method} {where} failed: {_reason(exc)}", retryable=False) from None
    except (httpx.HTTPError, OSError) as exc:  # timeouts, refused and reset connections, a lost answer
        raise ProviderError(f"{method} {where} failed: {_reason(exc)}", retryable=True,
                            timed_out=isinstance(exc, (httpx.TimeoutException, TimeoutError))) from None
    log.debug("%s %s -> %s in %.0f ms", method, where, resp.status, (time.monotonic() - started) * 1000)
    if 200 <= resp.status < 300:
        return resp
    raise error_for(method, where, resp)


def error_for(method: str, where: str, resp: Response) -> ProviderError:
    status = resp.status
    detail = error_detail(resp)
    text = f"{method} {where} answered {status}" + (f": {detail}" if detail else "")
    retry_after = parse_retry_after(resp.header("retry-after"))
    if status == 429:
        return ProviderError(text, status=status, retry_after=retry_after, retryable=True, response=resp)
    if status >= 500:
        return ProviderError(text, status=status, retry_after=retry_after, retryable=True, response=resp)
    if 300 <= status < 400:
        text += " (a redirect: check base_url)"
    return ProviderError(text, status=status, retryable=False, response=resp)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def error_detail(resp: Response) -> str:
    """The provider's own words about an error, short. Known shapes first, then the start of the body."""
    try:
        doc = resp.json()
    except ValueError:
        doc = None
    found = _message_in(doc) if doc is not None else None
    if found is None:
        found = resp.body[:DETAIL_MAX * 2].decode("utf-8", "replace")
    found = " ".join(str(found).split())
    return found[:DETAIL_MAX]


def _message_in(doc: Any) -> str | None:
    if isinstance(doc, str):
        return doc
    if isinstance(doc, list):
        for item in doc:
            found = _message_in(item)
            if found:
                return found
        return None
    if not isinstance(doc, dict):
        return None
    for key in ("error_description", "message", "detail"):
        if isinstance(doc.get(key), str) and doc[key]:
            return doc[key]
    for key in ("error", "errors", "meta", "response"):  # EasyPost, FedEx/UPS, AfterShip, UPS
        if key in doc:
            found = _message_in(doc[key])
            if found:
                return found
    return None


def _lower(headers) -> dict[str, str]:
    if headers is None:
        return {}
    return {k.lower(): v for k, v in headers.items()}


def _where(url: str) -> str:
    """scheme://host/path: never the query string, which may carry tokens."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason) or reason.__class__.__name__
    return " ".join(text.split())[:DETAIL_MAX]
