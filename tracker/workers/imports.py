"""A CSV import, run as a batch: the claim committed first, then the orders committed BATCH_ORDERS at a
time (a 20,000-row file never holds SQLite's write lock, and the shop floor's scans, for the whole import),
then the result. The steps are services/csv_import.py's (claim, ImportWork: they only flush)."""
from __future__ import annotations

from ..domain.csv_import import CsvUnreadable
from ..extensions import db
from ..models import ImportRun
from ..services import csv_import as service
from ..services.csv_import import BATCH_ORDERS, ImportRefused, ImportResult
from ..services.orders import Actor


def run_import(run: ImportRun, mapping: dict[str, str | None], *, dry_run: bool,
               actor: Actor | None = None) -> ImportResult:
    """Imports (or, dry run, only checks) the run's file with this mapping. Raises ImportRefused when the
    file cannot be read or the mapping cannot be used; bad rows are not exceptions but part of the result."""
    actor = actor or Actor(run.created_by or "import", None)
    try:
        table = service.read_run(run)
    except CsvUnreadable as exc:
        service.record_failure(run, exc.message)
        db.session.commit()
        raise ImportRefused(f"The file cannot be read as CSV: {exc.message}") from None
    mapping = service.usable_mapping(mapping, table)
    try:
        service.claim(run, dry_run=dry_run, mapping=mapping)
    except ImportRefused:
        db.session.rollback()
        raise
    db.session.commit()
    db.session.refresh(run)
    work = service.ImportWork(table, mapping, dry_run=dry_run)
    for i, planned in enumerate(work.orders):
        work.take(planned, actor)
        if not dry_run and (i + 1) % BATCH_ORDERS == 0:
            db.session.commit()
    result = work.finish(run)
    db.session.commit()
    return result
