"""The quality report on a small hand-made history built through the real services (board moves, QC
scans, a QC fail on press, an undone scan), with every figure known in advance."""
from __future__ import annotations

import datetime as dt

import time_machine

from tests.factories import MANAGER, make_order
from tracker.extensions import db
from tracker.reports import REPORTS, Period
from tracker.reports import quality  # noqa: F401  (registers the report)
from tracker.services import orders as order_service
from tracker.services.orders import Actor
from tracker.services.scanning import record_scan, undo_scan
from tracker.settings import current_settings

UTC = dt.timezone.utc
# Denver is UTC-7 in early March 2026: the period Mon 2 - Tue 3 March is [07:00Z Mar 2, 07:00Z Mar 4).
BEFORE = dt.datetime(2026, 3, 1, 18, 0, tzinfo=UTC)   # Sun 1 March, 11:00 local
T0 = dt.datetime(2026, 3, 2, 16, 0, tzinfo=UTC)       # Mon 2 March, 09:00 local
AFTER = dt.datetime(2026, 3, 4, 16, 0, tzinfo=UTC)    # Wed 4 March, 09:00 local
SAM, LEE = Actor("sam", "operator"), Actor("lee", "operator")


def period():
    return Period(dt.date(2026, 3, 2), dt.date(2026, 3, 3), current_settings().shop.tz)


def scan(clock, at, station, code, actor, **kw):
    clock.move_to(at)
    s, _ = record_scan(station, code, actor=actor, **kw)
    db.session.commit()
    assert s.ok, s.message
    return s


def to_production(order, at):
    for i in range(2):  # received -> preproduction -> production, on the board
        order_service.move_order(order, None, actor=MANAGER, source="board", at=at + dt.timedelta(minutes=i))
    db.session.commit()


def build_history(clock):
    m = dt.timedelta(minutes=1)
    # Outside the period: a dtg job checked and failed on Sunday, and another failed on Wednesday.
    old = make_order([("Old tee", "dtg", 5)], at=BEFORE)
    to_production(old, BEFORE)
    scan(clock, BEFORE + 10 * m, "qc-1", old.jobs[0].code, SAM)
    scan(clock, BEFORE + 20 * m, "qc-1", old.jobs[0].code, SAM, action="qc_fail", reason="Misprint")

    o1 = make_order([("Team tee", "dtg", 12), ("Cap", "embroidery", 6)], at=T0)
    o2 = make_order([("Hoodie", "dtg", 3)], at=T0)
    o3 = make_order([("Tote", "dtg", 20)], at=T0)
    o4 = make_order([("Polo", "dtg", 8)], at=T0)
    for o in (o1, o2, o3, o4):
        to_production(o, T0)
    a, b = o1.jobs[0].code, o1.jobs[1].code
    c, d, e = o2.jobs[0].code, o3.jobs[0].code, o4.jobs[0].code
    scan(clock, T0 + 10 * m, "qc-1", a, SAM)                                         # A checked
    scan(clock, T0 + 11 * m, "qc-1", b, LEE)                                         # B checked
    scan(clock, T0 + 12 * m, "qc-1", a, SAM, action="qc_fail", reason="Misprint")    # A fails: back on press
    scan(clock, T0 + 30 * m, "qc-1", a, SAM)                                         # A passes the second time
    scan(clock, T0 + 31 * m, "qc-1", c, LEE, action="qc_fail", reason="Stain or damage")       # C fails while on press
    clock.move_to(T0 + 40 * m)
    order_service.move_job(o2.jobs[0], "qc", actor=Actor("maria", "manager"), source="board")  # C by hand
    db.session.commit()
    undone = scan(clock, T0 + 50 * m, "qc-1", d, SAM)                                # D: scanned, then undone
    clock.move_to(T0 + 50 * m + dt.timedelta(seconds=20))
    undo_scan(undone.uid, actor=SAM)
    db.session.commit()
    scan(clock, T0 + 60 * m, "qc-1", e, SAM)                                         # E checked
    # Wednesday (after the period): E fails.
    scan(clock, AFTER, "qc-1", e, SAM, action="qc_fail", reason="Stain or damage")


def test_quality_report_counts_checks_fails_and_reasons_in_the_period(ctx):
    with time_machine.travel(BEFORE, tick=False) as clock:
        build_history(clock)
        result = REPORTS["quality"].compute(period())
    tables = {t.key: t for t in result.tables}
    cols = ("Jobs checked", "Jobs failed", "Fail rate %", "Reprints", "Reprints per 100 checked")
    assert tables["by_method"].columns == ("Method", *cols)
    assert list(tables["by_method"].rows) == [
        ("dtg", 3, 2, 66.7, 2, 66.7),          # A, C, E checked (D's scan was undone); A and C failed once
        ("embroidery", 1, 0, 0.0, 0, 0.0),
    ]
    assert list(tables["by_station"].rows) == [
        ("qc-1", 4, 2, 50.0, 2, 50.0),
        ("(by hand)", 1, 0, 0.0, 0, 0.0),      # C moved into QC on the board
    ]
    assert list(tables["by_operator"].rows) == [
        ("lee", 2, 1, 50.0, 1, 50.0),
        ("sam", 2, 1, 50.0, 1, 50.0),
        ("maria", 1, 0, 0.0, 0, 0.0),
    ]
    assert list(tables["reasons"].rows) == [("Misprint", "dtg", 1, 50.0), ("Stain or damage", "dtg", 1, 50.0)]
    assert dict(result.summary) == {"Jobs checked": "4", "Jobs failed QC": "2", "Fail rate": "50.0%",
                                    "Reprints": "2"}
    (chart,) = result.charts
    assert chart.kind == "bar" and list(chart.labels) == ["dtg", "embroidery"]
    assert list(chart.series[0].values) == [66.7, 0.0]


def test_quality_report_of_an_empty_period(ctx):
    with time_machine.travel(BEFORE, tick=False) as clock:
        build_history(clock)
        result = REPORTS["quality"].compute(
            Period(dt.date(2026, 2, 1), dt.date(2026, 2, 7), current_settings().shop.tz))
    assert all(not t.rows for t in result.tables)
    assert dict(result.summary)["Jobs checked"] == "0" and dict(result.summary)["Fail rate"] == "–"
