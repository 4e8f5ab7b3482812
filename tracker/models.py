"""The database, as SQLAlchemy 2 Mapped models. Datetimes are UTC-aware everywhere."""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Optional

from flask_login import UserMixin
from sqlalchemy import (DDL, Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        TypeDecorator, UniqueConstraint, event, false)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from .extensions import db


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """Stores UTC; always hands back an aware datetime (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def render_migration_item(type_, obj, autogen_context):
    """Alembic autogenerate: write UTCDateTime as a plain DateTime(timezone=True) in migrations."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


class Counter(db.Model):
    """Named sequences that never hand out a number twice (order codes)."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active


class LoginThrottle(db.Model):
    """Failed logins in a row for one username (security): kept for any name typed, known or not, so the
    lockout looks the same either way and says nothing about which accounts exist. A success deletes it."""

    __tablename__ = "login_throttles"
    username: Mapped[str] = mapped_column(String(80), primary_key=True)  # as typed, lower-cased
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    locked_until: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)


def public_token_digest(token: str) -> str:
    """SHA-256 of a tracking-link token: the public page looks an order up by this (security)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _public_token_digest_default(context) -> str | None:
    # Core and bulk inserts (the bench's seeders) give only public_token: derive its digest per row.
    token = context.get_current_parameters().get("public_token")
    return public_token_digest(token) if token else None


class ApiToken(db.Model):
    """An API token; only its SHA-256 is kept (the token itself is shown once, at creation)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    revoked_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("channel", "external_ref"),
        Index("ix_orders_stage_due", "stage", "due_date"),
        Index("ix_orders_stage_entered", "stage", "stage_entered_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    channel: Mapped[str] = mapped_column(String(20), default="manual")
    external_ref: Mapped[Optional[str]] = mapped_column(String(100))
    external_name: Mapped[Optional[str]] = mapped_column(String(100))  # the marketplace's own name, "#1042"
    external_updated_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)  # its last change there
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[Optional[str]] = mapped_column(String(254))
    customer_phone: Mapped[Optional[str]] = mapped_column(String(40))
    # The ship-to address. Staff pages and label purchases only: public pages show none of it.
    ship_name: Mapped[Optional[str]] = mapped_column(String(200))
    ship_company: Mapped[Optional[str]] = mapped_column(String(200))
    ship_street1: Mapped[Optional[str]] = mapped_column(String(200))
    ship_street2: Mapped[Optional[str]] = mapped_column(String(200))
    ship_city: Mapped[Optional[str]] = mapped_column(String(100))
    ship_region: Mapped[Optional[str]] = mapped_column(String(100))
    ship_postal: Mapped[Optional[str]] = mapped_column(String(20))
    ship_country: Mapped[Optional[str]] = mapped_column(String(2))
    due_date: Mapped[Optional[dt.date]] = mapped_column(Date)
    rush: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[Optional[str]] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(40))
    stage_entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    public_token: Mapped[str] = mapped_column(String(64), unique=True)
    # What the public page looks the order up by (services/public_links.py): the database compares
    # digests, never the token itself, so response times say nothing about how close a guess was. Kept in
    # step with public_token by the validator below (and the insert default). Nullable only so that
    # migration 0013 could add it to a full table; every row has one.
    public_token_hash: Mapped[Optional[str]] = mapped_column(String(64), unique=True, index=True,
                                                             default=_public_token_digest_default)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    cancelled_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    jobs: Mapped[list["Job"]] = relationship(back_populates="order", order_by="Job.position",
                                             cascade="all, delete-orphan")
    shipments: Mapped[list["Shipment"]] = relationship(back_populates="order", order_by="Shipment.id")
    events: Mapped[list["Event"]] = relationship(back_populates="order", order_by="Event.id",
                                                 viewonly=True)

    @property
    def live_shipments(self) -> list["Shipment"]:
        """The parcels on their way to the customer: not return labels, not voided labels."""
        return [s for s in self.shipments if not s.is_return and s.voided_at is None]

    @validates("public_token")
    def _keep_token_digest(self, _key, token):
        self.public_token_hash = public_token_digest(token)
        return token


class Job(db.Model):
    """One item of an order: what a press prints, with its own code and stage."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(40), index=True)
    stage_entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reprints: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    batch_id: Mapped[Optional[int]] = mapped_column(ForeignKey("batches.id"), index=True)
    batch_position: Mapped[Optional[int]] = mapped_column(Integer)
    external_ref: Mapped[Optional[str]] = mapped_column(String(100))  # the marketplace's line item id
    # Artwork proofs (services/proofs.py): the latest proof's state (pending, approved, changes) and the
    # customer's comment; while a proof is pending, since when the job waits for the customer. The customer's
    # finished waits in the current stay add up in wait_seconds; wait_stay is that stay's stage_entered_at,
    # so a wait counts only for the stay it happened in (a job sent back to artwork starts its clock afresh).
    proof_state: Mapped[Optional[str]] = mapped_column(String(20))
    proof_comment: Mapped[Optional[str]] = mapped_column(Text)
    waiting_since: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    wait_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    wait_stay: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship(back_populates="jobs")
    batch: Mapped[Optional["Batch"]] = relationship(back_populates="jobs")

    @property
    def waiting_for_customer(self) -> bool:
        """A proof awaits the customer's answer in this stay (moved on by hand since: the wait is over)."""
        return self.waiting_since is not None and self.wait_stay == self.stage_entered_at

    def customer_wait(self, now: dt.datetime) -> dt.timedelta:
        """How long the job has waited for the customer in its current stay (a pending proof counts to now)."""
        waiting = (now - self.waiting_since) if self.waiting_for_customer else dt.timedelta(0)
        return (self.shop_clock_at - self.stage_entered_at) + max(waiting, dt.timedelta(0))

    @property
    def shop_clock_at(self) -> dt.datetime:
        """stage_entered_at moved on by the customer's finished waits in this stay (the open one not counted)."""
        done = self.wait_seconds if self.wait_stay is not None and self.wait_stay == self.stage_entered_at else 0
        return self.stage_entered_at + dt.timedelta(seconds=done or 0)

    def shop_entered_at(self, now: dt.datetime) -> dt.datetime:
        """When the shop's own clock for this stay started: stage_entered_at moved on by the customer's
        waits, so stall checks and estimates count only the time the job was in the shop's hands."""
        return self.stage_entered_at + self.customer_wait(now)


