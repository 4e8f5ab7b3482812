"""POST /webhooks/<provider>: verified by signature (no login, no CSRF), stored raw, answered at once;
processing follows after the commit."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..extensions import csrf, db
from ..services.tracking import WebhookRefused, process_after_commit, receive_webhook

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.post("/<provider>")
@csrf.exempt
def receive(provider):
    body = request.get_data(cache=False)
    try:
        delivery_id, created = receive_webhook(provider, request.headers, body, request.args)
    except WebhookRefused as exc:
        db.session.rollback()
        return jsonify(error=exc.message), exc.status
    db.session.commit()
    if created:
        process_after_commit(current_app._get_current_object(), delivery_id)
    return jsonify(ok=True, duplicate=not created), 200 if not created else 202
