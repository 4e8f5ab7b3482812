"""Shopify end to end: signed orders webhooks through the real endpoint (stored before the answer, one
order however often Shopify sends it, updates and cancels applied as far as the shop floor allows), and
tracking pushed back to a fake GraphQL Admin API on 127.0.0.1 by the outbox job. Time is frozen, never slept."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from tests.conftest import build_app, closing, login
from tests.factories import MANAGER, make_order
from tracker.domain.intake import OrderDraft
from tracker.domain.marketplace import MethodRule
from tracker.extensions import db
from tracker.integrations.carriers import CarrierEvent, TrackingUpdate
from tracker.integrations.marketplaces import shopify as api
from tracker.jobs import run_job
from tracker.models import Alert, Counter, Event, Job, Order, OutboxMessage, Shipment, WebhookDelivery
from tracker.services.orders import move_job, move_order
from tracker.services.shipments import add_shipment, replace_tracking_number
from tracker.services.tracking import ingest_update

from .fake_shopify import TOKEN, FakeShopify

FIXTURE = Path(__file__).resolve().parent.parent / "integrations" / "fixtures" / "shopify_orders_create.json"
T0 = dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.timezone.utc)
SECRET = "shpss_test_5f4dcc3b5aa765d61d83"
SHOP = "demo.myshopify.com"
RULES = [{"method": "dtg", "sku": "*-DTG-*"}, {"method": "embroidery", "sku": "*-EMB-*"}]
ORDER_ID = "6120139491234"
FEDEX = "123456789012"


def raw() -> bytes:
    return FIXTURE.read_bytes()


def payload(**changes) -> dict:
    doc = json.loads(raw())
    doc.update(changes)
    return doc


def encode(doc: dict) -> bytes:
    return json.dumps(doc).encode()


def signature(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def headers(body: bytes, topic: str = "orders/create", webhook_id: str | None = "wh-1", **extra) -> dict:
    out = {"Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": signature(body),
           "X-Shopify-Shop-Domain": SHOP, "X-Shopify-API-Version": "2025-01"}
    if webhook_id:
        out["X-Shopify-Webhook-Id"] = webhook_id
    out.update(extra)
    return out


def shopify_config(**overrides) -> dict:
    cfg = {"shop_domain": SHOP, "access_token": TOKEN, "webhook_secret": SECRET, "base_url": "http://127.0.0.1:9"}
    cfg.update(overrides)
    return {k: v for k, v in cfg.items() if v is not None}


def make_app(tmp_path, **shopify):
    return build_app(tmp_path, config={"marketplaces": {"shopify": shopify_config(**shopify)}, "method_rules": RULES,
                                       "intake": {"default_method": "other"}}, WEBHOOK_PROCESSING="inline")


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    yield from closing(app)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def shop():
    fake = FakeShopify().start()
    fake.add_order(ORDER_ID, "#1042")
    yield fake
    fake.stop()


@pytest.fixture
def push_app(tmp_path, shop):
    app = make_app(tmp_path, base_url=shop.url)
    yield from closing(app)


def post(app, body: bytes, **kw):
    hdrs = kw.pop("hdrs", None)
    return app.test_client().post("/webhooks/shopify", data=body, headers=hdrs if hdrs is not None else headers(body, **kw))


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def the_order() -> Order:
    return db.session.scalar(select(Order).where(Order.channel == "shopify", Order.external_ref == ORDER_ID))


def notes(order: Order) -> list[str]:
    return [e.note for e in db.session.scalars(select(Event).where(Event.order_id == order.id).order_by(Event.id))]


# -- the signature and the parser (no app) ---------------------------------------------------------

def test_the_check_value_from_the_fixtures_readme():
    body = b'{"id":820982911946154508,"name":"#1001"}'
    assert api.sign(body, "hush") == "Mkf2s8BiWQBb/dlay3RDP15QWaH8IejS3UDTmBxVmfo="
    assert api.verify({"X-Shopify-Hmac-Sha256": "Mkf2s8BiWQBb/dlay3RDP15QWaH8IejS3UDTmBxVmfo="}, body, "hush")
    assert api.verify({"x-shopify-hmac-sha256": "Mkf2s8BiWQBb/dlay3RDP15QWaH8IejS3UDTmBxVmfo="}, body, "hush")
    assert not api.verify({"X-Shopify-Hmac-Sha256": "Mkf2s8BiWQBb/dlay3RDP15QWaH8IejS3UDTmBxVmfo="}, body + b" ", "hush")
    assert not api.verify({"X-Shopify-Hmac-Sha256": "Mkf2s8BiWQBb/dlay3RDP15QWaH8IejS3UDTmBxVmfo="}, body, "hushh")
    assert not api.verify({}, body, "hush")
    assert not api.verify({"X-Shopify-Hmac-Sha256": "Mkf2s8BiWQBb/dlay3RDP15QWaH8IejS3UDTmBxVmfo="}, body, None)
    assert not api.verify({"X-Shopify-Hmac-Sha256": "ünïcode"}, body, "hush")


def rules():
    return [MethodRule(**r) for r in RULES]


def test_parse_order_reads_the_fixture():
    draft = api.parse_order(raw(), rules(), "other", dt.date(2026, 3, 2))
    assert isinstance(draft, OrderDraft)
    assert (draft.channel, draft.external_ref, draft.external_name) == ("shopify", ORDER_ID, "#1042")
    assert (draft.customer_name, draft.customer_email, draft.customer_phone) == ("Rosa Diaz", "rosa.diaz@example.com", None)
    assert (draft.ship_city, draft.ship_region, draft.ship_country) == ("Boise", "ID", "US")
    assert draft.rush is True and draft.due_date is None
    assert [(i.description, i.method, i.quantity, i.external_ref) for i in draft.items] == [
        ("Team tee - front print", "dtg", 12, "14884444001"), ("Embroidered cap", "embroidery", 12, "14884444002")]
    assert draft.notes.startswith("Need by Friday\n") and "https://files.example/art/team-front.png" in draft.notes


def test_parse_order_leniently_reads_what_it_can():
    doc = payload(tags="Wholesale, due:2026-03-06", note_attributes=[{"name": "Gift message", "value": "hi"}],
                  shipping_address=None, email="not an address", customer={"first_name": "Ann", "last_name": "Lee",
                                                                           "phone": "+1 208 555 0142"})
    lines = doc["line_items"]
    lines[0].update(variant_title="Black / L", current_quantity=10, properties=[{"name": "_hidden", "value": "x"},
                                                                                 {"name": "Decoration", "value": "Screen"}])
    lines[1].update(current_quantity=0)  # removed by an order edit
    lines.append({"id": 14884444003, "title": "Gift card", "quantity": 1, "gift_card": True})
    draft = api.parse_order(encode(doc), [MethodRule("screen", tag="screen"), *rules()], "other", dt.date(2026, 3, 2))
    assert [(i.description, i.method, i.quantity) for i in draft.items] == [("Team tee - front print - Black / L", "screen", 10)]
    assert draft.due_date == dt.date(2026, 3, 6) and draft.rush is False
    assert (draft.customer_name, draft.customer_email, draft.customer_phone) == ("Ann Lee", None, "+1 208 555 0142")
    assert "_hidden" not in (draft.notes or "") and "Decoration: Screen" in draft.notes
    assert any("e-mail" in w for w in draft.extra["warnings"])
    # A due date in a note attribute; a past or unreadable one is not taken.
    doc = payload(note_attributes=[{"name": "Due date", "value": "2026-03-09"}])
    assert api.parse_order(encode(doc), [], "other", dt.date(2026, 3, 2)).due_date == dt.date(2026, 3, 9)
    assert api.parse_order(encode(payload(tags="due:2026-02-01")), [], "other", dt.date(2026, 3, 2)).due_date is None
    draft = api.parse_order(encode(payload(tags="due:next friday")), [], "other", dt.date(2026, 3, 2))
    assert draft.due_date is None and "YYYY-MM-DD" in draft.extra["warnings"][0]


def broken(what: str) -> bytes:
    doc = payload()
    if what == "no id":
        del doc["id"]
    elif what == "no line items":
        doc["line_items"] = []
    elif what == "zero quantity":
        doc["line_items"][0]["quantity"] = 0
    elif what == "text quantity":
        doc["line_items"][0]["quantity"] = "12"
    elif what == "line without id":
        del doc["line_items"][1]["id"]
    elif what == "same line twice":
        doc["line_items"][1]["id"] = doc["line_items"][0]["id"]
    elif what == "huge quantity":
        doc["line_items"][0]["quantity"] = 10_000_000
    return encode(doc)


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "not an order"),
    (b"\xff\xfe", "not JSON"),
    (broken("no id"), "no numeric id"),
    (broken("no line items"), "no line_items"),
    (broken("zero quantity"), "at least 1"),
    (broken("text quantity"), "at least 1"),
    (broken("line without id"), "line_items[1] has no numeric id"),
    (broken("same line twice"), "appears twice"),
    (broken("huge quantity"), "more than this shop takes"),
])
def test_parse_order_names_what_is_wrong(body, reason):
    with pytest.raises(ValueError) as exc:
        api.parse_order(body, [], "other", dt.date(2026, 3, 2))
    assert reason in str(exc.value)


# -- webhooks in -----------------------------------------------------------------------------------

def test_orders_create_makes_one_order_with_a_job_per_line_item(app, clock):
    body = raw()
    resp = post(app, body)
    assert resp.status_code == 202, resp.json
    with app.app_context():
        order = the_order()
        assert order is not None and order.external_name == "#1042" and order.rush is True
        assert (order.customer_name, order.customer_email, order.ship_city) == ("Rosa Diaz", "rosa.diaz@example.com", "Boise")
        assert [(j.code, j.description, j.method, j.quantity, j.external_ref, j.stage) for j in order.jobs] == [
            (order.code + "A", "Team tee - front print", "dtg", 12, "14884444001", "received"),
            (order.code + "B", "Embroidered cap", "embroidery", 12, "14884444002", "received")]
        (ev,) = db.session.scalars(select(Event).where(Event.order_id == order.id))
        assert (ev.kind, ev.source, ev.actor) == ("create", "import", "shopify")
        delivery = db.session.scalar(select(WebhookDelivery))
        assert delivery.dedupe_key == "shopify:wh-1" and delivery.processed_at is not None and delivery.error is None
        assert delivery.body == body  # the raw bytes, as they came
        kept = json.loads(delivery.headers)
        assert kept["X-Shopify-Topic"] == "orders/create" and kept["X-Shopify-Shop-Domain"] == SHOP


def test_a_redelivery_is_acknowledged_and_changes_nothing(app, clock):
    body = raw()
    assert post(app, body).status_code == 202
    again = post(app, body)
    assert again.status_code == 200 and again.json == {"ok": True, "duplicate": True}
    with app.app_context():
        assert count(WebhookDelivery) == 1 and count(Order) == 1 and count(Job) == 2


def test_the_same_order_under_another_webhook_id_is_still_one_order(app, clock):
    body = raw()
    assert post(app, body, webhook_id="wh-1").status_code == 202
    assert post(app, body, webhook_id="wh-2").status_code == 202
    assert post(app, body, webhook_id=None).status_code == 202  # no id at all: keyed by a hash of topic + body
    assert post(app, body, webhook_id=None).status_code == 200
    with app.app_context():
        assert count(WebhookDelivery) == 3 and count(Order) == 1 and count(Job) == 2
        assert count(Event) == 1


@pytest.mark.parametrize("bad", ["missing", "wrong", "other secret", "tampered"])
def test_a_bad_or_missing_signature_is_401_and_stores_nothing(app, clock, bad):
    body = raw()
    hdrs = headers(body)
    if bad == "missing":
        del hdrs["X-Shopify-Hmac-Sha256"]
    elif bad == "wrong":
        hdrs["X-Shopify-Hmac-Sha256"] = base64.b64encode(b"0" * 32).decode()
    elif bad == "other secret":
        hdrs["X-Shopify-Hmac-Sha256"] = signature(body, "another-apps-secret")
    else:
        body = body.replace(b"Rosa", b"Rosie")
    resp = post(app, body, hdrs=hdrs)
    assert resp.status_code == 401 and "signature" in resp.json["error"]
    with app.app_context():
        assert count(WebhookDelivery) == 0 and count(Order) == 0
        assert db.session.get(Counter, "webhook_rejected:shopify").value == 1


def test_not_set_up_is_404(tmp_path, clock):
    app = build_app(tmp_path, WEBHOOK_PROCESSING="inline")
    resp = post(app, raw())
    assert resp.status_code == 404 and "not set up" in resp.json["error"]


def test_the_secret_comes_from_the_environment(tmp_path, clock, monkeypatch):
    monkeypatch.setenv("TEST_SHOPIFY_WEBHOOK_SECRET", SECRET)
    app = make_app(tmp_path, webhook_secret="env:TEST_SHOPIFY_WEBHOOK_SECRET")
    assert post(app, raw()).status_code == 202


def test_a_delivery_signed_for_another_shop_is_refused(app, clock):
    body = raw()
    resp = post(app, body, hdrs=headers(body, **{"X-Shopify-Shop-Domain": "someone-else.myshopify.com"}))
    assert resp.status_code == 403 and "someone-else.myshopify.com" in resp.json["error"]
    with app.app_context():
        assert count(WebhookDelivery) == 0 and count(Order) == 0
    # The domain in any case or with a scheme is the same shop.
    assert post(app, body, hdrs=headers(body, **{"X-Shopify-Shop-Domain": "Demo.MyShopify.com"})).status_code == 202


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "not JSON"),
    (b'{"id": 1, "name": "#1"}', "no line_items"),
    (b'"just a string"', "not an order"),
])
def test_a_signed_body_that_is_not_an_order_is_kept_and_answered_422(app, clock, body, reason):
    resp = post(app, body)
    assert resp.status_code == 422 and reason in resp.json["error"]
    with app.app_context():
        delivery = db.session.scalar(select(WebhookDelivery))
        assert delivery.body == body and delivery.processed_at is not None
        assert delivery.error.startswith("unreadable: ") and reason in delivery.error
        assert count(Order) == 0
    again = post(app, body)  # Shopify retries a 4xx: the same answer, still one row
    assert again.status_code == 422
    with app.app_context():
        assert count(WebhookDelivery) == 1
        assert run_job("process-webhooks") == 0  # nothing left pending for the job either


def test_other_topics_are_stored_and_ignored(app, clock):
    body = b'{"id": 788032119674292922, "title": "Example T-Shirt"}'
    assert post(app, body, topic="products/update").status_code == 202
    with app.app_context():
        delivery = db.session.scalar(select(WebhookDelivery))
        assert delivery.processed_at is not None and delivery.error.startswith("ignored: ")
        assert count(Order) == 0


def test_a_stored_delivery_is_processed_by_the_job_when_the_worker_did_not(tmp_path, clock):
    app = build_app(tmp_path, config={"marketplaces": {"shopify": shopify_config()}, "method_rules": RULES},
                    WEBHOOK_PROCESSING="job")
    assert post(app, raw()).status_code == 202
    with app.app_context():
        assert count(Order) == 0  # acknowledged and stored; not processed yet
        assert run_job("process-webhooks") == 1
        assert count(Order) == 1


# -- updates ---------------------------------------------------------------------------------------

def updated(doc: dict, webhook_id: str) -> tuple[bytes, dict]:
    body = encode(doc)
    return body, headers(body, topic="orders/updated", webhook_id=webhook_id)


def test_an_update_changes_unstarted_jobs_and_adds_new_items(app, clock):
    assert post(app, raw()).status_code == 202
    doc = payload(tags="rush, due:2026-03-06", email="rosa@new.example.com")
    doc["line_items"][0]["quantity"] = 20
    doc["line_items"].append({"id": 14884444003, "title": "Hoodie", "sku": "HOOD-DTG-GRY-M", "quantity": 6,
                              "properties": []})
    body, hdrs = updated(doc, "wh-2")
    assert post(app, body, hdrs=hdrs).status_code == 202
    with app.app_context():
        order = the_order()
        assert [(j.code[-1], j.description, j.method, j.quantity, j.stage) for j in order.jobs] == [
            ("A", "Team tee - front print", "dtg", 20, "received"), ("B", "Embroidered cap", "embroidery", 12, "received"),
            ("C", "Hoodie", "dtg", 6, "received")]
        assert order.due_date == dt.date(2026, 3, 6) and order.customer_email == "rosa@new.example.com"
        text = "\n".join(n or "" for n in notes(order))
        assert f"{order.code}A changed on Shopify: quantity 12 → 20" in text
        assert "Item added on Shopify: 6 × Hoodie" in text
        assert "due date (none) → 2026-03-06" in text and "e-mail rosa.diaz@example.com → rosa@new.example.com" in text
        added = db.session.scalar(select(Event).where(Event.job_id == order.jobs[2].id))
        assert (added.kind, added.source, added.actor, added.to_stage) == ("create", "import", "shopify", "received")
        assert count(Alert) == 0
    # The same update again (and any later one that changes nothing) records nothing more.
    with app.app_context():
        before = count(Event)
    body, hdrs = updated(doc, "wh-3")
    assert post(app, body, hdrs=hdrs).status_code == 202
    with app.app_context():
        assert count(Event) == before and count(Job) == 3


def test_an_update_for_an_order_never_seen_creates_it(app, clock):
    body, hdrs = updated(payload(), "wh-9")
    assert post(app, body, hdrs=hdrs).status_code == 202
    assert post(app, raw(), webhook_id="wh-1").status_code == 202  # the create arrives late: nothing new
    with app.app_context():
        assert count(Order) == 1 and count(Job) == 2


def test_changes_after_production_began_are_not_applied_but_raised(app, clock):
    assert post(app, raw()).status_code == 202
    with app.app_context():
        order = the_order()
        move_job(order.jobs[0], "preproduction", actor=MANAGER, source="web")
        move_job(order.jobs[0], "production", actor=MANAGER, source="web")
        db.session.commit()
    doc = payload()
    doc["line_items"][0]["quantity"] = 30  # on press already
    doc["line_items"][1]["current_quantity"] = 0  # removed, not started
    body, hdrs = updated(doc, "wh-2")
    assert post(app, body, hdrs=hdrs).status_code == 202
    with app.app_context():
        order = the_order()
        a, b = order.jobs
        assert (a.quantity, a.stage) == (12, "production") and (b.quantity, b.stage) == (12, "received")
        alerts = {al.job_id: al for al in db.session.scalars(select(Alert))}
        assert {al.kind for al in alerts.values()} == {"marketplace_change"}
        assert "changed on Shopify after production began, not applied: quantity 12 → 30" in alerts[a.id].message
        assert "was removed on Shopify: take it off" in alerts[b.id].message
        text = "\n".join(n or "" for n in notes(order))
        assert alerts[a.id].message in text and alerts[b.id].message in text
        events = count(Event)
    body, hdrs = updated(doc, "wh-3")  # the next update still shows the difference: raised once only
    assert post(app, body, hdrs=hdrs).status_code == 202
    with app.app_context():
        assert count(Alert) == 2 and count(Event) == events
    resp = app.test_client().get("/api/alerts", headers=_bearer(app))
    assert {a["kind"] for a in resp.json["alerts"]} == {"marketplace_change"}


def _bearer(app) -> dict:
    from tests.conftest import api_token

    return {"Authorization": f"Bearer {api_token(app, 'manager')}"}


def test_an_item_added_after_packing_is_raised_not_added(app, clock):
    assert post(app, raw()).status_code == 202
    with app.app_context():
        order = the_order()
        move_order(order, "qc", actor=MANAGER, source="web", note="test set-up: skip to QC")
        move_order(order, "packaging", actor=MANAGER, source="web")
        db.session.commit()
    doc = payload()
    doc["line_items"].append({"id": 14884444003, "title": "Hoodie", "quantity": 6})
    body, hdrs = updated(doc, "wh-2")
    assert post(app, body, hdrs=hdrs).status_code == 202
    with app.app_context():
        assert count(Job) == 2
        (alert,) = db.session.scalars(select(Alert))
        assert "6 × Hoodie was added on Shopify and not here" in alert.message and "Packaging" in alert.message


# -- cancels ---------------------------------------------------------------------------------------

def cancelled(webhook_id: str = "wh-c1") -> tuple[bytes, dict]:
    body = encode(payload(cancelled_at="2026-03-02T09:00:00-05:00", cancel_reason="customer"))
    return body, headers(body, topic="orders/cancelled", webhook_id=webhook_id)


def test_a_cancel_cancels_the_order_once_with_an_audit_event(app, clock):
    assert post(app, raw()).status_code == 202
    body, hdrs = cancelled()
    assert post(app, body, hdrs=hdrs).status_code == 202
    with app.app_context():
        order = the_order()
        assert order.stage == "cancelled" and order.cancelled_at is not None
        (ev,) = db.session.scalars(select(Event).where(Event.order_id == order.id, Event.kind == "cancel"))
        assert (ev.source, ev.actor, ev.note) == ("import", "shopify", "cancelled on Shopify (reason: customer)")
        assert count(Alert) == 0  # nothing was made yet
    body, hdrs = cancelled("wh-c2")  # again (and the orders/updated Shopify sends with it): no-op
    assert post(app, body, hdrs=hdrs).status_code == 202
    body, hdrs = updated(payload(cancelled_at="2026-03-02T09:00:00-05:00"), "wh-u")
    assert post(app, body, hdrs=hdrs).status_code == 202
    with app.app_context():
        assert count(Event, Event.kind == "cancel") == 1


def test_a_cancel_after_production_began_raises_an_alert(app, clock):
    assert post(app, raw()).status_code == 202
    with app.app_context():
        order = the_order()
        move_job(order.jobs[1], "preproduction", actor=MANAGER, source="web")
        move_job(order.jobs[1], "production", actor=MANAGER, source="web")
        db.session.commit()
    body, hdrs = cancelled()
    assert post(app, body, hdrs=hdrs).status_code == 202
    with app.app_context():
        order = the_order()
        assert order.stage == "cancelled"
        (alert,) = db.session.scalars(select(Alert))
        assert alert.kind == "marketplace_change" and alert.order_id == order.id
        assert "cancelled on Shopify after production began" in alert.message


def test_a_cancel_for_an_unknown_order_is_ignored(app, clock):
    body, hdrs = cancelled()
    assert post(app, body, hdrs=hdrs).status_code == 202
    with app.app_context():
        assert count(Order) == 0
        assert db.session.scalar(select(WebhookDelivery)).error.startswith("ignored: ")


# -- tracking out ----------------------------------------------------------------------------------

def shopify_order(app) -> str:
    assert post(app, raw()).status_code == 202
    with app.app_context():
        return the_order().code


def ship(code: str, number: str = FEDEX) -> Shipment:
    order = db.session.scalar(select(Order).where(Order.code == code))
    s = add_shipment(order, tracking_number=number, carrier="fedex", actor=MANAGER, source="web")
    db.session.commit()
    return s


def scan(number: str = FEDEX, minutes: int = 0) -> None:
    """The carrier's first scan: the parcel is on its way."""
    ev = CarrierEvent(provider="fedex", carrier="fedex", tracking_number=number, code="PU", sub_code=None,
                      description="Picked up", occurred_at=T0 + dt.timedelta(minutes=minutes), location="BOISE, ID",
                      provider_event_id=None)
    ingest_update(TrackingUpdate(provider="fedex", delivery_id=None, carrier="fedex", tracking_number=number,
                                 events=(ev,), est_delivery=None, public_url=None), via="poll")
    db.session.commit()


