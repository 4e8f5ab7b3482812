"""Everything on record about orders, as CSV files or one JSON document: orders, jobs, events (the audit
trail), shipments, tracking events and scans. For a shop's own spreadsheets and for leaving Inktrail.

Rows stream from the database a batch at a time (yield_per) and are written as they come, so 100,000
orders never sit in memory. All tables are read in one read-only transaction: one consistent moment, and
on SQLite no write lock (the shop keeps scanning while an export runs).

Times are ISO 8601 in UTC ("2026-03-02T15:00:00Z"); dates are YYYY-MM-DD. Rows point at each other by
the codes people see (order A1042, job A1042B), not by internal ids. Left out on purpose: the public
tracking token (it opens the order's public page), carriers' label files and raw webhook bodies.
In CSV, text a spreadsheet would run as a formula (= + - @ first) gets a leading apostrophe; the JSON is
exact.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import Batch, Event, Job, Order, Scan, Shipment, TrackingEvent, utcnow

FORMAT_VERSION = 1
YIELD_PER = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # as the reports' CSV files (views/reports.py csv_cell)


class ExportError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    statement: object


def tables() -> list[Table]:
    """The exported tables: name, column names, and the SELECT that reads them, in id order."""
    job = aliased(Job)
    specs = [
        ("orders", select(
            Order.code.label("order_code"), Order.channel, Order.external_ref, Order.external_name,
            Order.customer_name, Order.customer_email, Order.customer_phone, Order.ship_city, Order.ship_region,
            Order.ship_country, Order.due_date, Order.rush, Order.notes, Order.stage, Order.stage_entered_at,
            Order.created_at, Order.updated_at, Order.cancelled_at).order_by(Order.id)),
        ("jobs", select(
            Job.code.label("job_code"), Order.code.label("order_code"), Job.position, Job.description, Job.method,
            Job.quantity, Job.stage, Job.stage_entered_at, Job.created_at, Job.reprints,
            Batch.code.label("batch_code"), Job.external_ref)
         .join(Order, Job.order_id == Order.id).outerjoin(Batch, Job.batch_id == Batch.id).order_by(Job.id)),
        ("events", select(
            Event.id.label("event_id"), Order.code.label("order_code"), job.code.label("job_code"), Event.at,
            Event.kind, Event.from_stage, Event.to_stage, Event.source, Event.actor, Event.station, Event.note)
         .join(Order, Event.order_id == Order.id).outerjoin(job, Event.job_id == job.id).order_by(Event.id)),
        ("shipments", select(
            Shipment.id.label("shipment_id"), Order.code.label("order_code"), Shipment.carrier,
            Shipment.tracking_number, Shipment.service, Shipment.provider, Shipment.status, Shipment.exception,
            Shipment.final, Shipment.created_at, Shipment.activated_at, Shipment.delivered_at,
            Shipment.last_event_at, Shipment.est_delivery, Shipment.public_url, Shipment.marketplace_number)
         .join(Order, Shipment.order_id == Order.id).order_by(Shipment.id)),
        ("tracking_events", select(
            TrackingEvent.id.label("tracking_event_id"), TrackingEvent.shipment_id, Order.code.label("order_code"),
            TrackingEvent.provider, TrackingEvent.carrier, TrackingEvent.tracking_number, TrackingEvent.status,
            TrackingEvent.code, TrackingEvent.sub_code, TrackingEvent.exception, TrackingEvent.description,
            TrackingEvent.location, TrackingEvent.occurred_at, TrackingEvent.received_at)
         .outerjoin(Shipment, TrackingEvent.shipment_id == Shipment.id)
         .outerjoin(Order, Shipment.order_id == Order.id).order_by(TrackingEvent.id)),
        ("scans", select(
            Scan.uid.label("scan_id"), Scan.station, Scan.code, Scan.kind, Scan.action, Scan.operator, Scan.source,
            Scan.received_at, Scan.scanned_at, Scan.ok, Scan.outcome, Scan.message, Order.code.label("order_code"),
            job.code.label("job_code"), Scan.from_stage, Scan.to_stage, Scan.undone_at)
         .outerjoin(Order, Scan.order_id == Order.id).outerjoin(job, Scan.job_id == job.id).order_by(Scan.id)),
    ]
    return [Table(name, tuple(c.key for c in stmt.selected_columns), stmt) for name, stmt in specs]


# -- values ----------------------------------------------------------------------------------------

def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def json_value(value):
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.datetime, dt.date)):
        return json_value(value)
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


# -- reading ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def snapshot():
    """One read-only transaction for the whole export: the same moment in every table. On SQLite the
    connection asks for a plain BEGIN (tracker_read_only), not the BEGIN IMMEDIATE writers take, so a long
    export holds no write lock."""
    conn = db.engine.connect()
    try:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        else:
            conn.execution_options(tracker_read_only=True)
        with conn.begin():
            yield conn
    finally:
        conn.close()


def rows(conn, table: Table) -> Iterator[tuple]:
    result = conn.execute(table.statement.execution_options(yield_per=YIELD_PER))
    try:
        for row in result:
            yield tuple(row)
    finally:
        result.close()


# -- writing ---------------------------------------------------------------------------------------

def csv_chunks(conn, table: Table, counter: dict | None = None) -> Iterator[str]:
    """One table as CSV text, in chunks of YIELD_PER rows. The BOM makes Excel read it as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")
    writer.writerow(table.columns)
    n = 0
    for row in rows(conn, table):
        writer.writerow([csv_value(v) for v in row])
        n += 1
        if n % YIELD_PER == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    if counter is not None:
        counter[table.name] = n
    yield out.getvalue()


