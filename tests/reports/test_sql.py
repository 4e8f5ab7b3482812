"""The SQL pieces the reports share, on the test database (SQLite, or PostgreSQL in CI)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import literal, null, select

from tracker.extensions import db
from tracker.models import UTCDateTime
from tracker.reports import Period
from tracker.reports.sql import bucket, day_ends, hours_between

DENVER = ZoneInfo("America/Denver")
# Sat 7 to Mon 9 March 2026: clocks go forward at 02:00 on Sunday the 8th (a 23-hour day).
PERIOD = Period(dt.date(2026, 3, 7), dt.date(2026, 3, 9), DENVER)


def at(value):
    return literal(value, UTCDateTime())


def local(day, hour, minute=0):
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=DENVER)


@pytest.mark.parametrize("when, index", [
    (local(6, 23, 59), 0),  # before the period: its first day (callers filter the range)
    (local(7, 0), 0), (local(7, 23, 59), 0),
    (local(8, 0), 1), (local(8, 1, 59), 1), (local(8, 3), 1), (local(8, 23, 59), 1),
    (local(9, 0), 2), (local(9, 23, 59), 2),
    (local(10, 0), 3),  # after the period: one past its last day
])
def test_bucket_is_the_local_day_across_a_clock_change(ctx, when, index):
    assert db.session.scalar(select(bucket(at(when), day_ends(PERIOD)))) == index
    assert PERIOD.days()[min(index, 2)] == max(min(when.date(), dt.date(2026, 3, 9)), dt.date(2026, 3, 7))


def test_bucket_of_null_is_null_and_bounds_of_any_length(ctx):
    assert db.session.scalar(select(bucket(null(), day_ends(PERIOD)))) is None
    bounds = [dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=i) for i in range(366)]
    for i in (0, 1, 100, 183, 365):
        assert db.session.scalar(select(bucket(at(bounds[i]), bounds))) == i + 1
        assert db.session.scalar(select(bucket(at(bounds[i] - dt.timedelta(seconds=1)), bounds))) == i


def test_day_ends_are_local_midnights():
    ends = day_ends(PERIOD)
    assert [e.astimezone(DENVER) for e in ends] == [local(8, 0), local(9, 0), local(10, 0)]
    assert ends[1] - ends[0] == dt.timedelta(hours=23)


def test_hours_between_is_wall_clock(ctx):
    start = local(7, 22)
    for later, hours in ((local(8, 4), 5.0), (start + dt.timedelta(minutes=90), 1.5), (start, 0.0),
                         (start + dt.timedelta(days=30), 719.0)):  # 30 local days, one an hour short
        assert db.session.scalar(select(hours_between(at(start), at(later)))) == pytest.approx(hours, abs=1e-6)
