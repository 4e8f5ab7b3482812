"""Reports pages: who may see them, the date range, charts and tables, CSV export, 404s."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine

from tests.conftest import login
from tests.reports import NOW, build_history
from tracker.reports import Report, Result, Table, REPORTS

WEEK = {"from": "2026-01-05", "to": "2026-01-11"}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def history(app):
    with app.app_context():
        return build_history()


@pytest.fixture
def manager(client):
    return login(client, "manager")


def test_operator_is_refused(client):
    login(client, "operator")
    for url in ("/reports", "/reports/throughput", "/reports/throughput.csv?table=per-day"):
        assert client.get(url).status_code == 403
    assert 'href="/reports"' not in client.get("/").get_data(as_text=True)  # no nav link either


def test_logged_out_goes_to_login(client):
    resp = client.get("/reports")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_index_lists_the_production_reports(manager):
    html = manager.get("/reports").get_data(as_text=True)
    for title in ("Time in each stage", "Throughput", "Work in progress", "Lead time and on-time rate"):
        assert title in html
    assert html.index("Time in each stage") < html.index("Throughput") < html.index("Work in progress")
    assert 'href="/reports" class="active"' in html  # the nav link, marked as the current page


def test_admin_sees_the_nav_link(client):
    login(client, "admin")
    assert 'href="/reports"' in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("name", ["stage-times", "throughput", "work-in-progress", "lead-time"])
def test_each_report_renders(manager, history, name):
    resp = manager.get(f"/reports/{name}", query_string=WEEK)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and 'role="img"' in html
    assert 'value="2026-01-05"' in html and 'value="2026-01-11"' in html
    assert "Download CSV" in html and "flash-error" not in html
    assert "<style" not in html and "<script>" not in html  # no inline styles or scripts


def test_page_shows_figures(manager, history):
    html = manager.get("/reports/lead-time", query_string=WEEK).get_data(as_text=True)
    assert "1 of 2 (50%)" in html
    assert history["B"] in html  # the late order
    assert "/reports/lead-time.csv?table=late&amp;from=2026-01-05&amp;to=2026-01-11" in html


def test_default_range_is_the_last_28_days_in_shop_time(manager):
    html = manager.get("/reports/throughput").get_data(as_text=True)
    assert 'value="2025-12-24"' in html and 'value="2026-01-20"' in html
    for days, first in ((7, "2026-01-14"), (28, "2025-12-24"), (90, "2025-10-23")):
        assert f"from={first}&amp;to=2026-01-20" in html and f"Last {days} days" in html


def test_late_evening_is_still_today_in_shop_time(manager):
    # 23:30 in Denver on Jan 20 is already Jan 21 in UTC.
    with time_machine.travel(dt.datetime(2026, 1, 21, 6, 30, tzinfo=dt.timezone.utc), tick=False):
        html = manager.get("/reports/throughput").get_data(as_text=True)
    assert 'name="to" value="2026-01-20"' in html


@pytest.mark.parametrize("query,words", [
    ({"from": "2026-02-30", "to": "2026-03-01"}, "could not be read"),
    ({"from": "nonsense", "to": ""}, "could not be read"),
    ({"from": "2026-01-11", "to": "2026-01-05"}, "after the end date"),
    ({"from": "2024-01-01", "to": "2026-01-11"}, "at most 366 days"),
])
def test_bad_dates_flash_red_and_show_the_default(manager, query, words):
    resp = manager.get("/reports/stage-times", query_string=query)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'class="flash flash-error"' in html and words in html
    assert 'value="2025-12-24"' in html and 'value="2026-01-20"' in html
    assert "flash-error" not in manager.get("/reports/stage-times").get_data(as_text=True)  # shown once


def test_csv_export(manager, history):
    resp = manager.get("/reports/throughput.csv", query_string={**WEEK, "table": "per-day"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"] == \
        'attachment; filename="throughput-per-day-2026-01-05-2026-01-11.csv"'
    body = resp.get_data().decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body[1:])))
    assert rows[0] == ["Date", "Jobs finished production", "Orders handed to the carrier", "Orders delivered"]
    assert rows[1:] == [["2026-01-05", "0", "0", "0"], ["2026-01-06", "2", "0", "0"], ["2026-01-07", "1", "1", "0"],
                        ["2026-01-08", "0", "1", "0"], ["2026-01-09", "0", "0", "1"], ["2026-01-10", "0", "0", "1"],
                        ["2026-01-11", "0", "0", "0"]]
    stage = manager.get("/reports/stage-times.csv", query_string={**WEEK, "table": "by-stage"}).get_data().decode()
    assert "\r\nReceived,4,3,12.4\r\n" in stage and "\r\nDelivered" not in stage
    empty = manager.get("/reports/stage-times.csv",
                        query_string={"from": "2026-01-12", "to": "2026-01-12", "table": "by-stage"}).get_data().decode()
    assert "\r\nPre-production,0,,\r\n" in empty and "None" not in empty  # no stays: empty cells


@pytest.fixture
def evil_report():
    rows = [("=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "plain", -3.5, 7, None, dt.date(2026, 1, 5))]
    REPORTS["zz-evil"] = Report("zz-evil", "Evil", "d", lambda p: Result(tables=(Table("t", "T", list("abcdefghi"), rows),)))
    yield
    REPORTS.pop("zz-evil")


def test_csv_guards_against_formula_injection(manager, evil_report):
    body = manager.get("/reports/zz-evil.csv?table=t").get_data().decode("utf-8")
    rows = list(csv.reader(io.StringIO(body[1:])))
    assert rows[1] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)", "plain", "-3.5", "7", "", "2026-01-05"]


def test_csv_with_bad_dates_is_refused_not_changed(manager):
    resp = manager.get("/reports/throughput.csv?table=per-day&from=2026-01-11&to=2026-01-05")
    assert resp.status_code == 400


def test_unknown_report_and_table_are_404(manager):
    resp = manager.get("/reports/no-such-report")
    assert resp.status_code == 404 and "There is no report called" in resp.get_data(as_text=True)
    assert manager.get("/reports/no-such-report.csv?table=x").status_code == 404
    resp = manager.get("/reports/throughput.csv?table=nope")
    assert resp.status_code == 404 and "has no table called" in resp.get_data(as_text=True)
    assert manager.get("/reports/throughput.csv").status_code == 404
