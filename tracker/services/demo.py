"""A realistic demo shop: people, and about seventy orders spread over every stage, made through the same
services a real shop uses, with histories that look like a week of work."""
from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select

from ..domain.intake import ItemDraft, OrderDraft
from ..extensions import db
from ..models import Counter, Shipment, User, utcnow
from ..settings import current_settings
from . import orders as order_service
from .orders import Actor
from .users import create_user

DEMO_PASSWORD = "inktrail-demo"
DEMO_USERS = (("admin", "admin"), ("maria", "manager"), ("sam", "operator"), ("lee", "operator"))

CUSTOMERS = [
    "Rosa Diaz", "Boise Bolts FC", "Hannah Okafor", "Mile High Brewing", "Jamal Reed", "Sunrise Yoga Studio",
    "Priya Natarajan", "Riverside Elementary PTA", "Tom Becker", "Cascade Climbing Gym", "Ana Lucia Torres",
    "Granite Peak Realty", "Kevin Wu", "Denver Roller Derby", "Sofia Rossi", "Lakeside Church Youth",
    "Marcus Johnson", "Blue Heron Coffee", "Emily Carter", "Northside Fire Dept", "Diego Alvarez",
    "Tandem Bike Co", "Grace Kim", "Westview High Band", "Oliver Smith", "Fresh Cut Landscaping",
    "Aisha Mohammed", "Summit Dental", "Liam O'Brien", "Prairie Dog Running Club",
]
ITEMS = [
    ("Team tee, front print", "dtg", (6, 48)),
    ("Full-colour hoodie back print", "dtf", (4, 30)),
    ("Staff polo, left chest logo", "embroidery", (6, 40)),
    ("Event tees, 2-colour", "screen", (24, 250)),
    ("Snapback cap, front logo", "embroidery", (12, 60)),
    ("Tote bag, 1-colour", "screen", (50, 300)),
    ("Single custom tee", "dtg", (1, 3)),
    ("Pet portrait tee", "dtg", (1, 2)),
    ("Hi-vis vest print", "dtf", (10, 40)),
    ("Beanie, cuff embroidery", "embroidery", (12, 36)),
    ("Long-sleeve tee, sleeve print", "dtf", (6, 24)),
    ("Youth tees, 3-colour", "screen", (36, 150)),
]
DESTINATIONS = [("Denver", "CO"), ("Boise", "ID"), ("Reno", "NV"), ("Portland", "OR"), ("Salt Lake City", "UT"),
                ("Phoenix", "AZ"), ("Seattle", "WA"), ("Albuquerque", "NM")]
CHANNELS = ["manual", "manual", "shopify", "shopify", "etsy", "amazon", "csv", "api"]
PLAN = [  # final stage, how many
    ("received", 7), ("preproduction", 9), ("production", 14), ("qc", 8), ("packaging", 6),
    ("labeled", 5), ("picked_up", 3), ("in_transit", 6), ("out_for_delivery", 2), ("delivered", 9),
    ("cancelled", 2),
]
STATIONS = {"preproduction": "art-desk", "production": "press-1", "qc": "qc-1", "packaging": "pack-1"}
CARRIERS = [("ups", "1Z999AA1{:010d}", "Ground"), ("usps", "9400111899{:012d}", "Ground Advantage"),
            ("fedex", "7946{:08d}", "Home Delivery")]


def is_seeded() -> bool:
    return db.session.get(Counter, "demo") is not None


def seed_demo(now: dt.datetime | None = None, seed: int = 7) -> int:
    """Seeds the demo shop once; returns how many orders it made (0 when already seeded)."""
    if is_seeded():
        return 0
    rng = random.Random(seed)
    now = now or utcnow()
    lc = current_settings().lifecycle
    for username, role in DEMO_USERS:
        if db.session.scalar(select(User).where(User.username == username)) is None:
            create_user(username, DEMO_PASSWORD, role)
    people = [Actor(u, r) for u, r in DEMO_USERS[1:]]
    stage_keys = lc.keys
    made = 0
    for final, count in PLAN:
        for _ in range(count):
            made += 1
            _demo_order(rng, now, lc, stage_keys, final, people, made)
    _demo_batches(rng)
    _demo_proofs(now)
    db.session.add(Counter(name="demo", value=made))
    db.session.flush()
    return made


