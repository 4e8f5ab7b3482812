"""Alerts: raised once per occurrence (a unique key), closed when the condition is over. Sweeps call
raise_alert / close_alerts_except with what is true now; both are idempotent."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..domain.refusals import Conflict, Invalid, NotFound, Refused
from ..extensions import db
from ..models import Alert, utcnow
from . import fits_id
from .rows import stored_keys


def raise_alert(kind: str, key: str, *, message: str, since: dt.datetime, order_id: int | None = None,
                job_id: int | None = None, shipment_id: int | None = None, stage: str | None = None) -> Alert:
    """Opens the alert with this key unless it exists (open or closed: a closed key is not raised twice;
    a new occurrence of the same kind gets a new key, e.g. with the time the condition began)."""
    return raise_alert_once(kind, key, message=message, since=since, order_id=order_id, job_id=job_id,
                            shipment_id=shipment_id, stage=stage)[0]


def raise_alert_once(kind: str, key: str, *, message: str, since: dt.datetime, order_id: int | None = None,
                     job_id: int | None = None, shipment_id: int | None = None,
                     stage: str | None = None) -> tuple[Alert, bool]:
    """raise_alert(), also saying whether this call opened it (True) or it existed already (False)."""
    alert = db.session.scalar(select(Alert).where(Alert.key == key))
    if alert is not None:
        return alert, False
    alert = Alert(kind=kind, key=key, message=message, since=since, order_id=order_id, job_id=job_id,
                  shipment_id=shipment_id, stage=stage)
    db.session.add(alert)
    db.session.flush()
    return alert, True


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


def close_shipment_alerts(kind: str, shipment_id: int, *, keep: str | None = None,
                          now: dt.datetime | None = None) -> int:
    """Closes a shipment's open alerts of `kind`, except the one whose key is `keep`."""
    now = now or utcnow()
    closed = 0
    for alert in db.session.scalars(select(Alert).where(Alert.kind == kind, Alert.shipment_id == shipment_id,
                                                        Alert.closed_at.is_(None))):
        if alert.key != keep:
            alert.closed_at = now
            closed += 1
    return closed


def open_alerts() -> list[Alert]:
    """With each one's order, job and parcel in the same statement (the page and the API show them)."""
    return list(db.session.scalars(select(Alert).where(Alert.closed_at.is_(None)).order_by(Alert.since)
                                   .options(joinedload(Alert.order), joinedload(Alert.job),
                                            joinedload(Alert.shipment))))


def needs_attention(alert: Alert, now: dt.datetime) -> bool:
    """Open, not acknowledged and not snoozed: what the banner counts and the digest leads with."""
    return (alert.closed_at is None and alert.acknowledged_at is None
            and (alert.snoozed_until is None or alert.snoozed_until <= now))


def _attention_clause(now: dt.datetime):
    from sqlalchemy import or_

    return (Alert.closed_at.is_(None), Alert.acknowledged_at.is_(None),
            or_(Alert.snoozed_until.is_(None), Alert.snoozed_until <= now))


def grouped_alerts(now: dt.datetime | None = None) -> dict[str, list[Alert]]:
    """Open alerts for the alerts page: {"attention": [...], "snoozed": [...], "acknowledged": [...]}."""
    now = now or utcnow()
    groups: dict[str, list[Alert]] = {"attention": [], "snoozed": [], "acknowledged": []}
    for alert in open_alerts():
        if alert.acknowledged_at is not None:
            groups["acknowledged"].append(alert)
        elif alert.snoozed_until is not None and alert.snoozed_until > now:
            groups["snoozed"].append(alert)
        else:
            groups["attention"].append(alert)
    return groups


class AlertRefused(Refused):
    """An acknowledge or snooze that cannot be done; the message says why."""


class AlertInvalid(AlertRefused, Invalid):
    pass


class AlertNotFound(AlertRefused, NotFound):
    pass


class AlertClosed(AlertRefused, Conflict):
    pass


SNOOZE_CHOICES = {"1h": "1 hour", "4h": "4 hours", "tomorrow": "Until tomorrow's opening"}


