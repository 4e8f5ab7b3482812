"""The nightly housekeeping with frozen time: old finished rows and label files go; fresh ones, unfinished
ones, anything parked for a person, and the label files of kept print jobs stay; a late carrier redelivery
after its delivery row is gone changes nothing; a second run removes nothing."""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import event, func, select

from tests.conftest import PG_URL, TEST_CONFIG, build_app, closing
from tests.factories import MANAGER, make_order
from tests.tracking.test_webhooks import PROVIDERS, easypost_headers, fixture, packed_order
from tracker.extensions import db
from tracker.jobs import run_job
from tracker.models import (Alert, Event, Job, Order, OutboxMessage, PrintJob, Scan, SchedulerJob, Shipment,
                            TrackingEvent, User, WebhookDelivery)
from tracker.services import printing
from tracker.workers import housekeeping
from tracker.services.orders import cancel_order

ROOT = Path(__file__).resolve().parent.parent.parent
OLD = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.timezone.utc)
NOW = OLD + dt.timedelta(days=100)  # keep_days 90, label_days 30 (the defaults)
FRESH = NOW - dt.timedelta(days=10)
ZERO = {"webhook_deliveries": 0, "outbox": 0, "print_jobs": 0, "alerts": 0, "label_files": 0,
        "proof_files": 0}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def hk_app(tmp_path):
    printers = {"front": {"driver": "file"},
                "desk": {"driver": "file", "path": str(tmp_path / "desk-labels")},
                "back": {"driver": "zpl", "host": "127.0.0.1", "port": _closed_port(), "timeout": 1}}
    app = build_app(tmp_path, config={"printers": printers, "providers": PROVIDERS}, WEBHOOK_PROCESSING="inline")
    yield from closing(app)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def untouchable() -> dict:
    return {m.__name__: count(m) for m in (Order, Job, Event, Scan, Shipment, TrackingEvent, User)}


def delivery(key: str, *, received, processed=None, error=None, attempts=1) -> WebhookDelivery:
    return WebhookDelivery(provider="easypost", dedupe_key=key, body=b"{}", received_at=received,
                           processed_at=processed, error=error, attempts=attempts)


def outbox(key: str, status: str, *, created, done=None, next_attempt=None, order_id=None) -> OutboxMessage:
    return OutboxMessage(kind="webhook", dedupe_key=key, status=status, created_at=created, done_at=done,
                         next_attempt_at=next_attempt, order_id=order_id, attempts=1)


def alert(key: str, *, opened, closed=None) -> Alert:
    return Alert(kind="stall", key=key, since=opened, opened_at=opened, closed_at=closed, message=key)


def label_name(at: dt.datetime, printer: str, kind: str, job_id: int, ext: str = "zpl") -> str:
    return f"{at:%Y%m%dT%H%M%S}-{printer}-{kind}-{job_id}.{ext}"


