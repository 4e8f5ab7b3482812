"""Order imports from files: CSV upload with a column-mapping step, preview and dry run (issue 8).

/imports lists past imports and takes an upload; the file is stored (an ImportRun) before it is read.
/imports/<id> maps the file's columns to our fields and previews the first rows as they would be read;
its buttons preview again, dry-run or import. /imports/<id>/result lists every bad row and the orders
made. Managers and admins only."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from ..auth import page_actor, role_required
from ..domain import csv_import as rules
from ..extensions import csrf, db
from ..htmx import page_or_fragment
from ..models import ImportRun
from ..services import csv_import as service
from ..workers.imports import run_import
from ..services import fits_id

bp = Blueprint("imports", __name__)
PREVIEW_ROWS = 10
# The upload may be larger than the app's 1 MB request limit: room for the file plus the form around it.
UPLOAD_REQUEST_LIMIT = service.MAX_FILE_BYTES + 256 * 1024


def _run_or_404(run_id: int) -> ImportRun:
    run = db.session.get(ImportRun, run_id) if fits_id(run_id) else None
    if run is None or run.kind != "csv":
        abort(404, description=f"There is no CSV import #{run_id}.")
    return run


@bp.get("/imports")
@role_required("manager")
def index():
    runs = service.recent_runs()
    return render_template("imports/index.html", runs=[(r, service.run_status(r)) for r in runs],
                           max_mb=service.MAX_FILE_BYTES // 1024 // 1024, max_rows=service.MAX_ROWS,
                           fields=rules.FIELDS, required=rules.REQUIRED, help=rules.FIELD_HELP,
                           labels=rules.FIELD_LABELS)


@bp.post("/imports")
@role_required("manager")
def upload():
    # Exempt from the app-wide CSRF check, which would read the body under the 1 MB limit before this
    # view could raise it; the same check runs here, after the limit is set for this request.
    request.max_content_length = UPLOAD_REQUEST_LIMIT
    try:
        csrf.protect()
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        flash(f"The file is too large: at most {service.MAX_FILE_BYTES // 1024 // 1024} MB can be imported at "
              "once. Split it into smaller files.", "error")
        return redirect(url_for("imports.index"))
    if upload is None or not upload.filename:
        flash("Choose a CSV file to upload.", "error")
        return redirect(url_for("imports.index"))
    try:
        content = upload.read(service.MAX_FILE_BYTES + 1)
        run = service.store_upload(upload.filename, content, page_actor().name)
    except service.ImportRefused as exc:
        flash(exc.message, "error")
        return redirect(url_for("imports.index"))
    db.session.commit()  # stored before it is read
    try:
        service.read_run(run)
    except rules.CsvUnreadable as exc:
        service.record_failure(run, exc.message)
        db.session.commit()
        flash(f"{run.filename} cannot be read as CSV: {exc.message}", "error")
        return redirect(url_for("imports.index"))
    return redirect(url_for("imports.mapping", run_id=run.id))


csrf.exempt(f"{__name__}.upload")


@bp.get("/imports/template.csv")
@role_required("manager")
def template():
    body = "\ufeff" + rules.template_csv(service.today())  # the BOM makes Excel read it as UTF-8
    return Response(body.encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="inktrail-orders-template.csv"'})


def _mapping_from_form() -> dict[str, str | None] | None:
    """The mapping the page's selects sent (an empty select leaves the field out), or None when the
    request carries none."""
    if not any(f"map-{name}" in request.values for name in rules.FIELDS):
        return None
    return {name: (request.values.get(f"map-{name}") or None) for name in rules.FIELDS}


@bp.route("/imports/<int:run_id>", methods=["GET", "POST"])
@role_required("manager")
def mapping(run_id: int):
    run = _run_or_404(run_id)
    status = service.run_status(run)
    if status["status"] in ("done", "importing") and not run.dry_run:
        if request.method == "POST":  # a second click on Import, or a form left open in another tab
            flash(service.already_imported_message(run), "info")
        return redirect(url_for("imports.result", run_id=run.id))
    if status["status"] == "unreadable":
        flash(f"{run.filename} cannot be imported: {status.get('error')}", "error")
        return redirect(url_for("imports.index"))
    try:
        table = service.read_run(run)
    except rules.CsvUnreadable as exc:
        flash(f"{run.filename} cannot be read as CSV: {exc.message}", "error")
        return redirect(url_for("imports.index"))
    chosen = _mapping_from_form()
    if chosen is None:
        chosen = service.stored_mapping(run, table)

    action = request.form.get("action", "preview") if request.method == "POST" else "preview"
    if action in ("dry-run", "import"):
        try:
            run_import(run, chosen, dry_run=action == "dry-run", actor=page_actor())
        except service.AlreadyImported as exc:
            flash(exc.message, "info")
            return redirect(url_for("imports.result", run_id=run.id))
        except service.ImportRefused:
            db.session.rollback()  # a mapping that cannot be used: the page below says why, in red
        else:
            return redirect(url_for("imports.result", run_id=run.id))

    problem, missing, plan = None, (), None
    try:
        checked = rules.check_mapping(chosen, table.headers)
        plan = service.plan(table, checked)
    except rules.MappingError as exc:
        problem, missing = exc.message, exc.missing
    selected = {name: (chosen.get(name) or "") for name in rules.FIELDS}
    shown = [name for name in rules.FIELDS if selected[name] or name == "method"]
    preview = [_preview_row(row, shown) for row in plan.rows[:PREVIEW_ROWS]] if plan else None
    return page_or_fragment("imports/mapping.html", "imports/_mapping.html", target="import-mapping",
                            run=run, table=table, selected=selected, plan=plan, problem=problem, missing=missing,
                            preview=preview, shown=shown, raw_rows=table.rows[:PREVIEW_ROWS], fields=rules.FIELDS,
                            required=rules.REQUIRED, help=rules.FIELD_HELP, labels=rules.FIELD_LABELS,
                            delimiter_name=rules.DELIMITER_NAMES[table.delimiter],
                            status=status), (400 if problem and request.method == "POST" else 200)


def _shown_value(row: rules.PlannedRow, name: str) -> tuple[str, str | None]:
    """(what the row's field became, a note): the cell's own text when it is at fault."""
    if name == "method" and row.method:
        return row.method, {"rule": "rule", "default": "default"}.get(row.method_source)
    if any(e.field == name for e in row.errors) or name not in row.values:
        return row.cells.get(name, ""), None
    value = row.values[name]
    if value is None:
        return "", None
    if isinstance(value, bool):
        return ("yes" if value else "no"), None
    if hasattr(value, "isoformat"):
        return value.isoformat(), None
    return str(value), None


def _preview_row(row: rules.PlannedRow, shown: list[str]) -> dict:
    return {"line": row.line, "cells": [_shown_value(row, name) for name in shown], "errors": row.errors}


@bp.get("/imports/<int:run_id>/result")
@role_required("manager")
def result(run_id: int):
    run = _run_or_404(run_id)
    status = service.run_status(run)
    if status["status"] == "new":
        return redirect(url_for("imports.mapping", run_id=run.id))
    outcome = service.ImportResult.from_json(run.result)
    return render_template("imports/result.html", run=run, status=status, result=outcome, labels=rules.FIELD_LABELS)
