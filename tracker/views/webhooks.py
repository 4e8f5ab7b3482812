"""POST /webhooks/<provider>: verified by signature (no login, no CSRF), stored raw, answered at once;
processing follows after the commit."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..errors import MESSAGES
from ..extensions import csrf, db, limiter
from ..security import webhook_retry_after
from ..services.tracking import WebhookRefused, process_after_commit, receive_webhook

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.post("/<provider>")
@csrf.exempt
@limiter.exempt  # limited below, by the cheaper per-address window (security.webhook_retry_after)
def receive(provider):
    # Per sending address, all providers together ([security] webhook_rate). A 429 stores nothing; the
    # provider sends the delivery again later, as it does after any non-2xx answer, so nothing is lost.
    retry_after = webhook_retry_after()
    if retry_after is not None:
        return jsonify(error=MESSAGES[429]), 429, {"Retry-After": str(retry_after)}
    body = request.get_data(cache=False)
    try:
        delivery_id, created = receive_webhook(provider, request.headers, body, request.args)
    except WebhookRefused as exc:
        db.session.rollback()
        return jsonify(error=exc.message), exc.status
    if db.session.registry.has():  # a marketplace's receive wrote through the session (a carrier's did not open one)
        db.session.commit()
    if created:
        process_after_commit(current_app._get_current_object(), delivery_id)
    return jsonify(ok=True, duplicate=not created), 200 if not created else 202
