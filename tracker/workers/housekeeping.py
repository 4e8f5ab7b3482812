"""The nightly clean-up: removes finished queue rows (processed webhook deliveries, sent outbox messages,
printed labels, long-closed alerts) and old label files once they are past the shop's retention
([housekeeping] keep_days / label_days), then tidies the database.

It only ever removes work that is finished and that nothing still needs. It never removes orders, jobs,
the audit trail (events: the database refuses that anyway), scans, shipments, tracking events or users;
the one change it makes to a kept row is clearing a tracking event's pointer to a webhook delivery it
removes (see _webhook_deliveries).

Deletes go in batches, each its own short transaction, so a year of backlog never holds SQLite's write
lock (or PostgreSQL row locks) for long: scans and webhooks slip in between batches.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import time
from pathlib import Path

from flask import current_app
from sqlalchemy import and_, delete, or_, select, text, update

from ..domain.lifecycle import CANCELLED, FINAL_STAGE
from ..extensions import db
from ..models import Alert, Order, OutboxMessage, PrintJob, TrackingEvent, WebhookDelivery, utcnow
from ..settings import current_settings

log = logging.getLogger("tracker.housekeeping")
BATCH = 1000
MIN_BATCH = 50
BATCH_SECONDS = 0.5
WHAT = {"webhook_deliveries": "webhook deliveries", "outbox": "outbox messages", "print_jobs": "print jobs",
        "alerts": "closed alerts", "label_files": "label files",
        "proof_files": "unused proof files"}
# What the file printer writes (labels/drivers.py send()): "<UTC stamp>-<printer>-<kind>-<print job id>.<ext>".
# Only files named like this are ever removed: anything else in the folder is not ours.
LABEL_FILE_RE = re.compile(r"(?P<stamp>\d{8}T\d{6})-.+-(?:job|packing|test|carrier)-(?P<id>\d+)\.(?:zpl|bin|pdf|png)")


def run_housekeeping(now: dt.datetime | None = None) -> dict:
    """Removes finished work older than the retention and tidies the database. Commits as it goes (one
    transaction per batch); returns what it removed."""
    now = now or utcnow()
    cfg = current_settings().housekeeping
    keep = now - dt.timedelta(days=cfg.keep_days)
    labels = now - dt.timedelta(days=cfg.label_days)
    counts = {
        "webhook_deliveries": _webhook_deliveries(keep),
        "outbox": _outbox(keep),
        "print_jobs": _print_jobs(labels),
        "alerts": _alerts(now - dt.timedelta(days=2 * cfg.keep_days)),
    }
    counts["label_files"] = _label_files(labels)
    counts["proof_files"] = _proof_files(now - dt.timedelta(days=1))
    _tidy_database()
    log.info("housekeeping: removed %s", ", ".join(f"{n} {WHAT[k]}" for k, n in counts.items()))
    return counts


def _in_batches(ids_query, remove) -> int:
    """Runs `ids_query` (ids of rows to remove) and `remove(ids)` until nothing is left, committing after
    each batch. `remove` repeats the conditions, so a row that changed between the read and the delete (in
    another process) stays. Batches start small and grow to BATCH while each transaction stays short, and
    shrink when one took longer than BATCH_SECONDS: on SQLite that transaction holds the whole database's
    write lock, and a scan or webhook waiting behind it gives up after busy_timeout (5 s)."""
    total, size = 0, min(BATCH, 2 * MIN_BATCH)
    while True:
        started = time.perf_counter()
        ids = list(db.session.scalars(ids_query.order_by(ids_query.selected_columns[0]).limit(size)))
        if not ids:
            db.session.commit()
            return total
        removed = remove(ids)
        total += removed
        db.session.commit()
        if len(ids) < size or not removed:  # the last batch (or rows that changed under us: next night)
            return total
        took = time.perf_counter() - started
        if took > BATCH_SECONDS:
            size = min(BATCH, max(MIN_BATCH, size // 2))
        elif took < BATCH_SECONDS / 4:
            size = min(BATCH, size * 2)


def _webhook_deliveries(cutoff: dt.datetime) -> int:
    """Processed carrier webhooks received (and processed) before the cutoff.

    Kept: anything not processed yet (the process-webhooks job still needs it) and anything parked for a
    person to look at (an unreadable body, or one that failed five times): only a clean run (no error) or
    a delivery about something we do not track ("ignored: ...") counts as finished.

    Why removing an old processed delivery is safe: a delivery is processed exactly once (process_delivery
    skips processed rows, so a processed one never gains a new tracking event), and everything it said is
    already stored as tracking events, which are never removed. The delivery row only served as the
    de-duplication key for a redelivery (dedupe_key); once it is gone, a carrier that redelivers the same
    webhook months later gets a new delivery row, but ingest_update() skips each of its events because a
    tracking event with the same key already exists (the provider's event id, or cs.event_key() of
    carrier, number, code and time), so nothing is stored or moved twice; the shipment's status is derived
    again from the same events (unchanged), so no customer mail goes out either.

    The tracking events a delivery produced point at it (tracking_events.delivery_id, a foreign key with
    no ON DELETE rule). That pointer is cleared first, in the same transaction, so no reference is left
    dangling; nothing reads it (it only said which raw body an event came from, and that body is what
    goes). The events themselves are not changed otherwise."""
    finished = and_(WebhookDelivery.processed_at.is_not(None),
                    WebhookDelivery.processed_at < cutoff,
                    WebhookDelivery.received_at < cutoff,
                    or_(WebhookDelivery.error.is_(None), WebhookDelivery.error.like("ignored:%")))

    def remove(ids):
        # Re-select under this transaction's write lock: only rows still finished are unlinked and deleted.
        gone = list(db.session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.id.in_(ids), finished)))
        if not gone:
            return 0
        db.session.execute(update(TrackingEvent).where(TrackingEvent.delivery_id.in_(gone)).values(delivery_id=None)
                           .execution_options(synchronize_session=False))
        return db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(gone))
                                  .execution_options(synchronize_session=False)).rowcount or 0

    return _in_batches(select(WebhookDelivery.id).where(finished), remove)


def _outbox(cutoff: dt.datetime) -> int:
    """Outbox messages sent (done) or given up (failed) before the cutoff. Pending ones are never touched.

    A message's dedupe key is also what stops the same notification from being queued again, and for an
    order still in progress that can matter months later: the delay sweep sends "running late" once per
    order because it finds the earlier message. So messages of orders that are not delivered or cancelled
    yet are kept, whatever their age; those of finished orders (and those with no order) go."""
    open_orders = select(Order.id).where(Order.stage.not_in([FINAL_STAGE, CANCELLED]))
    finished = and_(
        or_(and_(OutboxMessage.status == "done", OutboxMessage.done_at.is_not(None), OutboxMessage.done_at < cutoff),
            # A given-up message has no time of its own: its last try was due at next_attempt_at.
            and_(OutboxMessage.status == "failed", OutboxMessage.created_at < cutoff,
                 or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at < cutoff))),
        or_(OutboxMessage.order_id.is_(None), OutboxMessage.order_id.not_in(open_orders)),
    )
    return _in_batches(select(OutboxMessage.id).where(finished), lambda ids: db.session.execute(
        delete(OutboxMessage).where(OutboxMessage.id.in_(ids), finished)
        .execution_options(synchronize_session=False)).rowcount or 0)


def _print_jobs(cutoff: dt.datetime) -> int:
    """Labels printed (done) before the cutoff. Queued ones, ones being sent, and ones failing (kept queued
    with last_error while the printer is off) are never touched. Nothing refers to a print job."""
    finished = and_(PrintJob.status == "done", PrintJob.printed_at.is_not(None), PrintJob.printed_at < cutoff,
                    PrintJob.created_at < cutoff)
    return _in_batches(select(PrintJob.id).where(finished), lambda ids: db.session.execute(
        delete(PrintJob).where(PrintJob.id.in_(ids), finished)
        .execution_options(synchronize_session=False)).rowcount or 0)


def _alerts(cutoff: dt.datetime) -> int:
    """Alerts closed before the cutoff (twice keep_days). Open ones stay, however old. A closed alert's key
    also stops the same occurrence from being raised again, but every alert key names its occurrence (the
    stage entered at, the last event's time, the shipment), and such an occurrence does not come back
    months after it ended."""
    finished = and_(Alert.closed_at.is_not(None), Alert.closed_at < cutoff)
    return _in_batches(select(Alert.id).where(finished), lambda ids: db.session.execute(
        delete(Alert).where(Alert.id.in_(ids), finished).execution_options(synchronize_session=False)).rowcount or 0)


def label_folders() -> list[Path]:
    """Where the file printer writes labels: instance/labels, and each file printer's own `path`."""
    instance = Path(current_app.instance_path)
    folders = [instance / "labels"]
    for cfg in current_settings().printers.values():
        if cfg.driver == "file" and cfg.path:
            folders.append(Path(cfg.path))
    seen, out = set(), []
    for folder in folders:
        key = folder.resolve()
        if key not in seen:
            seen.add(key)
            out.append(folder)
    return out


def _label_files(cutoff: dt.datetime) -> int:
    """Label files written before the cutoff (the time is in the file's name) whose print job is gone:
    removed just now with its row, or long ago. A file whose print job is still in the database stays,
    whatever its age (a queued or failing job, or one printed recently). Runs after the commits: no file
    is touched inside a transaction."""
    still_there = set(db.session.scalars(select(PrintJob.id)))
    db.session.commit()
    removed = 0
    for folder in label_folders():
        try:
            entries = list(folder.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            continue
        for path in entries:
            m = LABEL_FILE_RE.fullmatch(path.name)
            if m is None or int(m.group("id")) in still_there or not path.is_file() or path.is_symlink():
                continue
            written = dt.datetime.strptime(m.group("stamp"), "%Y%m%dT%H%M%S").replace(tzinfo=dt.timezone.utc)
            if written >= cutoff:
                continue
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as exc:  # a read-only share: say so, carry on
                log.warning("housekeeping: cannot remove %s: %s", path, exc)
    return removed


# What services/proofs.py writes: "<uuid4 hex>.<type>", and ".<name>.part" while writing.
PROOF_FILE_RE = re.compile(r"\.?[0-9a-f]{32}\.(?:png|jpg|webp|pdf)(?:\.part)?")


def _proof_files(cutoff: dt.datetime) -> int:
    """Proof files no proof row names, older than the cutoff: left by an upload whose transaction rolled
    back after the file was written (or a crash mid-write). A proof's own file is never removed."""
    from ..models import Proof
    from ..services.proofs import folder

    named = set(db.session.scalars(select(Proof.stored_as)))
    db.session.commit()
    removed = 0
    try:
        entries = list(folder().iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for path in entries:
        if not PROOF_FILE_RE.fullmatch(path.name) or path.name in named or not path.is_file() or path.is_symlink():
            continue
        try:
            if dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc) >= cutoff:
                continue
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("housekeeping: cannot remove %s: %s", path, exc)
    return removed


def _tidy_database() -> None:
    """Lets the database catch up with the deletes: fresh planner statistics, and on SQLite the WAL file
    folded back into the database and truncated (it otherwise stays at its largest size)."""
    if db.engine.dialect.name == "postgresql":
        # ANALYZE may run inside a transaction (VACUUM may not; autovacuum reclaims the space).
        for table in ("webhook_deliveries", "tracking_events", "outbox", "print_jobs", "alerts"):
            db.session.execute(text(f"ANALYZE {table}"))
        db.session.commit()
        return
    if db.engine.dialect.name != "sqlite":
        return
    # PRAGMA optimize runs ANALYZE where SQLite thinks it helps; fine inside this app's BEGIN IMMEDIATE.
    db.session.execute(text("PRAGMA optimize"))
    db.session.commit()
    # A checkpoint cannot finish from inside a transaction (its own snapshot pins the WAL), and every
    # SQLAlchemy statement here opens one (tracker/__init__.py emits BEGIN / BEGIN IMMEDIATE on begin).
    # So it runs on a raw pooled connection, which the connect listener left in sqlite3's autocommit mode
    # (isolation_level None): no BEGIN is sent. It waits out other connections on busy_timeout and
    # reports busy instead of failing.
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        mode = cur.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() == "wal":
            busy, log_pages, moved = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:
                log.info("housekeeping: WAL checkpoint incomplete (the database was busy); "
                         "%s of %s pages copied", moved, log_pages)
        cur.close()
    finally:
        raw.close()
