"""Webhook deliveries applied in the background: the batches the worker thread and the process-webhooks
job run, each committing as it goes. What applying one delivery does is services/tracking.py's
(`apply_delivery`, `process_delivery`: they only flush); the transactions and the thread live here."""
from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select

from ..extensions import db
from ..models import WebhookDelivery, utcnow
from ..services.tracking import apply_delivery, process_delivery

log = logging.getLogger("tracker.tracking")


def process_pending_deliveries(limit: int = 500, batch: int = 5) -> int:
    """Processes what is stored but not processed yet, in order, committing every `batch` deliveries.
    A batch is first applied without savepoints (they were a third of applying a delivery); if any of
    its deliveries fails, the batch is rolled back and applied again with a savepoint for each, so one
    bad delivery spoils nothing else and is retried (parked after five attempts)."""
    ids = list(db.session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.processed_at.is_(None))
                                  .order_by(WebhookDelivery.id).limit(limit)))
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        try:
            _apply_batch(chunk, savepoint=False)
        except Exception:
            db.session.rollback()
            _apply_batch(chunk, savepoint=True)
        db.session.commit()
    return len(ids)


def _apply_batch(ids: list[int], *, savepoint: bool) -> None:
    deliveries = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(ids),
                                                                  WebhookDelivery.processed_at.is_(None))
                                    .order_by(WebhookDelivery.id)).all()
    for delivery in deliveries:
        if not savepoint:
            apply_delivery(delivery, savepoint=False)
            continue
        try:
            apply_delivery(delivery)
        except Exception as exc:  # its savepoint rolled back what it applied
            log.exception("webhook delivery %s failed", delivery.id)
            delivery.attempts = (delivery.attempts or 0) + 1
            delivery.error = f"{exc.__class__.__name__}: {exc}"[:2000]
            if delivery.attempts >= 5:
                delivery.processed_at = utcnow()  # parked for a person to look at; never lost
    db.session.flush()


class _Worker:
    """One background thread per process that drains stored deliveries in order, woken after each commit.

    Answering the carrier comes first: while deliveries keep arriving (one within QUIET_SECONDS of the
    last) the worker waits, so that a burst is stored and acknowledged at the rate the database can take
    inserts, and processed in the pauses. It never waits longer than MAX_DEFER_SECONDS before a round of
    ROUND deliveries, so a flood that never pauses is still processed, a round a second; /healthz shows
    how many wait."""

    QUIET_SECONDS = 0.02
    MAX_DEFER_SECONDS = 1.0
    ROUND = 50  # deliveries per round (about 50 ms of work), then the burst gets its turn again

    def __init__(self, app):
        self.app = app
        self.wake = threading.Event()
        self.last_arrival = 0.0
        self.thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self.thread.start()

    def arrived(self) -> None:
        self.last_arrival = time.monotonic()
        self.wake.set()

    def _let_the_burst_pass(self) -> None:
        deadline = time.monotonic() + self.MAX_DEFER_SECONDS
        while True:
            now = time.monotonic()
            quiet_for = now - self.last_arrival
            if quiet_for >= self.QUIET_SECONDS or now >= deadline:
                return
            time.sleep(min(self.QUIET_SECONDS - quiet_for, deadline - now))

    def _run(self):
        while True:
            self.wake.wait()
            self.wake.clear()
            with self.app.app_context():
                try:
                    self._let_the_burst_pass()
                    while process_pending_deliveries(limit=self.ROUND):
                        self._let_the_burst_pass()
                except Exception:
                    log.exception("processing webhook deliveries failed; the job will retry")
                finally:
                    db.session.remove()


_workers: dict[int, _Worker] = {}
_workers_lock = threading.Lock()


def process_after_commit(app, delivery_id: int) -> None:
    """Processes a just-acknowledged delivery in the background; the process-webhooks job catches any
    that a crash left behind."""
    mode = app.config.get("WEBHOOK_PROCESSING", "thread")
    if mode == "job":
        return
    if mode == "inline":  # tests: process in this request, after its commit
        try:
            process_delivery(delivery_id)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("webhook delivery %s failed; the job will retry it", delivery_id)
        return
    with _workers_lock:
        worker = _workers.get(id(app)) or _workers.setdefault(id(app), _Worker(app))
    worker.arrived()


def process_pending_or_wake(app) -> int:
    """The process-webhooks job: where this process has a worker, wakes it (it drains everything stored,
    pacing itself around bursts); otherwise (after a crash, before any delivery, or deliveries stored by
    another process) processes what is pending here. Returns how many were processed here."""
    worker = _workers.get(id(app))
    if worker is not None and worker.thread.is_alive():
        worker.wake.set()
        return 0
    return process_pending_deliveries()
