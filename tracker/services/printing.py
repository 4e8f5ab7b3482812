"""The print queue. A print is stored first (rendered bytes and all) and printed later by the scheduler's
print-queue job, outside any web request, one printer's queue at a time and in order. An offline printer
keeps its jobs queued and is retried with backoff; when it comes back each job prints once, in order.
Here: queuing and each print's state changes (they flush); the sending loop is tracker/workers/printing.py."""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select

from ..domain.lifecycle import CANCELLED
from ..domain.refusals import Conflict, Invalid
from ..extensions import db
from ..labels import drivers
from ..models import Job, Order, PrinterState, PrintJob, utcnow
from ..settings import Printer, current_settings
from .orders import Actor, record_note

log = logging.getLogger("tracker.printing")
BACKOFF_FIRST_SECONDS = 5
BACKOFF_MAX_SECONDS = 300
KINDS = ("job", "packing")


def printer_or_error(name: str | None) -> tuple[str, Printer]:
    printers = current_settings().printers
    if name is None:
        name = current_settings().intake.label_printer or next(iter(printers), None)
        if name is None:
            raise Invalid("no printer is set up: add [printers.NAME] to config.toml", "printer")
    if name not in printers:
        raise Invalid(f"there is no printer {name!r} (printers: {', '.join(printers) or 'none'})", "printer")
    return name, printers[name]


def render_label(kind: str, subject, printer: Printer) -> tuple[bytes, str]:
    """The bytes a printer takes for a job label (subject: Job) or packing slip (subject: Order)."""
    from ..labels.render import render_escpos, render_zpl

    from .label_content import job_label, packing_slip

    content = job_label(subject) if kind == "job" else packing_slip(subject)
    fmt = drivers.payload_format(printer)
    if fmt == "escpos":
        return render_escpos(content, drivers.receipt_width_dots(printer),
                             hardware_barcode=printer.barcode == "hardware"), fmt
    return render_zpl(content), "zpl"


def intake_labels(order: Order, *, actor: Actor, source: str, job: Job | None = None) -> None:
    """order_received and job_added (services/events.py): where the shop prints job labels at intake
    ([intake] print_job_labels), the new order's labels, or the added job's, are queued now; the print
    queue prints them after the commit."""
    intake = current_settings().intake
    if intake.print_job_labels:
        queue_labels(order, kind="job", printer=intake.label_printer, actor=actor, source=source,
                     jobs=[job] if job is not None else None)


def queue_labels(order: Order, *, kind: str = "job", printer: str | None = None, actor: Actor,
                 jobs: list[Job] | None = None, source: str = "web") -> list[PrintJob]:
    """Queues job labels (one per active job, or `jobs`) or the order's packing slip."""
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}, not {kind!r}", "kind")
    name, cfg = printer_or_error(printer)
    made = []
    if kind == "job":
        targets = jobs if jobs is not None else [j for j in order.jobs if j.stage != CANCELLED]
        if not targets:
            raise Conflict(f"{order.code} has no jobs to label")
        for job in targets:
            payload, fmt = render_label("job", job, cfg)
            made.append(PrintJob(printer=name, kind="job", format=fmt, payload=payload, order_id=order.id,
                                 job_id=job.id, requested_by=actor.name))
    else:
        payload, fmt = render_label("packing", order, cfg)
        made.append(PrintJob(printer=name, kind="packing", format=fmt, payload=payload, order_id=order.id,
                             requested_by=actor.name))
    db.session.add_all(made)
    db.session.flush()
    what = f"{len(made)} job label{'s' if len(made) != 1 else ''}" if kind == "job" else "packing slip"
    record_note(order, kind="print", actor=actor, source=source, note=f"{what} queued for printer {name}")
    return made


def queue_carrier_label(shipment, *, printer: str | None, actor: Actor, source: str = "web") -> PrintJob:
    """The carrier's own label file, unchanged: ZPL to a ZPL printer (or the file printer), PDF through CUPS."""
    if not shipment.label_format:
        raise Conflict(f"{shipment.tracking_number} has no carrier label file; attach one first")
    name, cfg = printer_or_error(printer)
    takes = drivers.payload_format(cfg)
    payload, fmt = shipment.label_data, shipment.label_format
    if fmt == "png" and takes == "escpos":
        # A PNG label (from a provider that offers no ZPL) prints as a picture on a receipt printer.
        from ..labels.render import render_escpos_image

        payload, fmt = render_escpos_image(payload, drivers.receipt_width_dots(cfg)), "escpos"
    elif shipment.label_format != takes:
        if shipment.label_format == "pdf":
            raise Conflict(f"{name} cannot print a PDF label: PDF labels print through CUPS "
                              "(a [printers.NAME] with driver = \"cups\"), or open the PDF and print it")
        if shipment.label_format == "png":
            raise Conflict(f"{name} cannot print a PNG label: print it from the browser, or buy labels as ZPL "
                              "for a ZPL printer")
        raise Conflict(f"{name} prints {takes.upper()}, not {shipment.label_format.upper()}: send ZPL labels "
                          "to a ZPL printer")
    job = PrintJob(printer=name, kind="carrier", format=fmt, payload=payload,
                   order_id=shipment.order_id, requested_by=actor.name)
    db.session.add(job)
    db.session.flush()
    record_note(shipment.order, kind="print", actor=actor, source=source,
                note=f"Carrier label {shipment.tracking_number} queued for printer {name}")
    return job


