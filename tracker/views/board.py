"""The shop-floor board. The page polls /board/columns every second with the version it shows; an
unchanged board answers 204 (one indexed read), a changed one re-renders the columns with the viewer's
filters. Drag and drop and the advance button post a move and get the columns back."""
from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import Blueprint, make_response, render_template, request, url_for

from ..auth import page_actor, role_required
from ..domain.intake import CHANNELS, METHODS
from ..domain.lifecycle import MoveRefused
from ..domain.sla import DUE_FILTERS
from ..extensions import db
from ..queries import BoardFilters, board_columns, board_version
from ..services.alerts import open_alert_count
from ..services.orders import move_card
from ..settings import current_settings
from . import sentence

bp = Blueprint("board", __name__)


def filters_from(args) -> BoardFilters:
    """Board filters from a query string; anything unknown is ignored rather than refused."""
    method = args.get("method", "")
    channel = args.get("channel", "")
    due = args.get("due", "")
    keys = set(current_settings().lifecycle.keys)
    expand = tuple(k for k in args.get("expand", "").split(",") if k in keys)[:20]
    return BoardFilters(
        method=method if method in METHODS else "",
        channel=channel if channel in CHANNELS else "",
        due=due if due in DUE_FILTERS else "",
        rush=args.get("rush") in ("1", "on", "true"),
        q=args.get("q", "").strip()[:60],
        expand=expand,
    )


def _columns_response(filters: BoardFilters, status: int = 200, error: str | None = None, info: str | None = None):
    resp = make_response(render_template("board/_columns.html", columns=board_columns(filters),
                                         version=board_version(), filters=filters,
                                         alert_count=open_alert_count()), status)
    query = urlencode(filters.as_args())
    resp.headers["HX-Replace-Url"] = url_for("board.index") + (f"?{query}" if query else "")
    if error or info:
        resp.headers["HX-Trigger"] = json.dumps({"board-message": {"level": "error" if error else "ok",
                                                                     "text": error or info}})
    return resp


@bp.get("/")
@role_required("operator")
def index():
    filters = filters_from(request.args)
    return render_template("board/index.html", columns=board_columns(filters), version=board_version(),
                           filters=filters, methods=METHODS, channels=CHANNELS, due_filters=DUE_FILTERS,
                           alert_count=open_alert_count())


@bp.get("/alerts")
@role_required("operator")
def alerts():
    from ..services.alerts import open_alerts

    return render_template("board/alerts.html", alerts=open_alerts())


@bp.get("/board/columns")
@role_required("operator")
def columns():
    seen = request.args.get("v", "")
    if seen and seen == str(board_version()):
        return "", 204
    return _columns_response(filters_from(request.args))


@bp.post("/board/move")
@role_required("operator")
def move():
    filters = filters_from(request.form)
    code = (request.form.get("code") or "").strip()
    to = (request.form.get("to") or "").strip() or None
    try:
        if to is not None and to not in current_settings().lifecycle:
            raise MoveRefused(f"'{to}' is not a stage")
        message = move_card(code, to, actor=page_actor(), source="board")
        db.session.commit()
    except MoveRefused as exc:
        db.session.rollback()
        text = str(exc)
        return _columns_response(filters, 409, error=sentence(text))
    return _columns_response(filters, info=message)
