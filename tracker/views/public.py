"""The customer's tracking link. No login; shows no email, phone, address or notes; an unknown token and
a malformed one get the same 404. No JavaScript on the page. Rate limited per client IP.

The link is also the key to the order's artwork proofs: /t/<token>/proofs/<id> serves a proof's file and
takes the customer's answer (approve, or changes with a comment) from the page's form."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, jsonify, make_response, redirect, render_template, request, send_file, url_for

from ..extensions import limiter
from ..models import Order
from ..queries import public_view
from ..security import security_settings
from ..services.public_links import order_for_public_token
from ..settings import current_settings

bp = Blueprint("public", __name__)
# Page and JSON share one budget per client address ([security] public_rate, 60/minute by default).
limiter.shared_limit(lambda: security_settings().public_rate, scope="public-tracking")(bp)


def _order_for(token: str) -> Order:
    # Malformed, unknown and replaced (regenerated) tokens all get the same 404.
    order = order_for_public_token(token)
    if order is None:
        abort(404, description="This tracking link is not valid.")
    return order


def _private(resp):
    resp.headers["X-Robots-Tag"] = "noindex, nofollow"
    resp.headers["Cache-Control"] = "private, max-age=60"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _day(value: str | None) -> str:
    """"2026-03-05" -> "Thu Mar 5"."""
    if not value:
        return ""
    d = dt.date.fromisoformat(value)
    return f"{d:%a %b} {d.day}"


def _brand(color: str | None) -> dict | None:
    """The brand colour with a text colour that keeps AA contrast on it (white or near-black)."""
    if not color:
        return None
    def lum(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    L = 0.2126 * lum(r) + 0.7152 * lum(g) + 0.0722 * lum(b)
    white, black = 1.05 / (L + 0.05), (L + 0.05) / 0.0611  # #111827 has a luminance of about 0.011
    return {"color": color, "on": "#ffffff" if white >= black else "#111827"}


@bp.get("/t/<token>.json")
def tracking_json(token):
    return _private(jsonify(public_view(_order_for(token))))


def _page(order: Order, *, status: int = 200, answer: dict | None = None):
    view = public_view(order)
    html = render_template("public/tracking.html", view=view, day=_day, brand=_brand(current_settings().shop.brand_color),
                           token=order.public_token, answer=answer or {})
    return _private(make_response(html, status))


@bp.get("/t/<token>")
def tracking_page(token):
    order = _order_for(token)
    answer = {}
    answered = request.args.get("answered", "")
    if answered in ("approved", "changes", "unchanged"):
        answer = {"done": answered}
    return _page(order, answer=answer)


@bp.get("/t/<token>/proofs/<int:proof_id>")
def proof_file(token, proof_id: int):
    """The proof's file, for the page's preview and its "open full size" link."""
    from ..services.proofs import file_path, get_proof
    from ..domain.proofs import ProofRefused

    order = _order_for(token)
    try:
        proof = get_proof(order, proof_id)
    except ProofRefused:
        abort(404, description="There is no such proof for this order.")
    return _private(send_proof(proof, file_path(proof)))


def send_proof(proof, path):
    if not path.is_file():
        abort(404, description="The proof's file is missing; please ask the shop to post it again.")
    resp = send_file(path, mimetype=proof.content_type, download_name=proof.filename, as_attachment=False,
                     conditional=True, max_age=0)
    resp.headers["Content-Security-Policy"] = proof_csp(proof.content_type)
    return resp


def proof_csp(content_type: str) -> str:
    """A proof is shown inline, never framed by another site. An image runs nothing at all; a PDF keeps
    only the framing rule, since a sandbox or an object-src rule stops the browser's own PDF viewer."""
    if content_type.startswith("image/"):
        return "default-src 'none'; img-src 'self'; frame-ancestors 'none'; sandbox"
    return "frame-ancestors 'none'"


@bp.post("/t/<token>/proofs/<int:proof_id>")
def answer_proof(token, proof_id: int):
    """The customer's answer from the page's form. A repeated or stale answer changes nothing and says so;
    a bad one (no comment with a request for changes) comes back on the page with what to fix."""
    from ..dbretry import unit_of_work
    from ..domain.proofs import ProofRefused
    from ..extensions import db
    from ..services import proofs as service

    order = _order_for(token)
    answer = (request.form.get("answer") or "").strip()
    comment = request.form.get("comment") or ""
    try:
        result = unit_of_work(lambda: service.answer_proof(order, proof_id, answer=answer, comment=comment))
    except ProofRefused as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404, description="There is no such proof for this order.")
        return _page(order, status=400, answer={"proof_id": proof_id, "error": exc.message, "comment": comment})
    if not result.changed:
        return _page(order, answer={"proof_id": proof_id, "done": "unchanged", "message": result.message})
    done = "approved" if result.proof.state == "approved" else "changes"
    return redirect(url_for("public.tracking_page", token=token, answered=done, _anchor="proofs"), 303)
