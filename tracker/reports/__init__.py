"""Reports: production intelligence from the tracking data (issue 9).

Each report is a module in this package that registers one `Report`: a name (its URL, /reports/<name>
and /reports/<name>.csv), a title, a description, and `compute(period) -> Result`. A Result holds
tables (each exportable as CSV) and charts (rendered as server-side SVG by tracker/reports/svg.py).
Reports read only; they never write. Their cost must follow the date range, not the whole history
(indexed range queries on events.at, orders.created_at, shipments.activated_at, ...).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Sequence


@dataclass(frozen=True)
class Period:
    """A date range in the shop's time zone, both days included; `start_utc`/`end_utc` bound it
    ([start_utc, end_utc)) for queries."""

    first: dt.date
    last: dt.date
    tz: object  # ZoneInfo

    @cached_property  # read once per event by the reports: worth keeping (a frozen dataclass allows it)
    def start_utc(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(0), tzinfo=self.tz).astimezone(dt.timezone.utc)

    @cached_property
    def end_utc(self) -> dt.datetime:
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(0),
                                   tzinfo=self.tz).astimezone(dt.timezone.utc)

    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range((self.last - self.first).days + 1)]


@dataclass(frozen=True)
class Table:
    """One table of a report: `columns` are the headings; each row is a tuple of plain values (str, int,
    float, None, dates). `key` names it in the CSV URL (/reports/<name>.csv?table=<key>)."""

    key: str
    title: str
    columns: Sequence[str]
    rows: Sequence[tuple]
    note: str | None = None


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Chart:
    """kind: "bar" (grouped bars per label) or "line" (one line per series over the labels)."""

    kind: str
    title: str
    labels: Sequence[str]
    series: Sequence[Series]
    unit: str = ""


@dataclass(frozen=True)
class Result:
    tables: Sequence[Table]
    charts: Sequence[Chart] = field(default_factory=tuple)
    summary: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (label, value) figures shown first


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    description: str
    compute: Callable[[Period], Result]
    order: int = 100  # position on the reports index


REPORTS: dict[str, Report] = {}


def register(report: Report) -> Report:
    REPORTS[report.name] = report
    return report


def load_all() -> dict[str, Report]:
    """Imports every report module so each registers itself; returns the registry in display order."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name not in ("svg", "stats"):
            importlib.import_module(f"{__name__}.{info.name}")
    return dict(sorted(REPORTS.items(), key=lambda kv: (kv[1].order, kv[0])))