def queue_test_print(printer: str, *, actor: Actor) -> PrintJob:
    from ..labels.printer_test_page import test_label

    name, cfg = printer_or_error(printer)
    payload, fmt = test_label(cfg, name, current_settings().shop.name)
    job = PrintJob(printer=name, kind="test", format=fmt, payload=payload, requested_by=actor.name)
    db.session.add(job)
    db.session.flush()
    return job


def backoff_seconds(failures: int) -> int:
    return min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** max(0, failures - 1))


def _state(name: str) -> PrinterState:
    state = db.session.get(PrinterState, name)
    if state is None:
        state = PrinterState(name=name, failures=0)
        db.session.add(state)
    return state


def waiting_printer(name: str, now: dt.datetime) -> PrinterState | None:
    """The printer's state, or None while it waits out its backoff after a failure."""
    state = _state(name)
    if state.next_attempt_at and state.next_attempt_at > now:
        return None
    return state


def requeue_stuck(name: str) -> None:
    """A label left "printing" by a crash mid-send is sent again: a possible duplicate beats a lost label."""
    for stuck in db.session.scalars(select(PrintJob).where(PrintJob.printer == name, PrintJob.status == "printing")):
        stuck.status = "queued"
    db.session.flush()


def take_next(name: str, state: PrinterState) -> PrintJob | None:
    """The printer's oldest queued job, marked as being printed (the caller commits before sending it)."""
    job = db.session.scalar(select(PrintJob).where(PrintJob.printer == name, PrintJob.status == "queued")
                            .order_by(PrintJob.id).limit(1))
    if job is None:
        return None
    job.status, job.attempts = "printing", (job.attempts or 0) + 1
    state.last_attempt_at = utcnow()
    db.session.flush()
    return job


def print_failed(job: PrintJob, state: PrinterState, error: str) -> int:
    """The job goes back to the queue; the printer waits a growing backoff. Returns the backoff (seconds)."""
    job.status, job.last_error = "queued", error
    state.online, state.last_error = False, error
    state.failures = (state.failures or 0) + 1
    wait = backoff_seconds(state.failures)
    state.next_attempt_at = utcnow() + dt.timedelta(seconds=wait)
    db.session.flush()
    return wait


def printed(job: PrintJob, state: PrinterState) -> None:
    job.status, job.printed_at, job.last_error = "done", utcnow(), None
    state.online, state.last_ok_at, state.failures, state.next_attempt_at = True, utcnow(), 0, None
    state.last_error = None
    db.session.flush()


def queued_count(name: str) -> int:
    return db.session.scalar(select(func.count()).select_from(PrintJob)
                             .where(PrintJob.printer == name, PrintJob.status.in_(("queued", "printing")))) or 0


def retry_now(name: str) -> None:
    printer_or_error(name)
    state = _state(name)
    state.next_attempt_at = None
    db.session.flush()


def printer_overview() -> list[dict]:
    settings = current_settings()
    states = {s.name: s for s in db.session.scalars(select(PrinterState))}
    queued = dict(db.session.execute(select(PrintJob.printer, func.count()).where(
        PrintJob.status.in_(("queued", "printing"))).group_by(PrintJob.printer)).all())
    out = []
    for name, cfg in settings.printers.items():
        st = states.get(name)
        out.append({"name": name, "config": cfg, "online": st.online if st else None,
                    "last_error": st.last_error if st else None, "last_ok_at": st.last_ok_at if st else None,
                    "next_attempt_at": st.next_attempt_at if st else None, "queued": queued.get(name, 0),
                    "format": drivers.payload_format(cfg)})
    return out


def print_job_json(job: PrintJob) -> dict:
    return {"id": job.id, "printer": job.printer, "kind": job.kind, "format": job.format, "status": job.status,
            "order_id": job.order.code if job.order else None, "job_id": job.job.code if job.job else None,
            "attempts": job.attempts, "last_error": job.last_error,
            "created_at": job.created_at.isoformat() if job.created_at else None,
            "printed_at": job.printed_at.isoformat() if job.printed_at else None}


def recent_print_jobs(limit: int = 30) -> list[PrintJob]:
    return list(db.session.scalars(select(PrintJob).order_by(PrintJob.id.desc()).limit(limit)))
