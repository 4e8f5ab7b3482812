"""The shop's business calendar, alone (no Flask): open hours across nights, weekends, holidays and DST."""
from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from tracker.domain.calendar import BusinessCalendar
from tracker.domain.sla import is_stalled, stall_cutoff

DENVER = ZoneInfo("America/Denver")
UTC = dt.timezone.utc
NINE_TO_FIVE = (dt.time(8), dt.time(17))  # 08:00-17:00, the shop's usual day
SHOP = BusinessCalendar(DENVER, {d: NINE_TO_FIVE for d in range(5)})
HALF_SATURDAY = BusinessCalendar(DENVER, {**{d: NINE_TO_FIVE for d in range(5)}, 5: (dt.time(9), dt.time(13))})
XMAS = BusinessCalendar(DENVER, SHOP.hours, frozenset({dt.date(2026, 12, 25), dt.date(2026, 12, 28)}))


def at(y, m, d, h=0, mi=0, s=0):
    """A shop-local moment (America/Denver)."""
    return dt.datetime(y, m, d, h, mi, s, tzinfo=DENVER)


def utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC)


# 2026-03-02 is a Monday; 2026-03-08 (Sunday) springs forward; 2026-11-01 (Sunday) falls back;
# 2026-12-25 is a Friday.

# -- add_hours ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cal, start, hours, end", [
    (SHOP, at(2026, 3, 2, 16), 3, at(2026, 3, 3, 10)),       # across a night: Mon 16:00 + 3 h = Tue 10:00
    (SHOP, at(2026, 3, 6, 16), 2, at(2026, 3, 9, 9)),        # across a weekend (and the DST change)
    (SHOP, at(2026, 3, 2, 10), 2.5, at(2026, 3, 2, 12, 30)),  # within a day
    (SHOP, at(2026, 3, 2, 10), 45, at(2026, 3, 9, 10)),      # a whole working week is a calendar week
    (XMAS, at(2026, 12, 24, 16), 2, at(2026, 12, 29, 9)),    # Fri 25th and Mon 28th are holidays
    (SHOP, at(2026, 3, 2, 6), 1, at(2026, 3, 2, 9)),         # before opening: counts from 08:00
    (SHOP, at(2026, 3, 2, 20), 1, at(2026, 3, 3, 9)),        # after closing: counts from tomorrow's opening
    (SHOP, at(2026, 3, 7, 12), 1, at(2026, 3, 9, 9)),        # on a Saturday: counts from Monday
    (SHOP, at(2026, 3, 2, 16), 1, at(2026, 3, 2, 17)),       # ends exactly at closing: that closing
    (SHOP, at(2026, 3, 2, 17), 1, at(2026, 3, 3, 9)),        # starts exactly at closing: closed, tomorrow
    (SHOP, at(2026, 3, 2, 8), 9, at(2026, 3, 2, 17)),        # a whole day from its opening
    (HALF_SATURDAY, at(2026, 3, 6, 16), 3, at(2026, 3, 7, 11)),  # Saturday half day: Fri 1 h, Sat 2 h
    (HALF_SATURDAY, at(2026, 3, 7, 12), 2, at(2026, 3, 9, 9)),   # Sat 12-13, then Monday
])
def test_add_hours(cal, start, hours, end):
    result = cal.add_hours(start, hours)
    assert result == utc(end) and result.tzinfo is UTC
    assert cal.hours_between(start, result) == pytest.approx(hours)


def test_add_nothing_returns_the_start_unchanged_even_in_closed_time():
    sat = at(2026, 3, 7, 12)
    assert SHOP.add_hours(sat, 0) == utc(sat) and SHOP.add_hours(sat, -3) == utc(sat)
    assert SHOP.add_days(sat, 0) == utc(sat)


# -- hours_between --------------------------------------------------------------------------------