def _demo_order(rng, now, lc, stage_keys, final, people, n):
    items = rng.sample(ITEMS, k=rng.choices([1, 2, 3, 4], weights=[50, 30, 14, 6])[0])
    drafts = tuple(ItemDraft(d, m, rng.randint(*q)) for d, m, q in items)
    depth = stage_keys.index(final) if final in stage_keys else rng.randint(0, 3)
    # Time spent in each stage passed, then time so far in the current one: most within the stage's SLA,
    # about one in six past it (stalled), so the board looks like a real day.
    spent = [rng.uniform(0.2, 0.9) * (lc.get(k).sla_hours or 12) for k in stage_keys[:depth]]
    current_sla = lc.get(stage_keys[depth]).sla_hours if final in stage_keys else None
    if current_sla:
        so_far = current_sla * (rng.uniform(1.1, 2.2) if rng.random() < 0.17 else rng.uniform(0.05, 0.8))
    else:
        so_far = rng.uniform(1, 60)
    age_h = sum(spent) + so_far
    created = now - dt.timedelta(hours=age_h)
    rush = rng.random() < 0.15
    lead_days = rng.choice([3, 5, 7, 7, 10, 14]) if not rush else rng.choice([1, 2, 3])
    channel = rng.choice(CHANNELS)
    city, region = rng.choice(DESTINATIONS)
    draft = OrderDraft(
        customer_name=rng.choice(CUSTOMERS),
        customer_email=f"customer{n}@example.com",
        customer_phone=None,
        items=drafts,
        due_date=(created + dt.timedelta(days=lead_days)).date(),
        rush=rush,
        notes=rng.choice([None, None, "Customer will pick up if ready early", "Match Pantone 286C",
                          "Artwork attached to the email", "Gift, no invoice in the box"]),
        channel=channel,
        external_ref=None if channel in ("manual",) else f"DEMO-{channel.upper()}-{1000 + n}",
        ship_city=city,
        ship_region=region,
        ship_country="US",
    )
    order, _ = order_service.create_order(draft, actor=Actor("maria", "manager"), source="api" if channel == "api" else "import" if channel != "manual" else "web", at=created)
    t = created
    if final == "cancelled":
        order_service.move_order(order, "preproduction", actor=rng.choice(people), source="board",
                                 at=t + dt.timedelta(hours=1))
        order_service.cancel_order(order, actor=Actor("maria", "manager"), source="web",
                                   reason="Customer changed their mind", at=t + dt.timedelta(hours=3))
        return
    for i, key in enumerate(stage_keys[1:depth + 1]):
        stage = lc.get(key)
        t = t + dt.timedelta(hours=spent[i])
        if stage.mover == "carrier":
            order_service.move_order(order, key, actor=Actor(None), source="carrier", at=t)
            continue
        if stage.scope == "job":
            # Jobs of one order rarely move together: a straggler trails the others by a while.
            for job in order.jobs:
                if job.stage != key:
                    order_service.move_job(job, key, actor=rng.choice(people), source="scan" if key in STATIONS else "board",
                                           station=STATIONS.get(key),
                                           at=t - dt.timedelta(minutes=rng.randint(0, 30)))
        else:
            order_service.move_order(order, key, actor=rng.choice(people), source="scan" if key in STATIONS else "board",
                                     station=STATIONS.get(key), at=t)
        if key == "labeled":
            carrier, fmt, service = rng.choice(CARRIERS)
            order.shipments.append(Shipment(carrier=carrier, tracking_number=fmt.format(rng.randint(1, 10**8)),
                                            service=service, status="label_created", created_at=t))
    if final in ("picked_up", "in_transit", "out_for_delivery", "delivered"):
        _demo_tracking(order, rng)
    db.session.flush()


