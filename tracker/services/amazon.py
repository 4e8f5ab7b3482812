"""Amazon by file: the Unshipped Orders report imported as orders, and the Shipping Confirmation file
exported for Seller Central (the file formats are in integrations/marketplaces/amazon.py).

Import: the uploaded file is stored as it arrived (an ImportRun, kind amazon) and committed by the caller
before it is read; then each order of the report is created in its own savepoint (idempotent on channel
amazon + the order-id, so importing the same report twice creates nothing new) and the run keeps the
result: counts, every bad row with its line number. A dry run reads and checks everything and creates
nothing.

Export: Amazon orders whose parcel the carrier has scanned and that were not confirmed yet. An Amazon
order is confirmed once, with the tracking number of its first scanned parcel (Amazon wants each item's
quantity once; which item went in which of several parcels is not known here). Exporting records it on the
shipment (marketplace_ref "amazon-export:<UTC time>", marketplace_number the number sent), so the next
export holds only new ones; a number corrected after its export is exported again. include_all=True
exports every confirmed-or-not order again; an earlier file can be downloaded again by its time.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Iterable, Mapping

from sqlalchemy import func, select

from ..domain.lifecycle import CANCELLED
from ..domain.refusals import Invalid
from ..extensions import db
from ..integrations.marketplaces import amazon as report
from ..models import ImportRun, Order, Shipment, utcnow
from ..settings import current_settings
from . import fits_id
from .orders import Actor, create_order, find_by_external_ref

SOURCE = "import"
EXPORT_PREFIX = "amazon-export:"
COVERED_PREFIX = "amazon-covered:"  # a later parcel of an order already confirmed with its first one
MAX_FILE_BYTES = 10 * 1024 * 1024


class ReportRefused(Invalid):
    """The report file cannot be taken at all (empty, too large). (services/csv_import.py's ReportRefused
    is the CSV import's own.)"""


# -- import ------------------------------------------------------------------------------------------

def store_report(data: bytes, filename: str, *, actor: Actor, dry_run: bool) -> ImportRun:
    """Keeps the uploaded file as it arrived; the caller commits before run_import reads it."""
    if not data:
        raise ReportRefused("the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ReportRefused(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    run = ImportRun(kind="amazon", filename=(filename or "report.txt")[-255:], content=data, dry_run=dry_run,
                    created_by=actor.name, created_at=utcnow())
    db.session.add(run)
    db.session.flush()
    return run


def run_import(run: ImportRun, *, actor: Actor, for_real: bool = False) -> dict:
    """Reads a stored report and creates its orders (or, for a dry run, says what it would create).
    `for_real`: a report checked by a dry run before is now imported."""
    if for_real:
        run.dry_run = False
    result = _run(run.content, actor=actor, dry_run=run.dry_run)
    run.result = json.dumps(result)
    run.finished_at = utcnow()
    db.session.flush()
    return result


def _run(data: bytes, *, actor: Actor | None, dry_run: bool) -> dict:
    settings = current_settings()
    result = {"dry_run": dry_run, "rows": 0, "orders": 0, "created": [], "existing": [], "would_create": [],
              "refused": [], "errors": [], "skipped": [], "unreadable": None}
    try:
        parsed = report.parse_report(data, rules=settings.intake.method_rules,
                                     default_method=settings.intake.default_method, tz=settings.shop.tz,
                                     max_quantity=settings.intake.max_quantity,
                                     max_items=settings.intake.max_items)
    except report.UnreadableReport as exc:
        result["unreadable"] = str(exc)
        return result
    result["rows"], result["orders"] = parsed.rows, len(parsed.orders)
    result["errors"] = [{"line": e.line, "message": e.message} for e in parsed.errors]
    result["skipped"] = [{"line": e.line, "message": e.message} for e in parsed.skipped]
    for order in parsed.refused:
        result["refused"].append({"order_id": order.order_id, "lines": order.lines,
                                  "errors": [{"line": e.line, "message": e.message} for e in order.errors]})
    for order in parsed.good:
        entry = {"order_id": order.order_id, "lines": order.lines, "items": len(order.draft.items)}
        existing = find_by_external_ref("amazon", order.order_id)
        if existing is not None:
            result["existing"].append({**entry, "code": existing.code})
            continue
        if dry_run:
            result["would_create"].append(entry)
            continue
        with db.session.begin_nested():
            made, created = create_order(order.draft, actor=actor, source=SOURCE)
        result["created" if created else "existing"].append({**entry, "code": made.code})
    return result


def exit_code(result: dict) -> int:
    """The CLI's answer: 2 the file could not be read, 1 some rows were refused, 0 all good."""
    if result.get("unreadable"):
        return 2
    return 1 if result.get("errors") else 0


def recent_imports(limit: int = 20) -> list[dict]:
    runs = db.session.scalars(select(ImportRun).where(ImportRun.kind == "amazon")
                              .order_by(ImportRun.id.desc()).limit(limit))
    out = []
    for run in runs:
        result = json.loads(run.result) if run.result else None
        out.append({"run": run, "result": result})
    return out


def get_run(run_id: int) -> ImportRun | None:
    run = db.session.get(ImportRun, run_id) if fits_id(run_id) else None
    return run if run is not None and run.kind == "amazon" else None


# -- export ------------------------------------------------------------------------------------------

def _carrier_names() -> Mapping[str, str]:
    return report.load_config(current_settings().marketplaces.get("amazon")).carrier_names


def _active_amazon_shipments(order_ids: Iterable[int] | None = None) -> list[Shipment]:
    stmt = (select(Shipment).join(Order, Shipment.order_id == Order.id)
            .where(Order.channel == "amazon", Order.stage != CANCELLED, Shipment.activated_at.is_not(None))
            .order_by(Shipment.order_id, Shipment.activated_at, Shipment.id))
    if order_ids is not None:
        stmt = stmt.where(Shipment.order_id.in_(list(order_ids)))
    return list(db.session.scalars(stmt))


def _exported(s: Shipment) -> bool:
    return bool(s.marketplace_ref and s.marketplace_ref.startswith((EXPORT_PREFIX, COVERED_PREFIX))
                and s.marketplace_number == s.tracking_number)


def _pending_order_ids() -> list[int]:
    """Orders with a scanned parcel not sent to Amazon yet (or sent with a number since corrected)."""
    stmt = (select(Shipment.order_id).join(Order, Shipment.order_id == Order.id)
            .where(Order.channel == "amazon", Order.stage != CANCELLED, Shipment.activated_at.is_not(None))
            .where((Shipment.marketplace_number.is_(None)) | (Shipment.marketplace_number != Shipment.tracking_number))
            .distinct())
    return list(db.session.scalars(stmt))


def _rows_for(order: Order, shipment: Shipment) -> list[report.Confirmation]:
    tz = current_settings().shop.tz
    ship_date = shipment.activated_at.astimezone(tz).date()
    return [report.Confirmation(order_id=order.external_ref, order_item_id=job.external_ref, quantity=job.quantity,
                                ship_date=ship_date, carrier=shipment.carrier, tracking_number=shipment.tracking_number,
                                ship_method=shipment.service)
            for job in order.jobs if job.stage != CANCELLED and job.external_ref]


def pending_count() -> int:
    """How many orders the next export would confirm."""
    return sum(1 for _, chosen, _ in _plan(include_all=False) if chosen is not None)


def _plan(*, include_all: bool) -> list[tuple[Order, Shipment, list[Shipment]]]:
    """(order, the parcel whose number Amazon gets, the order's other parcels to mark as covered)."""
    order_ids = None if include_all else _pending_order_ids()
    if order_ids is not None and not order_ids:
        return []
    by_order: dict[int, list[Shipment]] = {}
    for s in _active_amazon_shipments(order_ids):
        by_order.setdefault(s.order_id, []).append(s)
    plan = []
    for shipments in by_order.values():
        order = shipments[0].order
        if not order.external_ref:
            continue
        sent = [s for s in shipments if s.marketplace_ref and s.marketplace_ref.startswith(EXPORT_PREFIX)]
        if include_all:
            chosen = sent[0] if sent else shipments[0]
        elif sent and any(_exported(s) for s in sent):
            chosen = None  # confirmed already; a later parcel is only marked as covered
        else:
            chosen = sent[0] if sent else shipments[0]  # first time, or the confirmed number was corrected
        others = [s for s in shipments if s is not chosen and not _exported(s)]
        plan.append((order, chosen, others))
    return plan


def export_confirmations(*, include_all: bool = False, at: dt.datetime | None = None) -> tuple[bytes, int, str]:
    """The confirmation file for what is new (or everything), marked as exported. Returns (file, number of
    orders in it, the export's time stamp). The caller commits once the file is safely written/sent."""
    now = at or utcnow()
    stamp = now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows: list[report.Confirmation] = []
    count = 0
    for order, chosen, others in _plan(include_all=include_all):
        if chosen is not None:
            rows.extend(_rows_for(order, chosen))
            chosen.marketplace_ref, chosen.marketplace_number = EXPORT_PREFIX + stamp, chosen.tracking_number
            count += 1
        for s in others:
            s.marketplace_ref, s.marketplace_number = COVERED_PREFIX + stamp, s.tracking_number
    db.session.flush()
    return report.confirmation_file(rows, _carrier_names()), count, stamp


def export_again(stamp: str) -> bytes | None:
    """An earlier export's file again (None when there was no such export)."""
    shipments = list(db.session.scalars(select(Shipment).where(Shipment.marketplace_ref == EXPORT_PREFIX + stamp)
                                        .order_by(Shipment.order_id, Shipment.id)))
    if not shipments:
        return None
    rows = [dataclasses.replace(row, tracking_number=s.marketplace_number or s.tracking_number)
            for s in shipments for row in _rows_for(s.order, s)]
    return report.confirmation_file(rows, _carrier_names())


def recent_exports(limit: int = 10) -> list[dict]:
    stmt = (select(Shipment.marketplace_ref, func.count()).where(Shipment.marketplace_ref.like(EXPORT_PREFIX + "%"))
            .group_by(Shipment.marketplace_ref).order_by(Shipment.marketplace_ref.desc()).limit(limit))
    return [{"stamp": ref[len(EXPORT_PREFIX):], "orders": n} for ref, n in db.session.execute(stmt)]
