"""Customer notifications: an e-mail to the customer and a signed webhook to the shop, for the moments a
customer cares about (order received, shipped, out for delivery, delivered, a carrier problem, a delay, a
corrected tracking number).

`notify()` runs inside the transaction of the change that causes it: it renders the mail there and then
and writes one outbox message per channel, so the outbox job sends it after the commit with no database
access. Each message has a dedupe key ("email:shipped:42:1Z999..."): the same occurrence never queues a
second message, whatever redelivers it (a carrier webhook sent twice, a poll after a webhook).

Never twice: the outbox marks a message done in the commit right after the SMTP server accepted it. The
only window for a duplicate is a crash (or lost database) between that acceptance and that commit; the
message is then sent again on the next run, with the same Message-ID, so most mail clients show one.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import smtplib
import socket
from email.message import EmailMessage
from email.utils import formatdate

from flask import current_app

from ..domain.lifecycle import CANCELLED
from ..extensions import db
from ..models import Order, utcnow
from ..settings import current_settings
from .outbox import GiveUp, RetryLater, enqueue

log = logging.getLogger("tracker.notifications")
KINDS = ("order_received", "shipped", "out_for_delivery", "delivered", "exception", "delay", "tracking_changed",
         "proof_posted", "proof_reminder")
DEFAULT_BRAND_COLOR = "#1f4e79"


def _subject(kind: str, code: str, context: dict) -> str:
    if kind == "exception" and context.get("returned"):
        return f"Your order {code} is being returned to us"
    return {
        "order_received": f"We have your order {code}",
        "shipped": f"Your order {code} is on its way",
        "out_for_delivery": f"Your order {code} is out for delivery today",
        "delivered": f"Your order {code} has been delivered",
        "exception": f"A delivery problem with your order {code}",
        "delay": f"Your order {code} is running late",
        "tracking_changed": f"A new tracking number for your order {code}",
        "proof_posted": f"Your proof for order {code} is ready to approve",
        "proof_reminder": f"Reminder: your proof for order {code} is waiting for you",
    }[kind]


def _brand() -> dict:
    shop = current_settings().shop
    return {"shop_name": shop.name, "brand_color": getattr(shop, "brand_color", None) or DEFAULT_BRAND_COLOR,
            "logo_url": getattr(shop, "logo_url", None) or None}


def render_email(order: Order, kind: str, context: dict) -> dict:
    """{"subject", "text", "html"} for one notification, in the shop's brand, with the tracking link."""
    from ..queries import tracking_url

    subject = _subject(kind, order.code, context)
    values = {**_brand(), **context, "order": order, "code": order.code, "customer_name": order.customer_name,
              "tracking_url": tracking_url(order), "subject": subject, "kind": kind}
    # The environment directly, not render_template: the app's context processors need a request, and
    # mail is rendered in jobs and carrier webhooks too.
    env = current_app.jinja_env
    return {"subject": subject, "text": env.get_template(f"email/{kind}.txt").render(**values),
            "html": env.get_template(f"email/{kind}.html").render(**values)}


def event_id(dedupe_key: str) -> str:
    """The webhook's event id: the same on every retry of the same message."""
    return "evt_" + hashlib.sha256(dedupe_key.encode()).hexdigest()[:24]


CHANNELS = ("email", "webhook")


def message_key(channel: str, kind: str, order_id: int, dedupe: str = "") -> str:
    """The outbox key of one notification on one channel: each occurrence is queued once."""
    return (f"{channel}:{kind}:{order_id}" + (f":{dedupe}" if dedupe else ""))[:160]


def order_received(order: Order, **_) -> None:
    """order_received (services/events.py): the customer's "we have your order" notice."""
    notify(order, "order_received")


