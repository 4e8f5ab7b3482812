"""Printers and labels: the printers page (state, queue, test print), printing from the order page,
PNG previews that match what prints, and a browser-print page for shops without a label printer."""
from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for

from ..auth import page_actor, role_required
from ..domain.refusals import NotFound
from ..labels import drivers
from ..services import printing
from ..services.label_content import job_label, packing_slip
from ..settings import current_settings
from . import job_or_404, order_or_404, refusals_flashed

bp = Blueprint("printing", __name__)


@bp.get("/printers")
@role_required("operator")
def printers():
    return render_template("printing/printers.html", printers=printing.printer_overview(),
                           recent=printing.recent_print_jobs())


@bp.post("/printers/<name>/test")
@role_required("operator")
def test_print(name):
    with refusals_flashed(capitalise=False):
        printing.queue_test_print(name, actor=page_actor())
        flash(f"Test print queued for {name}; it prints within a few seconds.", "success")
    return redirect(url_for("printing.printers"))


@bp.post("/printers/<name>/retry")
@role_required("operator")
def retry(name):
    with refusals_flashed(capitalise=False):
        printing.retry_now(name)
        flash(f"{name} will be tried again now.", "success")
    return redirect(url_for("printing.printers"))


@bp.post("/orders/<code>/labels")
@role_required("operator")
def print_order_labels(code):
    order = order_or_404(code)
    kind = request.form.get("kind", "job")
    printer = request.form.get("printer") or None
    job_code = request.form.get("job") or None
    with refusals_flashed(capitalise=False):
        jobs = None
        if job_code:
            jobs = [j for j in order.jobs if j.code == job_code.upper()]
            if not jobs:
                raise NotFound(f"{order.code} has no job {job_code}", field="job")
        made = printing.queue_labels(order, kind=kind, printer=printer, actor=page_actor(), jobs=jobs)
        flash(f"{len(made)} label{'s' if len(made) != 1 else ''} queued for {made[0].printer}.", "success")
    return redirect(url_for("orders.show", code=order.code))


def _preview_target(printer_name: str | None) -> tuple[str, int | None]:
    """Which layout a preview shows: the printer's (4x6 ZPL or a receipt width), or ?size=4x6|58|80."""
    size = request.args.get("size")
    if size in ("58", "80"):
        return "escpos", 384 if size == "58" else 576
    if size == "4x6":
        return "zpl", None
    printers = current_settings().printers
    cfg = printers.get(printer_name or "") or (next(iter(printers.values()), None))
    if cfg and drivers.payload_format(cfg) == "escpos":
        return "escpos", drivers.receipt_width_dots(cfg)
    return "zpl", None


def _png(content, printer_name):
    from ..labels.render import render_png

    fmt, width = _preview_target(printer_name)
    resp = make_response(render_png(content, format=fmt, width_dots=width))
    resp.headers["Content-Type"] = "image/png"
    resp.headers["Cache-Control"] = "private, max-age=30"
    return resp


@bp.get("/labels/job/<code>.png")
@role_required("operator")
def job_label_png(code):
    job = job_or_404(code)
    return _png(job_label(job), request.args.get("printer"))


@bp.get("/labels/order/<code>/packing.png")
@role_required("operator")
def packing_png(code):
    order = order_or_404(code)
    return _png(packing_slip(order), request.args.get("printer"))


@bp.get("/labels/order/<code>/print")
@role_required("operator")
def browser_print(code):
    """Labels sized for the system print dialog (@page 4in x 6in, or a receipt width)."""
    order = order_or_404(code)
    kind = request.args.get("kind", "job")
    size = request.args.get("size", "4x6")
    if size not in ("4x6", "58", "80"):
        size = "4x6"
    return render_template("printing/browser_print.html", order=order, kind=kind, size=size)