def seed(app, tmp_path):
    """A shop's history: each kind of row old and fresh, finished and not. Returns what the test checks."""
    labels, desk = tmp_path / "instance" / "labels", tmp_path / "desk-labels"
    ids = {}
    with time_machine.travel(OLD, tick=False):
        # A carrier webhook, processed into three tracking events that point at it.
        code, _ = packed_order(app, "1Z999AA10123456784", "ups")
        body = fixture("easypost_tracker_updated.json")
        resp = app.test_client().post("/webhooks/easypost", data=body, headers=easypost_headers(body))
        assert resp.status_code == 202
        with app.app_context():
            # Labels printed long ago (two printers, two folders) and one that cannot print (printer off).
            old_printed = [printing.queue_test_print("front", actor=MANAGER).id for _ in range(2)]
            old_printed.append(printing.queue_test_print("desk", actor=MANAGER).id)
            failing = printing.queue_test_print("back", actor=MANAGER).id
            db.session.commit()
            assert run_job("print-queue") == {"printed": 3, "failed": 1, "waiting": 1}
            ids.update(old_printed=old_printed, failing=failing)
            open_order = db.session.scalar(select(Order.id).where(Order.code == code))
            done_order = make_order()
            cancel_order(done_order, actor=MANAGER, source="web", reason="customer changed their mind")
            db.session.commit()
            ids.update(open_order=open_order, done_order=done_order.id)
    with app.app_context(), time_machine.travel(FRESH, tick=False):
        ids["fresh_printed"] = printing.queue_test_print("front", actor=MANAGER).id
        db.session.commit()
        printing.retry_now("back")  # still off: stays queued, failing
        db.session.commit()
        assert run_job("print-queue")["printed"] == 1
        # A label left "printing" by a crash after its file was written (it will be sent again).
        stuck = PrintJob(printer="front", kind="test", format="zpl", payload=b"^XA^XZ", status="printing",
                         attempts=1, created_at=OLD)
        db.session.add(stuck)
        db.session.commit()
        ids["stuck"] = stuck.id
        (labels / label_name(OLD, "front", "test", stuck.id)).write_bytes(b"^XA^XZ")
    # Files nobody needs any more, one too young to go, and one that is not ours.
    (labels / label_name(OLD, "front", "test", 9999)).write_bytes(b"^XA^XZ")
    (labels / label_name(FRESH, "front", "test", 9998)).write_bytes(b"^XA^XZ")
    (labels / "shop-notes.txt").write_text("not a label")
    with app.app_context():
        day = dt.timedelta(days=1)
        db.session.add_all([
            delivery("ep:ignored", received=OLD, processed=OLD, error="ignored: a batch event"),
            delivery("ep:unreadable", received=OLD, processed=OLD, error="unreadable: no tracking code"),
            delivery("ep:parked", received=OLD, processed=OLD + day, error="KeyError: 'result'", attempts=5),
            delivery("ep:unprocessed", received=OLD, error="OperationalError: locked", attempts=2),
            delivery("ep:fresh", received=FRESH, processed=FRESH),
            outbox("sent-old", "done", created=OLD, done=OLD),
            outbox("gave-up-old", "failed", created=OLD, next_attempt=OLD + day),
            outbox("sent-old-cancelled-order", "done", created=OLD, done=OLD, order_id=ids["done_order"]),
            outbox("sent-old-open-order", "done", created=OLD, done=OLD, order_id=ids["open_order"]),
            outbox("pending-old", "pending", created=OLD, next_attempt=NOW + day),
            outbox("sent-fresh", "done", created=FRESH, done=FRESH),
            outbox("gave-up-recently", "failed", created=OLD, next_attempt=FRESH),
            alert("closed-long-ago", opened=NOW - 300 * day, closed=NOW - 200 * day),
            alert("closed-100-days-ago", opened=NOW - 120 * day, closed=NOW - 100 * day),
            alert("open-since-long-ago", opened=NOW - 300 * day),
        ])
        db.session.commit()
    return ids


