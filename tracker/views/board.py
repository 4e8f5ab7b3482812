"""The shop-floor board. The page polls /board/columns every second with the version it shows; an
unchanged board answers 204 (one indexed read), a changed one gets the columns with the viewer's filters.
Drag and drop and the advance button post a move and get the columns back.

Every open board polls, so a change would be rendered once per screen: instead a render is shared by
every board with the same filters for RENDER_REUSE_SECONDS (one second, the boards' own polling pace).
Ten tablets cost one render a second, not ten, however busy the floor; a change shows on every screen
within two seconds. A move made on a board is rendered fresh for the one who made it."""
from __future__ import annotations

import json
import threading
import time
from urllib.parse import urlencode

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth import page_actor, role_required
from ..domain.intake import CHANNELS, METHODS
from ..domain.refusals import Invalid, Refused
from ..domain.sla import DUE_FILTERS
from ..extensions import db
from ..htmx import fragment
from ..queries import BoardFilters, board_columns, board_version
from ..services.alerts import open_alert_count
from ..services.health import scheduler_running
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


def _state() -> dict:
    """What the board shows besides its columns, and its version: the newest audit event, the number of
    alerts that need someone and whether the scheduler runs. Three indexed reads, so the every-second
    "anything new?" check stays cheap and a raised alert or a stopped scheduler shows within a second."""
    alert_count, scheduler_ok = open_alert_count(), scheduler_running()
    return {"version": f"{board_version()}.{alert_count}.{int(scheduler_ok)}", "alert_count": alert_count,
            "scheduler_ok": scheduler_ok}


RENDER_REUSE_SECONDS = 1.0


class SharedRenders:
    """The newest columns render per (filters, role): when it was made, the version it shows, its HTML."""

    def __init__(self):
        self._lock = threading.Lock()
        self._renders: dict[tuple, tuple[float, str, str]] = {}

    def get(self, key: tuple, max_age: float) -> tuple[str, str] | None:
        with self._lock:
            hit = self._renders.get(key)
        if hit is None or not 0 <= time.time() - hit[0] <= max_age:  # the wall clock: a jump back is stale too
            return None
        return hit[1], hit[2]

    def put(self, key: tuple, version: str, html: str) -> None:
        with self._lock:
            if len(self._renders) > 200:  # many one-off searches: start over
                self._renders.clear()
            self._renders[key] = (time.time(), version, html)


def _render_key(filters: BoardFilters) -> tuple:
    return tuple(sorted(filters.as_args().items())), getattr(current_user, "role", None)


def _shared_renders() -> SharedRenders:
    return current_app.extensions.setdefault("inktrail_board_renders", SharedRenders())


def _render_columns(filters: BoardFilters, state: dict | None = None) -> str:
    """Renders the columns now and offers the render to the other boards."""
    state = state or _state()
    html = fragment("board/_columns.html", columns=board_columns(filters), filters=filters, **state)
    _shared_renders().put(_render_key(filters), state["version"], html)
    return html


def _columns_response(filters: BoardFilters, status: int = 200, error: str | None = None, info: str | None = None,
                      html: str | None = None):
    resp = make_response(html if html is not None else _render_columns(filters), status)
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
    return render_template("board/index.html", columns=board_columns(filters), filters=filters, methods=METHODS,
                           channels=CHANNELS, due_filters=DUE_FILTERS, **_state())


@bp.get("/alerts")
@role_required("operator")
def alerts():
    from ..services.alerts import SNOOZE_CHOICES, grouped_alerts

    return render_template("board/alerts.html", groups=grouped_alerts(), snooze_choices=SNOOZE_CHOICES)


@bp.post("/alerts/<int:alert_id>/acknowledge")
@role_required("operator")
def acknowledge_alert(alert_id: int):
    from ..services.alerts import acknowledge

    return _alert_action(lambda: acknowledge(alert_id, by=current_user.username),
                         lambda alert: f"Acknowledged: {alert.message}.")


@bp.post("/alerts/<int:alert_id>/snooze")
@role_required("operator")
def snooze_alert(alert_id: int):
    from ..services.alerts import snooze

    return _alert_action(lambda: snooze(alert_id, request.form.get("for", ""), by=current_user.username),
                         lambda alert: f"Snoozed until {local_time(alert.snoozed_until)}: {alert.message}.")


def _alert_action(act, said):
    """Runs an acknowledge or snooze: commits and flashes what was done, or flashes red why not."""
    from ..services.alerts import AlertRefused

    try:
        alert = act()
        db.session.commit()
        flash(said(alert), "success")
    except AlertRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("board.alerts"))


def local_time(value) -> str:
    return value.astimezone(current_settings().shop.tz).strftime("%a %b %d, %H:%M")


@bp.get("/board/columns")
@role_required("operator")
def columns():
    seen, state = request.args.get("v", ""), _state()
    if seen and seen == state["version"]:
        return "", 204
    filters = filters_from(request.args)
    shared = _shared_renders().get(_render_key(filters), RENDER_REUSE_SECONDS)
    if shared is None:
        return _columns_response(filters, html=_render_columns(filters, state))
    version, html = shared
    if seen == version:  # this board shows that render already; the next poll brings the newer one
        return "", 204
    return _columns_response(filters, html=html)


@bp.post("/board/move")
@role_required("operator")
def move():
    filters = filters_from(request.form)
    code = (request.form.get("code") or "").strip()
    to = (request.form.get("to") or "").strip() or None
    try:
        if to is not None and to not in current_settings().lifecycle:
            raise Invalid(f"'{to}' is not a stage", field="to")
        message = move_card(code, to, actor=page_actor(), source="board")
        db.session.commit()
    except Refused as exc:  # the rules' (MoveRefused), an unknown card or stage, ...: a red line, 409
        db.session.rollback()
        text = str(exc)
        return _columns_response(filters, 409, error=sentence(text))
    return _columns_response(filters, info=message)
