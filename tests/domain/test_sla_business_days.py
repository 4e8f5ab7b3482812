"""N working days after a moment (the carrier's "no scan" alert): BusinessCalendar.add_days, which replaced
sla.add_business_days. With weekdays() it gives exactly what the old helper gave."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tracker.domain.calendar import BusinessCalendar

DENVER = ZoneInfo("America/Denver")
WEEKDAYS = BusinessCalendar.weekdays(DENVER)


def local(y, m, d, h=0, mi=0):
    return dt.datetime(y, m, d, h, mi, tzinfo=DENVER)


@pytest.mark.parametrize("start, days, due", [
    (local(2026, 3, 2, 10), 1, local(2026, 3, 3, 10)),    # Monday -> Tuesday
    (local(2026, 3, 6, 10), 1, local(2026, 3, 9, 10)),    # Friday -> Monday, the weekend skipped
    (local(2026, 3, 7, 10), 1, local(2026, 3, 10, 0)),    # Saturday: counts from Monday 00:00
    (local(2026, 3, 5, 15), 2, local(2026, 3, 9, 15)),    # Thursday + 2 -> Monday
    (local(2026, 3, 2, 10), 0.5, local(2026, 3, 2, 22)),  # half a day
])
def test_business_days_skip_weekends(start, days, due):
    assert WEEKDAYS.add_days(start, days) == due.astimezone(dt.timezone.utc)


@pytest.mark.parametrize("start, days, due", [
    (local(2026, 3, 6, 12), 0.5, local(2026, 3, 9, 0)),   # a day's end falls on the weekend: Monday 00:00
    (local(2026, 3, 6, 20), 0.5, local(2026, 3, 9, 8)),   # the half day goes on past the weekend
    (local(2026, 3, 6, 10), 1, local(2026, 3, 9, 10)),    # Friday before the spring-forward Sunday: same wall time
    (local(2026, 10, 30, 10), 1, local(2026, 11, 2, 10)),  # ...and before the fall-back Sunday
    (local(2026, 3, 2, 10), 5, local(2026, 3, 9, 10)),    # a working week is a calendar week
])
def test_weekends_dst_and_day_ends(start, days, due):
    assert WEEKDAYS.add_days(start, days) == due.astimezone(dt.timezone.utc)


def test_result_is_utc():
    assert WEEKDAYS.add_days(local(2026, 3, 2, 10), 1).tzinfo is dt.timezone.utc
