"""The shop's business calendar: which days it is open, its opening hours, its holidays. Pure: no Flask.

One calendar answers every "working time" question: how many open hours a job has spent in its stage (the
SLA), when a number of open hours from now ends (the delivery estimate), what "N working days" after a
moment is (carrier alerts).

Time zones: opening hours are wall-clock times in the shop's zone. Each day's opening is built with
`datetime.combine(day, time, tzinfo=tz)` and every sum or difference is done in UTC, because Python
subtracts two datetimes that share a tzinfo by their wall clocks, which is wrong across a DST change
(a spring-forward day has 23 real hours). A day's opening never spans midnight: "24:00" (dt.time.max)
closes at the next midnight.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
_DAY = dt.timedelta(days=1)
_ZERO = dt.timedelta(0)
_SECONDS_IN_DAY = 24 * 3600


def _seconds(t: dt.time) -> float:
    """A time of day as seconds after midnight; dt.time.max is 24:00."""
    if t == dt.time.max:
        return float(_SECONDS_IN_DAY)
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


@dataclass(frozen=True)
class BusinessCalendar:
    """Open days and hours in the shop's time zone.

    hours: weekday (0 = Monday .. 6 = Sunday) -> (opens, closes); a weekday that is missing is closed;
    closes == dt.time.max means midnight at the end of the day. holidays: dates the shop is closed.

    Open time is the half-open interval [opens, closes) of each open day: the closing moment itself is
    closed time, so a job that starts exactly at closing counts from the next opening.
    """

    tz: ZoneInfo
    hours: Mapping[int, tuple[dt.time, dt.time]]
    holidays: frozenset[dt.date] = frozenset()

    def __post_init__(self):
        hours = {}
        for weekday, (opens, closes) in dict(self.hours).items():
            if weekday not in range(7):
                raise ValueError(f"weekday {weekday!r} is not 0 (Monday) to 6 (Sunday)")
            if _seconds(closes) <= _seconds(opens):
                raise ValueError(f"weekday {weekday}: closes {closes} is not after opens {opens}")
            hours[weekday] = (opens, closes)
        if not hours:
            raise ValueError("a business calendar needs at least one open day")
        # Read-only copies: the calendar is a value, shared by every request.
        object.__setattr__(self, "hours", MappingProxyType(hours))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        always = not self.holidays and len(hours) == 7 and all(
            o == dt.time(0) and c == dt.time.max for o, c in hours.values())
        object.__setattr__(self, "_always_open", always)

    def __hash__(self):
        return hash((self.tz, tuple(sorted(self.hours.items())), self.holidays))

    # -- constructors ------------------------------------------------------------------------------

    @classmethod
    def always_open(cls, tz: ZoneInfo) -> BusinessCalendar:
        """Every day, all day, no holidays: open hours are plain elapsed (wall-clock) hours."""
        return cls(tz, {d: (dt.time(0), dt.time.max) for d in range(7)})

    @classmethod
    def weekdays(cls, tz: ZoneInfo) -> BusinessCalendar:
        """Monday to Friday, all day: weekends skipped (what the estimate and "working days" do without a
        shop calendar)."""
        return cls(tz, {d: (dt.time(0), dt.time.max) for d in range(5)})

    # -- days --------------------------------------------------------------------------------------

    def is_open_day(self, day: dt.date) -> bool:
        return day.weekday() in self.hours and day not in self.holidays

    def next_open_day(self, day: dt.date) -> dt.date:
        """The first open day on or after `day`."""
        # At least one weekday is open, so an open day comes within a week of the last holiday in the way.
        for _ in range(7 * (len(self.holidays) + 1) + 1):
            if self.is_open_day(day):
                return day
            day += _DAY
        raise ValueError("the calendar has no open day")  # pragma: no cover - __post_init__ prevents it

    def open_interval(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        """(opening, closing) of `day` as aware datetimes in the shop's zone; None when it is closed."""
        if not self.is_open_day(day):
            return None
        opens, closes = self.hours[day.weekday()]
        start = dt.datetime.combine(day, opens, tzinfo=self.tz)
        if closes == dt.time.max:
            end = dt.datetime.combine(day + _DAY, dt.time(0), tzinfo=self.tz)
        else:
            end = dt.datetime.combine(day, closes, tzinfo=self.tz)
        return start, end

    def closing_time(self, day: dt.date) -> dt.datetime | None:
        interval = self.open_interval(day)
        return interval[1] if interval else None

    def _utc_interval(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        interval = self.open_interval(day)
        if interval is None:
            return None
        return interval[0].astimezone(UTC), interval[1].astimezone(UTC)

    def _local_day(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.tz).date()

    # -- hours -------------------------------------------------------------------------------------

    def hours_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Open hours in [start, end); 0 when end <= start."""
        return self._open_time(start, end).total_seconds() / 3600

    def _open_time(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return _ZERO
        if self._always_open:
            return end - start
        total = _ZERO
        day, last = self._local_day(start), self._local_day(end)
        while day <= last:
            interval = self._utc_interval(day)
            if interval is not None:
                lo, hi = max(interval[0], start), min(interval[1], end)
                if hi > lo:
                    total += hi - lo
            day += _DAY
        return total

    def add_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        """The first moment (UTC) at which `hours` open hours have passed since `start`.

        A start in closed time counts from the next opening. Work that ends exactly at a closing time
        ends at that closing (Mon 16:00 + 1 h with 08-17 is Mon 17:00, not Tue 08:00). hours <= 0 returns
        `start` unchanged (in UTC), even in closed time: nothing is added, so nothing moves."""
        start = start.astimezone(UTC)
        if hours <= 0:
            return start
        remaining = dt.timedelta(hours=hours)
        if self._always_open:
            return start + remaining
        day = self._local_day(start)
        while True:  # ends: at least one weekday is open and holidays are finite
            interval = self._utc_interval(day)
            if interval is not None:
                lo, hi = max(interval[0], start), interval[1]
                if hi > lo:
                    if remaining <= hi - lo:
                        return lo + remaining
                    remaining -= hi - lo
            day += _DAY

    def subtract_hours(self, end: dt.datetime, hours: float) -> dt.datetime:
        """The earliest moment (UTC) from which exactly `hours` open hours run until `end`: anything
        before it has more. So "more than `hours` open hours since t" is "t < subtract_hours(now, hours)",
        which lets a board compare thousands of cards against one cut-off. When the count runs out
        exactly at an opening, the answer is the previous closing (the closed gap adds nothing)."""
        end = end.astimezone(UTC)
        remaining = dt.timedelta(hours=max(hours, 0.0))
        if self._always_open:
            return end - remaining
        day = self._local_day(end)
        while True:  # ends: at least one weekday is open and holidays are finite
            interval = self._utc_interval(day)
            if interval is not None:
                lo, hi = interval[0], min(interval[1], end)
                if hi > lo:
                    if remaining < hi - lo:
                        return hi - remaining
                    remaining -= hi - lo
            day -= _DAY

    # -- days of work ------------------------------------------------------------------------------

    def add_days(self, start: dt.datetime, days: float) -> dt.datetime:
        """The moment (UTC) `days` working days after `start`.

        A working day is one open day's opening, whatever its length, and the position within a day is
        measured on the wall clock: Mon 10:00 + 1 is Tue 10:00 even across a DST change, Fri 10:00 + 1 is
        Mon 10:00, and half a day of a 08:00-17:00 day is 4.5 hours. A start in closed time (before the
        opening, after the closing, a closed day) counts from the next opening. A result exactly at a
        day's end is given as the next open day's opening (with weekdays(): Fri 12:00 + 0.5 is Mon 00:00).
        days <= 0 returns `start` unchanged (in UTC), like add_hours."""
        if days <= 0:
            return start.astimezone(UTC)
        local = start.astimezone(self.tz)
        day = local.date()
        position = 0.0  # the fraction of `day`'s opening already past
        if self.is_open_day(day):
            opens, closes = (_seconds(t) for t in self.hours[day.weekday()])
            now = _seconds(local.time())
            if now >= closes:
                day = self.next_open_day(day + _DAY)
            elif now > opens:
                position = (now - opens) / (closes - opens)
        else:
            day = self.next_open_day(day)
        position += days
        whole = math.floor(position)
        position -= whole
        for _ in range(whole):
            day = self.next_open_day(day + _DAY)
        opens, closes = (_seconds(t) for t in self.hours[day.weekday()])
        wall = dt.timedelta(seconds=opens + position * (closes - opens))
        # Adding to an aware datetime moves its wall clock (what we want here); UTC fixes the offset.
        return (dt.datetime.combine(day, dt.time(0), tzinfo=self.tz) + wall).astimezone(UTC)
