"""Every report reads its date range through an index: no query plan walks a whole table of history
(SQLite's EXPLAIN QUERY PLAN; SQLite has no statistics here, as on a fresh shop database, so this is the
plan a shop gets). A full SCAN of events, stays, scans, jobs, orders or parcels would make a report's
cost grow with the history instead of with its range."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from sqlalchemy import event, text

from tests.conftest import PG_URL
from tests.reports import NOW, TZ, build_history
from tracker.extensions import db
from tracker.reports import Period, load_all

HISTORY_TABLES = ("events", "stage_stays", "scans", "jobs", "orders", "shipments", "tracking_events")

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's planner; PostgreSQL plans from its statistics")


def test_no_report_scans_a_whole_table_of_history(ctx):
    with time_machine.travel(NOW, tick=False):
        build_history()
        statements = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith(("SELECT", "WITH")):
                statements.append((statement, parameters))

        engine = db.engine
        event.listen(engine, "before_cursor_execute", capture)
        try:
            for name, report in load_all().items():
                for days in (7, 90):
                    report.compute(Period(dt.date(2026, 1, 11) - dt.timedelta(days=days - 1), dt.date(2026, 1, 11), TZ))
        finally:
            event.remove(engine, "before_cursor_execute", capture)
    assert statements
    scans = []
    conn = db.session.connection().connection.driver_connection
    for statement, parameters in statements:
        for row in conn.execute("EXPLAIN QUERY PLAN " + statement, parameters):
            detail = row[-1]
            m = re.match(r"SCAN (\w+)", detail)
            if m and m.group(1) in HISTORY_TABLES:
                scans.append((detail, statement))
    assert not scans, "\n\n".join(f"{d}\n{s}" for d, s in scans)
