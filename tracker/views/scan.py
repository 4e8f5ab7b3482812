"""Scan stations: /scan/<station> for a tablet with a keyboard-wedge scanner. The page's script posts
each scan as JSON with an ID it made, queues scans while the network is down, and replays them in order."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, g, jsonify, render_template, request

from ..auth import page_actor, role_required
from ..dbretry import unit_of_work
from ..domain.refusals import Refused
from ..extensions import db, no_rate_limit
from ..services.scanning import (ScanInputError, pending_label_order, recent_scans, record_scan, scan_json,
                                 station_or_error, undo_scan)
from ..settings import current_settings
from . import sentence

bp = Blueprint("scan", __name__)


# A refused scan's status, by the kind of refusal stored with it (the same on a replay): a code nothing has,
# or the rules said no (a scan refused before its kind was stored counts as the rules').
REFUSAL_STATUS = {"unknown": 422, "rules": 409}


def scan_answer(scan, replayed: bool) -> tuple[dict, int]:
    """The answer and status the page and POST /api/scans both give: 200 for a scan that was taken (moved,
    duplicate, info), else its refusal's status; a refusal also carries "error"."""
    answer = scan_json(scan, replayed=replayed)
    if answer["ok"]:
        return answer, 200
    answer["error"] = answer["message"]
    return answer, REFUSAL_STATUS.get(scan.refusal, 409)


def after_scan(answer: dict, status: int, actor) -> tuple[dict, int]:
    """A packed order scanned at a station that buys labels: the label is bought now that the scan is
    committed (a replayed scan answers the purchase its first try made)."""
    station = current_settings().stations.get(answer.get("station") or "")
    if not (station and station.buy_labels and answer.get("ok") and answer.get("outcome") == "info"
            and answer.get("order_id") and answer.get("kind") in ("order", "job")):
        return answer, status
    from ..services.postage import buy_at_ship_out

    scan, status = buy_at_ship_out(answer["scan_id"], actor=actor)
    answer = scan_json(scan, replayed=answer.get("replayed", False))
    answer["undoable"] = False  # a bought label is voided on the order page, not undone by a scan
    if not answer["ok"]:
        answer["error"] = answer["message"]
    return answer, status


def parse_scanned_at(value) -> dt.datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


@bp.get("/scan")
@role_required("operator")
def stations():
    return render_template("scan/stations.html", stations=list(current_settings().stations.values()))


@bp.get("/scan/<station>")
@role_required("operator")
def page(station):
    try:
        st = station_or_error(station)
    except ScanInputError as exc:
        abort(404, description=exc.message)
    settings = current_settings()
    cfg = settings.scanning
    packages, package = [], None
    if st.buy_labels:
        from ..services.postage import station_package

        packages = list(settings.packages.values())
        package = station_package(st.key) or settings.shipping.default_package
    g.csp_wasm = True  # the camera's barcode decoder is WebAssembly
    return render_template("scan/page.html", station=st, recent=[scan_json(s) for s in recent_scans(st.key)],
                           qc_reasons=cfg.qc_fail_reasons if st.moves_to in ("qc", "production") else [],
                           pending=pending_label_order(st.key), undo_seconds=cfg.undo_seconds,
                           badge_prefix=cfg.badge_prefix, packages=packages, package=package,
                           camera_repeat_ms=int(max(cfg.duplicate_seconds, 2) * 1000))


def _json_object():
    """The request's JSON body, or None when it is not JSON (Werkzeug's silent parse does not catch the
    RecursionError of a body nested thousands of levels deep)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None


def _json_error(message: str, status: int, field: str | None = None):
    body = {"ok": False, "error": message}
    if field:
        body["field"] = field
    return jsonify(body), status


@bp.post("/scan/<station>")
@no_rate_limit  # the hot path: a limiter check that finds no limit is 4% of a scan
@role_required("operator")
def submit(station):
    data = _json_object()
    if not isinstance(data, dict):
        return _json_error("send the scan as a JSON object", 400)
    code = data.get("code")
    operator = data.get("operator")
    if operator is not None and (not isinstance(operator, str) or len(operator) > 80):
        return _json_error("operator must be a name", 400, "operator")
    uid = data.get("scan_id")
    if uid is not None and not isinstance(uid, str):
        return _json_error("scan_id must be text", 400, "scan_id")
    actor = page_actor()  # read once: after the commit it would be loaded again, in a transaction of its own
    try:
        # One unit, tried again on a fresh connection if the database dropped it (the scan ID makes a
        # second run answer the first); a database that stays busy is a 503 and the page keeps the scan.
        # The answer is read before the commit, while what the scan touched is still loaded (after the
        # commit it would be read back from the database, three more queries for the same values).
        answer, status = unit_of_work(lambda: scan_answer(*record_scan(
            station, code if isinstance(code, str) else "", actor=actor, uid=uid, operator=operator or None,
            action=data.get("action") or "move",
            reason=data.get("reason") if isinstance(data.get("reason"), str) else None,
            source="scan", scanned_at=parse_scanned_at(data.get("scanned_at")))))
    except ScanInputError as exc:
        db.session.rollback()
        return _json_error(exc.message, exc.status, exc.field)
    answer, status = after_scan(answer, status, actor)
    return jsonify(answer), status


@bp.post("/scan/<station>/package")
@role_required("operator")
def choose_package(station):
    """The package preset this station buys labels for, until another is picked."""
    from ..services.postage import PostageProblem, remember_station_package

    try:
        st = station_or_error(station)
    except ScanInputError as exc:
        return _json_error(exc.message, 404)
    data = _json_object()
    name = data.get("package") if isinstance(data, dict) else request.form.get("package")
    if not isinstance(name, str) or not name:
        return _json_error("say which package (a preset's name)", 400, "package")
    try:
        remember_station_package(st.key, name)
    except PostageProblem as exc:
        db.session.rollback()
        return _json_error(exc.message, exc.status, exc.field)
    db.session.commit()
    return jsonify({"ok": True, "station": st.key, "package": name})


@bp.post("/scan/<station>/undo")
@role_required("operator")
def undo(station):
    data = _json_object()
    uid = data.get("scan_id") if isinstance(data, dict) else None
    if not isinstance(uid, str) or not uid:
        return _json_error("say which scan to undo (scan_id)", 400, "scan_id")
    try:
        scan = undo_scan(uid, actor=page_actor(), station=station)
    except ScanInputError as exc:
        db.session.rollback()
        return _json_error(exc.message, exc.status, exc.field)
    except Refused as exc:  # the rules (a Conflict) or the scan moved nothing: by its kind
        db.session.rollback()
        return _json_error(sentence(str(exc)), exc.status, exc.field)
    db.session.commit()
    answer = scan_json(scan)
    answer["message"] = f"Undone: {answer['message']}"
    return jsonify(answer), 200
