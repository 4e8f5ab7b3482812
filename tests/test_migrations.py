"""Upgrading an empty database with the migrations yields exactly the models: no drift."""
from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, TEST_CONFIG
from tracker import create_app
from tracker.extensions import db
from tracker.models import render_migration_item
from tracker.settings import normalise_database_url


@pytest.fixture
def empty_database_url(tmp_path):
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    base = make_url(normalise_database_url(PG_URL))
    name = f"inktrail_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_from_empty_matches_models(tmp_path, empty_database_url):
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path / "instance", "TRACKER_CONFIG_PATH": TEST_CONFIG,
                      "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_item": render_migration_item})
            diff = compare_metadata(ctx, db.metadata)
            tables = set(inspect(conn).get_table_names())
        assert diff == [], f"models and migrations differ: {diff}"
        assert set(db.metadata.tables) <= tables
        db.engine.dispose()


def test_migrated_events_table_is_append_only(tmp_path, empty_database_url):
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path / "instance", "TRACKER_CONFIG_PATH": TEST_CONFIG,
                      "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        from tests.factories import make_order

        order = make_order()
        for statement in ("UPDATE events SET note = 'x'", "DELETE FROM events"):
            with pytest.raises(Exception, match="append-only"):
                db.session.execute(text(statement))
                db.session.flush()
            db.session.rollback()
        assert db.session.execute(text("SELECT count(*) FROM events WHERE order_id = :i"), {"i": order.id}).scalar() == 1
        db.session.remove()
        db.engine.dispose()


def test_the_stage_stays_migration_fills_them_from_the_events(tmp_path, empty_database_url):
    """0012 adds stage_stays to a shop with history and fills it with what the move service would have
    written: downgrade past it, upgrade again, and the stays are the same."""
    from flask_migrate import downgrade

    from tests.factories import MANAGER, make_order
    from tracker.models import StageStay
    from tracker.services.orders import move_job, move_order

    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path / "instance", "TRACKER_CONFIG_PATH": TEST_CONFIG,
                      "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        order = make_order([("Tee", "dtg", 1), ("Cap", "embroidery", 2)])
        for job in order.jobs:
            for stage in ("preproduction", "production", "qc"):
                move_job(job, stage, actor=MANAGER, source="web")
        move_order(order, "packaging", actor=MANAGER, source="web")
        db.session.commit()

        def stays():
            return sorted((s.order_id, s.job_id or 0, s.stage, s.entered_at, s.left_at, s.ended_by)
                          for s in db.session.scalars(db.select(StageStay)))

        before = stays()
        assert len(before) == 15  # the order 5, each job 5
        db.session.remove()
        downgrade(revision="0011_shipment_delivered_index")
        assert "stage_stays" not in inspect(db.engine).get_table_names()
        upgrade()
        assert stays() == before
        db.session.remove()
        db.engine.dispose()


def test_the_scan_refusal_migration_gives_stored_refusals_their_kind(tmp_path, empty_database_url):
    """0016 adds scans.refusal; a refused scan stored before it gets "unknown" (its code had no known shape,
    or its message said "Unknown code") or "rules", a taken scan none: the scan's answer on a replay reads
    it (422 or 409), no longer the message's words."""
    from flask_migrate import downgrade

    from tests.factories import make_order
    from tracker.models import Scan, utcnow

    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path / "instance", "TRACKER_CONFIG_PATH": TEST_CONFIG,
                      "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        order_id = make_order().id
        db.session.remove()
        downgrade(revision="0015_proofs")
        assert "refusal" not in {c["name"] for c in inspect(db.engine).get_columns("scans")}
        rows = [("s-unknown-shape", "unknown", False, "Unknown code 'XYZZY'"),
                ("s-no-such-job", "job", False, "Unknown code A9999A: no such job"),
                ("s-rules", "job", False, "A1001A is in Received; Artwork comes next"),
                ("s-moved", "job", True, "A1001A → Artwork")]
        with db.engine.begin() as conn:
            for uid, kind, ok, message in rows:
                conn.execute(text("INSERT INTO scans (uid, station, code, kind, action, source, received_at, ok, "
                                  "outcome, message, order_id) VALUES (:uid, 'art-desk', 'X', :kind, 'move', 'scan', "
                                  ":at, :ok, :outcome, :message, :order_id)"),
                             {"uid": uid, "kind": kind, "ok": ok, "outcome": "moved" if ok else "refused",
                              "message": message, "at": utcnow().replace(tzinfo=None), "order_id": order_id})
        upgrade()
        kinds = {s.uid: s.refusal for s in db.session.scalars(db.select(Scan))}
        assert kinds == {"s-unknown-shape": "unknown", "s-no-such-job": "unknown", "s-rules": "rules",
                         "s-moved": None}
        db.session.remove()
        db.engine.dispose()
