"""What every response carries for safety, and what the app trusts about the connection.

- Headers on every response: a Content-Security-Policy that allows scripts and styles only from the
  app's own files (no inline script, no eval; an inline <style> only with this request's nonce), no
  framing, no MIME sniffing, a referrer policy.
- Behind a reverse proxy ([security] trusted_proxies = N), werkzeug's ProxyFix reads the client address,
  scheme and host from N proxies' X-Forwarded-* headers, so rate limits count real clients and
  request.is_secure is true behind TLS. With 0 (the default) those headers are ignored: anyone could send them.
- Cookies (session, remember-me) are HttpOnly and SameSite=Lax always, and Secure whenever the request
  came over HTTPS ([security] secure_cookies = "auto"), or always (true).
- Logs never carry a tracking-link token, an API token or an Authorization header: a filter masks them
  in the web servers' and the app's log records.
"""
from __future__ import annotations

import logging
import math
import re
import secrets
import threading
import time
from functools import lru_cache
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from limits import RateLimitItem, parse
from werkzeug.middleware.proxy_fix import ProxyFix

from .settings import Security, current_settings

# The public page may show the shop's logo from its own web site; everything else is served by us.
CSP = ("default-src 'self'; script-src {script}; style-src {style}; img-src {img}; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=15552000"  # 180 days; only sent over HTTPS
# The web server's own wall (app.py gives it to waitress): a bigger body is refused with 413 before it is
# buffered. Inside it, Flask allows 1 MB (MAX_CONTENT_LENGTH), a CSV import 5 MB and a bit.
SERVER_BODY_LIMIT = 8 * 1024 * 1024
# Views that raise request.max_content_length themselves, for a bigger upload (a CSV file of 5 MB, a proof
# of [proofs] max_upload_mb).
OWN_BODY_LIMITS = {"imports.upload", "orders.post_proof", "api.post_proof"}


def security_settings() -> Security:
    """The running app's [security] settings."""
    return current_settings().security


class AddressWindows:
    """A fixed-window counter per client address, as Flask-Limiter keeps for the login and the public page,
    for the webhooks' hot path: Flask-Limiter's checks and headers cost 0.15 ms of a 0.6 ms webhook answer
    (measured), this a few microseconds. Per process, like Flask-Limiter's memory storage."""

    def __init__(self):
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, address: str, limit: RateLimitItem) -> int | None:
        """Counts one request; None when it is within the limit, else the seconds until the next window."""
        now, length = time.time(), limit.get_expiry()
        start = now // length * length
        with self._lock:
            began, count = self._windows.get(address, (start, 0))
            if began != start:
                began, count = start, 0
            if count >= limit.amount:
                return max(1, math.ceil(began + length - now))
            if len(self._windows) > 10_000:  # addresses of past windows are forgotten
                self._windows = {a: w for a, w in self._windows.items() if w[0] == start}
            self._windows[address] = (began, count + 1)
        return None


@lru_cache(maxsize=16)
def _parsed(rate: str) -> RateLimitItem:
    return parse(rate)


def webhook_retry_after(address: str | None = None) -> int | None:
    """[security] webhook_rate for a sending address (this request's by default): None to go on, or
    Retry-After seconds."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return None
    windows = current_app.extensions.setdefault("inktrail_webhook_windows", AddressWindows())
    return windows.hit(address if address is not None else request.remote_addr or "",
                       _parsed(security_settings().webhook_rate))


def csp_nonce() -> str:
    """This response's nonce for an inline <style> (templates: <style nonce="{{ csp_nonce() }}">)."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def content_security_policy(*, nonce: str | None = None, image_origins: tuple[str, ...] = (),
                            wasm: bool = False) -> str:
    """`wasm`: the page may compile WebAssembly (the scan page's barcode decoder); still no eval."""
    if nonce is None:  # every JSON answer (a scan, a webhook): built once
        return _policy_without_nonce(image_origins, wasm)
    return _policy(nonce, image_origins, wasm)


@lru_cache(maxsize=16)
def _policy_without_nonce(image_origins: tuple[str, ...], wasm: bool) -> str:
    return _policy(None, image_origins, wasm)


def _policy(nonce: str | None, image_origins: tuple[str, ...], wasm: bool) -> str:
    style = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    img = " ".join(("'self'", "data:", *image_origins))
    script = "'self' 'wasm-unsafe-eval'" if wasm else "'self'"
    return CSP.format(script=script, style=style, img=img)


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


# -- masking secrets in log records ---------------------------------------------------------------

