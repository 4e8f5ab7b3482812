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
    advance_sequences(Order, Job, Event)
    db.session.commit()


def add_orders(count: int, *, stage: str = "received", jobs_per_order: int = 1, prefix: str = "S",
               seed_value: int = 2) -> list[str]:
    """Adds `count` orders, each with `jobs_per_order` jobs in `stage` (a job stage), after whatever is
    there (ids continue), with their create events and stage stays as the services write them; returns
    the job codes. For the scan benchmark (jobs to scan) and for growing the active work of the board."""
    from sqlalchemy import func, select

    from tracker.models import StageStay

    rng = random.Random(seed_value)
    now = dt.datetime.now(dt.timezone.utc)
    next_id = {m: (db.session.scalar(select(func.max(m.id))) or 0) + 1 for m in (Order, Job, Event)}
    orders, jobs, events, stays, codes = [], [], [], [], []
    for i in range(count):
        oid = next_id[Order] + i
        code = f"{prefix}{200000 + oid}"
        created = now - dt.timedelta(hours=rng.uniform(0.1, 40))
        orders.append(dict(id=oid, code=code, channel="manual", customer_name=f"Customer {oid}",
                           due_date=(created + dt.timedelta(days=rng.randint(1, 14))).date(), rush=False,
                           stage=stage, stage_entered_at=created, public_token=secrets.token_urlsafe(24),
                           created_at=created, updated_at=created))
        events.append(dict(id=next_id[Event] + i, order_id=oid, at=created, kind="create", to_stage=stage,
                           source="api", actor="bench"))
        stays.append(dict(order_id=oid, job_id=None, stage=stage, entered_at=created))
        for j in range(jobs_per_order):
            jid = next_id[Job] + len(jobs)
            jobs.append(dict(id=jid, order_id=oid, code=code + chr(65 + j), position=j, description="Team tee",
                             method=rng.choice(METHODS), quantity=rng.randint(1, 100), stage=stage,
                             stage_entered_at=created, created_at=created, reprints=0))
            stays.append(dict(order_id=oid, job_id=jid, stage=stage, entered_at=created, method=jobs[-1]["method"]))
            codes.append(code + chr(65 + j))
    for model, rows in ((Order, orders), (Job, jobs), (Event, events), (StageStay, stays)):
        for k in range(0, len(rows), CHUNK):
            db.session.execute(insert(model), rows[k:k + CHUNK])
    advance_sequences(Order, Job, Event)
    db.session.commit()
    return codes


def advance_sequences(*models) -> None:
    """PostgreSQL: the rows above were given their ids, so the tables' id sequences did not move; set each
    past the largest id, or the app's next insert collides with a seeded row; and analyse the tables.
    (SQLite needs nothing.)"""
    if db.engine.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    for model in models:
        table = model.__tablename__
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"))
        # The planner's statistics, as autovacuum would have them in a shop that grew to this size: read
        # at once after a bulk load, a table still looks empty to the planner.
        db.session.execute(text(f"ANALYZE {table}"))