def shopify_messages() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind.like("shopify%"))
                                   .order_by(OutboxMessage.id)))


def order_page(app, code: str) -> str:
    client = login(app.test_client(), "operator")
    return client.get(f"/orders/{code}").get_data(as_text=True)


def test_the_first_carrier_scan_fulfills_the_order_on_shopify(push_app, shop, clock):
    code = shopify_order(push_app)
    with push_app.app_context():
        ship(code)
        assert shopify_messages() == []  # a label alone is not news for Shopify
        scan()
        (msg,) = shopify_messages()
        assert msg.kind == "shopify_fulfillment" and msg.status == "pending"
        assert run_job("outbox")["sent"] >= 1
        shipment = db.session.scalar(select(Shipment))
        (fulfillment_id,) = shop.fulfillments
        assert shipment.marketplace_ref == fulfillment_id and shipment.marketplace_number == FEDEX
        assert any(n == f"Tracking sent to Shopify: FedEx {FEDEX}" for n in notes(the_order()))
        scan(minutes=60)  # more scans: nothing more for Shopify
        run_job("outbox")
        assert len(shopify_messages()) == 1
    (fo_id,) = [fo["id"] for fo in shop.orders[f"gid://shopify/Order/{ORDER_ID}"]["fulfillment_orders"]]
    assert [op for op, _ in shop.operations()] == ["order", "fulfillmentCreate"]
    assert shop.operations()[0][1] == {"id": f"gid://shopify/Order/{ORDER_ID}"}
    assert shop.operations()[1][1] == {"fulfillment": {
        "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo_id}],
        "trackingInfo": {"company": "FedEx", "number": FEDEX, "url": f"https://www.fedex.com/fedextrack/?trknbr={FEDEX}"},
        "notifyCustomer": True}}
    for req in shop.server.calls("POST"):
        assert req.headers["x-shopify-access-token"] == TOKEN and req.path == "/admin/api/2025-01/graphql.json"
    page = order_page(push_app, code)
    assert f"Fulfillment with tracking: FedEx {FEDEX}" in page and "Shopify #1042" in page