def notify(order: Order, kind: str, *, dedupe: str = "", context: dict | None = None) -> list:
    """Queues this notification once per channel (e-mail to the customer when the order has an address
    and mail is set up; the shop's webhook when set up). `dedupe` names the occurrence within the order
    ("" for once-per-order kinds, the tracking number for a parcel's moments). Returns the messages."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    cfg = current_settings().notifications
    if not cfg.sends(kind) or order.id is None:
        return []
    context = dict(context or {})
    messages = []
    if cfg.email.enabled and (order.customer_email or "").strip():
        key = message_key("email", kind, order.id, dedupe)
        msg = _existing(key)
        if msg is None:
            mail = render_email(order, kind, context)
            msg = enqueue("email", key, {**mail, "to": order.customer_email.strip(), "kind": kind,
                                         "message_id": f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@inktrail>"},
                          order_id=order.id)
        messages.append(msg)
    if cfg.webhook.enabled:
        from ..queries import tracking_url

        key = message_key("webhook", kind, order.id, dedupe)
        body = {"id": event_id(key), "event": kind, "created_at": utcnow().isoformat(),
                "order": {"code": order.code, "stage": order.stage, "customer_name": order.customer_name,
                          "customer_email": order.customer_email, "tracking_url": tracking_url(order)},
                "data": context}
        messages.append(enqueue("webhook", key, {"kind": kind, "body": body}, order_id=order.id))
    return messages


def _existing(key: str):
    from sqlalchemy import select

    from ..extensions import db
    from ..models import OutboxMessage

    return db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))


# -- hooks called by the services ------------------------------------------------------------------------

def _shipment_context(shipment) -> dict:
    from ..domain.carriers import CARRIER_NAMES

    return {"carrier": shipment.carrier, "carrier_name": CARRIER_NAMES.get(shipment.carrier, shipment.carrier),
            "tracking_number": shipment.tracking_number, "carrier_url": shipment.public_url,
            "est_delivery": shipment.est_delivery.isoformat() if shipment.est_delivery else None}


def shipment_state(shipment) -> tuple:
    return (shipment.activated_at, shipment.status, shipment.exception, shipment.delivered_at)


def shipment_changed(shipment, before: tuple) -> None:
    """Called by tracking.recompute_shipment with the shipment's state before the recompute. Sends the
    newest moment only: a parcel whose first news is "delivered" gets the delivered mail, not three."""
    order = shipment.order
    if order is None or order.stage == CANCELLED:
        return
    was_active, was_status, was_exception, was_delivered = before
    ctx = _shipment_context(shipment)
    number = shipment.tracking_number
    if shipment.status == "returned" and was_status != "returned":
        notify(order, "exception", dedupe=f"returned:{number}", context={**ctx, "returned": True})
    elif shipment.delivered_at is not None and was_delivered is None and shipment.status == "delivered":
        notify(order, "delivered", dedupe=number, context=ctx)
    elif shipment.status == "out_for_delivery" and was_status != "out_for_delivery":
        notify(order, "out_for_delivery", dedupe=number, context=ctx)
    elif shipment.activated_at is not None and was_active is None:
        notify(order, "shipped", dedupe=number, context=ctx)
    if shipment.exception and shipment.exception != was_exception and not shipment.final:
        notify(order, "exception", dedupe=f"{number}:{shipment.exception}:{shipment.last_event_at}",
               context={**ctx, "exception": shipment.exception,
                        "exception_words": shipment.exception.replace("_", " ")})


def send_delay_notice(order: Order, reason: str, *, key: str | None = None) -> list:
    """A "running late" note to the customer, once per `key` (default: once per reason text). For the
    stall and estimate checks to call."""
    key = key or hashlib.sha256(reason.encode()).hexdigest()[:16]
    return notify(order, "delay", dedupe=key, context={"reason": reason})


def tracking_number_changed(shipment, old_number: str) -> list:
    ctx = _shipment_context(shipment)
    return notify(shipment.order, "tracking_changed", dedupe=f"{old_number}>{shipment.tracking_number}",
                  context={**ctx, "old_tracking_number": old_number, "new_tracking_number": shipment.tracking_number})


# -- sending (outbox handlers: no database here) ---------------------------------------------------------

def send_email(payload: dict):
    cfg = current_settings().notifications.email
    if not cfg.enabled:
        raise RetryLater("e-mail is switched off in [notifications.email]", seconds=3600)
    msg = EmailMessage()
    msg["Subject"] = payload["subject"]
    msg["From"] = cfg.sender
    msg["To"] = payload["to"]
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = payload.get("message_id") or None
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(payload["text"])
    msg.add_alternative(payload["html"], subtype="html")
    try:
        with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout) as smtp:
            if cfg.starttls:
                smtp.starttls()
            if cfg.username:
                smtp.login(cfg.username, cfg.password or "")
            refused = smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(c >= 500 for c in codes):
            raise GiveUp(f"the mail server refused {payload['to']}: {codes}") from None
        raise RetryLater(f"the mail server deferred {payload['to']}: {codes}") from None
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPAuthenticationError):
            raise GiveUp(f"the mail server said {exc.smtp_code}") from None
        raise RetryLater(f"the mail server said {exc.smtp_code}") from None
    except (smtplib.SMTPException, OSError, socket.timeout) as exc:
        raise RetryLater(f"cannot reach the mail server: {exc.__class__.__name__}") from None
    if refused:
        raise GiveUp(f"the mail server refused {payload['to']}")
    return True


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(payload: dict):
    from ..integrations.http import ProviderError, request

    cfg = current_settings().notifications.webhook
    if not cfg.enabled:
        raise RetryLater("the webhook is switched off in [notifications.webhook]", seconds=3600)
    body = payload["body"]
    # request() serialises json= exactly like this; the signature covers those bytes.
    raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
    headers = {"X-Inktrail-Event": payload["kind"], "X-Inktrail-Event-Id": body["id"],
               "X-Inktrail-Signature": sign(raw, cfg.secret)}
    try:
        request("POST", cfg.url, headers=headers, json=body, timeout=cfg.timeout)
    except ProviderError as exc:
        if exc.retryable:
            raise RetryLater(str(exc), seconds=exc.retry_after) from None
        raise
    return True




def delay_sweep(now: dt.datetime | None = None) -> dict:
    """Proactive delay notices, before the customer notices: an order whose estimate now falls after the
    promised date gets one "running late" note; so does one with a job stalled past its stage's SLA
    (once per stage). Sent through notify(), so each occurrence goes out once. An order waiting for the
    customer's answer to a proof gets neither (its proof reminder says what is needed); the customer's
    waiting time does not count toward a stall."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from ..domain.lifecycle import FINAL_STAGE
    from ..domain.sla import is_stalled
    from ..models import OutboxMessage
    from ..queries import CUSTOMER_WORDS, EstimateHistory, public_estimate
    from .rows import stored_keys

    now = now or utcnow()
    lc = current_settings().lifecycle
    sent = {"estimate": 0, "stall": 0}
    history = EstimateHistory(now)  # the shop's typical times, read once for all the orders
    orders = db.session.scalars(select(Order).where(Order.stage.not_in([CANCELLED, FINAL_STAGE]))
                                .options(selectinload(Order.jobs), selectinload(Order.shipments)))
    due: list[tuple[Order, str, str, str]] = []  # (order, what to tell, notice key, which count)
    for order in orders:
        if order.stage not in lc or lc.get(order.stage).mover != "people":
            continue
        if any(job.waiting_for_customer for job in order.jobs):
            continue  # waiting for the customer's answer to a proof: the reminder is the message, not "late"
        est = public_estimate(order, now, history)
        if est is not None and est.late:
            due.append((order, f"Your order is now expected {est.date:%a %b %d}, after the "
                               f"{est.promised:%a %b %d} we promised.", "estimate-late", "estimate"))
            continue
        for job in order.jobs:
            if job.stage in lc and lc.get(job.stage).scope == "job" and \
                    is_stalled(lc.get(job.stage).sla_hours, job.shop_entered_at(now), now,
                               current_settings().sla_calendar):
                words = CUSTOMER_WORDS.get(job.stage, lc.label(job.stage)).lower()
                due.append((order, f"One of your items is taking longer than usual ({words}). We are on it.",
                            f"stall:{job.stage}", "stall"))
                break
    # Each notice once (on any channel): which were queued before is read in a few batches, not per order.
    keys = {(order.id, key): [message_key(channel, "delay", order.id, key) for channel in CHANNELS]
            for order, _, key, _ in due}
    queued = stored_keys(OutboxMessage.dedupe_key, [k for both in keys.values() for k in both])
    for order, reason, key, count in due:
        if any(k in queued for k in keys[(order.id, key)]):
            continue
        if send_delay_notice(order, reason, key=key):
            sent[count] += 1
    db.session.flush()
    return sent

