"""POST /webhooks/<provider>: verified by signature (no login, no CSRF), stored raw, answered at once;
processing follows after the commit.

A carrier's delivery is the hottest path there is (a carrier's flood on a busy day), so it is answered by
FastWebhooks, a WSGI layer in front of Flask that does what the view below does without Flask's request
machinery (sessions, CSRF, before/after hooks, URL routing: about half of an answer's cost, measured).
It calls the same service function and gives the same answers. Everything else reaches the view: a
marketplace's webhook (Shopify), a body without a length or over the limit, another method."""
from __future__ import annotations

import io
import json

from flask import Blueprint, current_app, jsonify, request
from werkzeug.datastructures import EnvironHeaders
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request as BareRequest

from ..errors import MESSAGES
from ..extensions import csrf, db, limiter
from ..security import HSTS, webhook_retry_after
from ..services.tracking import MARKETPLACE_WEBHOOKS, WebhookRefused, receive_webhook
from ..workers.webhooks import process_after_commit

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
PREFIX = "/webhooks/"
FAILED = "inktrail.webhook_failed"  # environ key: the fast path's exception, raised again by the view


@bp.post("/<provider>")
@csrf.exempt
@limiter.exempt  # limited below, by the cheaper per-address window (security.webhook_retry_after)
def receive(provider):
    failed = request.environ.pop(FAILED, None)
    if failed is not None:  # FastWebhooks hit an error (the database busy, say): Flask's handlers answer it
        raise failed
    # Per sending address, all providers together ([security] webhook_rate). A 429 stores nothing; the
    # provider sends the delivery again later, as it does after any non-2xx answer, so nothing is lost.
    retry_after = webhook_retry_after()
    if retry_after is not None:
        return jsonify(error=MESSAGES[429]), 429, {"Retry-After": str(retry_after)}
    body = request.get_data(cache=False)
    try:
        delivery_id, created = receive_webhook(provider, request.headers, body, request.args)
    except WebhookRefused as exc:
        db.session.commit()  # what a refusal keeps: a bad signature's count, an unreadable body for a look
        return jsonify(error=exc.message), exc.status
    if db.session.registry.has():  # a marketplace's receive wrote through the session (a carrier's did not open one)
        db.session.commit()
    if created:
        process_after_commit(current_app._get_current_object(), delivery_id)
    return jsonify(ok=True, duplicate=not created), 200 if not created else 202


class FastWebhooks:
    """WSGI middleware answering a carrier's POST /webhooks/<provider> as the view above would: the rate
    window, the signature, the stored delivery, the answer with the same headers. Installed inside the
    trusted-proxy fix, so the sending address and scheme are the client's."""

    def __init__(self, app, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(PREFIX):
            return self.wsgi_app(environ, start_response)
        provider = path[len(PREFIX):]
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            length = -1
        if not provider or "/" in provider or provider in MARKETPLACE_WEBHOOKS or \
                not 0 <= length <= (self.app.config.get("MAX_CONTENT_LENGTH") or length):
            return self.wsgi_app(environ, start_response)  # the view (or Flask's 404, 413) answers
        with self.app.app_context():
            try:
                status, answer, headers = self._receive(provider, environ, length)
            except Exception as exc:  # noqa: BLE001: answered by Flask's error handlers, through the view
                db.session.rollback()
                environ[FAILED] = exc
                return self.wsgi_app(environ, start_response)
        body = (json.dumps(answer, separators=(",", ":")) + "\n").encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers,
                   *self.app.extensions["inktrail_json_headers"]]
        if environ.get("wsgi.url_scheme") == "https":
            headers.append(("Strict-Transport-Security", HSTS))
        start_response(status, headers)
        return [body]

    def _receive(self, provider: str, environ, length: int):
        retry_after = webhook_retry_after(environ.get("REMOTE_ADDR") or "")
        if retry_after is not None:
            return "429 TOO MANY REQUESTS", {"error": MESSAGES[429]}, [("Retry-After", str(retry_after))]
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # for the view, should an error send the request there
        try:
            delivery_id, created = receive_webhook(provider, EnvironHeaders(environ), body,
                                                   BareRequest(environ).args)
        except WebhookRefused as exc:
            db.session.commit()  # as the view: what the refusal keeps
            return f"{exc.status} {HTTP_STATUS_CODES[exc.status].upper()}", {"error": exc.message}, []
        if created:
            process_after_commit(self.app, delivery_id)
            return "202 ACCEPTED", {"ok": True, "duplicate": False}, []
        return "200 OK", {"ok": True, "duplicate": True}, []


def install(app) -> None:
    app.wsgi_app = FastWebhooks(app, app.wsgi_app)