@pytest.mark.parametrize("cal, start, end, hours", [
    (SHOP, at(2026, 3, 2, 16), at(2026, 3, 3, 10), 3),
    (SHOP, at(2026, 3, 6, 16), at(2026, 3, 9, 9), 2),
    (SHOP, at(2026, 3, 7, 0), at(2026, 3, 9, 0), 0),         # a weekend
    (SHOP, at(2026, 3, 2, 17), at(2026, 3, 3, 8), 0),        # a night, closing to opening
    (SHOP, at(2026, 3, 2, 0), at(2026, 3, 3, 0), 9),
    (SHOP, at(2026, 3, 3, 10), at(2026, 3, 2, 10), 0),       # end before start
    (XMAS, at(2026, 12, 24, 8), at(2026, 12, 29, 17), 18),   # Thu and Tue; Fri 25th and Mon 28th closed
    (HALF_SATURDAY, at(2026, 3, 2, 0), at(2026, 3, 9, 0), 49),
])
def test_hours_between(cal, start, end, hours):
    assert cal.hours_between(start, end) == hours


def test_hours_between_takes_any_time_zone():
    start = dt.datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # Mon 16:00 in Denver
    assert SHOP.hours_between(start, at(2026, 3, 3, 10)) == 3


# -- DST in America/Denver ----------------------------------------------------------------------------

def test_spring_forward_and_fall_back_days_have_23_and_25_hours_when_open_all_day():
    always = BusinessCalendar.always_open(DENVER)
    assert always.hours_between(at(2026, 3, 8), at(2026, 3, 9)) == 23
    assert always.hours_between(at(2026, 11, 1), at(2026, 11, 2)) == 25
    assert always.add_hours(at(2026, 3, 8), 23) == utc(at(2026, 3, 9))


def test_a_night_shift_over_the_dst_change_loses_or_gains_the_hour():
    night = BusinessCalendar(DENVER, {6: (dt.time(0), dt.time(6))})  # Sundays 00:00-06:00 only
    assert night.hours_between(at(2026, 3, 8), at(2026, 3, 9)) == 5
    assert night.hours_between(at(2026, 11, 1), at(2026, 11, 2)) == 7
    assert night.add_hours(at(2026, 3, 8, 1), 2) == utc(at(2026, 3, 8, 4))  # 01:00 MST + 2 h = 04:00 MDT
    assert night.add_hours(at(2026, 3, 8, 1), 5) == utc(at(2026, 3, 15, 1))  # 4 h that night, then a week


def test_opening_hours_stay_on_the_wall_clock_across_dst():
    seven_days = BusinessCalendar(DENVER, {d: NINE_TO_FIVE for d in range(7)})
    assert seven_days.add_hours(at(2026, 3, 7, 16), 2) == utc(at(2026, 3, 8, 9))   # Sat MST -> Sun MDT
    assert seven_days.add_hours(at(2026, 10, 31, 16), 2) == utc(at(2026, 11, 1, 9))  # Sat MDT -> Sun MST
    assert seven_days.hours_between(at(2026, 3, 7, 8), at(2026, 3, 9, 8)) == 18
    assert seven_days.hours_between(at(2026, 10, 31, 8), at(2026, 11, 2, 8)) == 18
    opens, closes = seven_days.open_interval(dt.date(2026, 3, 8))
    assert (opens.hour, closes.hour, opens.utcoffset(), utc(opens).hour) == (8, 17, dt.timedelta(hours=-6), 14)


# -- days -------------------------------------------------------------------------------------------

def test_open_days_intervals_and_closing_times():
    assert SHOP.is_open_day(dt.date(2026, 3, 2)) and not SHOP.is_open_day(dt.date(2026, 3, 7))
    assert not XMAS.is_open_day(dt.date(2026, 12, 25))
    assert SHOP.open_interval(dt.date(2026, 3, 2)) == (at(2026, 3, 2, 8), at(2026, 3, 2, 17))
    assert SHOP.open_interval(dt.date(2026, 3, 2))[0].tzinfo is DENVER
    assert SHOP.open_interval(dt.date(2026, 3, 8)) is None and XMAS.closing_time(dt.date(2026, 12, 25)) is None
    assert SHOP.closing_time(dt.date(2026, 3, 2)) == at(2026, 3, 2, 17)
    assert BusinessCalendar.weekdays(DENVER).closing_time(dt.date(2026, 3, 6)) == at(2026, 3, 7)  # 24:00
    assert HALF_SATURDAY.closing_time(dt.date(2026, 3, 7)) == at(2026, 3, 7, 13)


