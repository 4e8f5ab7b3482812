"""Every refusal is a clear message: JSON for the API and data URLs, a page for people. Never a 500 for
bad input; a real 500 is logged and shown without details."""
from __future__ import annotations

from flask import jsonify, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .auth import wants_json

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


def init_app(app):
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return _respond(400, "The form expired or was sent from elsewhere (CSRF check failed). Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description if exc.description and exc.code in (403, 404, 409, 422) and \
            not exc.description.startswith(("The requested URL", "You don't have")) else MESSAGES.get(exc.code, exc.name)
        return _respond(exc.code or 500, message)

    @app.errorhandler(Exception)
    def unexpected(exc):
        app.logger.exception("unhandled error")
        return _respond(500, "Something went wrong on our side; nothing was half-saved. Try again.")