def _demo_proofs(now: dt.datetime) -> None:
    """Artwork proofs on the first jobs in pre-production: one waiting for the customer, one sent back
    with a comment (docs/PROOFS.md). The proof is a drawn mock-up of the item."""
    import io

    from PIL import Image, ImageDraw

    from ..models import Job
    from . import proofs

    if current_settings().proofs.stage is None:
        return
    jobs = db.session.scalars(select(Job).where(Job.stage == current_settings().proofs.stage)
                              .order_by(Job.id).limit(2)).all()
    for i, job in enumerate(jobs):
        img = Image.new("RGB", (900, 700), "white")
        draw = ImageDraw.Draw(img)
        draw.polygon([(250, 120), (350, 70), (550, 70), (650, 120), (760, 230), (680, 300), (630, 260),
                      (630, 640), (270, 640), (270, 260), (220, 300), (140, 230)], fill=(31, 78, 121))
        draw.ellipse((360, 230, 540, 410), fill=(245, 158, 11))
        draw.text((30, 660), f"{job.code} · {job.description} · proof", fill="black")
        out = io.BytesIO()
        img.save(out, "PNG")
        posted = job.stage_entered_at + (now - job.stage_entered_at) * 0.3
        proof = proofs.post_proof(job, filename=f"{job.code}-front.png", content=out.getvalue(),
                                  note="Logo 9 in wide, centred 3 in below the collar", actor=Actor("lee", "operator"),
                                  source="web", at=posted)
        if i == 1:
            proofs.answer_proof(job.order, proof.id, answer="changes", comment="Can the logo be a bit smaller?",
                                at=posted + (now - posted) * 0.5)


def _demo_batches(rng) -> None:
    """Two press runs in the first press's queue, from jobs now on press."""
    from ..models import Job
    from .batches import create_batch

    presses = [s.key for s in current_settings().stations.values() if s.moves_to == "production"]
    if not presses:
        return
    on_press = list(db.session.scalars(select(Job.code).where(Job.stage == "production").order_by(Job.id)))
    rng.shuffle(on_press)
    for i, name in enumerate(("Black tees, 22x24 gang sheet", "Team order run")):
        codes = on_press[i * 3:(i + 1) * 3]
        if codes:
            create_batch(codes, station=presses[0], actor=Actor("maria", "manager"), name=name)


CARRIER_WORDS = {"picked_up": "Picked up by the carrier", "in_transit": "Departed sort facility",
                 "out_for_delivery": "Out for delivery", "delivered": "Delivered, front door"}


def _demo_tracking(order, rng) -> None:
    """Carrier events that match the order's carrier moves, so its page shows a real-looking history."""
    from ..models import Event, TrackingEvent
    from .tracking import recompute_shipment

    moves = list(db.session.scalars(select(Event).where(Event.order_id == order.id, Event.source == "carrier",
                                                        Event.job_id.is_(None)).order_by(Event.id)))
    city, region = order.ship_city or "Denver", order.ship_region or "CO"
    for shipment in order.shipments:
        for ev in moves:
            if ev.to_stage not in CARRIER_WORDS:
                continue
            where = "PORTLAND, OR" if ev.to_stage == "picked_up" else f"{city.upper()}, {region}"
            db.session.add(TrackingEvent(
                key=f"demo:{shipment.tracking_number}:{ev.to_stage}", shipment_id=shipment.id, provider="demo",
                carrier=shipment.carrier, tracking_number=shipment.tracking_number, code=ev.to_stage,
                description=CARRIER_WORDS[ev.to_stage], status=ev.to_stage, occurred_at=ev.at, location=where))
        db.session.flush()
        recompute_shipment(shipment)