def test_next_open_day():
    assert SHOP.next_open_day(dt.date(2026, 3, 2)) == dt.date(2026, 3, 2)  # on or after
    assert SHOP.next_open_day(dt.date(2026, 3, 7)) == dt.date(2026, 3, 9)
    assert XMAS.next_open_day(dt.date(2026, 12, 25)) == dt.date(2026, 12, 29)
    mondays = [dt.date(2026, 3, 2) + dt.timedelta(weeks=w) for w in range(10)]
    only_mondays = BusinessCalendar(DENVER, {0: NINE_TO_FIVE}, frozenset(mondays))
    assert only_mondays.next_open_day(dt.date(2026, 3, 2)) == dt.date(2026, 5, 11)


@pytest.mark.parametrize("cal, start, days, end", [
    (SHOP, at(2026, 3, 2, 10), 1, at(2026, 3, 3, 10)),       # same time the next working day
    (SHOP, at(2026, 3, 6, 16), 1, at(2026, 3, 9, 16)),       # Friday -> Monday
    (SHOP, at(2026, 3, 2, 6), 1, at(2026, 3, 3, 8)),         # before opening: from today's opening
    (SHOP, at(2026, 3, 2, 18), 1, at(2026, 3, 4, 8)),        # after closing: from tomorrow's opening
    (SHOP, at(2026, 3, 2, 8), 0.5, at(2026, 3, 2, 12, 30)),  # half of a 9-hour day
    (SHOP, at(2026, 3, 6, 10), 1, at(2026, 3, 9, 10)),       # across the spring-forward weekend: wall clock
    (XMAS, at(2026, 12, 24, 10), 1, at(2026, 12, 29, 10)),   # holidays skipped
    (HALF_SATURDAY, at(2026, 3, 6, 12, 30), 1, at(2026, 3, 7, 11)),  # halfway through Friday -> through Saturday
])
def test_add_days(cal, start, days, end):
    assert cal.add_days(start, days) == utc(end)


# -- the ready-made calendars ---------------------------------------------------------------------------

@hsettings(max_examples=200, deadline=None)
@given(start=st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2028, 12, 31)),
       hours=st.floats(min_value=0, max_value=2000, allow_nan=False))
def test_always_open_is_the_wall_clock(start, hours):
    always = BusinessCalendar.always_open(DENVER)
    start = start.replace(tzinfo=UTC)
    end = start + dt.timedelta(hours=hours)
    assert always.hours_between(start, end) == pytest.approx((end - start).total_seconds() / 3600)
    assert always.add_hours(start, hours) == end
    assert stall_cutoff(4, end, always) == stall_cutoff(4, end)


def test_weekdays_is_the_old_monday_to_friday_behaviour():
    weekdays = BusinessCalendar.weekdays(DENVER)
    fri = at(2026, 3, 6, 12)
    assert weekdays.hours_between(fri, at(2026, 3, 9, 12)) == 24       # Fri noon to Mon noon: the weekend skipped
    assert weekdays.add_hours(fri, 12) == utc(at(2026, 3, 7))         # up to Friday's midnight...
    assert weekdays.add_hours(fri, 13) == utc(at(2026, 3, 9, 1))      # ...then Monday
    assert weekdays.add_hours(at(2026, 3, 8, 11), 2) == utc(at(2026, 3, 9, 2))  # Sunday: from Monday 00:00
    assert weekdays.add_days(at(2026, 3, 7, 10), 1) == utc(at(2026, 3, 10))


# -- add_hours and hours_between agree ----------------------------------------------------------------

CALENDARS = [SHOP, HALF_SATURDAY, XMAS, BusinessCalendar.weekdays(DENVER),
             BusinessCalendar(DENVER, {6: (dt.time(0), dt.time(6))})]
starts = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC))


