"""A small shop's history for the backup, restore and export tests: orders moved on the board and by
scans, a shipment with carrier events, a user and an API token."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select, text

from tests.conftest import PG_URL, build_app, closing
from tests.factories import MANAGER, OPERATOR, make_order
from tracker.extensions import db
from tracker.models import TrackingEvent
from tracker.services.orders import move_order
from tracker.services.scanning import record_scan
from tracker.services.shipments import add_shipment
from tracker.services.users import create_token, create_user

T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.timezone.utc)
STATIONS = [
    {"key": "art-desk", "name": "Artwork desk", "moves_to": "preproduction"},
    {"key": "press-1", "name": "Press 1", "moves_to": "production"},
    {"key": "pack-1", "name": "Packing bench", "moves_to": "packaging"},
]


@pytest.fixture
def shop(tmp_path):
    app = build_app(tmp_path, config={"stations": STATIONS})
    yield from closing(app)


def seed_shop() -> dict:
    """Three orders at known times (needs an app context): A1001 two jobs, one scanned to pre-production
    then pressed; A1002 packed with a UPS shipment and a carrier event; A1003 untouched. Returns codes."""
    with time_machine.travel(T0, tick=False):
        a = make_order([("Team tee", "dtg", 12), ("Cap", "embroidery", 6)], due_date=dt.date(2026, 3, 9))
        b = make_order([("Hoodie", "screen", 40)], customer_name="=HYPERLINK(\"x\")", rush=True)
        c = make_order([("Tote", "dtf", 5)], customer_name="Zoë Ünal", customer_email=None, customer_phone=None)
        create_user("maria", "correct-horse-battery", "manager")
        create_token("shop-script", "operator")
        db.session.commit()
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        record_scan("art-desk", "A1001B", actor=OPERATOR, operator="lee")
        db.session.commit()
    with time_machine.travel(T0 + dt.timedelta(hours=2), tick=False):
        record_scan("art-desk", "A1001", actor=OPERATOR, operator="lee")
        record_scan("press-1", "A1001A", actor=OPERATOR, operator="lee")
        move_order(b, "qc", actor=MANAGER, source="web", note="artwork approved by phone")
        move_order(b, "packaging", actor=MANAGER, source="web")
        ship = add_shipment(b, tracking_number="1Z999AA10123456784", actor=MANAGER, source="web")
        db.session.flush()
        db.session.add(TrackingEvent(key="ep:1", shipment_id=ship.id, provider="easypost", carrier="ups",
                                     tracking_number="1Z999AA10123456784", status="in_transit", code="IT",
                                     description="Departed facility", location="Boise, ID",
                                     occurred_at=T0 + dt.timedelta(hours=3)))
        db.session.commit()
    codes = {"a": a.code, "b": b.code, "c": c.code}
    db.session.commit()  # reading the codes began a transaction (outside a request: with the write lock)
    return codes


def all_rows() -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order: what "exactly as it was" means."""
    out = {}
    for table in db.metadata.sorted_tables:
        order = list(table.primary_key.columns) or list(table.columns)
        out[table.name] = [tuple(r) for r in db.session.execute(select(table).order_by(*order))]
    db.session.commit()
    return out


def close_other_pg_connections() -> None:
    """Earlier tests in this process may leave idle pooled connections to the test database (a stopped
    shop leaves none); a PostgreSQL restore rightly refuses while any is open."""
    if not PG_URL:
        return
    with db.engine.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    db.engine.dispose()