class Proof(db.Model):
    """An artwork proof posted for one job, numbered per job (version 1, 2, ...). The file lies under
    the instance folder (instance/proofs/<stored_as>), served only to staff and to the order's tracking
    link. state: pending (awaiting the customer), approved, changes (the customer asked for changes),
    superseded (a newer version was posted before an answer)."""

    __tablename__ = "proofs"
    __table_args__ = (UniqueConstraint("job_id", "version"), Index("ix_proofs_state_posted", "state", "posted_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    version: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_as: Mapped[str] = mapped_column(String(100), unique=True)
    note: Mapped[Optional[str]] = mapped_column(Text)
    posted_by: Mapped[Optional[str]] = mapped_column(String(80))
    posted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    answered_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    comment: Mapped[Optional[str]] = mapped_column(Text)
    reminded_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship()
    job: Mapped[Job] = relationship()


class Batch(db.Model):
    """A gang sheet or press run: jobs printed together. Scanning its code moves all of them."""

    __tablename__ = "batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[Optional[str]] = mapped_column(String(120))
    station: Mapped[Optional[str]] = mapped_column(String(40))  # the press whose queue it is in
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[Optional[str]] = mapped_column(String(80))
    closed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    jobs: Mapped[list["Job"]] = relationship(back_populates="batch", order_by="Job.batch_position")


class Scan(db.Model):
    """Every scan as it arrived (stored before it is answered), keyed by the ID the tablet gave it, so a
    replay after a dropped connection returns the first answer instead of moving anything twice."""

    __tablename__ = "scans"
    __table_args__ = (Index("ix_scans_station_id", "station", "id"), Index("ix_scans_received_at", "received_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    station: Mapped[str] = mapped_column(String(40))
    code: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # job, order, batch, badge, label, unknown
    action: Mapped[str] = mapped_column(String(20), default="move")  # move, qc_fail, undo
    operator: Mapped[Optional[str]] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(20), default="scan")  # scan page or api
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    scanned_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)  # the tablet's clock
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(String(20), default="refused")  # moved, duplicate, info, refused
    # A refused scan's kind: "unknown" (a code nothing has: 422) or "rules" (the rules said no: 409)
    refusal: Mapped[Optional[str]] = mapped_column(String(12))
    message: Mapped[str] = mapped_column(Text, default="")
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("orders.id"), index=True)
    job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("jobs.id"))
    from_stage: Mapped[Optional[str]] = mapped_column(String(40))
    to_stage: Mapped[Optional[str]] = mapped_column(String(40))
    undone_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    order: Mapped[Optional[Order]] = relationship()
    job: Mapped[Optional[Job]] = relationship()