def test_housekeeping_removes_only_old_finished_work(hk_app, tmp_path, caplog, monkeypatch):
    # An in-process Alembic upgrade (tests/test_migrations.py) runs logging.config.fileConfig, which disables
    # every logger that existed then, this one included.
    monkeypatch.setattr(housekeeping.log, "disabled", False)
    ids = seed(hk_app, tmp_path)
    labels, desk = tmp_path / "instance" / "labels", tmp_path / "desk-labels"
    with hk_app.app_context():
        old_delivery = db.session.scalar(select(WebhookDelivery.id)
                                         .where(WebhookDelivery.dedupe_key.like("easypost:%")))
        assert count(TrackingEvent, TrackingEvent.delivery_id == old_delivery) == 3
        before = untouchable()
        printed_files = {p.name for p in labels.glob("*-front-test-*.zpl")}
        assert len(printed_files) == 6 and len(list(desk.iterdir())) == 1

    with hk_app.app_context(), time_machine.travel(NOW, tick=False), \
            caplog.at_level(logging.INFO, "tracker.housekeeping"):
        result = run_job("housekeeping")
        assert result == {"webhook_deliveries": 2, "outbox": 3, "print_jobs": 3, "alerts": 1, "label_files": 4,
                          "proof_files": 0}
        assert [r.getMessage() for r in caplog.records if r.name == "tracker.housekeeping"] == [
            "housekeeping: removed 2 webhook deliveries, 3 outbox messages, 3 print jobs, 1 closed alerts, "
            "4 label files, 0 unused proof files"]

        assert set(db.session.scalars(select(WebhookDelivery.dedupe_key))) == {
            "ep:unreadable", "ep:parked", "ep:unprocessed", "ep:fresh"}
        # The events the old delivery produced are all still there; only their pointer to it is cleared.
        assert count(TrackingEvent) == 3 and count(TrackingEvent, TrackingEvent.delivery_id.is_not(None)) == 0
        assert set(db.session.scalars(select(OutboxMessage.dedupe_key))) == {
            "sent-old-open-order", "pending-old", "sent-fresh", "gave-up-recently",
            "register:easypost:ups:1Z999AA10123456784"}  # pending: the provider was never reached
        assert set(db.session.scalars(select(Alert.key))) == {"closed-100-days-ago", "open-since-long-ago"}
        kept_jobs = dict(db.session.execute(select(PrintJob.id, PrintJob.status)).all())
        assert kept_jobs == {ids["failing"]: "queued", ids["fresh_printed"]: "done", ids["stuck"]: "printing"}
        assert untouchable() == before

        # Files: those of the kept jobs (however old), the young orphan and the shop's own file stay.
        left = {p.name for p in labels.iterdir()}
        assert left == {
            next(n for n in printed_files if n.endswith(f"-test-{ids['fresh_printed']}.zpl")),
            label_name(OLD, "front", "test", ids["stuck"]),
            label_name(FRESH, "front", "test", 9998),
            "shop-notes.txt",
        }
        assert list(desk.iterdir()) == []

        job = db.session.get(SchedulerJob, "housekeeping")
        assert job.runs == 1 and job.last_error is None
        assert job.next_run_at == dt.datetime(2026, 6, 11, 9, 0, tzinfo=dt.timezone.utc)  # 03:00 in Denver (MDT)

        # Nothing left to do: a second run removes nothing.
        assert run_job("housekeeping") == ZERO
        assert len(list(labels.iterdir())) == 4


def test_a_redelivery_after_its_delivery_row_is_gone_changes_nothing(hk_app, tmp_path):
    seed(hk_app, tmp_path)
    body = fixture("easypost_tracker_updated.json")
    with hk_app.app_context(), time_machine.travel(NOW, tick=False):
        run_job("housekeeping")
        assert count(WebhookDelivery, WebhookDelivery.dedupe_key.like("easypost:%")) == 0
        before = {**untouchable(), "outbox": count(OutboxMessage), "alerts": count(Alert)}
        stage = db.session.scalar(select(Order.stage).where(Order.code == "A1001"))
        shipment = db.session.execute(select(Shipment.status, Shipment.activated_at, Shipment.delivered_at,
                                             Shipment.last_event_at, Shipment.exception)).one()
        db.session.commit()
        # The carrier sends the same webhook again, 100 days late: stored again (its key is free), then
        # processed, and each of its events is recognised by the tracking event's own key.
        resp = hk_app.test_client().post("/webhooks/easypost", data=body, headers=easypost_headers(body))
        assert resp.status_code == 202
        (again,) = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.dedupe_key.like("easypost:%")))
        assert again.processed_at == NOW and again.error is None
        assert {**untouchable(), "outbox": count(OutboxMessage), "alerts": count(Alert)} == before
        assert db.session.scalar(select(Order.stage).where(Order.code == "A1001")) == stage
        # The shipment's derived state is unchanged, so no "shipped" / "delivered" mail is queued again.
        assert db.session.execute(select(Shipment.status, Shipment.activated_at, Shipment.delivered_at,
                                         Shipment.last_event_at, Shipment.exception)).one() == shipment
        # That new delivery is finished work too, removed once it is old.
        assert run_job("housekeeping") == ZERO
    with hk_app.app_context(), time_machine.travel(NOW + dt.timedelta(days=91), tick=False):
        assert run_job("housekeeping")["webhook_deliveries"] == 2  # that one and "ep:fresh"
        assert count(WebhookDelivery, WebhookDelivery.dedupe_key.like("easypost:%")) == 0


