"""Customer notifications end to end: a real SMTP server (aiosmtpd) and a real HTTP server on 127.0.0.1
receive what the outbox job sends after the order, shipment and carrier services queued it."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import hmac
import http.server
import json
import socket
import threading

import pytest
import time_machine
from aiosmtpd.controller import Controller
from sqlalchemy import select

from tests.conftest import build_app, login
from tests.factories import MANAGER, make_order
from tracker.extensions import db
from tracker.integrations.carriers import CarrierEvent, TrackingUpdate
from tracker.jobs import run_job
from tracker.models import OutboxMessage
from tracker.queries import order_notifications, tracking_url
from tracker.services.notifications import send_delay_notice
from tracker.services.shipments import add_shipment, replace_tracking_number
from tracker.services.tracking import ingest_update

T0 = dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.timezone.utc)
NUMBER = "123456789012"
SECRET = "hook-secret-d41d8cd98f"
SMTP_PASSWORD = "smtp-pass-0cc175b9c0f1"


class Collector:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Smtp:
    def __init__(self):
        self.port = free_port()
        self.collector = Collector()
        self.controller = None

    def start(self):
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self):
        return self.collector.messages

    def subjects(self):
        return [m["Subject"] for m in self.messages]


@pytest.fixture
def smtp():
    server = Smtp().start()
    yield server
    server.stop()


def make_app(tmp_path, smtp, kinds=None, webhook=None):
    notifications = {"email": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                               "sender": "Test Print Co <orders@shop.test>"}}
    if kinds:
        notifications["kinds"] = kinds
    if webhook:
        notifications["webhook"] = webhook
    return build_app(tmp_path, config={"notifications": notifications})


def carrier(code, description, minutes, number=NUMBER):
    ev = CarrierEvent(provider="fedex", carrier="fedex", tracking_number=number, code=code, sub_code=None,
                      description=description, occurred_at=T0 + dt.timedelta(minutes=minutes),
                      location="BOISE, ID", provider_event_id=None)
    return ev


def feed(*events, number=NUMBER):
    ingest_update(TrackingUpdate(provider="fedex", delivery_id=None, carrier="fedex", tracking_number=number,
                                 events=tuple(events), est_delivery=None, public_url=None), via="poll")
    db.session.commit()


def ship(order, number=NUMBER):
    s = add_shipment(order, tracking_number=number, carrier="fedex", actor=MANAGER, source="web")
    db.session.commit()
    return s


PICKUP = ("PU", "Picked up", 0)
OUT = ("OD", "On FedEx vehicle for delivery", 60)
DELIVERED = ("DL", "Delivered", 120)


def test_the_customer_gets_each_mail_once_in_order(tmp_path, smtp):
    app = make_app(tmp_path, smtp)
    with time_machine.travel(T0), app.app_context():
        order = make_order()
        assert run_job("outbox")["sent"] == 1
        assert smtp.subjects() == [f"We have your order {order.code}"]
        ship(order)  # the label exists, the carrier has not scanned it: no "shipped" mail yet
        run_job("outbox")
        assert len(smtp.messages) == 1
        feed(carrier(*PICKUP))
        run_job("outbox")
        assert smtp.subjects()[1:] == [f"Your order {order.code} is on its way"]
        feed(carrier(*PICKUP), carrier(*OUT))  # the whole history again, as providers send it
        run_job("outbox")
        feed(carrier(*PICKUP), carrier(*OUT), carrier(*DELIVERED))
        feed(carrier(*PICKUP), carrier(*OUT), carrier(*DELIVERED))  # a redelivery
        run_job("outbox")
        run_job("outbox")
        assert smtp.subjects() == [f"We have your order {order.code}", f"Your order {order.code} is on its way",
                                   f"Your order {order.code} is out for delivery today",
                                   f"Your order {order.code} has been delivered"]
        link = tracking_url(order)
        for msg in smtp.messages:
            assert msg["To"] == "rosa@example.com" and "orders@shop.test" in msg["From"]
            assert msg.get_content_type() == "multipart/alternative"
            text = msg.get_body(("plain",)).get_content()
            html = msg.get_body(("html",)).get_content()
            assert link in text and link in html and "Test Print Co" in html
        shipped = smtp.messages[1]
        assert NUMBER in shipped.get_body(("plain",)).get_content()
        sent = order_notifications(order)
        assert [(n["kind"], n["channel"], n["status"]) for n in sent] == [
            ("order_received", "email", "done"), ("shipped", "email", "done"),
            ("out_for_delivery", "email", "done"), ("delivered", "email", "done")]
        assert all(n["done_at"] is not None and n["attempts"] == 1 for n in sent)
        code = order.code
    client = app.test_client()
    login(client, "manager")
    page = client.get(f"/orders/{code}").get_data(as_text=True)
    assert "Messages sent" in page and f"Your order {code} has been delivered" in page
    assert page.index("Messages sent") < page.index("Timeline")


def test_each_kind_can_be_switched_off(tmp_path, smtp):
    app = make_app(tmp_path, smtp, kinds={"order_received": False, "out_for_delivery": False})
    with time_machine.travel(T0), app.app_context():
        order = make_order()
        ship(order)
        feed(carrier(*PICKUP), carrier(*OUT))
        feed(carrier(*PICKUP), carrier(*OUT), carrier(*DELIVERED))
        run_job("outbox")
        assert smtp.subjects() == [f"Your order {order.code} has been delivered"]


def test_no_mail_without_an_address_or_without_smtp(tmp_path, smtp):
    app = make_app(tmp_path, smtp)
    with app.app_context():
        make_order(customer_email=None)
        run_job("outbox")
        assert smtp.messages == []
    other = build_app(tmp_path / "b", config={"notifications": {}})
    with other.app_context():
        make_order()
        assert db.session.scalars(select(OutboxMessage)).all() == []


def test_a_mail_server_that_is_down_is_tried_again_later(tmp_path, smtp):
    app = make_app(tmp_path, smtp)
    with time_machine.travel(T0) as clock, app.app_context():
        smtp.stop()
        order = make_order()
        assert run_job("outbox") == {"sent": 0, "retry": 1, "failed": 0}
        msg = db.session.scalars(select(OutboxMessage)).one()
        assert msg.status == "pending" and "mail server" in msg.last_error
        smtp.start()
        assert run_job("outbox")["sent"] == 0  # not due yet
        clock.shift(dt.timedelta(minutes=5))
        assert run_job("outbox")["sent"] == 1
        run_job("outbox")
        assert smtp.subjects() == [f"We have your order {order.code}"]
        [n] = order_notifications(order)
        assert (n["status"], n["attempts"]) == ("done", 2)


def test_a_refused_address_is_parked_as_failed_at_once(tmp_path, smtp):
    class Refuse(Collector):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            return "550 5.1.1 No such user"

    smtp.collector = Refuse()
    smtp.stop()
    smtp.start()
    app = make_app(tmp_path, smtp)
    with app.app_context():
        make_order()
        assert run_job("outbox") == {"sent": 0, "retry": 0, "failed": 1}
        msg = db.session.scalars(select(OutboxMessage)).one()
        assert msg.status == "failed" and "refused" in msg.last_error


def test_delay_notice_once_per_reason(tmp_path, smtp):
    app = make_app(tmp_path, smtp, kinds={"order_received": False})
    with time_machine.travel(T0, tick=False), app.app_context():
        order = make_order()
        send_delay_notice(order, "Our press is being repaired; your order will ship on Friday.", key="press")
        send_delay_notice(order, "Our press is being repaired; your order will ship on Friday.", key="press")
        db.session.commit()
        run_job("outbox")
        run_job("outbox")
        assert smtp.subjects() == [f"Your order {order.code} is running late"]
        text = smtp.messages[0].get_body(("plain",)).get_content()
        assert "ship on Friday" in text and tracking_url(order) in text
        [n] = order_notifications(order)
        assert n["done_at"] == T0


def test_a_corrected_tracking_number_is_sent_once(tmp_path, smtp):
    app = make_app(tmp_path, smtp, kinds={"order_received": False})
    with time_machine.travel(T0), app.app_context():
        order = make_order()
        s = ship(order, "111111111111")
        feed(carrier(*PICKUP, number="111111111111"), number="111111111111")
        replace_tracking_number(s, "222222222222", actor=MANAGER, source="web")
        db.session.commit()
        run_job("outbox")
        assert smtp.subjects() == [f"Your order {order.code} is on its way",
                                   f"A new tracking number for your order {order.code}"]
        text = smtp.messages[1].get_body(("plain",)).get_content()
        assert "111111111111" in text and "222222222222" in text
        # The new number's first scan tells the customer it is on its way, with the new number.
        feed(carrier(*PICKUP, number="222222222222"), number="222222222222")
        run_job("outbox")
        assert len(smtp.messages) == 3 and "222222222222" in smtp.messages[2].get_body(("plain",)).get_content()


def test_a_carrier_return_tells_the_customer(tmp_path, smtp):
    app = make_app(tmp_path, smtp, kinds={"order_received": False, "shipped": False})
    with time_machine.travel(T0), app.app_context():
        order = make_order()
        ship(order)
        feed(carrier(*PICKUP), carrier("RS", "Returning package to shipper", 30))
        feed(carrier(*PICKUP), carrier("RS", "Returning package to shipper", 30))
        run_job("outbox")
        assert smtp.subjects() == [f"Your order {order.code} is being returned to us"]


class Hook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_server():
    Hook.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_shops_webhook_is_signed_and_sent_once(tmp_path, smtp, hook_server, monkeypatch):
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    url = f"http://127.0.0.1:{hook_server.server_address[1]}/inktrail"
    app = make_app(tmp_path, smtp, webhook={"url": url, "secret": "env:TEST_HOOK_SECRET"})
    with time_machine.travel(T0), app.app_context():
        order = make_order()
        ship(order)
        feed(carrier(*PICKUP))
        run_job("outbox")
        run_job("outbox")
        events = [(h["X-Inktrail-Event"], json.loads(b)) for h, b in Hook.received]
        assert [e for e, _ in events] == ["order_received", "shipped"]
        for headers, body in Hook.received:
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["X-Inktrail-Signature"], expected)
            assert headers["X-Inktrail-Event-Id"] == json.loads(body)["id"]
        shipped = events[1][1]
        assert shipped["order"]["code"] == order.code and shipped["data"]["tracking_number"] == NUMBER
        assert shipped["order"]["tracking_url"] == tracking_url(order)
        assert len(smtp.messages) == 2
        for msg in smtp.messages:
            raw = msg.as_string()
            assert SECRET not in raw and SMTP_PASSWORD not in raw
        payloads = " ".join(m.payload for m in db.session.scalars(select(OutboxMessage)))
        assert SECRET not in payloads
        channels = sorted(n["channel"] for n in order_notifications(order))
        assert channels == ["email", "email", "webhook", "webhook"]


def test_the_delay_sweep_tells_the_customer_once_when_a_job_stalls(tmp_path, smtp):
    app = make_app(tmp_path, smtp, kinds={"order_received": False})
    with time_machine.travel(T0, tick=False) as clock, app.app_context():
        order = make_order(due_date=(T0 + dt.timedelta(days=30)).date())  # far off: only the stall speaks
        db.session.commit()
        assert run_job("delay-notices") == {"estimate": 0, "stall": 0}
        clock.shift(dt.timedelta(hours=5))  # past the 4 h SLA of "received"
        assert run_job("delay-notices") == {"estimate": 0, "stall": 1}
        assert run_job("delay-notices") == {"estimate": 0, "stall": 0}  # once per stage
        run_job("outbox")
        assert smtp.subjects() == [f"Your order {order.code} is running late"]
        assert "taking longer than usual" in smtp.messages[0].get_body(("plain",)).get_content()


def test_the_delay_sweep_tells_the_customer_when_the_estimate_slips_past_the_promise(tmp_path, smtp):
    app = make_app(tmp_path, smtp, kinds={"order_received": False})
    with time_machine.travel(T0, tick=False), app.app_context():
        order = make_order(due_date=T0.date())  # promised today: the typical times cannot make it
        db.session.commit()
        assert run_job("delay-notices") == {"estimate": 1, "stall": 0}
        assert run_job("delay-notices") == {"estimate": 0, "stall": 0}
        run_job("outbox")
        text = smtp.messages[0].get_body(("plain",)).get_content()
        assert "after the" in text and "we promised" in text


def test_the_order_page_corrects_a_tracking_number(tmp_path, smtp):
    app = make_app(tmp_path, smtp, kinds={"order_received": False})
    with app.app_context():
        order = make_order()
        add_shipment(order, tracking_number="1Z999AA10123456784", actor=MANAGER, source="web")
        db.session.commit()
        code = order.code
    client = login(app.test_client(), "operator")
    page = client.post(f"/orders/{code}/shipments/1Z999AA10123456784/replace",
                       data={"csrf_token": client.csrf_token, "tracking_number": "1Z999AA10123456799"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Tracking number changed to 1Z999AA10123456799" in page
    empty = client.post(f"/orders/{code}/shipments/1Z999AA10123456799/replace",
                        data={"csrf_token": client.csrf_token, "tracking_number": ""}, follow_redirects=True)
    assert "Enter the new tracking number" in empty.get_data(as_text=True)


def test_a_carrier_exception_tells_the_customer_once(tmp_path, smtp):
    app = make_app(tmp_path, smtp, kinds={"order_received": False, "shipped": False})
    with time_machine.travel(T0), app.app_context():
        order = make_order()
        ship(order)
        feed(carrier(*PICKUP), carrier("DY", "Weather delay", 30))
        feed(carrier(*PICKUP), carrier("DY", "Weather delay", 30))  # redelivered: no second mail
        run_job("outbox")
        run_job("outbox")
        assert len(smtp.subjects()) == 1
        text = smtp.messages[0].get_body(("plain",)).get_content()
        assert "weather" in text.lower() and tracking_url(order) in text