def test_notify_customer_and_tracking_company_come_from_the_config(tmp_path, shop, clock):
    app = make_app(tmp_path, base_url=shop.url, notify_customer=False, tracking_company="Canada Post")
    code = shopify_order(app)
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.code == code))
        add_shipment(order, tracking_number="EE123456789CA", carrier="other", actor=MANAGER, source="web")
        db.session.commit()
        scan("EE123456789CA")
        run_job("outbox")
    variables = shop.operations()[-1][1]["fulfillment"]
    assert variables["notifyCustomer"] is False
    assert variables["trackingInfo"] == {"company": "Canada Post", "number": "EE123456789CA"}


def test_shopify_refusing_the_fulfillment_is_given_up_and_shown_on_the_order_page(push_app, shop, clock):
    code = shopify_order(push_app)
    shop.refuse_next("Fulfillment order 1001 has an unfulfillable status= closed.")
    with push_app.app_context():
        ship(code)
        scan()
        summary = run_job("outbox")
        assert summary["failed"] == 1
        (msg,) = shopify_messages()
        assert msg.status == "failed" and msg.attempts == 1
        assert "Fulfillment order 1001 has an unfulfillable status= closed." in msg.last_error
        assert db.session.scalar(select(Shipment)).marketplace_ref is None
    page = order_page(push_app, code)
    assert "failed" in page and "Shopify refused the fulfillment of #1042: Fulfillment order 1001 has an unfulfillable" in page


