"""Fast bulk seeding for benchmarks: SQLAlchemy Core inserts of realistic rows, no services (speed
matters here, and the shapes match what the services write)."""
from __future__ import annotations

import datetime as dt
import random
import secrets

from sqlalchemy import insert

from tracker.extensions import db
from tracker.models import Counter, Event, Job, Order, User

METHODS = ("dtg", "dtf", "screen", "embroidery")
ACTIVE_JOB_STAGES = ("received", "preproduction", "production", "qc")
ACTIVE_ORDER_STAGES = ("packaging", "labeled", "picked_up", "in_transit", "out_for_delivery")
CHUNK = 5000


def seed(active_jobs: int, history_orders: int, *, seed_value: int = 1) -> None:
    """`active_jobs` jobs spread over the working stages, and `history_orders` delivered orders (one job
    each, with their create and delivered events), plus a user "bench" (password "bench-password")."""
    from werkzeug.security import generate_password_hash

    rng = random.Random(seed_value)
    now = dt.datetime.now(dt.timezone.utc)
    db.session.execute(insert(User).values(username="bench", password_hash=generate_password_hash("bench-password"),
                                           role="manager", active=True, created_at=now))
    order_id = 0
    job_id = 0
    event_id = 0
    orders, jobs, events = [], [], []

    def flush():
        nonlocal orders, jobs, events
        if orders:
            db.session.execute(insert(Order), orders)
        if jobs:
            db.session.execute(insert(Job), jobs)
        if events:
            db.session.execute(insert(Event), events)
        orders, jobs, events = [], [], []

    def add_order(stage, entered, n_jobs, job_stage):
        nonlocal order_id, job_id, event_id
        order_id += 1
        code = f"B{100000 + order_id}"
        created = entered - dt.timedelta(hours=rng.uniform(1, 72))
        orders.append(dict(id=order_id, code=code, channel="manual", customer_name=f"Customer {order_id}",
                           due_date=(created + dt.timedelta(days=rng.randint(1, 14))).date(),
                           rush=rng.random() < 0.1, stage=stage, stage_entered_at=entered,
                           public_token=secrets.token_urlsafe(24), created_at=created, updated_at=entered))
        for i in range(n_jobs):
            job_id += 1
            jobs.append(dict(id=job_id, order_id=order_id, code=code + chr(65 + i), position=i,
                             description="Team tee", method=rng.choice(METHODS), quantity=rng.randint(1, 100),
                             stage=job_stage, stage_entered_at=entered, created_at=created, reprints=0))
        event_id += 1
        events.append(dict(id=event_id, order_id=order_id, at=created, kind="create", to_stage="received",
                           source="api", actor="bench"))
        if stage != "received":
            event_id += 1
            events.append(dict(id=event_id, order_id=order_id, at=entered, kind="advance", from_stage="received",
                               to_stage=stage, source="carrier" if stage == "delivered" else "board", actor="bench"))
        if len(orders) >= CHUNK:
            flush()

    for _ in range(history_orders):
        add_order("delivered", now - dt.timedelta(days=rng.uniform(1, 700)), 1, "delivered")
    made = 0
    while made < active_jobs:
        if rng.random() < 0.8:
            stage = rng.choice(ACTIVE_JOB_STAGES)
            n = min(rng.choice((1, 1, 2, 3)), active_jobs - made)
            add_order(stage, now - dt.timedelta(hours=rng.uniform(0.1, 40)), n, stage)
        else:
            stage = rng.choice(ACTIVE_ORDER_STAGES)
            n = min(rng.choice((1, 2)), active_jobs - made)
            add_order(stage, now - dt.timedelta(hours=rng.uniform(0.1, 40)), n, stage)
        made += n
    flush()
    db.session.add(Counter(name="order", value=100000 + order_id))
    db.session.commit()