def snooze_until(choice: str, now: dt.datetime) -> dt.datetime:
    """The end of a snooze: 1 or 4 hours, or the next working day's opening (08:00 without a calendar)."""
    from ..settings import current_settings

    if choice == "1h":
        return now + dt.timedelta(hours=1)
    if choice == "4h":
        return now + dt.timedelta(hours=4)
    if choice == "tomorrow":
        settings = current_settings()
        cal = settings.work_calendar
        day = cal.next_open_day(now.astimezone(settings.shop.tz).date() + dt.timedelta(days=1))
        opening = cal.open_interval(day)[0] if settings.calendar is not None else \
            dt.datetime.combine(day, dt.time(8, 0), tzinfo=settings.shop.tz)
        return opening.astimezone(dt.timezone.utc)
    raise AlertInvalid(f"'{choice}' is not a snooze choice ({', '.join(SNOOZE_CHOICES)})")


def _open_alert(alert_id: int) -> Alert:
    alert = db.session.get(Alert, alert_id) if fits_id(alert_id) else None
    if alert is None:
        raise AlertNotFound("There is no such alert.")
    if alert.closed_at is not None:
        raise AlertClosed("That alert has closed already: what it warned about is over.")
    return alert


# Notices of something that happened (a marketplace changed an order), not of a state that ends by
# itself: acknowledging one closes it.
ONE_OFF_KINDS = ("marketplace_change",)


def acknowledge(alert_id: int, *, by: str, now: dt.datetime | None = None) -> Alert:
    """Someone has seen it and is on it: it leaves the banner and the digest's list, and stays listed
    (with who and when) until what it warns about is over. A one-off notice closes."""
    now = now or utcnow()
    alert = _open_alert(alert_id)
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now
        alert.acknowledged_by = by
    if alert.kind in ONE_OFF_KINDS:
        alert.closed_at = now
    db.session.flush()
    return alert


def snooze(alert_id: int, choice: str, *, by: str, now: dt.datetime | None = None) -> Alert:
    """Hidden from the banner until the snooze ends (who and when recorded); it comes back if still open."""
    now = now or utcnow()
    alert = _open_alert(alert_id)
    alert.snoozed_until = snooze_until(choice, now)
    alert.snoozed_at = now
    alert.snoozed_by = by
    db.session.flush()
    return alert


def alert_json(alert: Alert) -> dict:
    data = {"kind": alert.kind, "order_id": alert.order.code if alert.order else None,
            "since": alert.since.isoformat(), "message": alert.message}
    if alert.job is not None:
        data["job_id"] = alert.job.code
    if alert.stage:
        data["stage"] = alert.stage
    if alert.shipment is not None:
        data["tracking_number"] = alert.shipment.tracking_number
    data["id"] = alert.id
    if alert.acknowledged_at is not None:
        data["acknowledged_at"], data["acknowledged_by"] = alert.acknowledged_at.isoformat(), alert.acknowledged_by
    if alert.snoozed_until is not None:
        data["snoozed_until"], data["snoozed_by"] = alert.snoozed_until.isoformat(), alert.snoozed_by
    return data


def stall_sweep(now: dt.datetime | None = None) -> dict:
    """One alert per stall: a job (or, from packing on, an order) whose time in its stage passed the
    stage's SLA, counted in the shop's business hours when it has a [calendar]. The key holds the time
    the stage was entered, so a job that moves closes its alert and a later stall of the same job raises
    a new one. A newly stalled rush order is mailed to the managers at once. Time a job waited for the
    customer's answer to a proof is not counted, and a job waiting for it now is not stalled."""
    from sqlalchemy.orm import contains_eager

    from ..domain.lifecycle import CANCELLED
    from ..domain.sla import stall_cutoff
    from ..models import Job, Order
    from ..settings import current_settings

    now = now or utcnow()
    settings = current_settings()
    lc, calendar = settings.lifecycle, settings.sla_calendar
    keep: set[str] = set()
    mailed = 0
    for stage in lc.people_stages():
        cutoff = stall_cutoff(stage.sla_hours, now, calendar)
        if cutoff is None:
            continue
        if stage.scope == "job":
            rows = db.session.scalars(select(Job).join(Job.order).options(contains_eager(Job.order)).where(
                Job.stage == stage.key, Job.stage_entered_at < cutoff, Order.stage != CANCELLED))
            # A job waiting for the customer's answer to a proof is not the shop's stall, and the time the
            # customer took before answering does not count against the stage's SLA.
            found = [(f"stall:job:{job.id}:{stage.key}:{job.stage_entered_at.isoformat()}", job.order, job,
                      job.code, job.shop_entered_at(now)) for job in rows
                     if not job.waiting_for_customer and job.shop_entered_at(now) < cutoff]
        else:
            rows = db.session.scalars(select(Order).where(Order.stage == stage.key, Order.stage_entered_at < cutoff))
            found = [(f"stall:order:{order.id}:{stage.key}:{order.stage_entered_at.isoformat()}", order, None,
                      order.code, order.stage_entered_at) for order in rows]
        known = stored_keys(Alert.key, [f[0] for f in found])  # read in batches, not once per job
        for key, order, job, code, entered in found:
            keep.add(key)
            if key in known:
                continue
            alert, new = raise_alert_once(
                "stall", key, since=entered, order_id=order.id, job_id=job.id if job else None, stage=stage.key,
                message=f"{code} has been in {stage.label} longer than its {stage.sla_hours:g} h")
            if new and order.rush:
                mailed += rush_stall_mail(alert)
    closed = close_alerts_except("stall", keep, now=now)
    return {"stalled": len(keep), "closed": closed} | ({"mailed": mailed} if mailed else {})


