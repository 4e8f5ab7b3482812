"""One blueprint per surface. Views are thin: parse input, call a service, pick a template or JSON."""
from __future__ import annotations

from contextlib import contextmanager

from flask import abort, flash

from ..domain.lifecycle import sentence  # noqa: F401 (views import sentence from here)
from ..domain.refusals import Refused
from ..extensions import db


@contextmanager
def refusals_flashed(*, capitalise: bool = True):
    """A page action: commits what the block did; a refusal of any kind (domain/refusals.py; raised before
    the block's success flash) rolls it all back and becomes a red flash instead."""
    try:
        yield
        db.session.commit()
    except Refused as exc:
        db.session.rollback()
        flash(sentence(str(exc)) if capitalise else str(exc), "error")


def order_or_404(code: str, *, parcel_events: bool = False):
    from ..queries import get_order

    order = get_order(code, parcel_events=parcel_events)
    if order is None:
        abort(404, description=f"There is no order {code.upper()}.")
    return order


def job_or_404(code: str):
    from ..queries import get_job

    job = get_job(code)
    if job is None:
        abort(404, description=f"There is no job {code.upper()}.")
    return job
