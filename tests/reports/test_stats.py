"""The reports' arithmetic, alone (no app)."""
from __future__ import annotations

import datetime as dt

import pytest

from tracker.reports import stats


def test_median():
    assert stats.median([]) is None
    assert stats.median([5]) == 5
    assert stats.median([3, 1, 2]) == 2
    assert stats.median([4, 1, 3, 2]) == 2.5
    assert stats.median([1, None, 3]) == 2  # None values are skipped


def test_percentile_linear_interpolation():
    xs = [2, 4, 16, 2]  # sorted 2, 2, 4, 16
    assert stats.percentile(xs, 0) == 2
    assert stats.percentile(xs, 100) == 16
    assert stats.percentile(xs, 90) == pytest.approx(12.4)  # rank 2.7: 4 + 0.7 * (16 - 4)
    assert stats.percentile(range(1, 11), 90) == pytest.approx(9.1)  # numpy's default gives 9.1 too
    assert stats.percentile([7], 90) == 7
    with pytest.raises(ValueError):
        stats.percentile([1], 101)


def test_summary_rounds():
    assert stats.summary([1, 2]) == (2, 1.5, 1.9)
    assert stats.summary([]) == (0, None, None)


def test_durations():
    assert stats.hours(dt.timedelta(days=1, minutes=30)) == 24.5
    assert stats.days(dt.timedelta(hours=36)) == 1.5


def test_iso_week_uses_the_iso_year():
    assert stats.iso_week(dt.date(2026, 1, 5)) == "2026-W02"
    assert stats.iso_week(dt.date(2026, 1, 1)) == "2026-W01"
    assert stats.iso_week(dt.date(2027, 1, 1)) == "2026-W53"  # a Friday: still the last week of 2026


def test_share():
    assert stats.share(1, 2) == "1 of 2 (50%)"
    assert stats.share(2, 3) == "2 of 3 (66.7%)"
    assert stats.share(0, 0) == "–"


TODAY = dt.date(2026, 1, 20)


def test_range_default_is_the_last_28_days():
    assert stats.resolve_range(None, None, TODAY) == (dt.date(2025, 12, 24), TODAY, None)
    assert stats.resolve_range("", " ", TODAY) == (dt.date(2025, 12, 24), TODAY, None)


def test_range_given():
    assert stats.resolve_range("2026-01-05", "2026-01-11", TODAY) == (dt.date(2026, 1, 5), dt.date(2026, 1, 11), None)
    assert stats.resolve_range("2025-01-21", "2026-01-20", TODAY)[2] is None  # 365 days
    assert stats.resolve_range("2025-01-20", "2026-01-20", TODAY)[2] is None  # 366 days


@pytest.mark.parametrize("first,last,words", [
    ("2026-13-01", "2026-01-11", "could not be read"),
    ("yesterday", "", "could not be read"),
    ("2026-01-11", "2026-01-05", "after the end date"),
    ("2025-01-19", "2026-01-20", "at most 366 days"),
])
def test_range_refused_falls_back_to_the_default(first, last, words):
    got_first, got_last, problem = stats.resolve_range(first, last, TODAY)
    assert (got_first, got_last) == (dt.date(2025, 12, 24), TODAY)
    assert words in problem
