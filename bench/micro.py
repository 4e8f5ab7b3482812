"""`python -m bench.micro [--database-url URL]`: small measurements that used to be timed tests.

- the business calendar's arithmetic over a year (hours between two dates, adding 2,000 hours, adding 250
  business days), best of 5, for a weekday calendar, one with holidays and the plain weekdays one: the
  stall and risk sweeps and every estimate call these for each active job;
- a new order committed while an export streams the database (the export reads one snapshot and must not
  hold the writers up): how long the writer waited.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import threading
import time
from zoneinfo import ZoneInfo


def _best(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


def calendar_part() -> None:
    from tracker.domain.calendar import BusinessCalendar

    denver = ZoneInfo("America/Denver")
    day = (dt.time(8), dt.time(17))
    shop = BusinessCalendar(denver, {d: day for d in range(5)})
    xmas = BusinessCalendar(denver, shop.hours, frozenset({dt.date(2026, 12, 25), dt.date(2026, 12, 28)}))
    start = dt.datetime(2026, 1, 1, 10, tzinfo=denver)
    end = dt.datetime(2027, 1, 1, 10, tzinfo=denver)
    for name, cal in (("weekdays 8-17", shop), ("with holidays", xmas), ("plain weekdays", BusinessCalendar.weekdays(denver))):
        print(f"calendar {name:15s}: a year's hours {_best(lambda: cal.hours_between(start, end)):.3f} ms, "
              f"+2,000 h {_best(lambda: cal.add_hours(start, 2000)):.3f} ms, "
              f"+250 days {_best(lambda: cal.add_days(start, 250)):.3f} ms")


def export_part(database_url: str | None) -> None:
    tmp = tempfile.mkdtemp(prefix="inktrail-micro-")
    os.environ["TRACKER_INSTANCE_PATH"] = tmp
    if database_url:
        os.environ["TRACKER_DATABASE_URL"] = database_url
    from tracker.extensions import db
    from tracker.services import export

    from .common import seeded_app
    from .seed import add_orders

    app = seeded_app({"RATELIMIT_ENABLED": False})
    with app.app_context():
        with export.snapshot() as conn:
            stream = export.json_chunks(conn)
            next(stream)
            took = []

            def writer():
                with app.app_context():
                    t0 = time.perf_counter()
                    add_orders(1)
                    took.append((time.perf_counter() - t0) * 1000)
                    db.session.remove()

            thread = threading.Thread(target=writer)
            thread.start()
            thread.join(60)
            rest = sum(len(chunk) for chunk in stream)
        dialect = db.engine.dialect.name
    print(f"export ({dialect}): a new order committed mid-export in {took[0]:.1f} ms "
          f"(the export then streamed {rest:,} more characters)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)
    calendar_part()
    export_part(args.database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
