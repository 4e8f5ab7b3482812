"""The delivery estimate, alone (no Flask, no database)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tracker.domain import eta
from tracker.domain.calendar import BusinessCalendar

TZ = ZoneInfo("America/Denver")
WEEKDAYS = BusinessCalendar.weekdays(TZ)  # the estimate's calendar when the shop has not set one
UTC = dt.timezone.utc
MON = dt.datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # Monday 09:00 in Denver
SLA = {"received": eta.Typical(4, False), "production": eta.Typical(24, False), "labeled": eta.Typical(8, False)}


def test_carrier_estimate_wins():
    e = eta.estimate_delivery(now=MON, tz=TZ, calendar=WEEKDAYS, promised=dt.date(2026, 3, 10),
                              carrier_estimate=dt.date(2026, 3, 4), current_stage="received",
                              remaining_stages=["production"], stage_typical=SLA)
    assert (e.date, e.source, e.late) == (dt.date(2026, 3, 4), "carrier", False)


def test_late_when_after_the_promised_date():
    e = eta.estimate_delivery(now=MON, tz=TZ, calendar=WEEKDAYS, promised=dt.date(2026, 3, 3),
                              carrier_estimate=dt.date(2026, 3, 5))
    assert e.late and e.promised == dt.date(2026, 3, 3)
    assert not eta.estimate_delivery(now=MON, tz=TZ, calendar=WEEKDAYS, promised=None,
                                     carrier_estimate=dt.date(2026, 3, 5)).late


def test_typical_times_add_remaining_stages_and_transit():
    # 4h + 24h + 8h of working time from Monday 09:00 -> Tuesday 21:00, + 3 days transit -> Friday.
    e = eta.estimate_delivery(now=MON, tz=TZ, calendar=WEEKDAYS, promised=None, current_stage="received",
                              stage_entered_at=MON, remaining_stages=["production", "labeled"], stage_typical=SLA)
    assert (e.date, e.source) == (dt.date(2026, 3, 6), "typical times")


def test_time_already_spent_in_the_stage_counts():
    entered = MON - dt.timedelta(hours=3)
    e1 = eta.estimate_delivery(now=MON, tz=TZ, calendar=WEEKDAYS, promised=None, current_stage="production",
                               stage_entered_at=MON, stage_typical=SLA, transit=eta.Typical(0, False))
    e2 = eta.estimate_delivery(now=MON, tz=TZ, calendar=WEEKDAYS, promised=None, current_stage="production",
                               stage_entered_at=entered, stage_typical=SLA, transit=eta.Typical(0, False))
    assert e1.date == dt.date(2026, 3, 3) and e2.date == dt.date(2026, 3, 3)
    long_ago = eta.estimate_delivery(now=MON, tz=TZ, calendar=WEEKDAYS, promised=None, current_stage="production",
                                     stage_entered_at=MON - dt.timedelta(days=10), stage_typical=SLA,
                                     transit=eta.Typical(0, False))
    assert long_ago.date == dt.date(2026, 3, 2)  # overdue stage: never before today


def test_production_skips_weekends_but_transit_does_not():
    fri = dt.datetime(2026, 3, 6, 22, 0, tzinfo=UTC)  # Friday 15:00 Denver
    e = eta.estimate_delivery(now=fri, tz=TZ, calendar=WEEKDAYS, promised=None, current_stage="production",
                              stage_entered_at=fri, stage_typical=SLA, transit=eta.Typical(0, False))
    assert e.date == dt.date(2026, 3, 9)  # 9h left on Friday, the other 15h on Monday
    picked = eta.estimate_delivery(now=fri, tz=TZ, calendar=WEEKDAYS, promised=None, picked_up_at=fri)
    assert picked.date == dt.date(2026, 3, 9)  # Friday 15:00 + 72h = Monday 15:00


def test_history_used_when_there_are_enough_samples():
    assert eta.typical([1, 2, 3, 4], 24) == eta.Typical(24.0, False)
    assert eta.typical([1, 2, 3, 4, 50], 24) == eta.Typical(3.0, True)
    assert eta.typical([], None) == eta.Typical(0.0, False)
    e = eta.estimate_delivery(now=MON, tz=TZ, calendar=WEEKDAYS, promised=None, current_stage="received",
                              stage_entered_at=MON, stage_typical={"received": eta.typical([2] * 5, 4)})
    assert e.source == "shop history"


def test_business_hours_and_stage_samples():
    sat = dt.datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    assert WEEKDAYS.hours_between(sat, sat + dt.timedelta(hours=30)) == 0
    assert WEEKDAYS.hours_between(MON, MON + dt.timedelta(hours=5)) == 5
    moves = [(1, "received", MON), (2, "received", MON), (1, "production", MON + dt.timedelta(hours=2)),
             (1, "qc", MON + dt.timedelta(hours=26)), (2, "production", MON + dt.timedelta(hours=6))]
    assert eta.stage_samples(moves, WEEKDAYS) == {"received": [2.0, 6.0], "production": [24.0]}


def test_add_business_hours_from_a_weekend_starts_monday():
    sun = dt.datetime(2026, 3, 8, 18, 0, tzinfo=UTC)
    assert WEEKDAYS.add_hours(sun, 2) == dt.datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # Mon 02:00 MDT


# -- with the shop's own opening hours -----------------------------------------------------------

SHOP = BusinessCalendar(TZ, {d: (dt.time(8), dt.time(17)) for d in range(5)})  # Mon-Fri 08:00-17:00


def test_production_counts_the_shops_open_hours():
    # 4h + 24h + 8h from Monday 09:00 in 9-hour days: Mon 8h, Tue 9h, Wed 9h, Thu 9h, Fri 1h -> Fri 09:00;
    # with no transit the parcel is ready that Friday (weekday-only counting said Tuesday).
    e = eta.estimate_delivery(now=MON, tz=TZ, calendar=SHOP, promised=None, current_stage="received",
                              stage_entered_at=MON, remaining_stages=["production", "labeled"], stage_typical=SLA,
                              transit=eta.Typical(0, False))
    assert e.date == dt.date(2026, 3, 6)


def test_stage_samples_leave_out_nights():
    mon_1600 = dt.datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # Monday 16:00 Denver
    moves = [(1, "received", mon_1600), (1, "production", mon_1600 + dt.timedelta(hours=18))]  # Tue 10:00
    assert eta.stage_samples(moves, SHOP) == {"received": [3.0]}
