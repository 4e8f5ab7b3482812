"""The customer's tracking link. No login; shows no email, phone, address or notes; an unknown token and
a malformed one get the same 404. No JavaScript on the page. Rate limited per client IP."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, jsonify, make_response, render_template

from ..extensions import limiter
from ..models import Order
from ..queries import public_view
from ..security import setting
from ..services.public_links import order_for_public_token
from ..settings import current_settings

bp = Blueprint("public", __name__)
# Page and JSON share one budget per client address ([security] public_rate, 60/minute by default).
limiter.shared_limit(lambda: setting("public_rate"), scope="public-tracking")(bp)


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


@bp.get("/t/<token>")
def tracking_page(token):
    view = public_view(_order_for(token))
    html = render_template("public/tracking.html", view=view, day=_day, brand=_brand(current_settings().shop.brand_color))
    return _private(make_response(html))
