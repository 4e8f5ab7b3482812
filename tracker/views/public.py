"""The customer's tracking link. No login; shows no email, phone or address; an unknown token and a
malformed one get the same 404."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, make_response, render_template
from sqlalchemy import select

from ..domain.codes import looks_like_token
from ..extensions import db
from ..models import Order
from ..queries import public_view

bp = Blueprint("public", __name__)


def _order_for(token: str) -> Order:
    if not looks_like_token(token):
        abort(404, description="This tracking link is not valid.")
    order = db.session.scalar(select(Order).where(Order.public_token == token))
    if order is None:
        abort(404, description="This tracking link is not valid.")
    return order


def _private(resp):
    resp.headers["X-Robots-Tag"] = "noindex, nofollow"
    resp.headers["Cache-Control"] = "private, max-age=60"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.get("/t/<token>.json")
def tracking_json(token):
    return _private(jsonify(public_view(_order_for(token))))


@bp.get("/t/<token>")
def tracking_page(token):
    view = public_view(_order_for(token))
    return _private(make_response(render_template("public/tracking.html", view=view)))
