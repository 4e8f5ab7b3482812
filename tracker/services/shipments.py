"""Shipments (parcels) of an order. Carrier tracking (webhooks, polling) builds on this."""
from __future__ import annotations

from sqlalchemy import select, update

from ..domain.carriers import CARRIER_NAMES, CARRIERS, detect_carrier, normalise_tracking, valid_tracking
from ..domain.refusals import Conflict
from ..domain.postage import label_format_of as sniff_label_format
from ..extensions import db
from ..models import Order, Shipment, utcnow
from .orders import Actor, record_note


def add_shipment(order: Order, *, tracking_number: str, actor: Actor, source: str, carrier: str | None = None,
                 service: str | None = None, provider: str | None = None, registered_ref: str | None = None,
                 is_return: bool = False) -> Shipment:
    """Links a parcel to the order. It does not move the order: the ship-out check (a scan, or a move on
    the board) marks it labelled, and the carrier's first scan moves it on from wherever it is.
    registered_ref: the provider tracks it already (a label bought through it), so nothing is registered.
    is_return: a return label, whose events never move the order."""
    number = normalise_tracking(tracking_number)
    if not valid_tracking(number):
        raise Conflict("a tracking number is 1 to 64 letters and digits", "tracking_number")
    carrier = carrier or detect_carrier(number) or "other"
    if carrier not in CARRIERS:
        raise Conflict(f"unknown carrier {carrier!r} (one of {', '.join(CARRIERS)})", "carrier")
    taken = db.session.scalar(select(Shipment).where(Shipment.carrier == carrier, Shipment.tracking_number == number))
    if taken is not None:
        if taken.order_id == order.id:
            return taken
        raise Conflict(f"{CARRIER_NAMES[carrier]} {number} already belongs to order {taken.order.code}", "tracking_number")
    shipment = Shipment(carrier=carrier, tracking_number=number, service=service, provider=provider,
                        is_return=is_return)
    if registered_ref is not None:
        shipment.provider_ref, shipment.registered_at = registered_ref[:100], utcnow()
    order.shipments.append(shipment)
    db.session.flush()
    record_note(order, kind="shipment", actor=actor, source=source,
                note=f"{'Return shipment' if is_return else 'Shipment'} added: {CARRIER_NAMES[carrier]} {number}")
    from .tracking import on_shipment_added

    on_shipment_added(shipment)
    return shipment


def replace_tracking_number(shipment: Shipment, new_number: str, *, actor: Actor, source: str) -> Shipment:
    """Corrects a parcel's tracking number (a mistyped number, a relabelled parcel). The old number's
    carrier events are let go, the new number is tracked from scratch, and a customer who was already
    sent the old number (the carrier had scanned it) gets a correction."""
    from ..models import TrackingEvent

    number = normalise_tracking(new_number)
    if not valid_tracking(number):
        raise Conflict("a tracking number is 1 to 64 letters and digits", "tracking_number")
    old = shipment.tracking_number
    if number == old:
        return shipment
    carrier = detect_carrier(number) or shipment.carrier
    taken = db.session.scalar(select(Shipment).where(Shipment.carrier == carrier, Shipment.tracking_number == number))
    if taken is not None:
        raise Conflict(f"{CARRIER_NAMES[carrier]} {number} already belongs to order {taken.order.code}", "tracking_number")
    customer_told = shipment.activated_at is not None
    db.session.execute(update(TrackingEvent).where(TrackingEvent.shipment_id == shipment.id)
                       .values(shipment_id=None))
    shipment.tracking_number, shipment.carrier = number, carrier
    shipment.provider_ref, shipment.registered_at = None, None
    db.session.flush()
    db.session.expire(shipment, ["events"])
    record_note(shipment.order, kind="shipment", actor=actor, source=source,
                note=f"Tracking number changed: {old} -> {CARRIER_NAMES[carrier]} {number}")
    from .tracking import on_shipment_added

    on_shipment_added(shipment)
    from .marketplace_push import tracking_number_replaced

    tracking_number_replaced(shipment, old)
    if customer_told:
        from .notifications import tracking_number_changed

        tracking_number_changed(shipment, old)
    return shipment


MAX_LABEL_BYTES = 2 * 1024 * 1024


def label_format_of(data: bytes) -> str | None:
    """zpl or pdf from the file's own bytes (not its name): the files a shop attaches by hand."""
    fmt = sniff_label_format(data)
    return fmt if fmt in ("zpl", "pdf") else None


def attach_label(shipment: Shipment, data: bytes, *, actor: Actor, source: str) -> str:
    """Keeps the carrier's label file with the shipment, to print from the print queue."""
    if not data:
        raise Conflict("the label file is empty", "label")
    if len(data) > MAX_LABEL_BYTES:
        raise Conflict("the label file is larger than 2 MB", "label")
    fmt = label_format_of(data)
    if fmt is None:
        raise Conflict("a carrier label must be a ZPL file (for Zebra-type printers) or a PDF", "label")
    shipment.label_data, shipment.label_format = data, fmt
    record_note(shipment.order, kind="shipment", actor=actor, source=source,
                note=f"Carrier label ({fmt.upper()}) attached to {shipment.tracking_number}")
    db.session.flush()
    return fmt
