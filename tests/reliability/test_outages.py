"""Each outside system down for a while, then back: the work waits in its queue (print queue, outbox,
polling), is tried again on its backoff, goes through once when the system returns, and is never sent
twice. One test per outage, each against a real fake on 127.0.0.1: a TCP printer, an SMTP server
(aiosmtpd), a carrier API and Shopify's GraphQL API (HTTP servers). Time is frozen and moved to each
retry's due time, never slept."""
from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy import func, select

from tests.conftest import Api, api_token, build_app
from tests.factories import make_order
from tests.integrations import fakes
from tests.marketplaces.test_shopify import clock, push_app, scan, ship, shop, shopify_messages, shopify_order  # noqa: F401
from tests.notifications.test_notifications import Smtp
from tests.notifications.test_notifications import make_app as smtp_app
from tests.printing.fake_printer import FakePrinter
from tests.tracking.test_polling import ship as ship_tracked
from tracker.extensions import db
from tracker.jobs import run_job
from tracker.models import OutboxMessage, PrinterState, PrintJob, Shipment, TrackingEvent

T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.timezone.utc)
SECOND = dt.timedelta(seconds=1)


def test_printer_off_labels_wait_in_the_queue_and_print_once_when_it_is_back(tmp_path):
    printer = FakePrinter().start()
    port = printer.port
    printer.stop()  # switched off: its port refuses connections
    app = build_app(tmp_path, config={"printers": {"front": {"driver": "zpl", "host": "127.0.0.1", "port": port,
                                                             "timeout": 2}}})
    with time_machine.travel(T0, tick=False) as clock_:
        with app.app_context():
            code = make_order([("Tee", "dtg", 3), ("Hoodie", "screen", 2)]).code
        api = Api(app.test_client(), api_token(app))
        resp = api.post(f"/api/orders/{code}/labels", json={"printer": "front"})
        assert resp.status_code == 202, resp.get_json()
        queued = len(resp.get_json()["print_jobs"])
        assert queued >= 2
        with app.app_context():
            waits = []
            for _ in range(3):  # three tries while it is off, each after the growing backoff
                assert run_job("print-queue")["printed"] == 0
                state = db.session.get(PrinterState, "front")
                assert state.online is False and "refused" in state.last_error
                waits.append((state.next_attempt_at - dt.datetime.now(dt.timezone.utc)).total_seconds())
                assert run_job("print-queue")["printed"] == 0  # not due yet: not tried
                clock_.move_to(state.next_attempt_at + SECOND)
                db.session.expire_all()
            assert waits == sorted(waits) and waits[0] < waits[-1]
            statuses = db.session.scalars(select(PrintJob.status)).all()
            assert statuses == ["queued"] * queued  # nothing lost, nothing given up

            back = FakePrinter(port).start()
            try:
                assert run_job("print-queue")["printed"] == queued
                payloads = [j.payload for j in db.session.scalars(select(PrintJob).order_by(PrintJob.id))]
                assert back.wait_for(queued) == payloads  # each once, in order
                clock_.shift(dt.timedelta(minutes=10))
                assert run_job("print-queue")["printed"] == 0
                assert back.wait_for(queued) == payloads
            finally:
                back.stop()
            assert db.session.get(PrinterState, "front").online is True


def test_mail_server_down_the_email_waits_and_is_sent_once_when_it_is_back(tmp_path):
    smtp = Smtp().start()
    try:
        app = smtp_app(tmp_path, smtp)
        smtp.stop()
        with time_machine.travel(T0, tick=False) as clock_, app.app_context():
            order = make_order()
            for _ in range(3):
                assert run_job("outbox") == {"sent": 0, "retry": 1, "failed": 0}
                msg = db.session.scalars(select(OutboxMessage)).one()
                assert msg.status == "pending" and "mail server" in msg.last_error
                clock_.move_to(msg.next_attempt_at + SECOND)
                db.session.expire_all()
            smtp.start()
            assert run_job("outbox")["sent"] == 1
            clock_.shift(dt.timedelta(hours=1))
            assert run_job("outbox")["sent"] == 0
            assert smtp.subjects() == [f"We have your order {order.code}"]
            msg = db.session.scalars(select(OutboxMessage)).one()
            assert (msg.status, msg.attempts, msg.last_error) == ("done", 4, None)
    finally:
        smtp.stop()


