"""CSV order import: the file is stored as it arrived (an ImportRun) before anything reads it, then read
with a column mapping (domain/csv_import.py) and imported order by order through create_order.

The import itself (tracker/workers/imports.py run_import) commits like a scheduled job: a 20,000-row file
must not hold SQLite's write lock (and the shop floor's scans) for the whole import, so orders are
committed in batches, each order inside its own savepoint so one that fails to save never spoils the
others. Its steps are here (claim, ImportWork: they only flush). Re-running is always
safe: create_order is idempotent on channel "csv" + external_ref, so a crash half-way loses nothing and
the next run skips what the first one saved.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..domain import csv_import as rules
from ..domain.csv_import import ImportPlan, MappingError, RowError, Table
from ..domain.refusals import Conflict, Invalid
from ..extensions import db
from ..models import ImportRun, Order, utcnow
from ..settings import current_settings
from .orders import Actor, create_order

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = rules.MAX_ROWS
BATCH_ORDERS = 100  # orders per commit
CHANNEL = "csv"


class ImportRefused(Invalid):
    """The import cannot go ahead; the message is a sentence for the person importing."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()):
        super().__init__(message, "mapping" if missing else None)
        self.missing = missing


class AlreadyImported(ImportRefused):
    """The run was imported already (a second click): a conflict with what is stored."""

    status = Conflict.status


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


@dataclass
class ImportResult:
    """What an import did (or, dry run, would do). Stored as JSON on the ImportRun."""

    dry_run: bool
    rows: int = 0
    new: list[dict] = field(default_factory=list)       # {"external_ref", "line", "items", "code" (None in a dry run)}
    already: list[dict] = field(default_factory=list)   # {"external_ref", "line", "code"}
    refused: list[dict] = field(default_factory=list)   # {"external_ref", "lines", "bad_lines"}
    errors: list[dict] = field(default_factory=list)    # RowError.as_dict(), by line
    notes: list[str] = field(default_factory=list)
    mapping: dict = field(default_factory=dict)
    encoding: str | None = None
    delimiter: str | None = None
    seconds: float = 0.0
    status: str = "done"

    @property
    def items(self) -> int:
        return sum(o["items"] for o in self.new)

    @property
    def bad_rows(self) -> int:
        return len({e["line"] for e in self.errors})

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """"12 orders imported (30 items), 3 already imported, 2 orders refused (4 bad rows)"."""
        orders, items = _plural(len(self.new), "order"), _plural(self.items, "item")
        rest = (f"{len(self.already):,} already imported, {_plural(len(self.refused), 'order')} refused "
                f"({_plural(self.bad_rows, 'bad row')})")
        if self.dry_run:
            return f"Dry run: would import {orders} ({items}), {rest}. Nothing was saved."
        return f"{orders} imported ({items}), {rest}"

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "summary": self.summary()})

    @classmethod
    def from_json(cls, text: str | None) -> "ImportResult | None":
        if not text:
            return None
        data = json.loads(text)
        if data.get("status") != "done":
            return None
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def run_status(run: ImportRun) -> dict:
    """The stored result as a dict (status: new, importing, unreadable, done), for lists and pages."""
    if not run.result:
        return {"status": "new"}
    try:
        return json.loads(run.result)
    except ValueError:
        return {"status": "unreadable", "error": "the stored result cannot be read"}


def store_upload(filename: str | None, content: bytes, by: str | None) -> ImportRun:
    """Keeps the file as it arrived. Refuses (ImportRefused) only what is never worth keeping: nothing
    at all, or more than the size limit. Flushes; the caller commits before reading the file."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    # Only what a file name shows: a NUL (PostgreSQL refuses it) or another control character is dropped.
    name = "".join(c for c in name if c.isprintable()).strip() or "upload.csv"
    if not content:
        raise ImportRefused("The file is empty: it needs a header row and one row per item.")
    if len(content) > MAX_FILE_BYTES:
        raise ImportRefused(f"The file is {len(content) / 1024 / 1024:.1f} MB; at most "
                            f"{MAX_FILE_BYTES // 1024 // 1024} MB can be imported at once. "
                            "Split it into smaller files.")
    run = ImportRun(kind="csv", filename=name[:255], content=content, created_by=(by or None) and by[:80],
                    dry_run=False)
    db.session.add(run)
    db.session.flush()
    return run


def read_run(run: ImportRun) -> Table:
    """The stored file as a table; CsvUnreadable says why it cannot be read."""
    return rules.read_table(run.content, max_rows=MAX_ROWS)


def record_failure(run: ImportRun, message: str) -> None:
    """The file cannot be imported at all (unreadable, or no usable mapping): kept on the run's record."""
    run.result = json.dumps({"status": "unreadable", "error": message})
    run.finished_at = utcnow()
    db.session.flush()


def stored_mapping(run: ImportRun, table: Table) -> dict[str, str]:
    """The mapping last used for this run, else the guess from the file's header."""
    if run.mapping:
        try:
            saved = json.loads(run.mapping)
            return {k: v for k, v in saved.items() if k in rules.FIELDS and v in table.headers}
        except ValueError:
            pass
    return rules.guess_mapping(table.headers)


def today() -> dt.date:
    return utcnow().astimezone(current_settings().shop.tz).date()


