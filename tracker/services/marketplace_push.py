"""Tracking back to the marketplace an order came from. The carrier services call these two hooks; what
each marketplace does (queue an outbox message: no network here) is registered by services/handlers.py."""
from __future__ import annotations

from typing import Callable

# channel -> {"activated": fn(shipment), "number_changed": fn(shipment, old_number)}
PUSHERS: dict[str, dict[str, Callable]] = {}


def register(channel: str, *, activated: Callable | None = None, number_changed: Callable | None = None) -> None:
    PUSHERS[channel] = {"activated": activated, "number_changed": number_changed}


def shipment_activated(shipment) -> None:
    """The carrier has scanned the parcel: tell the marketplace its tracking number."""
    fn = PUSHERS.get(shipment.order.channel, {}).get("activated")
    if fn is not None:
        fn(shipment)


def tracking_number_replaced(shipment, old_number: str) -> None:
    """A parcel's number was corrected: update what the marketplace shows."""
    fn = PUSHERS.get(shipment.order.channel, {}).get("number_changed")
    if fn is not None:
        fn(shipment, old_number)