class PrintJob(db.Model):
    """One label to print, stored before anything is sent. The print-queue job prints each printer's
    queue in order, outside any web request; an offline printer keeps its jobs queued."""

    __tablename__ = "print_jobs"
    __table_args__ = (Index("ix_print_jobs_printer_status_id", "printer", "status", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    printer: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))  # job, packing, test, carrier
    format: Mapped[str] = mapped_column(String(20))  # zpl, escpos, pdf, png
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued, printing, done, failed
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("orders.id"), index=True)
    job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("jobs.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    requested_by: Mapped[Optional[str]] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    printed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    order: Mapped[Optional[Order]] = relationship()
    job: Mapped[Optional[Job]] = relationship()


class PrinterState(db.Model):
    """What the print queue last saw of a printer, and when it may try again (backoff)."""

    __tablename__ = "printer_states"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    online: Mapped[Optional[bool]] = mapped_column(Boolean)
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    last_ok_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class StationState(db.Model):
    """What a station waits for: at the ship-out check, the order whose carrier label comes next."""

    __tablename__ = "station_states"
    station: Mapped[str] = mapped_column(String(40), primary_key=True)
    pending_order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("orders.id"))
    pending_since: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    package: Mapped[Optional[str]] = mapped_column(String(40))  # the package preset last picked there


class Event(db.Model):
    """The audit trail: append-only. The database refuses UPDATE and DELETE (triggers below)."""

    __tablename__ = "events"
    # ix_events_at: reports read events by date range (cost follows the range, not the history).
    __table_args__ = (Index("ix_events_order_id_id", "order_id", "id"), Index("ix_events_at", "at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("jobs.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))  # create, advance, skip, rework, cancel, carrier
    from_stage: Mapped[Optional[str]] = mapped_column(String(40))
    to_stage: Mapped[Optional[str]] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))
    actor: Mapped[Optional[str]] = mapped_column(String(80))
    station: Mapped[Optional[str]] = mapped_column(String(40))
    note: Mapped[Optional[str]] = mapped_column(Text)
    scan_id: Mapped[Optional[int]] = mapped_column(ForeignKey("scans.id"), index=True)

    order: Mapped[Order] = relationship(back_populates="events")
    job: Mapped[Optional[Job]] = relationship()


class StageStay(db.Model):
    """One job (or the order itself, job_id NULL) in one stage, from `entered_at` to `left_at` (NULL while
    it is still there): derived from the events by domain/stays.py, written with each event in the same
    transaction (services/stays.py). Reports read stays by date range instead of replaying the events.
    Per subject, ids follow time: a later stay always has a larger id."""

    __tablename__ = "stage_stays"
    # The reports read stays by the time they ended (left_at) or began (stage, entered_at); both indexes
    # carry the columns those reports read, so the database answers from the index alone.
    __table_args__ = (Index("ix_stage_stays_left", "left_at", "stage", "job_id", "ended_by", "entered_at", "method"),
                      Index("ix_stage_stays_entered", "stage", "entered_at", "job_id", "left_at", "scan_id"),
                      Index("ix_stage_stays_order_job", "order_id", "job_id", "stage"),
                      Index("ix_stage_stays_job_stage", "job_id", "stage"))
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("jobs.id"))
    stage: Mapped[str] = mapped_column(String(40))
    entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    ended_by: Mapped[Optional[str]] = mapped_column(String(40))  # the stage it left for
    scan_id: Mapped[Optional[int]] = mapped_column(Integer)  # the scan that began it, if any
    method: Mapped[Optional[str]] = mapped_column(String(20))  # a job's method when the stay began