_MASKS = (
    (re.compile(r"(/t/)[A-Za-z0-9_-]{8,}"), r"\1[token]"),  # tracking links: /t/<token>, /t/<token>.json
    (re.compile(r"itk_[A-Za-z0-9_-]+"), "itk_[token]"),  # API tokens
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer\s+|basic\s+)?[^\s,;\"'}]+"), r"\1\2[hidden]"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [hidden]"),
    (re.compile(r"(?i)((?:password|passwd|secret|api_key|apikey|access_token|csrf_token)[\"']?\s*[:=]\s*[\"']?)"
                r"[^\s&,;\"'}]+"), r"\1[hidden]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record's message with tokens and secrets masked (werkzeug's request lines carry the
    URL, so /t/<token> would otherwise be in the log of `flask run`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the logging module's own error report
            return True
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


LOGGERS = ("werkzeug", "waitress", "tracker", "flask_limiter", "apscheduler", "sqlalchemy")
_FILTER = RedactSecrets()


def install_log_filter() -> None:
    """On the loggers whose records can carry a URL or a header, and on every handler of the root logger
    (records of child loggers, such as tracker.integrations.http, pass through those)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


# -- cookies over TLS -------------------------------------------------------------------------------

_SECURE_ATTR = re.compile(r";\s*secure\s*(;|$)", re.IGNORECASE)


class SecureCookiesOverTLS:
    """WSGI middleware: on a request that came over HTTPS (after ProxyFix, when trusted), every cookie the
    app sets is marked Secure, so a browser never sends it back over plain HTTP. Over plain HTTP (a tablet
    on the shop's LAN) cookies stay as they are, or nobody could log in there."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if environ.get("wsgi.url_scheme") != "https":
            return self.wsgi_app(environ, start_response)

        def secure_start_response(status, headers, exc_info=None):
            headers = [(k, f"{v}; Secure") if k.lower() == "set-cookie" and not _SECURE_ATTR.search(v) else (k, v)
                       for k, v in headers]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, secure_start_response)


_FIXED_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                  ("Referrer-Policy", "strict-origin-when-cross-origin"), ("Cross-Origin-Opener-Policy", "same-origin"))


_SCALARS = (str, int, float, bool, type(None))


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per set of keys: Flask builds it
    anew on every request, cookie or not (about 3% of a webhook's answer). A changed secret key (or
    fallbacks) builds a new one.

    A cookie already verified is not verified again: its contents are kept (per process, for the most
    recent cookies) until the moment it expires, and each request gets its own copy. Only sessions of plain
    values are kept (a signed-in person's: their id, the CSRF token), so no request can change another's;
    verifying and decoding the cookie was 4% of a scan's time."""

    _cached: tuple = (None, None)
    _opened: dict = {}  # cookie -> (serializer, expires at (time.time()), contents)
    KEEP = 2000

    def open_session(self, app, request):
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        kept = self._opened.get(cookie)
        if kept is not None and kept[0] is serializer and time.time() < kept[1]:
            return self.session_class(kept[2])
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:  # expired ones too
            return self.session_class()
        if isinstance(data, dict) and all(isinstance(v, _SCALARS) for v in data.values()):
            if len(self._opened) >= self.KEEP:
                type(self)._opened = {}
            self._opened[cookie] = (serializer, signed_at.timestamp() + max_age, dict(data))
        return self.session_class(data)

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached_keys, serializer = self._cached
        if cached_keys != keys:
            serializer = super().get_signing_serializer(app)
            self._cached = (keys, serializer)
        return serializer


# -- wiring -------------------------------------------------------------------------------------------

def init_app(app: Flask) -> None:
    sec = app.extensions["tracker_settings"].security
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax")
    if sec.secure_cookies is True:
        app.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    elif sec.secure_cookies == "auto":
        app.wsgi_app = SecureCookiesOverTLS(app.wsgi_app)
    proxies = sec.trusted_proxies
    if proxies:
        # Outermost, so the cookie middleware and the app both see the client's scheme and address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)

    logo = _origin(app.extensions["tracker_settings"].shop.logo_url)
    image_origins = (logo,) if logo else ()
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.before_request
    def refuse_large_bodies():
        # Also for a view that never reads its body (werkzeug only checks the limit on reading).
        limit = request.max_content_length
        if limit and (request.content_length or 0) > limit and request.endpoint not in OWN_BODY_LIMITS:
            abort(413)

    app.session_interface = CookieSessions()

    # What every nonce-less answer carries, for an answer made outside Flask (views/webhooks.FastWebhooks).
    app.extensions["inktrail_json_headers"] = (
        ("Content-Security-Policy", content_security_policy(image_origins=image_origins)), *_FIXED_HEADERS)

    @app.after_request
    def security_headers(resp):
        # One pass over the answer's headers (six setdefault calls walked them six times): only those the
        # view did not set are added.
        h = resp.headers
        present = {key.lower() for key in h.keys()}
        if "content-security-policy" not in present:
            h.add("Content-Security-Policy", content_security_policy(
                nonce=g.get("csp_nonce"), image_origins=image_origins, wasm=g.get("csp_wasm", False)))
        h.extend([(key, value) for key, value in _FIXED_HEADERS if key.lower() not in present])
        if request.is_secure and "strict-transport-security" not in present:
            h.add("Strict-Transport-Security", HSTS)
        return resp

    install_log_filter()
