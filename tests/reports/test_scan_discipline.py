"""The scan-discipline report on a small hand-made history built through the real services: scans at the
stations, moves and a skip on the board, refused scans, an undone scan, work left in a stage overnight,
and activity before and after the period that must not count."""
from __future__ import annotations

import datetime as dt

import time_machine

from tests.factories import make_order
from tracker.extensions import db
from tracker.reports import REPORTS, Period
from tracker.reports import scans as scans_report  # registers the report
from tracker.services import orders as order_service
from tracker.services.orders import Actor
from tracker.services.scanning import record_scan, undo_scan
from tracker.settings import current_settings

UTC = dt.timezone.utc
# Denver is UTC-7 in early March 2026: the period Mon 2 - Tue 3 March is [07:00Z Mar 2, 07:00Z Mar 4).
BEFORE = dt.datetime(2026, 3, 1, 18, 0, tzinfo=UTC)   # Sun 1 March, 11:00 local
T0 = dt.datetime(2026, 3, 2, 16, 0, tzinfo=UTC)       # Mon 2 March, 09:00 local
T1 = dt.datetime(2026, 3, 3, 16, 0, tzinfo=UTC)       # Tue 3 March, 09:00 local
AFTER = dt.datetime(2026, 3, 4, 16, 0, tzinfo=UTC)    # Wed 4 March, 09:00 local
M = dt.timedelta(minutes=1)
SAM, LEE, MARIA = Actor("sam", "operator"), Actor("lee", "operator"), Actor("maria", "manager")


def scan(clock, at, station, code, actor, ok=True):
    clock.move_to(at)
    s, _ = record_scan(station, code, actor=actor)
    db.session.commit()
    assert s.ok is ok, s.message
    return s


def board(clock, at, job, to, note=None):
    clock.move_to(at)
    order_service.move_job(job, to, actor=MARIA, source="board", note=note)
    db.session.commit()


def build_history(clock):
    # Sunday, before the period: a scan and a skip that must not count.
    old = make_order([("Old tee", "dtg", 5)], at=BEFORE)
    scan(clock, BEFORE + M, "art-desk", old.jobs[0].code, SAM)
    board(clock, BEFORE + 2 * M, old.jobs[0], "qc", note="rush")

    # Monday.
    clock.move_to(T0)
    o1 = make_order([("Team tee", "dtg", 12), ("Cap", "embroidery", 6)], at=T0)
    a, b = o1.jobs
    scan(clock, T0 + 10 * M, "art-desk", a.code, SAM)
    scan(clock, T0 + 11 * M, "art-desk", b.code, SAM)
    board(clock, T0 + 20 * M, a, "production")
    scan(clock, T0 + 21 * M, "qc-1", b.code, LEE, ok=False)        # B is not on press yet: refused
    scan(clock, T0 + 22 * M, "qc-1", "NOPE", LEE, ok=False)        # not a code: refused
    board(clock, T0 + 30 * M, b, "qc", note="rush: printed on the other press")  # skips production
    scan(clock, T0 + 40 * M, "qc-1", a.code, LEE)
    # A and B are in QC at midnight on Monday.

    # Tuesday.
    scan(clock, T1, "pack-1", o1.code, SAM)                         # the order is packed, as one
    o2 = make_order([("Hoodie", "dtg", 3)], at=T1)
    c = o2.jobs[0]
    scan(clock, T1 + 5 * M, "art-desk", c.code, SAM)
    undone = scan(clock, T1 + 10 * M, "press-1", c.code, SAM)       # scanned, then undone
    clock.move_to(T1 + 10 * M + dt.timedelta(seconds=20))
    undo_scan(undone.uid, actor=SAM)
    db.session.commit()
    # O1 is still packing and C still in pre-production at midnight on Tuesday.

    # Wednesday, after the period: a refused scan and a skip that must not count.
    o3 = make_order([("Tote", "dtg", 20)], at=AFTER)
    scan(clock, AFTER + M, "qc-1", o3.jobs[0].code, LEE, ok=False)
    board(clock, AFTER + 2 * M, o3.jobs[0], "production", note="art supplied")


