"""What a label says: plain values the caller copies out of the database.

No ORM objects here: a label is rendered after the transaction has committed (see ARCHITECTURE.md,
"no printer I/O inside an open transaction"), so it must not need a session to read a lazy attribute.
Free text (names, descriptions, methods, the shop name) may contain anything a customer or a
marketplace typed; the layouts clean and fit it, the caller need not.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class JobLabel:
    """The label stuck on a job's work (a stack of shirts, a box of mugs) as it moves through the shop."""

    job_code: str                 # A1042B: printed as Code128 and in large text under it
    staff_url: str                # http://host/jobs/A1042B: the QR code (a phone opens the job)
    customer_first_name: str
    description: str              # "Black tee, 2-colour front print"
    method: str                   # "Screen print", "DTG", "Embroidery"...
    quantity: int
    due: date | None = None
    rush: bool = False
    batch_code: str | None = None


@dataclass(frozen=True)
class SlipItem:
    description: str
    method: str
    quantity: int


@dataclass(frozen=True)
class PackingSlip:
    """The packing slip / bag label that goes out with the order."""

    order_code: str               # A1042: printed as Code128 and in text under it
    shop_name: str
    customer_first_name: str
    tracking_url: str             # the public tracking link (QR code, "Track your order")
    items: tuple[SlipItem, ...] | list[SlipItem] = field(default_factory=tuple)
    caption: str = "Track your order"