def test_a_server_error_is_retried_after_the_backoff(push_app, shop, clock):
    code = shopify_order(push_app)
    shop.server.fail_next(500)
    with push_app.app_context():
        ship(code)
        scan()
        assert run_job("outbox")["retry"] == 1
        (msg,) = shopify_messages()
        assert msg.status == "pending" and "answered 500" in msg.last_error
        run_job("outbox")  # not due yet: no call
        assert len(shop.server.calls("POST")) == 1
        clock.shift(dt.timedelta(seconds=31))
        assert run_job("outbox")["sent"] == 1
        db.session.refresh(msg)
        assert msg.status == "done" and msg.attempts == 2 and msg.last_error is None
        assert db.session.scalar(select(Shipment)).marketplace_ref in shop.fulfillments
    assert [op for op, _ in shop.operations()] == ["order", "order", "fulfillmentCreate"]


def test_a_rate_limit_waits_as_long_as_shopify_asks(push_app, shop, clock):
    code = shopify_order(push_app)
    shop.server.fail_next(429, retry_after="120")
    with push_app.app_context():
        ship(code)
        scan()
        run_job("outbox")
        (msg,) = shopify_messages()
        assert msg.status == "pending" and msg.next_attempt_at == T0 + dt.timedelta(seconds=120)


