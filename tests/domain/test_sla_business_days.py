import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tracker.domain.sla import add_business_days

DENVER = ZoneInfo("America/Denver")


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
    assert add_business_days(start, days, DENVER) == due.astimezone(dt.timezone.utc)
