"""Marketplace pages (managers): Etsy's status with a "Fetch now" button; Amazon's report upload (check or
import, results by line number), the shipping-confirmation download, and the recent imports and exports."""
from __future__ import annotations

import re

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from ..auth import page_actor, role_required
from ..extensions import db
from ..services import amazon, etsy

bp = Blueprint("marketplaces", __name__)
STAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _page(result: dict | None = None, run=None, status: int = 200):
    from ..services import shopify

    return render_template("marketplaces/index.html", shopify=shopify.status(), etsy=etsy.status(), result=result,
                           run=run,
                           imports=amazon.recent_imports(), exports=amazon.recent_exports(),
                           pending=amazon.pending_count()), status


@bp.get("/marketplaces")
@role_required("manager")
def index():
    return _page()


@bp.post("/marketplaces/etsy/fetch")
@role_required("manager")
def etsy_fetch():
    from ..jobs import run_job

    try:
        result = run_job(etsy.JOB)
    except Exception as exc:  # the job recorded it as its last error; say it here too
        flash(f"Etsy: {exc}", "error")
        return redirect(url_for("marketplaces.index"))
    if "skipped" in result and not result.get("pages"):
        flash(f"Etsy: nothing fetched ({result['skipped']}).", "info")
    else:
        created = result.get("created", 0)
        text = (f"Etsy: {created} new order{'' if created == 1 else 's'} "
                f"({result.get('receipts', 0)} open receipts read)")
        bad = result.get("unreadable", 0) + result.get("failed", 0)
        if bad:
            text += f"; {bad} could not be read (see the list below)"
        if result.get("rate_limited"):
            text += "; Etsy asked us to slow down, the rest comes with the next round"
        flash(text + ".", "error" if bad else "success")
    return redirect(url_for("marketplaces.index"))


@bp.post("/marketplaces/amazon/import")
@role_required("manager")
def amazon_import():
    upload = request.files.get("report")
    dry_run = request.form.get("action", "check") != "import"
    if upload is None or not upload.filename:
        flash("Choose the Unshipped Orders report file first.", "error")
        return _page(status=400)
    data = upload.read()
    try:
        run = amazon.store_report(data, upload.filename, actor=page_actor(), dry_run=dry_run)
    except amazon.ReportRefused as exc:
        flash(f"{upload.filename}: {exc}.", "error")
        return _page(status=400)
    db.session.commit()  # kept as it arrived before it is read
    result = amazon.run_import(run, actor=page_actor())
    db.session.commit()
    return _page(result, run, status=400 if result.get("unreadable") else 200)


@bp.post("/marketplaces/amazon/import/<int:run_id>")
@role_required("manager")
def amazon_import_checked(run_id: int):
    """Imports a report that was checked (dry run) before, without uploading it again."""
    run = amazon.get_run(run_id)
    if run is None:
        abort(404, description=f"There is no Amazon import #{run_id}.")
    result = amazon.run_import(run, actor=page_actor(), for_real=True)
    db.session.commit()
    return _page(result, run)


def _attachment(data: bytes, name: str) -> Response:
    return Response(data, mimetype="text/tab-separated-values",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@bp.post("/marketplaces/amazon/confirmations.txt")
@role_required("manager")
def amazon_confirmations():
    """A new confirmation file: what was not exported before (or everything, with all=1), marked exported."""
    include_all = request.form.get("all") in ("1", "on", "true")
    data, count, stamp = amazon.export_confirmations(include_all=include_all)
    db.session.commit()
    name = f"amazon-confirmations-{stamp.replace(':', '')}.txt"
    return _attachment(data, name)


@bp.get("/marketplaces/amazon/confirmations.txt")
@role_required("manager")
def amazon_confirmations_again():
    """An earlier export's file again (?export=<its time>, else the latest); changes nothing."""
    stamp = request.args.get("export", "").strip()
    if not stamp:
        latest = amazon.recent_exports(1)
        if not latest:
            abort(404, description="No confirmation file was exported yet: use “Download new confirmations”.")
        stamp = latest[0]["stamp"]
    if not STAMP_RE.match(stamp):
        abort(404, description=f"{stamp[:40]!r} is not the time of an export (like 2026-03-02T16:00:00Z).")
    data = amazon.export_again(stamp)
    if data is None:
        abort(404, description=f"There was no export at {stamp}.")
    return _attachment(data, f"amazon-confirmations-{stamp.replace(':', '')}.txt")