def test_a_wrong_access_token_is_given_up_with_a_clear_message(tmp_path, shop, clock):
    app = make_app(tmp_path, base_url=shop.url, access_token="shpat_wrong")
    code = shopify_order(app)
    with app.app_context():
        ship(code)
        scan()
        run_job("outbox")
        (msg,) = shopify_messages()
        assert msg.status == "failed" and "refused the access token (401)" in msg.last_error


THROTTLE_COST = {"requestedQueryCost": 52, "actualQueryCost": None,
                 "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 2, "restoreRate": 100.0}}


@pytest.mark.parametrize("reply, status, words, wait", [
    ((200, {"errors": [{"message": "Access denied for order field. Required access: `read_orders` access scope.",
                        "extensions": {"code": "ACCESS_DENIED"}}]}),
     "failed", "Shopify said: Access denied for order field. Required access: `read_orders`", None),
    ((200, {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
            "extensions": {"cost": THROTTLE_COST}}), "pending", "Shopify is throttling the app", 1),
    ((403, {"errors": "[API] This action requires merchant approval for write_fulfillments scope."}),
     "failed", "the app is missing a permission", None),
    ((404, {"errors": "Not Found"}), "failed", "check shop_domain / base_url and api_version", None),
])
def test_graphql_and_http_refusals(push_app, shop, clock, reply, status, words, wait):
    code = shopify_order(push_app)
    shop.server.fail_next(reply[0], body=reply[1])
    with push_app.app_context():
        ship(code)
        scan()
        run_job("outbox")
        (msg,) = shopify_messages()
        assert msg.status == status and words in msg.last_error
        if wait is not None:
            assert msg.next_attempt_at == T0 + dt.timedelta(seconds=wait)


def test_a_lost_answer_does_not_fulfill_twice(push_app, shop, clock):
    tracking = api.TrackingInfo("FedEx", FEDEX, None)
    with push_app.app_context():
        from tracker.services.shopify import push_config

        cfg = push_config()
    first = api.create_fulfillment(cfg, ORDER_ID, tracking)
    second = api.create_fulfillment(cfg, ORDER_ID, tracking)  # the retry after a crash before the commit
    assert first == second and len(shop.fulfillments) == 1
    with pytest.raises(api.ShopifyError) as exc:
        api.create_fulfillment(cfg, ORDER_ID, api.TrackingInfo("FedEx", "999999999999", None))
    assert "nothing left to fulfill" in exc.value.message and not exc.value.retryable


def test_a_corrected_number_updates_shopify(push_app, shop, clock):
    code = shopify_order(push_app)
    with push_app.app_context():
        shipment = ship(code)
        scan()
        run_job("outbox")
        fulfillment_id = db.session.scalar(select(Shipment)).marketplace_ref
        replace_tracking_number(db.session.get(Shipment, shipment.id), "123456789013", actor=MANAGER, source="web")
        db.session.commit()
        assert run_job("outbox")["sent"] >= 1
        shipment = db.session.get(Shipment, shipment.id)
        assert shipment.marketplace_number == "123456789013" and shipment.marketplace_ref == fulfillment_id
        assert any("Tracking on Shopify changed: 123456789012 → FedEx 123456789013" == n for n in notes(the_order()))
    op, variables = shop.operations()[-1]
    assert op == "fulfillmentTrackingInfoUpdate"
    assert variables == {"fulfillmentId": fulfillment_id, "notifyCustomer": True, "trackingInfoInput": {
        "company": "FedEx", "number": "123456789013", "url": "https://www.fedex.com/fedextrack/?trknbr=123456789013"}}
    assert shop.fulfillments[fulfillment_id]["trackingInfo"][0]["number"] == "123456789013"
    assert "Tracking number update: FedEx 123456789013" in order_page(push_app, code)


def test_a_number_corrected_before_the_fulfillment_went_out_goes_out_new(push_app, shop, clock):
    code = shopify_order(push_app)
    with push_app.app_context():
        shipment = ship(code)
        scan()
        replace_tracking_number(db.session.get(Shipment, shipment.id), "123456789013", actor=MANAGER, source="web")
        db.session.commit()
        run_job("outbox")
        assert [m.kind for m in shopify_messages()] == ["shopify_fulfillment"]
    assert [op for op, _ in shop.operations()] == ["order", "fulfillmentCreate"]
    assert shop.operations()[1][1]["fulfillment"]["trackingInfo"]["number"] == "123456789013"


def test_only_shopify_orders_and_only_when_set_up(tmp_path, shop, clock):
    app = make_app(tmp_path, base_url=shop.url)
    with app.app_context():
        manual = make_order()
        ship(manual.code)
        scan()
        assert shopify_messages() == []
    other = make_app(tmp_path / "b", base_url=shop.url, access_token=None)  # webhooks only: no pushes
    code = shopify_order(other)
    with other.app_context():
        ship(code, "123456789099")
        scan("123456789099")
        assert shopify_messages() == []
    assert shop.operations() == []


def test_an_older_update_arriving_late_is_not_applied_over_a_newer_one(app, clock):
    assert post(app, raw()).status_code == 202  # updated_at 2026-03-01T10:30:00-05:00
    newer = payload(updated_at="2026-03-01T12:00:00-05:00")
    newer["line_items"][0]["quantity"] = 20
    older = payload(updated_at="2026-03-01T11:00:00-05:00")
    older["line_items"][0]["quantity"] = 15
    for doc, webhook_id in ((newer, "wh-new"), (older, "wh-old")):  # delivered out of order
        body, hdrs = updated(doc, webhook_id)
        assert post(app, body, hdrs=hdrs).status_code == 202
    with app.app_context():
        order = the_order()
        assert order.jobs[0].quantity == 20
        assert order.external_updated_at == dt.datetime(2026, 3, 1, 17, 0, tzinfo=dt.timezone.utc)
        skipped = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.dedupe_key == "shopify:wh-old"))
        assert skipped.error.startswith("ignored: ") and "older than the one already applied" in skipped.error


