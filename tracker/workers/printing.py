"""The print queue's sender (the scheduler's print-queue job): what is queued, printer by printer, in order.
It commits around each print, so nothing is sent from inside an open transaction and a crash never loses a
queued label; what each step changes is services/printing.py's (those functions only flush)."""
from __future__ import annotations

import logging

from flask import current_app

from ..extensions import db
from ..labels import drivers
from ..models import utcnow
from ..services import printing
from ..settings import current_settings

log = logging.getLogger("tracker.printing")


def process_print_queue(*, limit_per_printer: int = 50) -> dict:
    """Prints what is queued; returns counts (printed, failed, waiting)."""
    instance = current_app.instance_path
    summary = {"printed": 0, "failed": 0, "waiting": 0}
    for name, cfg in current_settings().printers.items():
        state = printing.waiting_printer(name, utcnow())
        if state is None:  # in its backoff after a failure
            summary["waiting"] += printing.queued_count(name)
            db.session.commit()
            continue
        printing.requeue_stuck(name)
        db.session.commit()
        for _ in range(limit_per_printer):
            job = printing.take_next(name, state)
            if job is None:
                break
            payload, fmt, label_name = job.payload, job.format, f"{job.kind}-{job.id}"
            db.session.commit()  # "printing" is stored before the bytes leave
            try:
                drivers.send(cfg, payload, name=name, label_name=label_name, instance_path=instance, fmt=fmt)
            except drivers.PrinterError as exc:
                wait = printing.print_failed(job, state, str(exc))
                db.session.commit()
                log.warning("printer %s: %s (retry in %ss)", name, exc, wait)
                summary["failed"] += 1
                summary["waiting"] += printing.queued_count(name)
                db.session.commit()
                break
            printing.printed(job, state)
            db.session.commit()
            summary["printed"] += 1
    return summary
