"""Shipments (parcels) of an order. Carrier tracking (webhooks, polling) builds on this."""
from __future__ import annotations

from sqlalchemy import select

from ..domain.carriers import CARRIER_NAMES, CARRIERS, detect_carrier, normalise_tracking
from ..domain.lifecycle import MoveRefused
from ..extensions import db
from ..models import Order, Shipment
from .orders import Actor, record_note


def add_shipment(order: Order, *, tracking_number: str, actor: Actor, source: str, carrier: str | None = None,
                 service: str | None = None, provider: str | None = None) -> Shipment:
    """Links a parcel to the order. It does not move the order: the ship-out check (a scan, or a move on
    the board) marks it labelled, and the carrier's first scan moves it on from wherever it is."""
    number = normalise_tracking(tracking_number)
    if not number or len(number) > 64:
        raise MoveRefused("a tracking number is 1 to 64 letters and digits")
    carrier = carrier or detect_carrier(number) or "other"
    if carrier not in CARRIERS:
        raise MoveRefused(f"unknown carrier {carrier!r} (one of {', '.join(CARRIERS)})")
    taken = db.session.scalar(select(Shipment).where(Shipment.carrier == carrier, Shipment.tracking_number == number))
    if taken is not None:
        if taken.order_id == order.id:
            return taken
        raise MoveRefused(f"{CARRIER_NAMES[carrier]} {number} already belongs to order {taken.order.code}")
    shipment = Shipment(carrier=carrier, tracking_number=number, service=service, provider=provider)
    order.shipments.append(shipment)
    db.session.flush()
    record_note(order, kind="shipment", actor=actor, source=source,
                note=f"Shipment added: {CARRIER_NAMES[carrier]} {number}")
    from .tracking import on_shipment_added

    on_shipment_added(shipment)
    return shipment
