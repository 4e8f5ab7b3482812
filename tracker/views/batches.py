from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..auth import page_actor, role_required
from ..domain.refusals import Refused
from ..extensions import db
from ..services.batches import create_batch, open_batches
from ..settings import current_settings
from . import sentence

bp = Blueprint("batches", __name__)


def _presses():
    return [s for s in current_settings().stations.values() if s.moves_to == "production"]


@bp.route("/batches", methods=["GET", "POST"])
@role_required("operator")
def index():
    if request.method == "POST":
        codes = [c for c in re.split(r"[\s,;]+", request.form.get("jobs", "")) if c]
        station = request.form.get("station") or None
        try:
            batch = create_batch(codes, station=station, actor=page_actor(), name=request.form.get("name"))
            db.session.commit()
            flash(f"{batch.code} created with {len(batch.jobs)} job(s). Scan {batch.code} to move them all.", "success")
            return redirect(url_for("batches.index"))
        except Refused as exc:
            db.session.rollback()
            flash(sentence(str(exc)), "error")
    return render_template("batches/index.html", batches=open_batches(), presses=_presses(),
                           form=request.form)