def compute(clock, first=dt.date(2026, 3, 2), last=dt.date(2026, 3, 3)):
    clock.move_to(AFTER + dt.timedelta(hours=1))
    return REPORTS["scan-discipline"].compute(Period(first, last, current_settings().shop.tz))


def test_scan_discipline_report(ctx):
    with time_machine.travel(BEFORE, tick=False) as clock:
        build_history(clock)
        result = compute(clock)
    t = {table.key: table for table in result.tables}
    assert list(t["by_stage"].rows) == [
        ("Pre-production", "art-desk", 3, 3, 0, 100.0),   # A, B on Monday, C on Tuesday (its press scan was undone)
        ("On press", "press-1", 1, 0, 1, 0.0),            # A on the board
        ("Quality check", "qc-1", 2, 1, 1, 50.0),         # A scanned; B skipped into it on the board
        ("Packaging", "pack-1", 1, 1, 0, 100.0),          # the order, once (not once per job)
    ]
    assert list(t["by_operator"].rows) == [
        ("sam", 4, 4, 0, 100.0),
        ("maria", 2, 0, 2, 0.0),
        ("lee", 1, 1, 0, 100.0),
    ]
    assert list(t["skips"].rows) == [("On press", "press-1", "maria", 1)]
    assert list(t["missed"].rows) == [("art-desk", "Pre-production", 0), ("press-1", "On press", 1),
                                      ("qc-1", "Quality check", 0), ("pack-1", "Packaging", 0)]
    assert list(t["refused"].rows) == [("art-desk", 3, 0, 0.0), ("pack-1", 1, 0, 0.0), ("press-1", 1, 0, 0.0),
                                       ("qc-1", 3, 2, 66.7)]
    assert list(t["refusal_reasons"].rows) == [
        ("qc-1", "Unknown code '…'", 1),
        ("qc-1", "… is in Pre-production; On press comes next", 1),
    ]
    assert list(t["left_open"].rows) == [
        (dt.date(2026, 3, 2), "Quality check", 2, "jobs"),
        (dt.date(2026, 3, 3), "Pre-production", 1, "jobs"),
        (dt.date(2026, 3, 3), "Packaging", 1, "orders"),
    ]
    assert dict(result.summary) == {"Moves by people": "7", "Share by scan": "71.4%", "Missed scans": "1",
                                    "Refused scans": "2"}
    (chart,) = result.charts
    assert list(chart.labels) == ["art-desk (Pre-production)", "press-1 (On press)", "qc-1 (Quality check)",
                                  "pack-1 (Packaging)"]
    assert list(chart.series[0].values) == [100.0, 0.0, 50.0, 100.0]


def test_a_day_that_is_not_over_is_not_counted_as_left_open(ctx):
    with time_machine.travel(BEFORE, tick=False) as clock:
        build_history(clock)
        clock.move_to(T1 + dt.timedelta(hours=2))  # Tuesday 11:00 in the shop
        result = REPORTS["scan-discipline"].compute(
            Period(dt.date(2026, 3, 2), dt.date(2026, 3, 3), current_settings().shop.tz))
    rows = {t.key: t for t in result.tables}["left_open"].rows
    assert list(rows) == [(dt.date(2026, 3, 2), "Quality check", 2, "jobs")]


def test_only_the_period_counts(ctx):
    with time_machine.travel(BEFORE, tick=False) as clock:
        build_history(clock)
        result = compute(clock, dt.date(2026, 3, 4), dt.date(2026, 3, 4))   # Wednesday alone
    t = {table.key: table for table in result.tables}
    assert list(t["by_stage"].rows) == [("On press", "press-1", 1, 0, 1, 0.0)]
    assert list(t["skips"].rows) == [("Pre-production", "art-desk", "maria", 1)]
    assert list(t["refused"].rows) == [("qc-1", 1, 1, 100.0)]
    assert list(t["left_open"].rows) == []   # Wednesday is not over


def test_reason_of_takes_the_codes_out():
    assert scans_report.reason_of("A1001A is already in Quality check") == "… is already in Quality check"
    assert scans_report.reason_of("Unknown code 'XYZ'") == "Unknown code '…'"