def risk_sweep(now: dt.datetime | None = None) -> dict:
    """Due dates at risk, raised while there is still time to act: for each order still at the shop with
    a due date today or later, the remaining stages of its slowest job at the shop's typical pace (its own
    history, else the SLAs), plus the carrier's typical transit, land after the due date (less
    [alerts] at_risk_margin_hours). One alert per order and due date; it closes when the outlook is good
    again, the order leaves the shop or is cancelled, or its due date changes. An order already past its
    due date keeps its open alert but gets no new one (it is on the board's Late filter and the digest)."""
    from sqlalchemy.orm import selectinload

    from ..domain import eta
    from ..domain.lifecycle import CANCELLED
    from ..models import Order
    from ..queries import typical_stage_hours, typical_transit_hours
    from ..settings import current_settings

    now = now or utcnow()
    settings = current_settings()
    lc, tz, calendar = settings.lifecycle, settings.shop.tz, settings.work_calendar
    today = now.astimezone(tz).date()
    people = [s.key for s in lc.people_stages()]
    orders = list(db.session.scalars(
        select(Order).where(Order.stage.in_(people), Order.stage != CANCELLED, Order.due_date.is_not(None))
        .options(selectinload(Order.jobs))))
    keep: set[str] = set()
    raised = 0
    # Which orders' alerts are stored already, read in a few batches rather than once per order.
    known = stored_keys(Alert.key, [f"at_risk:{o.id}:{o.due_date.isoformat()}" for o in orders])
    if orders:
        typical = typical_stage_hours(lc, calendar, now)
        transit = typical_transit_hours(None, now)
        for order in orders:
            if lc.get(order.stage).scope == "job":
                # The customer's time on a proof is not the shop's: the clock of a job waiting for an answer
                # counts as if the answer came now.
                work = [(j.code, j.stage, j.shop_entered_at(now)) for j in order.jobs if j.stage in people]
            else:
                work = [(order.code, order.stage, order.stage_entered_at)]
            risk = eta.due_risk(now=now, tz=tz, calendar=calendar, due=order.due_date, work=work,
                                people_stages=people, stage_typical=typical, transit=transit,
                                margin_hours=settings.alerts.at_risk_margin_hours)
            key = f"at_risk:{order.id}:{order.due_date.isoformat()}"
            if risk is None or not risk.at_risk:
                continue
            if order.due_date < today:
                if db.session.scalar(select(Alert.id).where(Alert.key == key, Alert.closed_at.is_(None))):
                    keep.add(key)
                continue
            keep.add(key)
            if key in known:
                continue
            job = next((j for j in order.jobs if j.code == risk.code), None)
            _, new = raise_alert_once(
                "at_risk", key, since=now, order_id=order.id, job_id=job.id if job else None, stage=risk.stage,
                message=(f"{order.code} may miss its due date {order.due_date:%a %b %d}: at the usual pace "
                         f"{risk.code} ({lc.label(risk.stage)}) is ready {risk.ready_at.astimezone(tz):%a %b %d %H:%M}"
                         f" and arrives about {risk.arrival.astimezone(tz):%a %b %d}"))
            raised += new
    closed = close_alerts_except("at_risk", keep, now=now)
    return {"at_risk": len(keep), "raised": raised, "closed": closed}