def test_acknowledging_a_marketplace_change_closes_it(app, clock):
    from tracker.services.alerts import acknowledge

    assert post(app, raw()).status_code == 202
    doc = payload()
    doc["line_items"][1]["current_quantity"] = 0
    body, hdrs = updated(doc, "wh-2")
    assert post(app, body, hdrs=hdrs).status_code == 202
    with app.app_context():
        (alert,) = db.session.scalars(select(Alert)).all()
        acknowledge(alert.id, by="maria")
        db.session.commit()
        assert alert.closed_at is not None and alert.acknowledged_by == "maria"


def test_an_item_added_on_shopify_gets_its_job_label_when_the_shop_prints_at_intake(tmp_path, clock):
    from tracker.models import PrintJob

    app = build_app(tmp_path, config={"marketplaces": {"shopify": shopify_config()}, "method_rules": RULES,
                                      "intake": {"print_job_labels": True},
                                      "printers": {"front": {"driver": "file"}}}, WEBHOOK_PROCESSING="inline")
    assert post(app, raw()).status_code == 202
    doc = payload()
    doc["line_items"].append({"id": 14884444003, "title": "Hoodie", "sku": "HOOD-DTG-GRY-M", "quantity": 6})
    body, hdrs = updated(doc, "wh-2")
    assert post(app, body, hdrs=hdrs).status_code == 202
    with app.app_context():
        order = the_order()
        labelled = [p.job_id for p in db.session.scalars(select(PrintJob).order_by(PrintJob.id))]
        assert labelled == [j.id for j in order.jobs]  # two at intake, then the added one


