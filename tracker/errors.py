"""Every refusal is a clear message: JSON for the API and data URLs, a page for people. Never a 500 for
bad input; a real 500 is logged and shown without details."""
from __future__ import annotations

from flask import current_app, jsonify, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from .auth import wants_json
from .dbretry import DatabaseBusy, describe, rollback_quietly, transient

MESSAGES = {
    400: "The request could not be read.",
    401: "Please log in.",
    403: "You do not have permission for that.",
    404: "Nothing is here.",
    405: "That method is not allowed here.",
    413: "The request body is too large (1 MB at most).",
    415: "Send the body as JSON (Content-Type: application/json).",
    429: "Too many requests; wait a moment and try again.",
}


def _respond(code: int, message: str):
    if wants_json():
        return jsonify(error=message), code
    return render_template("errors/error.html", code=code, message=message), code


# The busy page touches no database (base.html loads the user, and the database is what is busy).
BUSY_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>503 Busy</title><link rel="stylesheet" href="{{ url_for('static', filename='css/app.css') }}"></head>
<body><main><section class="error-page"><h1>503</h1><p class="lead">{{ message }}</p>
<p><a class="btn" href="{{ back }}">{{ 'Try again' if request.method == 'GET' else 'Back, to send it again' }}</a></p>
</section></main></body></html>"""


def _busy(exc: BaseException):
    """503 with Retry-After: JSON for the API, webhooks and the scan page's requests (their senders try
    again: carriers redeliver, the scan page keeps the scan queued), a page for people."""
    rollback_quietly()
    busy = exc if isinstance(exc, DatabaseBusy) else DatabaseBusy()
    headers = {"Retry-After": str(busy.retry_after)}
    if wants_json() or request.path.startswith("/webhooks/") or request.is_json or \
            request.accept_mimetypes.best == "application/json":
        body = {"error": busy.message}
        if request.path.startswith(("/api/scans", "/scan/")):
            body = {"ok": False, **body}
        return jsonify(body), 503, headers
    back = request.full_path if request.method == "GET" else request.referrer
    if not back or (back.startswith(("http:", "https:", "//")) and not back.startswith(request.host_url)):
        back = "/"
    # Rendered without the context processors: Flask-Login's would load the user from the database.
    page = current_app.jinja_env.from_string(BUSY_PAGE).render(message=busy.message, back=back, request=request,
                                                                 url_for=url_for)
    return page, 503, headers


def init_app(app):
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return _respond(400, "The form expired or was sent from elsewhere (CSRF check failed). Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description if exc.description and exc.code in (403, 404, 409, 422) and \
            not exc.description.startswith(("The requested URL", "You don't have")) else MESSAGES.get(exc.code, exc.name)
        return _respond(exc.code or 500, message)

    @app.errorhandler(DatabaseBusy)
    def database_busy(exc):
        return _busy(exc)

    @app.errorhandler(DBAPIError)
    def database_error(exc):
        if not transient(exc):
            return unexpected(exc)
        app.logger.warning("database busy or away, answered 503: %s", describe(exc))
        return _busy(exc)

    @app.errorhandler(Exception)
    def unexpected(exc):
        app.logger.exception("unhandled error")
        return _respond(500, "Something went wrong on our side; nothing was half-saved. Try again.")
