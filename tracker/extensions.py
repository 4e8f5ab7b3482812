"""Extensions, created unbound; create_app() binds them."""
from __future__ import annotations

import hmac

from flask import current_app, g, request, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
class CSRF(CSRFProtect):
    """Flask-WTF's CSRF check, without checking again the signature of a token it checked before: a token
    once found to carry this session's secret (for this secret key) is compared with the session's, and
    anything else (a new token, another session's, a changed key, an HTTPS request with its referrer check,
    tokens that expire) gets Flask-WTF's full check. The signature was 4% of a scan's time."""

    _checked: dict = {}  # (secret key, the token as sent) -> the session's secret it carries
    KEEP = 2000

    def protect(self, apply_exemptions=False):
        app = current_app
        if (request.method not in app.config["WTF_CSRF_METHODS"] or app.config["WTF_CSRF_TIME_LIMIT"] is not None
                or request.is_secure or (apply_exemptions and (not request.endpoint or self._is_exempt()))):
            return super().protect(apply_exemptions)
        token = self._get_csrf_token()
        expected = session.get(app.config["WTF_CSRF_FIELD_NAME"])
        key = (app.secret_key, token)
        if token and expected and isinstance(expected, str) and hmac.compare_digest(self._checked.get(key, ""), expected):
            g.csrf_valid = True
            return None
        super().protect(apply_exemptions)  # refuses (400) unless the token is good
        if token and isinstance(expected, str):
            if len(self._checked) >= self.KEEP:
                type(self)._checked = {}
            self._checked[key] = expected
        return None

    _FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

    def _get_csrf_token(self):
        """Flask-WTF's lookup (the form's field, then the headers), without loading the form of a request
        that has none: a JSON body (the scan page's) has no form fields, and werkzeug's form loading was
        half of the CSRF check's time on a scan."""
        if request.mimetype in self._FORMS:
            return super()._get_csrf_token()
        request.stream  # noqa: B018: as the form's loading did, a body over the limit is a 413 here
        for header_name in current_app.config["WTF_CSRF_HEADERS"]:
            token = request.headers.get(header_name)
            if token:
                return token
        return None


csrf = CSRF()
htmx = Htmx()  # request.htmx: is this an HTMX request, and aimed at what (tracker/htmx.py)
login_manager = LoginManager()
NO_RATE_LIMIT = "inktrail_no_rate_limit"  # a view's attribute: no rate limit applies to it


def no_rate_limit(view):
    """Marks a view that no rate limit applies to (a hot path: the scan page's and the API's scans), so the
    limiter's check before each request is not run for it (Flask-Limiter works out that there is no limit
    anew on every request: 4% of a scan's time). Put it under the route decorator; the view must not be in
    a blueprint with a shared limit (tests/security/test_rate_limits.py checks)."""
    setattr(view, NO_RATE_LIMIT, True)
    return view


class RouteLimiter(Limiter):
    """Flask-Limiter, whose check before each request is skipped for the views marked no_rate_limit."""

    def _check_request_limit(self, callable_name=None, in_middleware=True):
        if in_middleware and getattr(current_app.view_functions.get(request.endpoint or ""), NO_RATE_LIMIT, False):
            return None
        return super()._check_request_limit(callable_name, in_middleware)


# Rate limits apply only where a route asks (the login, the public tracking page); in-memory storage, per
# client IP. Off in tests unless a test sets RATELIMIT_ENABLED=True.
limiter = RouteLimiter(key_func=get_remote_address, storage_uri="memory://", default_limits=[])