class Shipment(db.Model):
    """A parcel. Its status is derived from all its tracking events (domain/carrier_status.py) and stored
    here only as a cache of that derivation, recomputed whenever an event arrives."""

    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("carrier", "tracking_number"),
                      Index("ix_shipments_final_next_poll", "final", "next_poll_at"),
                      Index("ix_shipments_created_at", "created_at"), Index("ix_shipments_delivered_at", "delivered_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(20))
    tracking_number: Mapped[str] = mapped_column(String(64), index=True)
    service: Mapped[Optional[str]] = mapped_column(String(80))
    provider: Mapped[Optional[str]] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30), default="label_created")
    exception: Mapped[Optional[str]] = mapped_column(String(30))
    final: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    delivered_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    last_event_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    est_delivery: Mapped[Optional[dt.date]] = mapped_column(Date)
    public_url: Mapped[Optional[str]] = mapped_column(String(500))
    provider_ref: Mapped[Optional[str]] = mapped_column(String(100))  # the provider's tracker id
    registered_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    last_heard_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)  # webhook or poll answer
    next_poll_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    poll_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_poll_error: Mapped[Optional[str]] = mapped_column(Text)
    label_data: Mapped[Optional[bytes]] = mapped_column(LargeBinary, deferred=True)  # the carrier's label file
    label_format: Mapped[Optional[str]] = mapped_column(String(10))  # zpl or pdf
    # The marketplace's record of this parcel (a Shopify fulfillment id, an Etsy receipt) and the
    # tracking number last sent there, so a changed number is sent again.
    marketplace_ref: Mapped[Optional[str]] = mapped_column(String(200))
    marketplace_number: Mapped[Optional[str]] = mapped_column(String(64))
    # A return label (the customer sends the parcel back): its events never move the order.
    is_return: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A label voided (refund asked of the provider): no longer followed, shown crossed out.
    voided_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship(back_populates="shipments")
    events: Mapped[list["TrackingEvent"]] = relationship(back_populates="shipment",
                                                         order_by="TrackingEvent.occurred_at")


