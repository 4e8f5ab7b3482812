from __future__ import annotations

from flask import Blueprint, jsonify

from ..extensions import csrf
from ..services.health import health_report

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@csrf.exempt
def healthz():
    report = health_report()
    return jsonify(report), 200 if report["database"]["ok"] else 503