def open_alert_count(now: dt.datetime | None = None) -> int:
    """Open alerts that need someone (not acknowledged, not snoozed): the board banner's number."""
    from sqlalchemy import func

    clause = _attention_clause(now or utcnow())
    return db.session.scalar(select(func.count()).select_from(Alert).where(*clause)) or 0


# -- end of day ----------------------------------------------------------------------------------------

EOD_KINDS = ("eod_no_label", "eod_no_pickup_scan", "eod_rush_not_started")


def end_of_day_cutoff(now: dt.datetime) -> dt.datetime | None:
    """When today's end-of-day check is due: [alerts] end_of_day, else the calendar's closing time, else
    17:00. None on a day the shop's calendar says it is closed."""
    from ..settings import current_settings

    settings = current_settings()
    tz = settings.shop.tz
    day = now.astimezone(tz).date()
    at = settings.alerts.end_of_day
    if settings.calendar is not None:
        if not settings.calendar.is_open_day(day):
            return None
        if at is None:
            return settings.calendar.closing_time(day).astimezone(dt.timezone.utc)
    elif day.weekday() >= 5 and at is None:
        return None
    return dt.datetime.combine(day, at or dt.time(17, 0), tzinfo=tz).astimezone(dt.timezone.utc)


def end_of_day_sweep(now: dt.datetime | None = None) -> dict:
    """After the end of the working day, one alert for each: an order packed with no carrier label; an
    order labeled that the carrier has not scanned; a rush order with a job not yet on press. Each is
    raised once per occurrence and closes when the condition is over (checked on every run, any time)."""
    from sqlalchemy import exists

    from ..domain.lifecycle import CANCELLED, LAST_PEOPLE_STAGE, PACK_STAGE
    from ..models import Job, Order, Shipment
    from ..settings import current_settings

    now = now or utcnow()
    lc = current_settings().lifecycle
    cutoff = end_of_day_cutoff(now)
    due = cutoff is not None and now >= cutoff
    keep: dict[str, set[str]] = {kind: set() for kind in EOD_KINDS}
    raised = 0

    def hold(kind: str, key: str, **fields) -> None:
        nonlocal raised
        existing = db.session.scalar(select(Alert.id).where(Alert.key == key, Alert.closed_at.is_(None)))
        if existing is not None:
            keep[kind].add(key)
        elif due and fields["since"] <= cutoff:
            _, new = raise_alert_once(kind, key, **fields)
            keep[kind].add(key)
            raised += new

    has_shipment = exists().where(Shipment.order_id == Order.id)
    for order in db.session.scalars(select(Order).where(Order.stage == PACK_STAGE, ~has_shipment)):
        hold("eod_no_label", f"eod:no_label:{order.id}:{order.stage_entered_at.isoformat()}",
             since=order.stage_entered_at, order_id=order.id, stage=PACK_STAGE,
             message=f"{order.code} is packed but has no carrier label")
    for order in db.session.scalars(select(Order).where(Order.stage == LAST_PEOPLE_STAGE)):
        hold("eod_no_pickup_scan", f"eod:no_pickup:{order.id}:{order.stage_entered_at.isoformat()}",
             since=order.stage_entered_at, order_id=order.id, stage=LAST_PEOPLE_STAGE,
             message=f"{order.code} is labeled but the carrier has not scanned it")
    if "production" in lc:
        before = [s.key for s in lc.job_stages() if lc.index(s.key) < lc.index("production")]
        rows = db.session.scalars(
            select(Order).where(Order.rush.is_(True), Order.stage != CANCELLED,
                                exists().where(Job.order_id == Order.id, Job.stage.in_(before))))
        for order in rows:
            hold("eod_rush_not_started", f"eod:rush:{order.id}", since=order.created_at, order_id=order.id,
                 message=f"Rush order {order.code} is not on press yet")
    closed = sum(close_alerts_except(kind, keys, now=now) for kind, keys in keep.items())
    return {"due": due, "raised": raised, "open": sum(len(k) for k in keep.values()), "closed": closed}


# -- mail to managers -------------------------------------------------------------------------------

def _staff_mail_ready() -> list[str]:
    """The [alerts] emails when mail is set up, else []."""
    from ..settings import current_settings

    settings = current_settings()
    if not settings.notifications.email.enabled:
        return []
    return list(settings.alerts.emails)