def test_carrier_api_down_registration_and_polling_are_retried_and_apply_once(tmp_path):
    server, config, number, carrier = fakes.BUILDERS["easypost"]()
    server.start()
    try:
        app = build_app(tmp_path, config={"providers": {"easypost": config}}, WEBHOOK_PROCESSING="inline")
        with time_machine.travel(T0, tick=False) as clock_:
            ship_tracked(app, number, carrier)
            with app.app_context():
                # Registration: the provider answers 500 twice, then works.
                server.fail_next(500, times=2)
                for _ in range(2):
                    assert run_job("outbox") == {"sent": 0, "retry": 1, "failed": 0}
                    msg = db.session.scalars(select(OutboxMessage)).one()
                    assert "500" in msg.last_error
                    clock_.move_to(msg.next_attempt_at + SECOND)
                    db.session.expire_all()
                assert run_job("outbox") == {"sent": 1, "retry": 0, "failed": 0}
                assert len(server.calls("POST", "/v2/trackers")) == 3
                assert db.session.scalars(select(Shipment)).one().provider_ref.startswith("trk_")

                # Polling: a 500, backed off, then the answer is applied.
                s = db.session.scalars(select(Shipment)).one()
                clock_.move_to(s.next_poll_at + SECOND)
                server.fail_next(500)
                assert run_job("poll-carriers")["errors"] == 1
                db.session.expire_all()
                s = db.session.scalars(select(Shipment)).one()
                assert s.poll_failures == 1 and "500" in s.last_poll_error and s.status == "label_created"
                clock_.move_to(s.next_poll_at + SECOND)
                assert run_job("poll-carriers") == {"polled": 1, "errors": 0, "skipped": 0}
                db.session.expire_all()
                s = db.session.scalars(select(Shipment)).one()
                assert s.status == "out_for_delivery" and s.poll_failures == 0 and s.last_poll_error is None
                events = db.session.scalar(select(func.count()).select_from(TrackingEvent))
                # Polled again later: the same events are not stored twice.
                clock_.move_to(s.next_poll_at + SECOND)
                run_job("poll-carriers")
                assert db.session.scalar(select(func.count()).select_from(TrackingEvent)) == events
                assert run_job("outbox")["sent"] == 0  # registered once
                assert len(server.calls("POST", "/v2/trackers")) == 3
    finally:
        server.stop()


def test_shopify_down_the_tracking_push_is_retried_and_fulfills_once(push_app, shop, clock):  # noqa: F811
    code = shopify_order(push_app)
    shop.server.fail_next(500, times=2)
    with push_app.app_context():
        ship(code)
        scan()  # the carrier's first scan queues the fulfillment for Shopify
        for _ in range(2):  # Shopify answers 500 to the first two tries
            run_job("outbox")
            (msg,) = shopify_messages()
            assert msg.status == "pending" and "answered 500" in msg.last_error
            clock.move_to(msg.next_attempt_at + SECOND)
            db.session.expire_all()
        assert run_job("outbox")["sent"] == 1
        (msg,) = shopify_messages()
        assert msg.status == "done" and msg.last_error is None
        clock.shift(dt.timedelta(hours=1))
        run_job("outbox")
        assert len(shopify_messages()) == 1
        assert db.session.scalar(select(Shipment)).marketplace_ref in shop.fulfillments
    ops = [op for op, _ in shop.operations()]
    assert ops.count("fulfillmentCreate") == 1 and len(shop.fulfillments) == 1
