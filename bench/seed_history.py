"""A year of finished orders with their whole audit trail, for the reports benchmark: every job moved
through the production stages (by scan or by hand, at stations, by operators, some QC fails), every
order packed, labelled, picked up and delivered by a carrier, with its parcel. Bulk Core inserts."""
from __future__ import annotations

import datetime as dt
import random
import secrets

from sqlalchemy import insert

from tracker.extensions import db
from tracker.models import Counter, Event, Job, Order, Scan, Shipment, User

from .seed import advance_sequences

METHODS = ("dtg", "dtf", "screen", "embroidery")
CHANNELS = ("manual", "shopify", "etsy", "csv")
CARRIERS = (("ups", "Ground"), ("usps", "Priority Mail"), ("fedex", "Home Delivery"))
REGIONS = ("ID", "UT", "CO", "WA", "OR", "CA", "NV", "AZ", "MT", "WY")
OPERATORS = ("sam", "lee", "ana", "bo")
JOB_PATH = (("preproduction", "art-desk", 6), ("production", "press-1", 20), ("qc", "qc-1", 8))
ORDER_PATH = (("packaging", "pack-1", 4), ("labeled", "ship-1", 3), ("picked_up", None, 10),
              ("in_transit", None, 20), ("out_for_delivery", None, 40), ("delivered", None, 8))
CHUNK = 20_000


def seed_history(orders: int, *, days: int = 365, seed_value: int = 7) -> dict:
    from werkzeug.security import generate_password_hash

    rng = random.Random(seed_value)
    now = dt.datetime.now(dt.timezone.utc)
    if db.session.scalar(db.select(User.id).where(User.username == "bench")) is None:
        db.session.execute(insert(User).values(username="bench", password_hash=generate_password_hash("bench-password"),
                                               role="manager", active=True, created_at=now))
    rows: dict[type, list] = {Order: [], Job: [], Event: [], Shipment: [], Scan: []}
    counts = {k.__name__: 0 for k in rows}
    ids = {"order": 0, "job": 0, "event": 0, "scan": 0, "shipment": 0}

    def flush(force=False):
        # All tables together, parents first: a job's scans and events need the job and its order.
        if not force and max(len(r) for r in rows.values()) < CHUNK:
            return
        for model in (Order, Job, Scan, Shipment, Event):
            if rows[model]:
                db.session.execute(insert(model), rows[model])
                counts[model.__name__] += len(rows[model])
                rows[model] = []

    def event(order_id, at, kind, frm, to, source, actor=None, station=None, job_id=None, scan_id=None):
        ids["event"] += 1
        rows[Event].append(dict(id=ids["event"], order_id=order_id, job_id=job_id, at=at, kind=kind, from_stage=frm,
                                to_stage=to, source=source, actor=actor, station=station, scan_id=scan_id))

    for _ in range(orders):
        ids["order"] += 1
        oid = ids["order"]
        code = f"H{100000 + oid}"
        created = now - dt.timedelta(days=rng.uniform(2, days), hours=0)
        n_jobs = rng.choice((1, 1, 2, 3))
        region = rng.choice(REGIONS)
        rows[Order].append(dict(id=oid, code=code, channel=rng.choice(CHANNELS), customer_name=f"Customer {oid}",
                                due_date=(created + dt.timedelta(days=rng.randint(4, 12))).date(),
                                rush=rng.random() < 0.1, stage="delivered", stage_entered_at=created, ship_region=region,
                                ship_country="US", public_token=secrets.token_urlsafe(24), created_at=created,
                                updated_at=created))
        event(oid, created, "create", None, "received", "api", "bench")
        ready = created
        for j in range(n_jobs):
            ids["job"] += 1
            jid = ids["job"]
            at = created
            reprints = 0
            for stage, station, hours in JOB_PATH:
                at = at + dt.timedelta(hours=rng.expovariate(1 / hours))
                by_scan = rng.random() < 0.8
                actor = rng.choice(OPERATORS)
                scan_id = None
                if by_scan:
                    ids["scan"] += 1
                    scan_id = ids["scan"]
                    rows[Scan].append(dict(id=scan_id, uid=f"h{scan_id}", station=station, code=f"{code}{chr(65 + j)}",
                                           kind="job", action="move", operator=actor, source="scan", received_at=at,
                                           ok=True, outcome="moved", message="", order_id=oid, job_id=jid,
                                           to_stage=stage))
                    if stage == "qc" and rng.random() < 0.05:
                        reprints += 1
                        ids["scan"] += 1
                        rows[Scan].append(dict(id=ids["scan"], uid=f"h{ids['scan']}", station=station,
                                               code=f"{code}{chr(65 + j)}", kind="job", action="qc_fail",
                                               operator=actor, source="scan", received_at=at, ok=True,
                                               outcome="moved", message="Misprint", order_id=oid, job_id=jid))
                event(oid, at, "advance", None, stage, "scan" if by_scan else "board", actor, station if by_scan else None,
                      job_id=jid, scan_id=scan_id)
            rows[Job].append(dict(id=jid, order_id=oid, code=f"{code}{chr(65 + j)}", position=j, description="Team tee",
                                  method=rng.choice(METHODS), quantity=rng.randint(1, 100), stage="delivered",
                                  stage_entered_at=at, created_at=created, reprints=reprints))
            ready = max(ready, at)
        at = ready
        carrier, service = rng.choice(CARRIERS)
        stamps = {}
        for stage, station, hours in ORDER_PATH:
            at = at + dt.timedelta(hours=rng.expovariate(1 / hours))
            stamps[stage] = at
            source = "carrier" if station is None else ("scan" if rng.random() < 0.8 else "board")
            event(oid, at, "advance" if source != "carrier" else "carrier", None, stage, source,
                  None if source == "carrier" else rng.choice(OPERATORS), station if source == "scan" else None)
        ids["shipment"] += 1
        rows[Shipment].append(dict(id=ids["shipment"], order_id=oid, carrier=carrier, service=service,
                                   tracking_number=f"T{ids['shipment']:012d}", status="delivered", final=True,
                                   created_at=stamps["labeled"], activated_at=stamps["picked_up"],
                                   delivered_at=stamps["delivered"], last_event_at=stamps["delivered"], poll_failures=0))
        flush()
    flush(force=True)
    # The stage stays the reports read, derived from the events just written, as the migration that
    # added them derives them for a shop's existing history.
    from tracker.services.stays import rebuild_all

    counts["StageStay"] = rebuild_all(db.session.connection())
    if db.session.get(Counter, "order") is None:
        db.session.add(Counter(name="order", value=100000 + ids["order"]))
    advance_sequences(Order, Job, Event, Scan, Shipment)
    db.session.commit()
    return counts