@pytest.mark.parametrize("batch_seconds", [0, 1e9], ids=["every-batch-slow", "every-batch-fast"])
def test_a_year_of_backlog_goes_in_batches_each_committed(ctx, monkeypatch, batch_seconds):
    monkeypatch.setattr(housekeeping, "BATCH", 7)
    monkeypatch.setattr(housekeeping, "MIN_BATCH", 2)
    monkeypatch.setattr(housekeeping, "BATCH_SECONDS", batch_seconds)  # shrinks to 2 rows, or grows to 7
    day = dt.timedelta(days=1)
    for i in range(25):
        db.session.add(delivery(f"ep:{i}", received=OLD - i * day, processed=OLD - i * day))
        db.session.add(alert(f"a:{i}", opened=NOW - 400 * day, closed=NOW - (200 + i) * day))
    db.session.add(delivery("ep:fresh", received=FRESH, processed=FRESH))
    db.session.commit()
    for i in range(0, 25, 2):  # half of the deliveries have produced an event
        d = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.dedupe_key == f"ep:{i}"))
        db.session.add(TrackingEvent(key=f"k{i}", provider="easypost", tracking_number="1Z", status="in_transit",
                                     occurred_at=OLD, delivery_id=d.id))
    db.session.commit()
    commits = []
    listener = lambda session: commits.append(1)  # noqa: E731
    event.listen(db.session, "after_commit", listener)
    try:
        result = housekeeping.run_housekeeping(now=NOW)
    finally:
        event.remove(db.session, "after_commit", listener)
    assert result == {**ZERO, "webhook_deliveries": 25, "alerts": 25}
    assert len(commits) >= 2 * 4  # 25 rows in batches of 7: four transactions per table, at least
    assert count(TrackingEvent) == 13
    assert list(db.session.scalars(select(WebhookDelivery.dedupe_key))) == ["ep:fresh"]
    assert count(Alert) == 0


def test_retention_comes_from_the_settings(tmp_path):
    app = build_app(tmp_path, config={"housekeeping": {"keep_days": 200, "label_days": 5}})
    with app.app_context():
        db.session.add_all([outbox("sent-old", "done", created=OLD, done=OLD),
                            alert("closed", opened=OLD, closed=OLD)])
        db.session.commit()
        assert housekeeping.run_housekeeping(now=NOW) == ZERO  # 100 days < 200 (and < 400 for the alert)
        assert housekeeping.run_housekeeping(now=OLD + dt.timedelta(days=201))["outbox"] == 1
        assert housekeeping.run_housekeeping(now=OLD + dt.timedelta(days=401))["alerts"] == 1
        db.session.remove()
        db.engine.dispose()


def test_run_job_housekeeping_from_the_command_line(app, tmp_path):
    """`flask --app app tracker run-job housekeeping` in its own process, against this test's database."""
    with app.app_context():
        db.session.add(outbox("sent-old", "done", created=OLD, done=OLD))
        db.session.commit()
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        db.session.remove()
        db.engine.dispose()
    env = {**os.environ, "TRACKER_INSTANCE_PATH": str(tmp_path / "instance"), "TRACKER_CONFIG": str(TEST_CONFIG),
           "TRACKER_DATABASE_URL": PG_URL or url}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "tracker", "run-job", "housekeeping"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "housekeeping: {'webhook_deliveries': 0, 'outbox': 1," in done.stdout
    with app.app_context():
        assert count(OutboxMessage) == 0
        assert db.session.get(SchedulerJob, "housekeeping").runs == 1