def json_chunks(conn, counter: dict | None = None) -> Iterator[str]:
    """The whole export as one JSON document: {"format", "version", "exported_at", "orders": [...], ...},
    each row an object with the same names as the CSV columns."""
    from ..settings import current_settings

    head = {"format": "inktrail-export", "version": FORMAT_VERSION, "exported_at": iso(utcnow()),
            "shop": current_settings().shop.name}
    yield json.dumps(head, ensure_ascii=False)[:-1]
    for table in tables():
        yield f', "{table.name}": ['
        buf, n = [], 0
        for row in rows(conn, table):
            buf.append(("," if n else "") + "\n" + json.dumps(dict(zip(table.columns, map(json_value, row))),
                                                              ensure_ascii=False))
            n += 1
            if len(buf) >= YIELD_PER:
                yield "".join(buf)
                buf.clear()
        buf.append("\n]")
        yield "".join(buf)
        if counter is not None:
            counter[table.name] = n
    yield "}\n"


class _Sink:
    """A write-only stream for zipfile: it collects what zipfile writes until the caller takes it."""

    def __init__(self):
        self._chunks: list[bytes] = []

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def zip_chunks(conn) -> Iterator[bytes]:
    """All tables as CSV files in one zip, produced as it is read (zipfile writes an unseekable stream)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for table in tables():
            with zf.open(f"{table.name}.csv", "w") as member:
                for chunk in csv_chunks(conn, table):
                    member.write(chunk.encode("utf-8"))
                    data = sink.take()
                    if data:
                        yield data
    yield sink.take()


def export_to_directory(directory: Path, fmt: str) -> list[tuple[Path, object]]:
    """Writes orders.csv, jobs.csv, ... (fmt "csv") or inktrail-export.json (fmt "json") into `directory`.
    Each file is written under a temporary name and renamed when complete."""
    directory = Path(directory).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the folder {directory}: {exc.strerror or exc}") from None
    if not directory.is_dir():
        raise ExportError(f"{directory} is not a folder")
    written: list[tuple[Path, object]] = []
    with snapshot() as conn:
        if fmt == "json":
            counter: dict = {}
            path = directory / "inktrail-export.json"
            _write(path, json_chunks(conn, counter))
            written.append((path, counter))
        else:
            for table in tables():
                counter = {}
                path = directory / f"{table.name}.csv"
                _write(path, csv_chunks(conn, table, counter))
                written.append((path, counter[table.name]))
    return written


def _write(path: Path, chunks: Iterator[str]) -> None:
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.replace(tmp, path)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