class LabelPurchase(db.Model):
    """A label bought (or being bought) through a provider: the rates quoted, the one picked, and the
    purchase. `key` is the purchase's idempotency key, stored before the provider is asked to buy, so a
    double click or a retry after a lost answer never buys a second label (services/postage.py)."""

    __tablename__ = "label_purchases"
    __table_args__ = (Index("ix_label_purchases_order", "order_id", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    key: Mapped[Optional[str]] = mapped_column(String(120), unique=True)
    provider: Mapped[str] = mapped_column(String(20))
    is_return: Mapped[bool] = mapped_column(Boolean, default=False)
    package: Mapped[str] = mapped_column(Text, default="{}")  # JSON: the package quoted
    quote_ref: Mapped[str] = mapped_column(String(100))  # the provider's shipment id
    rates: Mapped[str] = mapped_column(Text, default="[]")  # JSON: the rates quoted
    label_format: Mapped[str] = mapped_column(String(10), default="zpl")  # the file asked for
    # quoted -> buying -> bought -> voided; buying with claimed_at NULL: the answer was lost (resolved
    # with the provider before anything else is bought on this order).
    status: Mapped[str] = mapped_column(String(20), default="quoted")
    rate_id: Mapped[Optional[str]] = mapped_column(String(100))
    carrier: Mapped[Optional[str]] = mapped_column(String(20))
    service: Mapped[Optional[str]] = mapped_column(String(100))
    amount: Mapped[Optional[str]] = mapped_column(String(20))
    currency: Mapped[Optional[str]] = mapped_column(String(3))
    delivery_days: Mapped[Optional[int]] = mapped_column(Integer)
    purchase_ref: Mapped[Optional[str]] = mapped_column(String(100))  # what a refund names
    tracking_number: Mapped[Optional[str]] = mapped_column(String(64))
    label_url: Mapped[Optional[str]] = mapped_column(String(1000))
    shipment_id: Mapped[Optional[int]] = mapped_column(ForeignKey("shipments.id"))
    printer: Mapped[Optional[str]] = mapped_column(String(40))
    station: Mapped[Optional[str]] = mapped_column(String(40))
    requested_by: Mapped[Optional[str]] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    refund_status: Mapped[Optional[str]] = mapped_column(String(20))  # submitted, refunded, rejected
    claimed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    bought_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    voided_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship()
    shipment: Mapped[Optional["Shipment"]] = relationship()


class TrackingEvent(db.Model):
    """One carrier event, once (unique key), kept even before a shipment with its number exists."""

    __tablename__ = "tracking_events"
    __table_args__ = (Index("ix_tracking_events_number", "tracking_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    shipment_id: Mapped[Optional[int]] = mapped_column(ForeignKey("shipments.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    carrier: Mapped[Optional[str]] = mapped_column(String(20))
    tracking_number: Mapped[str] = mapped_column(String(64))
    code: Mapped[Optional[str]] = mapped_column(String(60))
    sub_code: Mapped[Optional[str]] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(30))
    exception: Mapped[Optional[str]] = mapped_column(String(30))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    location: Mapped[Optional[str]] = mapped_column(String(200))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivery_id: Mapped[Optional[int]] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)

    shipment: Mapped[Optional[Shipment]] = relationship(back_populates="events")


class WebhookDelivery(db.Model):
    """A webhook exactly as it arrived, stored before it is acknowledged; processed after the commit."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_pending", "processed_at", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    headers: Mapped[str] = mapped_column(Text, default="{}")  # JSON of the headers that matter
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[Optional[str]] = mapped_column(Text)


class OutboxMessage(db.Model):
    """Work for the outside world (register a tracker, later mail and marketplace pushes), written in the
    same transaction as the change that needs it and sent after the commit by the outbox job."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    payload: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("orders.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)


class Alert(db.Model):
    """Something that needs a person: raised once per occurrence (unique key), closed when it is over."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_open", "closed_at", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(160), unique=True)
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("orders.id"), index=True)
    job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("jobs.id"))
    shipment_id: Mapped[Optional[int]] = mapped_column(ForeignKey("shipments.id"))
    stage: Mapped[Optional[str]] = mapped_column(String(40))
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    message: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[Optional[str]] = mapped_column(String(80))
    # Snoozed: hidden from the banner and the digest until then (the condition may still be true).
    snoozed_until: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    snoozed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    snoozed_by: Mapped[Optional[str]] = mapped_column(String(80))

    order: Mapped[Optional[Order]] = relationship()
    job: Mapped[Optional[Job]] = relationship()
    shipment: Mapped[Optional[Shipment]] = relationship()


class SchedulerJob(db.Model):
    """Each scheduled job's last run, kept in the database so /healthz can tell from any process."""

    __tablename__ = "scheduler_jobs"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_started_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    next_run_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    runs: Mapped[int] = mapped_column(Integer, default=0)


# The audit trail is append-only in the database itself, whatever code runs against it. The same DDL is
# in the migration; these listeners give tests built with create_all() the same guarantee.
SQLITE_APPEND_ONLY = [
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
]
POSTGRES_APPEND_ONLY = [
    "CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'events are append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events "
    "FOR EACH ROW EXECUTE FUNCTION events_append_only()",
]
for _sql in SQLITE_APPEND_ONLY:
    event.listen(Event.__table__, "after_create", DDL(_sql).execute_if(dialect="sqlite"))
for _sql in POSTGRES_APPEND_ONLY:
    event.listen(Event.__table__, "after_create", DDL(_sql).execute_if(dialect="postgresql"))


class ImportRun(db.Model):
    """An uploaded import file (CSV orders, an Amazon report) kept as it arrived, with what became of it."""

    __tablename__ = "import_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # csv | amazon
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    mapping: Mapped[Optional[str]] = mapped_column(Text)  # JSON: our field -> the file's column
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[Optional[str]] = mapped_column(String(80))
    finished_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    result: Mapped[Optional[str]] = mapped_column(Text)  # JSON: counts and each bad row
