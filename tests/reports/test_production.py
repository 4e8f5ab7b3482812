"""Production reports against the hand-made history of tests/reports/__init__.py: every figure worked
out by hand (hours and days are wall-clock)."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tests.reports import NOW, TZ, build_history
from tracker.reports import Period, load_all

WEEK = Period(dt.date(2026, 1, 5), dt.date(2026, 1, 11), TZ)


@pytest.fixture
def history(ctx):
    with time_machine.travel(NOW, tick=False):
        yield build_history()


def compute(name, period=WEEK):
    return load_all()[name].compute(period)


def table(result, key):
    return next(t for t in result.tables if t.key == key)


def test_registered_in_order(ctx):
    names = [r.name for r in load_all().values() if 10 <= r.order <= 19]
    assert names == ["stage-times", "throughput", "work-in-progress", "lead-time"]


def test_stage_times_by_stage(history):
    result = compute("stage-times")
    rows = {r[0]: r[1:] for r in table(result, "by-stage").rows}
    # received: tee 2 h, cap 4 h, hoodie 16 h (entered before the period, left in it), poster 2 h.
    # E's received stay ended after the period; the poster's pre-production stay ended by cancelling.
    assert rows["Received"] == (4, 3.0, 12.4)
    assert rows["Pre-production"] == (3, 22.0, 23.6)  # 22, 24, 6
    assert rows["On press"] == (3, 20.0, 20.0)  # 6, 20, 20
    assert rows["Quality check"] == (3, 2.0, 16.4)  # tee 20 (until the order was packed), cap 2, hoodie 2
    assert rows["Packaging"] == (2, 1.5, 1.9)  # orders: A 2, B 1
    assert rows["Label"] == (2, 26.5, 43.7)  # A 5, B 48
    assert rows["Carrier pickup"] == (2, 30.5, 42.1)  # A 16, B 45
    assert rows["In transit"] == (1, 23.0, 23.0)
    assert rows["Out for delivery"] == (1, 5.0, 5.0)
    assert "Delivered" not in rows
    assert dict(result.summary)["Stays measured"] == "21"
    chart = result.charts[0]
    assert chart.kind == "bar" and chart.unit == "hours"
    assert chart.labels[:2] == ["Received", "Pre-production"]
    assert [s.name for s in chart.series] == ["Median", "90th percentile"]
    assert chart.series[0].values[0] == 3.0 and chart.series[1].values[0] == 12.4


def test_stage_times_by_method_and_week(history):
    result = compute("stage-times")
    by_method = {(r[0], r[1]): r[2:] for r in table(result, "by-method").rows}
    assert by_method[("Received", "dtg")] == (2, 2.0, 2.0)  # tee, poster
    assert by_method[("Received", "embroidery")] == (1, 4.0, 4.0)
    assert by_method[("Received", "screen")] == (1, 16.0, 16.0)
    assert by_method[("Quality check", "dtg")] == (1, 20.0, 20.0)
    assert not any(stage == "Packaging" for stage, _ in by_method)  # order stages have no single method
    weeks = {(r[0], r[1]): r[2:] for r in table(result, "by-week").rows}
    assert weeks[("Received", "2026-W02")] == (4, 3.0, 12.4)
    assert {w for _, w in weeks} == {"2026-W02"}


def test_stage_times_only_counts_stays_that_ended_in_the_period(history):
    # Jan 12 alone: E's 13-day stay in received (Dec 30 09:00 to Jan 12 09:00) is the only one that ended.
    result = compute("stage-times", Period(dt.date(2026, 1, 12), dt.date(2026, 1, 12), TZ))
    rows = {r[0]: r[1:] for r in table(result, "by-stage").rows}
    assert rows["Received"] == (1, 312.0, 312.0)
    assert rows["Pre-production"] == (0, None, None)


def test_throughput_per_day(history):
    result = compute("throughput")
    rows = {r[0]: r[1:] for r in table(result, "per-day").rows}
    assert len(rows) == 7
    assert rows[dt.date(2026, 1, 5)] == (0, 0, 0)
    assert rows[dt.date(2026, 1, 6)] == (2, 0, 0)  # tee and hoodie reached QC
    assert rows[dt.date(2026, 1, 7)] == (1, 1, 0)  # cap; A handed over
    assert rows[dt.date(2026, 1, 8)] == (0, 1, 0)  # B handed over
    assert rows[dt.date(2026, 1, 9)] == (0, 0, 1)  # A delivered
    assert rows[dt.date(2026, 1, 10)] == (0, 0, 1)  # B delivered
    assert rows[dt.date(2026, 1, 11)] == (0, 0, 0)
    assert dict(result.summary) == {"Jobs finished production": "3", "Orders handed to the carrier": "2",
                                    "Orders delivered": "2"}
    assert result.charts[0].kind == "line" and len(result.charts[0].labels) == 7


def test_work_in_progress_per_day(history):
    result = compute("work-in-progress")
    t = table(result, "per-day")
    assert t.columns == ("Date", "Received", "Pre-production", "On press", "Quality check", "Packaging", "Label",
                         "Total")
    rows = {r[0]: r[1:] for r in t.rows}
    # E and F sit in received all week; D arrives on the 11th; C is cancelled on the 10th.
    assert rows[dt.date(2026, 1, 5)] == (2, 2, 1, 0, 0, 0, 5)
    assert rows[dt.date(2026, 1, 6)] == (2, 1, 1, 1, 0, 1, 6)
    assert rows[dt.date(2026, 1, 7)] == (2, 1, 0, 0, 0, 1, 4)
    assert rows[dt.date(2026, 1, 8)] == (2, 1, 0, 0, 0, 0, 3)
    assert rows[dt.date(2026, 1, 9)] == (2, 1, 0, 0, 0, 0, 3)
    assert rows[dt.date(2026, 1, 10)] == (2, 0, 0, 0, 0, 0, 2)
    assert rows[dt.date(2026, 1, 11)] == (3, 0, 0, 0, 0, 0, 3)
    assert dict(result.summary)["Jobs in progress at the end of the period"] == "3"


def test_work_in_progress_before_any_move_in_the_period(history):
    # Dec 31: only E and F existed, both in received, and nothing moved that day.
    result = compute("work-in-progress", Period(dt.date(2025, 12, 31), dt.date(2025, 12, 31), TZ))
    assert table(result, "per-day").rows == [(dt.date(2025, 12, 31), 2, 0, 0, 0, 0, 0, 2)]


def test_lead_time_and_on_time_rate(history):
    result = compute("lead-time")
    s = dict(result.summary)
    # To the carrier: A 2 d 9 h = 2.375 d, B 3 d 21 h = 3.875 d. Delivered: A 4 d 5 h, B 5 d 18 h = 5.75 d.
    assert s["Orders handed to the carrier"] == "2"
    assert s["Median days, order to carrier"] == "3.1"
    assert s["Orders delivered"] == "2"
    assert s["Median days, order to delivery"] == "5"
    assert s["Delivered on time"] == "1 of 2 (50%)"  # A on its due day; B three days late
    assert s["Shipped on time"] == "1 of 2 (50%)"  # B handed over a day after its due date
    assert table(result, "by-week").rows == [("2026-W02", 2, 3.1, 3.7, 2, 5.0, 5.6)]
    assert table(result, "by-channel").rows == [("manual", 1, 2.4, 2.4, 1, 4.2, 4.2),
                                                ("shopify", 1, 3.9, 3.9, 1, 5.8, 5.8)]
    assert table(result, "late").rows == [(history["B"], "shopify", dt.date(2026, 1, 7), dt.date(2026, 1, 10), 3)]


def test_empty_period(history):
    period = Period(dt.date(2025, 6, 1), dt.date(2025, 6, 7), TZ)
    assert all(r[1] == 0 for r in table(compute("stage-times", period), "by-stage").rows)
    assert all(r[1:] == (0, 0, 0) for r in table(compute("throughput", period), "per-day").rows)
    assert all(r[-1] == 0 for r in table(compute("work-in-progress", period), "per-day").rows)
    lead = compute("lead-time", period)
    assert dict(lead.summary)["Delivered on time"] == "–"
    assert table(lead, "late").rows == []
