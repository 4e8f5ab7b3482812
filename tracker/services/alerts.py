"""Alerts: raised once per occurrence (a unique key), closed when the condition is over. Sweeps call
raise_alert / close_alerts_except with what is true now; both are idempotent."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ..extensions import db
from ..models import Alert, utcnow


def raise_alert(kind: str, key: str, *, message: str, since: dt.datetime, order_id: int | None = None,
                job_id: int | None = None, shipment_id: int | None = None, stage: str | None = None) -> Alert:
    """Opens the alert with this key unless it exists (open or closed: a closed key is not raised twice;
    a new occurrence of the same kind gets a new key, e.g. with the time the condition began)."""
    alert = db.session.scalar(select(Alert).where(Alert.key == key))
    if alert is None:
        alert = Alert(kind=kind, key=key, message=message, since=since, order_id=order_id, job_id=job_id,
                      shipment_id=shipment_id, stage=stage)
        db.session.add(alert)
        db.session.flush()
    return alert


def close_alerts_except(kind: str, keep: set[str], *, now: dt.datetime | None = None) -> int:
    """Closes every open alert of `kind` whose key is not in `keep` (its condition has ended)."""
    now = now or utcnow()
    closed = 0
    for alert in db.session.scalars(select(Alert).where(Alert.kind == kind, Alert.closed_at.is_(None))):
        if alert.key not in keep:
            alert.closed_at = now
            closed += 1
    db.session.flush()
    return closed


def open_alerts() -> list[Alert]:
    return list(db.session.scalars(select(Alert).where(Alert.closed_at.is_(None)).order_by(Alert.since)))


def alert_json(alert: Alert) -> dict:
    data = {"kind": alert.kind, "order_id": alert.order.code if alert.order else None,
            "since": alert.since.isoformat(), "message": alert.message}
    if alert.job is not None:
        data["job_id"] = alert.job.code
    if alert.stage:
        data["stage"] = alert.stage
    if alert.shipment is not None:
        data["tracking_number"] = alert.shipment.tracking_number
    return data


def stall_sweep(now: dt.datetime | None = None) -> dict:
    """One alert per stall: a job (or, from packing on, an order) whose time in its stage passed the
    stage's SLA. The key holds the time the stage was entered, so a job that moves closes its alert and
    a later stall of the same job raises a new one."""
    from ..domain.lifecycle import CANCELLED
    from ..domain.sla import is_stalled
    from ..models import Job, Order
    from ..settings import current_settings

    now = now or utcnow()
    lc = current_settings().lifecycle
    keep: set[str] = set()
    for stage in lc.people_stages():
        if not stage.sla_hours:
            continue
        limit = now - dt.timedelta(hours=stage.sla_hours)
        if stage.scope == "job":
            rows = db.session.scalars(select(Job).where(Job.stage == stage.key, Job.stage_entered_at < limit))
            for job in rows:
                if not is_stalled(stage.sla_hours, job.stage_entered_at, now) or job.order.stage == CANCELLED:
                    continue
                key = f"stall:job:{job.id}:{stage.key}:{job.stage_entered_at.isoformat()}"
                keep.add(key)
                raise_alert("stall", key, since=job.stage_entered_at, order_id=job.order_id, job_id=job.id,
                            stage=stage.key, message=f"{job.code} has been in {stage.label} longer than its "
                                                     f"{stage.sla_hours:g} h")
        else:
            for order in db.session.scalars(select(Order).where(Order.stage == stage.key,
                                                                Order.stage_entered_at < limit)):
                key = f"stall:order:{order.id}:{stage.key}:{order.stage_entered_at.isoformat()}"
                keep.add(key)
                raise_alert("stall", key, since=order.stage_entered_at, order_id=order.id, stage=stage.key,
                            message=f"{order.code} has been in {stage.label} longer than its {stage.sla_hours:g} h")
    closed = close_alerts_except("stall", keep, now=now)
    return {"stalled": len(keep), "closed": closed}


def open_alert_count() -> int:
    from sqlalchemy import func

    return db.session.scalar(select(func.count()).select_from(Alert).where(Alert.closed_at.is_(None))) or 0