def _staff_mail(template: str, key: str, subject: str, context: dict) -> int:
    """Queues one staff email per [alerts] address through the outbox (once per key and address)."""
    import hashlib

    from flask import current_app

    from ..settings import current_settings
    from .outbox import enqueue

    recipients = _staff_mail_ready()
    if not recipients:
        return 0
    env = current_app.jinja_env
    values = {**context, "subject": subject, "shop_name": current_settings().shop.name,
              "base_url": current_settings().shop.public_url.rstrip("/")}
    text = env.get_template(f"email/staff_{template}.txt").render(**values)
    html = env.get_template(f"email/staff_{template}.html").render(**values)
    queued = 0
    for to in recipients:
        dedupe = f"email:staff:{key}:{to}"[:160]
        enqueue("email", dedupe, {"subject": subject, "text": text, "html": html, "to": to, "kind": f"staff_{template}",
                                  "message_id": f"<{hashlib.sha256(dedupe.encode()).hexdigest()[:32]}@inktrail>"})
        queued += 1
    return queued


def rush_stall_mail(alert: Alert) -> int:
    """The immediate email when a rush order's job (or the order) stalls."""
    from ..settings import current_settings

    settings = current_settings()
    if not settings.alerts.rush_stall_email or alert.order is None or not alert.order.rush:
        return 0
    return _staff_mail("rush_stall", f"rush_stall:{alert.key}", f"Rush order {alert.order.code} has stalled",
                       {"alert": alert, "order": alert.order,
                        "stage_label": settings.lifecycle.label(alert.stage) if alert.stage else ""})


def digest_context(now: dt.datetime) -> dict:
    """What the morning digest says: alerts needing someone, the day's due and late orders, the board's
    counts per stage and yesterday's shipments."""
    from sqlalchemy import func

    from ..domain.lifecycle import CANCELLED, FINAL_STAGE
    from ..models import Event, Order
    from ..settings import current_settings

    settings = current_settings()
    tz, lc = settings.shop.tz, settings.lifecycle
    today = now.astimezone(tz).date()
    groups = grouped_alerts(now)
    active = (Order.stage.not_in([CANCELLED, FINAL_STAGE]),)
    people = [s.key for s in lc.people_stages()]
    counts = dict(db.session.execute(select(Order.stage, func.count()).where(*active).group_by(Order.stage)).all())
    due_today = list(db.session.scalars(select(Order).where(*active, Order.stage.in_(people),
                                                            Order.due_date == today).order_by(Order.id)))
    late = list(db.session.scalars(select(Order).where(*active, Order.stage.in_(people),
                                                       Order.due_date < today).order_by(Order.due_date, Order.id)))
    start = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(dt.timezone.utc)
    end = dt.datetime.combine(today, dt.time(0), tzinfo=tz).astimezone(dt.timezone.utc)
    shipped = db.session.scalar(select(func.count(func.distinct(Event.order_id))).where(
        Event.job_id.is_(None), Event.to_stage == "picked_up", Event.at >= start, Event.at < end)) or 0
    return {"today": today, "attention": groups["attention"], "snoozed": groups["snoozed"],
            "acknowledged": groups["acknowledged"],
            "stages": [(lc.label(k), counts.get(k, 0)) for k in lc.keys if k in counts],
            "due_today": due_today, "late": late, "shipped_yesterday": shipped,
            "labels": {k: lc.label(k) for k in lc.keys}}


def daily_digest(now: dt.datetime | None = None) -> dict:
    """The managers' morning email, once a day after [alerts] digest_time (on the shop's open days when
    it has a calendar). Runs every few minutes; a computer switched on late still sends that morning's."""
    from ..settings import current_settings

    now = now or utcnow()
    settings = current_settings()
    tz = settings.shop.tz
    local = now.astimezone(tz)
    if not _staff_mail_ready():
        return {"sent": 0, "why": "no [alerts] emails, or mail is off in [notifications.email]"}
    if settings.calendar is not None and not settings.calendar.is_open_day(local.date()):
        return {"sent": 0, "why": "the shop is closed today"}
    if local.time() < settings.alerts.digest_time:
        return {"sent": 0, "why": "not yet digest time"}
    context = digest_context(now)
    subject = (f"{settings.shop.name}: {len(context['attention'])} alert"
               f"{'' if len(context['attention']) == 1 else 's'}, {len(context['due_today'])} due today "
               f"({local:%a %b %d})")
    return {"sent": _staff_mail("digest", f"digest:{local.date().isoformat()}", subject, context)}
