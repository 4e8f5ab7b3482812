"""Reports pages (issue 9): /reports lists the reports; /reports/<name> shows one for a date range
(summary figures, charts as inline SVG, tables); /reports/<name>.csv?table=<key> exports one table.
Managers and admins only. Reports only read, so these views never commit."""
from __future__ import annotations

import csv
import datetime as dt
import io

from flask import Blueprint, Response, abort, flash, render_template, request, url_for

from ..auth import role_required
from ..models import utcnow
from ..reports import Period, load_all
from ..reports.stats import DEFAULT_RANGE_DAYS, MAX_RANGE_DAYS, PRESET_DAYS, resolve_range
from ..reports.svg import render as render_svg
from ..settings import current_settings

bp = Blueprint("reports", __name__)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _report_or_404(name: str):
    report = load_all().get(name)
    if report is None:
        abort(404, description=f"There is no report called “{name}”.")
    return report


def _period(*, for_file: bool = False) -> Period:
    tz = current_settings().shop.tz
    today = utcnow().astimezone(tz).date()
    first, last, problem = resolve_range(request.args.get("from"), request.args.get("to"), today)
    if problem:
        if for_file:  # a file of another range than asked for would mislead; the page's links are always valid
            abort(400)
        flash(problem, "error")
    return Period(first, last, tz)


@bp.get("/reports")
@role_required("manager")
def index():
    return render_template("reports/index.html", reports=load_all().values())


@bp.get("/reports/<name>")
@role_required("manager")
def show(name: str):
    report = _report_or_404(name)
    period = _period()
    result = report.compute(period)
    today = utcnow().astimezone(period.tz).date()
    presets = [(n, today - dt.timedelta(days=n - 1), today) for n in PRESET_DAYS]
    return render_template("reports/show.html", report=report, period=period, result=result,
                           charts=[(c, render_svg(c)) for c in result.charts], presets=presets,
                           max_days=MAX_RANGE_DAYS, default_days=DEFAULT_RANGE_DAYS)


def csv_cell(value) -> str:
    """A value as CSV text. Text that a spreadsheet would read as a formula (= + - @, or a tab or carriage
    return in front) gets a leading apostrophe, so opening the file never runs anything."""
    if value is None:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        text = str(value)
        return "'" + text if text.startswith(FORMULA_STARTS) else text
    return f"{value:g}" if isinstance(value, float) else str(value)


@bp.get("/reports/<name>.csv")
@role_required("manager")
def export(name: str):
    report = _report_or_404(name)
    key = request.args.get("table", "")
    period = _period(for_file=True)
    result = report.compute(period)
    table = next((t for t in result.tables if t.key == key), None)
    if table is None:
        abort(404, description=f"The report “{report.title}” has no table called “{key}”.")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(c) for c in table.columns])
    writer.writerows([csv_cell(v) for v in row] for row in table.rows)
    filename = f"{report.name}-{table.key}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    # The BOM makes Excel read the file as UTF-8 (as the import template does).
    return Response("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def csv_url(report, table, period: Period) -> str:
    return url_for("reports.export", name=report.name, table=table.key, **{"from": period.first.isoformat(),
                                                                         "to": period.last.isoformat()})


bp.add_app_template_global(csv_url, "report_csv_url")