def test_the_marketplaces_page_shows_shopify_set_up_its_webhook_address_and_deliveries(app, clock):
    assert post(app, raw()).status_code == 202
    assert post(app, b"not json", hdrs=headers(b"not json", webhook_id="wh-bad")).status_code == 422
    client = app.test_client()
    login(client, "manager")
    page = client.get("/marketplaces").get_data(as_text=True)
    assert "Orders in only" in page or "Connected" in page
    assert "/webhooks/shopify" in page and "orders/create" in page
    assert "applied" in page and "unreadable" in page
    operator = app.test_client()
    login(operator, "operator")
    assert operator.get("/marketplaces").status_code in (302, 403)


def test_the_shopify_table_is_read_into_a_typed_config():
    """services/shopify.py reads [marketplaces.shopify] through api.load_config: attributes, not keys; an
    env: variable that is unset (None) leaves notify_customer at its default, true."""
    cfg = api.load_config({"shop_domain": SHOP, "access_token": TOKEN, "notify_customer": None})
    assert (cfg.shop_domain, cfg.access_token, cfg.webhook_secret, cfg.notify_customer) == (SHOP, TOKEN, None, True)
    assert api.load_config({"notify_customer": False}).notify_customer is False
    assert api.load_config(None) == api.ShopifyConfig()
    assert api.endpoint(cfg) == f"https://{SHOP}/admin/api/{api.API_VERSION}/graphql.json"