def plan(table: Table, mapping: dict[str, str]) -> ImportPlan:
    """Every row checked with the shop's limits and method rules; `mapping` must be checked already."""
    intake = current_settings().intake
    return rules.plan_import(table, mapping, today=today(), max_quantity=intake.max_quantity,
                             max_items=intake.max_items, method_rules=intake.method_rules,
                             default_method=intake.default_method)


def _existing_codes(refs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for i in range(0, len(refs), 500):
        chunk = refs[i:i + 500]
        rows = db.session.execute(select(Order.external_ref, Order.code)
                                  .where(Order.channel == CHANNEL, Order.external_ref.in_(chunk)))
        found.update((ref, code) for ref, code in rows)
    return found


def already_imported_message(run: ImportRun) -> str:
    return (f"Import #{run.id} ({run.filename}) has already been imported. To import the file again, upload it "
            "again: orders already imported are skipped.")


def claim(run: ImportRun, *, dry_run: bool, mapping: dict[str, str]) -> None:
    """Marks the run as being imported, once: a second click on Import (or a dry run after the import)
    finds it taken and is refused (AlreadyImported), instead of overwriting the first import's record.
    Flushes; the caller commits the claim before importing."""
    values = {"mapping": json.dumps(mapping), "dry_run": dry_run}
    if not dry_run:
        values["result"] = json.dumps({"status": "importing"})
        values["finished_at"] = None
    claimed = db.session.execute(
        update(ImportRun).where(ImportRun.id == run.id, or_(ImportRun.result.is_(None), ImportRun.dry_run.is_(True)))
        .values(**values).execution_options(synchronize_session=False)).rowcount
    if not claimed:
        raise AlreadyImported(already_imported_message(run))


def usable_mapping(mapping: dict[str, str | None], table: Table) -> dict[str, str]:
    try:
        return rules.check_mapping(mapping, table.headers)
    except MappingError as exc:
        raise ImportRefused(f"The column mapping cannot be used: {exc.message}", exc.missing) from None


class ImportWork:
    """One import's checked rows and its result so far: `orders` to take one by one (take(), in a savepoint
    each; only flushes), then finish() writes the result on the run. tracker/workers/imports.py commits."""

    def __init__(self, table: Table, mapping: dict[str, str], *, dry_run: bool):
        self.started = time.perf_counter()
        self.dry_run = dry_run
        checked = plan(table, mapping)
        refs = [o.external_ref for o in checked.orders] + [o.external_ref for o in checked.refused]
        self.existing = _existing_codes(refs)
        self.orders = checked.orders
        result = self.result = ImportResult(dry_run=dry_run, rows=len(checked.rows), mapping=mapping,
                                            encoding=table.encoding, delimiter=table.delimiter, notes=list(table.notes))
        if checked.skipped_rows:
            result.notes.append(f"{_plural(checked.skipped_rows, 'row')} with nothing in the mapped columns "
                                "(totals or notes under the table) were skipped.")
        # An order already in Inktrail is skipped whatever its rows say now (a due date that has passed since
        # the first import is no reason to report it).
        self.errors = [e for e in checked.errors if e.external_ref is None or e.external_ref not in self.existing]
        for refused in checked.refused:
            if refused.external_ref in self.existing:
                result.already.append({"external_ref": refused.external_ref, "line": refused.lines[0],
                                       "code": self.existing[refused.external_ref]})
            else:
                result.refused.append({"external_ref": refused.external_ref, "lines": list(refused.lines),
                                       "bad_lines": list(refused.bad_lines)})

    def take(self, planned, actor: Actor) -> None:
        result, ref = self.result, planned.external_ref
        if ref in self.existing:
            result.already.append({"external_ref": ref, "line": planned.line, "code": self.existing[ref]})
            return
        entry = {"external_ref": ref, "line": planned.line, "items": len(planned.draft.items), "code": None}
        if self.dry_run:
            result.new.append(entry)
            return
        try:
            with db.session.begin_nested():
                order, created = create_order(planned.draft, actor=actor, source="import")
        except SQLAlchemyError as exc:
            self.errors.append(RowError(planned.line, "row", f"order {ref} could not be saved "
                                        f"({exc.__class__.__name__}); import the file again to retry it", ref))
            result.refused.append({"external_ref": ref, "lines": list(planned.lines), "bad_lines": [planned.line]})
            return
        if created:
            result.new.append({**entry, "code": order.code})
        else:  # saved meanwhile by someone else (another import of the same file)
            result.already.append({"external_ref": ref, "line": planned.line, "code": order.code})

    def finish(self, run: ImportRun) -> ImportResult:
        """Writes the result on the run (flushes)."""
        result = self.result
        self.errors.sort(key=lambda e: e.line)
        result.errors = [e.as_dict() for e in self.errors]
        result.already.sort(key=lambda o: o["line"])
        result.seconds = round(time.perf_counter() - self.started, 3)
        run.result = result.to_json()
        run.finished_at = utcnow()
        run.dry_run = self.dry_run
        db.session.flush()
        return result


def recent_runs(limit: int = 50) -> list[ImportRun]:
    return list(db.session.scalars(select(ImportRun).where(ImportRun.kind == "csv")
                                   .order_by(ImportRun.id.desc()).limit(limit)))
