"""Due date at risk, alone: the slowest piece of remaining work at the typical pace, plus transit."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tracker.domain import eta
from tracker.domain.calendar import BusinessCalendar

TZ = ZoneInfo("America/Denver")
UTC = dt.timezone.utc
WEEKDAYS = BusinessCalendar.weekdays(TZ)
SHOP_HOURS = BusinessCalendar(TZ, {d: (dt.time(8), dt.time(17)) for d in range(5)})
PEOPLE = ["received", "preproduction", "production", "qc", "packaging", "labeled"]
TYPICAL = {"received": eta.Typical(2, False), "preproduction": eta.Typical(6, False),
           "production": eta.Typical(8, False), "qc": eta.Typical(2, False), "packaging": eta.Typical(1, False),
           "labeled": eta.Typical(4, False)}
TRANSIT = eta.Typical(72, False)
MON_10 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=TZ)


def risk(due, work, *, now=MON_10, calendar=WEEKDAYS, margin=0.0, transit=TRANSIT):
    return eta.due_risk(now=now.astimezone(UTC), tz=TZ, calendar=calendar, due=due, work=work, people_stages=PEOPLE,
                        stage_typical=TYPICAL, transit=transit, margin_hours=margin)


def test_remaining_stages_then_transit_against_the_end_of_the_due_day():
    # production 8 + qc 2 + packaging 1 + labeled 4 = 15 h from Mon 10:00 -> Tue 01:00; + 72 h -> Fri 01:00.
    r = risk(dt.date(2026, 3, 6), [("A1001A", "production", MON_10)])
    assert r.ready_at == dt.datetime(2026, 3, 3, 1, 0, tzinfo=TZ)
    assert r.arrival == dt.datetime(2026, 3, 6, 1, 0, tzinfo=TZ)
    assert r.deadline == dt.datetime(2026, 3, 7, 0, 0, tzinfo=TZ)
    assert not r.at_risk                                                       # Friday 01:00 makes Friday
    assert risk(dt.date(2026, 3, 5), [("A1001A", "production", MON_10)]).at_risk  # but not Thursday


def test_the_slowest_job_decides_and_time_spent_counts():
    work = [("A1001A", "packaging", MON_10), ("A1001B", "received", MON_10 - dt.timedelta(hours=1)),
            ("A1001C", "production", MON_10)]
    r = risk(dt.date(2026, 3, 6), work)
    # B: 1 h of received left + 6 + 8 + 2 + 1 + 4 = 22 h -> Tue 08:00; arrival Fri 08:00.
    assert (r.code, r.stage, r.ready_at) == ("A1001B", "received", dt.datetime(2026, 3, 3, 8, 0, tzinfo=TZ))


def test_an_overdue_stage_adds_nothing_of_its_own():
    r = risk(dt.date(2026, 3, 6), [("A1001A", "production", MON_10 - dt.timedelta(days=3))])
    # Its 8 h are spent (Fri..Mon working time): only qc, packaging and labeled remain: 7 h -> Mon 17:00.
    assert r.ready_at == dt.datetime(2026, 3, 2, 17, 0, tzinfo=TZ)


def test_weekends_and_shop_hours_push_the_work_out():
    fri_15 = dt.datetime(2026, 3, 6, 15, 0, tzinfo=TZ)
    r = risk(dt.date(2026, 3, 13), [("A1001A", "production", fri_15)], now=fri_15, calendar=SHOP_HOURS)
    # 15 open hours from Fri 15:00 in an 08:00-17:00 week: 2 on Friday, 9 on Monday, 4 on Tuesday -> Tue 12:00.
    assert r.ready_at == dt.datetime(2026, 3, 10, 12, 0, tzinfo=TZ)
    assert not r.at_risk
    assert risk(dt.date(2026, 3, 12), [("A1001A", "production", fri_15)], now=fri_15, calendar=SHOP_HOURS).at_risk


def test_the_margin_raises_the_alert_earlier():
    work = [("A1001A", "production", MON_10)]
    assert not risk(dt.date(2026, 3, 6), work, margin=22).at_risk   # arrives Fri 01:00 + 22 h = Fri 23:00
    assert risk(dt.date(2026, 3, 6), work, margin=23.5).at_risk     # Sat 00:30: past the due day


def test_nothing_left_at_the_shop_is_no_risk_to_judge():
    assert risk(dt.date(2026, 3, 6), []) is None
    assert risk(dt.date(2026, 3, 6), [("A1001", "picked_up", MON_10)]) is None
