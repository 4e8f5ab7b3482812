"""Copies what a label shows out of the database into the labels package's plain dataclasses."""
from __future__ import annotations

from ..domain.intake import METHOD_LABELS
from ..domain.lifecycle import CANCELLED
from ..labels import JobLabel, PackingSlip, SlipItem
from ..models import Job, Order
from ..queries import tracking_url
from ..settings import current_settings


def first_name(full: str | None) -> str:
    parts = (full or "").split()
    return parts[0] if parts else ""


def job_label(job: Job) -> JobLabel:
    order = job.order
    return JobLabel(
        job_code=job.code,
        staff_url=f"{current_settings().shop.public_url}/jobs/{job.code}",
        customer_first_name=first_name(order.customer_name),
        description=job.description,
        method=METHOD_LABELS.get(job.method, job.method),
        quantity=job.quantity,
        due=order.due_date,
        rush=order.rush,
        batch_code=job.batch.code if job.batch else None,
    )


def packing_slip(order: Order) -> PackingSlip:
    return PackingSlip(
        order_code=order.code,
        shop_name=current_settings().shop.name,
        customer_first_name=first_name(order.customer_name),
        tracking_url=tracking_url(order),
        items=tuple(SlipItem(j.description, METHOD_LABELS.get(j.method, j.method), j.quantity)
                    for j in order.jobs if j.stage != CANCELLED),
    )
