"""SQL pieces the reports share, so the database does the per-row work and Python gets plain numbers.

- `hours_between(a, b)`: wall-clock hours from a to b (SQLite julianday, PostgreSQL epoch).
- `bucket(col, bounds)`: how many of the sorted UTC `bounds` are <= col (NULL stays NULL), as a balanced
  tree of CASEs (about log2(len(bounds)) comparisons per row). With a period's day boundaries, in the
  shop's time zone, it is the row's local day within the period (DST included, exactly), without
  converting each timestamp in Python.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from sqlalchemy import Float, case, literal, null
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from . import Period


class hours_between(FunctionElement):  # noqa: N801 (a SQL function)
    type = Float()
    inherit_cache = True
    name = "hours_between"


@compiles(hours_between)
def _hours_pg(element, compiler, **kw):
    a, b = list(element.clauses)
    return f"(EXTRACT(EPOCH FROM ({compiler.process(b, **kw)} - {compiler.process(a, **kw)})) / 3600.0)"


@compiles(hours_between, "sqlite")
def _hours_sqlite(element, compiler, **kw):
    a, b = list(element.clauses)
    return f"((julianday({compiler.process(b, **kw)}) - julianday({compiler.process(a, **kw)})) * 24.0)"


def bucket(col, bounds: Sequence[dt.datetime]):
    """The number of `bounds` (sorted) that are <= col; NULL for a NULL col."""
    def tree(lo: int, hi: int):
        # col is known to lie in [bounds[lo-1], bounds[hi]) : the answer is in lo..hi.
        if lo == hi:
            return literal(lo)
        mid = (lo + hi) // 2
        return case((col < bounds[mid], tree(lo, mid)), else_=tree(mid + 1, hi))
    return case((col.is_(None), null()), else_=tree(0, len(bounds)))


def day_ends(period: Period) -> list[dt.datetime]:
    """Each day's end (the next local midnight) in UTC: bucket(col, day_ends(p)) is the day's index in
    p.days() for a time in the period, -- 0 before it, len(p.days()) after it."""
    return [dt.datetime.combine(d + dt.timedelta(days=1), dt.time(0), tzinfo=period.tz).astimezone(dt.timezone.utc)
            for d in period.days()]