@hsettings(max_examples=300, deadline=None)
@given(cal=st.sampled_from(CALENDARS), start=starts, hours=st.floats(min_value=0, max_value=500, allow_nan=False))
def test_hours_between_undoes_add_hours(cal, start, hours):
    end = cal.add_hours(start, hours)
    assert end >= start
    assert cal.hours_between(start, end) == pytest.approx(hours, abs=1e-6)


@hsettings(max_examples=300, deadline=None)
@given(cal=st.sampled_from(CALENDARS), now=starts, entered=starts,
       sla=st.floats(min_value=0.1, max_value=200, allow_nan=False))
def test_the_board_cutoff_agrees_with_is_stalled(cal, now, entered, sla):
    cutoff = stall_cutoff(sla, now, cal)
    assert cal.hours_between(cutoff, now) == pytest.approx(sla, abs=1e-6)
    if abs((entered - cutoff).total_seconds()) > 0.001:  # away from float rounding at the boundary itself
        assert is_stalled(sla, entered, now, cal) == (entered < cutoff)


def test_stall_cutoff_lands_on_a_closing_not_an_opening():
    # 9 open hours before Monday 08:00 began at Thursday 17:00; entering any time until Friday 08:00 is no more.
    assert SHOP.subtract_hours(at(2026, 3, 9, 8), 9) == utc(at(2026, 3, 5, 17))
    assert SHOP.subtract_hours(at(2026, 3, 9, 9), 4) == utc(at(2026, 3, 6, 14))
    assert not is_stalled(9, at(2026, 3, 5, 17), at(2026, 3, 9, 8), SHOP)
    assert is_stalled(9, at(2026, 3, 5, 16, 59), at(2026, 3, 9, 8), SHOP)


def test_is_stalled_with_and_without_a_calendar():
    fri = at(2026, 3, 6, 16)
    assert is_stalled(4, fri, at(2026, 3, 7, 12))                            # wall clock: 20 h
    assert not is_stalled(4, fri, at(2026, 3, 9, 10, 59), SHOP)              # 1 h Friday + 2 h 59 m Monday
    assert not is_stalled(4, fri, at(2026, 3, 9, 11), SHOP)                  # exactly 4 h: not yet
    assert is_stalled(4, fri, at(2026, 3, 9, 11, 0, 1), SHOP)
    assert not is_stalled(None, fri, at(2027, 1, 1), SHOP) and not is_stalled(4, None, at(2027, 1, 1), SHOP)


# -- speed, shape, validation -------------------------------------------------------------------------

def test_a_year_of_business_hours_adds_up():
    """How fast a year's arithmetic is, is measured by `python -m bench.micro` (not timed here)."""
    start, end = at(2026, 1, 1, 10), at(2027, 1, 1, 10)
    assert SHOP.hours_between(start, end) == 261 * 9
    assert XMAS.hours_between(start, end) == 259 * 9
    assert SHOP.hours_between(start, SHOP.add_hours(start, 2000)) == 2000
    assert BusinessCalendar.weekdays(DENVER).add_days(start, 250) > start


def test_the_calendar_is_a_frozen_value():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SHOP.tz = UTC  # type: ignore[misc]
    with pytest.raises(TypeError):
        SHOP.hours[5] = NINE_TO_FIVE  # type: ignore[index]
    again = BusinessCalendar(DENVER, {d: NINE_TO_FIVE for d in range(5)})
    assert again == SHOP and hash(again) == hash(SHOP)
    assert BusinessCalendar.weekdays(DENVER) != SHOP


@pytest.mark.parametrize("hours, holidays", [
    ({}, frozenset()),                                       # never open
    ({0: (dt.time(17), dt.time(8))}, frozenset()),           # closes before it opens
    ({0: (dt.time(8), dt.time(8))}, frozenset()),
    ({7: NINE_TO_FIVE}, frozenset()),                        # no eighth weekday
])
def test_unusable_calendars_are_refused(hours, holidays):
    with pytest.raises(ValueError):
        BusinessCalendar(DENVER, hours, holidays)
