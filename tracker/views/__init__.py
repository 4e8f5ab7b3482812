"""One blueprint per surface. Views are thin: parse input, call a service, pick a template or JSON."""
from __future__ import annotations

from flask import abort


def order_or_404(code: str):
    from ..queries import get_order

    order = get_order(code)
    if order is None:
        abort(404, description=f"There is no order {code.upper()}.")
    return order


def job_or_404(code: str):
    from ..queries import get_job

    job = get_job(code)
    if job is None:
        abort(404, description=f"There is no job {code.upper()}.")
    return job
