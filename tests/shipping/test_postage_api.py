"""Labels bought through the JSON API against fake EasyPost and Shippo servers (real HTTP on 127.0.0.1):
rates, the rule's pick, the purchase linked and printed, no second label on a double click, a retry, a
lost answer or a timeout, refusals in words, voids and return labels."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.shipping.conftest import packed_order
from tracker.extensions import db
from tracker.jobs import run_job
from tracker.models import Event, LabelPurchase, OutboxMessage, Order, PrintJob, Shipment

PROVIDERS = ["easypost", "shippo"]
BUY_PATH = {"easypost": r"/v2/shipments/[^/]+/buy", "shippo": r"/transactions"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rates_list_each_service_and_the_rules_pick(shop, provider):
    app, server, api = shop(provider)
    code = packed_order(app)
    resp = api.post(f"/api/orders/{code}/rates", json={"package": "Box M"})
    assert resp.status_code == 200, resp.json
    rates = resp.json["rates"]
    assert {(r["carrier"], r["service"]) for r in rates} >= {("usps", "Priority"), ("ups", "Ground")}
    cheapest = min(rates, key=lambda r: float(r["amount"]))
    assert resp.json["chosen_rate_id"] == cheapest["rate_id"] and resp.json["rule"] == "cheapest"
    assert all({"rate_id", "carrier", "service", "amount", "currency", "delivery_days"} <= set(r) for r in rates)
    assert resp.json["package"]["weight_oz"] == 40


def test_the_fastest_rule(shop):
    app, server, api = shop("easypost", choose="fastest")
    code = packed_order(app)
    resp = api.post(f"/api/orders/{code}/rates", json={})
    chosen = next(r for r in resp.json["rates"] if r["rate_id"] == resp.json["chosen_rate_id"])
    assert chosen["delivery_days"] == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_one_call_buys_links_moves_and_prints(shop, provider, printer):
    app, server, api = shop(provider)
    code = packed_order(app)
    resp = api.post(f"/api/orders/{code}/postage", json={})
    assert resp.status_code == 201, resp.json
    number = resp.json["tracking_number"]
    assert resp.json["carrier"] == "usps" and resp.json["order_stage"] == "labeled"
    assert resp.json["label"]["print_job"]["printer"] == "label"
    assert len(server.bought) == 1
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.code == code))
        shipment = db.session.scalars(select(Shipment)).one()
        assert shipment.tracking_number == number and shipment.provider == provider
        assert shipment.registered_at is not None and shipment.label_format == "zpl"
        # tracked by the provider already: nothing to register
        assert not db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "register_tracking")).all()
        notes = [e.note for e in db.session.scalars(select(Event).where(Event.order_id == order.id))]
        assert any(n and n.startswith("Label bought via") and number in n for n in notes)
        run_job("print-queue")
    label = printer.wait_for(1)[0]
    assert number.encode() in label and label.startswith(b"^XA")
    order_doc = api.get(f"/api/orders/{code}").json
    assert order_doc["stage"] == "labeled" and order_doc["shipments"][0]["tracking_number"] == number


@pytest.mark.parametrize("provider", PROVIDERS)
def test_buying_a_quoted_rate_twice_buys_one_label(shop, provider):
    app, server, api = shop(provider)
    code = packed_order(app)
    rates = api.post(f"/api/orders/{code}/rates", json={"package": "Box M"}).json["rates"]
    ups = next(r for r in rates if r["carrier"] == "ups" and r["service"] == "Ground")
    first = api.post(f"/api/orders/{code}/postage", json={"rate_id": ups["rate_id"]})
    again = api.post(f"/api/orders/{code}/postage", json={"rate_id": ups["rate_id"]})
    assert first.status_code == 201 and first.json["carrier"] == "ups"
    assert again.status_code == 200 and again.json["tracking_number"] == first.json["tracking_number"]
    assert len(server.bought) == 1


def test_a_second_label_needs_another_parcel(shop):
    app, server, api = shop("easypost")
    code = packed_order(app)
    assert api.post(f"/api/orders/{code}/postage", json={}).status_code == 201
    refused = api.post(f"/api/orders/{code}/postage", json={})
    assert refused.status_code == 409 and "already has a label" in refused.json["error"]
    assert refused.json["field"] == "another_parcel"
    second = api.post(f"/api/orders/{code}/postage", json={"another_parcel": True, "package": "Box M"})
    assert second.status_code == 201
    assert len(server.bought) == 2 and len(api.get(f"/api/orders/{code}").json["shipments"]) == 2


def test_the_same_idempotency_key_answers_the_first_purchase(shop):
    app, server, api = shop("easypost")
    code = packed_order(app)
    first = api.post(f"/api/orders/{code}/postage", json={}, headers={"Idempotency-Key": "k-1"})
    again = api.post(f"/api/orders/{code}/postage", json={"another_parcel": True}, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["tracking_number"] == first.json["tracking_number"] and len(server.bought) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_purchase_whose_answer_is_lost_is_adopted_on_retry_not_bought_again(shop, provider):
    app, server, api = shop(provider)
    code = packed_order(app)
    server.lose_next_answer("POST", BUY_PATH[provider])
    lost = api.post(f"/api/orders/{code}/postage", json={})
    assert lost.status_code in (502, 504) and "never bought twice" in lost.json["error"]
    assert len(server.bought) == 1  # the provider did sell it
    assert api.get(f"/api/orders/{code}").json["shipments"] == []
    retry = api.post(f"/api/orders/{code}/postage", json={})
    assert retry.status_code == 200, retry.json
    assert retry.json["tracking_number"] == server.bought[0].get("tracking_code", server.bought[0].get("tracking_number"))
    assert "earlier purchase went through" in retry.json["message"]
    assert len(server.bought) == 1 and retry.json["order_stage"] == "labeled"


def test_a_timeout_then_a_retry_buys_one_label(shop):
    app, server, api = shop("easypost", provider_extra={"timeout": 0.5})
    code = packed_order(app)
    server.hold_next_answer("POST", BUY_PATH["easypost"])
    slow = api.post(f"/api/orders/{code}/postage", json={})
    assert slow.status_code == 504 and "did not answer in time" in slow.json["error"]
    server.release()
    retry = api.post(f"/api/orders/{code}/postage", json={})
    assert retry.status_code == 200 and len(server.bought) == 1


def test_a_500_on_buy_then_a_retry_buys_once(shop):
    app, server, api = shop("easypost")
    code = packed_order(app)
    rates = api.post(f"/api/orders/{code}/rates", json={}).json
    server.fail_next(500)
    failed = api.post(f"/api/orders/{code}/postage", json={"rate_id": rates["chosen_rate_id"]})
    assert failed.status_code == 502 and not server.bought
    retry = api.post(f"/api/orders/{code}/postage", json={"rate_id": rates["chosen_rate_id"]})
    assert retry.status_code == 201 and len(server.bought) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_address_the_provider_refuses_buys_nothing(shop, provider):
    app, server, api = shop(provider)
    code = packed_order(app, ship_street1="1 Nowhere Rd")
    resp = api.post(f"/api/orders/{code}/postage", json={})
    assert resp.status_code == 422 and resp.json["field"] == "ship_to"
    assert "cannot deliver" in resp.json["error"] and "nothing was bought" in resp.json["error"]
    assert not server.bought and not server.calls("POST", r"/v2/shipments|/shipments")


def test_an_order_without_a_street_is_refused_before_any_call(shop):
    app, server, api = shop("easypost")
    code = packed_order(app, ship_street1=None, ship_postal=None)
    resp = api.post(f"/api/orders/{code}/rates", json={})
    assert resp.status_code == 422 and resp.json["field"] == "ship_to"
    assert "is missing the street and the postal code" in resp.json["error"]
    assert not server.calls()


def test_without_a_provider_the_api_says_which_setting_is_missing(app, api):
    from tests.factories import make_order

    with app.app_context():
        code = make_order().code
    for path in ("rates", "postage"):
        resp = api.post(f"/api/orders/{code}/{path}", json={})
        assert resp.status_code == 409 and "[providers.easypost] api_key" in resp.json["error"]


@pytest.mark.parametrize("body,field", [
    ({"weight_oz": "heavy"}, "weight_oz"), ({"weight_oz": -1}, "weight_oz"), ({"weight_oz": 99999}, "weight_oz"),
    ({"package": "Crate"}, "package"), ({"weight_oz": 8, "length_in": 10}, "width_in"),
    ({"printer": "nope"}, "printer"), ({"is_return": "yes"}, "is_return"), ({"colour": "red"}, "colour"),
])
def test_bad_input_is_a_clear_400(shop, body, field):
    app, server, api = shop("easypost")
    code = packed_order(app)
    resp = api.post(f"/api/orders/{code}/postage", json=body)
    assert resp.status_code == 400 and resp.json["field"] == field, resp.json
    assert not server.bought


def test_unknown_rate_and_order_and_refused_key(shop):
    app, server, api = shop("easypost", )
    code = packed_order(app)
    assert api.post(f"/api/orders/{code}/postage", json={"rate_id": "rate_nope"}).status_code == 404
    assert api.post("/api/orders/Z9999/postage", json={}).status_code == 404
    app2, server2, api2 = shop("shippo", provider_extra={"api_key": "wrong"})
    code2 = packed_order(app2)
    resp = api2.post(f"/api/orders/{code2}/rates", json={})
    assert resp.status_code == 409 and "refused the API key" in resp.json["error"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_void_refunds_the_label_and_puts_the_order_back_to_packaging(shop, provider):
    app, server, api = shop(provider)
    code = packed_order(app)
    bought = api.post(f"/api/orders/{code}/postage", json={}).json
    pid = bought["label"]["purchase_id"]
    resp = api.post(f"/api/orders/{code}/postage/{pid}/void")
    assert resp.status_code == 200 and resp.json["status"] == "voided"
    assert resp.json["refund_status"] == "submitted" and len(server.refunds) == 1
    order = api.get(f"/api/orders/{code}").json
    assert order["stage"] == "packaging"
    assert any("Label voided" in (e.get("note") or "") for e in order["events"])
    again = api.post(f"/api/orders/{code}/postage/{pid}/void")
    assert again.status_code == 409
    # a new label can be bought now
    assert api.post(f"/api/orders/{code}/postage", json={}).status_code == 201


def test_a_refused_refund_keeps_the_label(shop):
    app, server, api = shop("easypost")
    code = packed_order(app)
    bought = api.post(f"/api/orders/{code}/postage", json={}).json
    server.refuse_refunds.add(bought["tracking_number"])
    resp = api.post(f"/api/orders/{code}/postage/{bought['label']['purchase_id']}/void")
    assert resp.status_code == 422 and "still valid" in resp.json["error"]
    assert api.get(f"/api/orders/{code}").json["stage"] == "labeled"


def test_a_return_label_does_not_move_the_order(shop):
    app, server, api = shop("easypost")
    code = packed_order(app)
    api.post(f"/api/orders/{code}/postage", json={})
    resp = api.post(f"/api/orders/{code}/postage", json={"is_return": True})
    assert resp.status_code == 201
    assert server.calls("POST", "/v2/shipments")[-1].json()["shipment"]["is_return"] is True
    with app.app_context():
        ret = db.session.scalar(select(Shipment).where(Shipment.tracking_number == resp.json["tracking_number"]))
        assert ret.is_return
        assert db.session.scalar(select(LabelPurchase).where(LabelPurchase.shipment_id == ret.id)).is_return


def test_a_label_file_that_cannot_be_fetched_is_fetched_by_the_outbox(shop, printer):
    app, server, api = shop("easypost")
    code = packed_order(app)
    server.lose_next_answer("GET", r"/files/.*")
    resp = api.post(f"/api/orders/{code}/postage", json={})
    assert resp.status_code == 201 and resp.json["order_stage"] == "labeled"
    assert resp.json["label"]["label_on_file"] is False
    with app.app_context():
        assert not db.session.scalars(select(PrintJob)).all()
        run_job("outbox")
        run_job("print-queue")
        assert db.session.scalars(select(Shipment)).one().label_format == "zpl"
    assert resp.json["tracking_number"].encode() in printer.wait_for(1)[0]


def test_scanning_a_packed_order_at_the_ship_out_station_buys_and_prints_its_label(shop, printer):
    app, server, api = shop("easypost")
    code = packed_order(app)
    resp = api.post("/api/scans", json={"station": "ship-1", "code": code, "scan_id": "tablet-1-0001"})
    assert resp.status_code == 200 and resp.json["ok"], resp.json
    assert resp.json["to"] == "labeled" and "printing on label" in resp.json["message"]
    # the station's package: the poly mailer (10 oz)
    assert server.calls("POST", "/v2/shipments")[0].json()["shipment"]["parcel"]["weight"] == 10
    replay = api.post("/api/scans", json={"station": "ship-1", "code": code, "scan_id": "tablet-1-0001"})
    assert replay.status_code == 200 and replay.json["replayed"] and len(server.bought) == 1
    with app.app_context():
        run_job("print-queue")
    number = api.get(f"/api/orders/{code}").json["shipments"][0]["tracking_number"]
    assert number.encode() in printer.wait_for(1)[0]


def test_a_ship_out_scan_that_bought_a_label_is_not_undone_by_the_undo_button(shop):
    from tests.conftest import login

    app, server, api = shop("easypost")
    code = packed_order(app)
    client = login(app.test_client(), "operator")
    headers = {"X-CSRFToken": client.csrf_token}
    resp = client.post("/scan/ship-1", json={"code": code, "scan_id": "tablet-1-0002"}, headers=headers)
    assert resp.status_code == 200 and resp.json["ok"] and resp.json["undoable"] is False
    undo = client.post("/scan/ship-1/undo", json={"scan_id": "tablet-1-0002"}, headers=headers)
    assert undo.status_code == 409 and "void the label" in undo.json["error"]
    order = api.get(f"/api/orders/{code}").json
    assert order["stage"] == "labeled" and len(order["shipments"]) == 1


def test_the_station_remembers_the_package_picked_there(shop):
    from tests.conftest import login

    app, server, api = shop("easypost")
    client = login(app.test_client(), "operator")
    headers = {"X-CSRFToken": client.csrf_token}
    assert client.post("/scan/ship-1/package", json={"package": "Crate"}, headers=headers).status_code == 400
    page = client.get("/scan/ship-1").get_data(as_text=True)
    assert 'data-package="Poly mailer"' in page and 'is-on" data-package="Poly mailer"' in page
    assert client.post("/scan/ship-1/package", json={"package": "Box M"}, headers=headers).status_code == 200
    page = client.get("/scan/ship-1").get_data(as_text=True)
    assert 'is-on" data-package="Box M"' in page and 'is-on" data-package="Poly mailer"' not in page
    # a station that buys no labels shows no picker
    assert 'id="package-pick"' not in client.get("/scan/pack-1").get_data(as_text=True)
    code = packed_order(app)
    assert api.post("/api/scans", json={"station": "ship-1", "code": code}).json["ok"]
    assert server.calls("POST", "/v2/shipments")[0].json()["shipment"]["parcel"]["weight"] == 40


def test_a_ship_out_scan_that_cannot_buy_says_why_in_red_and_buys_nothing(shop):
    app, server, api = shop("easypost")
    code = packed_order(app, ship_street1="1 Nowhere Rd")
    resp = api.post("/api/scans", json={"station": "ship-1", "code": code})
    assert resp.status_code == 422 and not resp.json["ok"] and "cannot deliver" in resp.json["error"]
    assert api.get(f"/api/orders/{code}").json["stage"] == "packaging" and not server.bought


def test_the_order_page_buys_prints_and_voids_with_a_double_click_buying_once(shop):
    from tests.conftest import login

    app, server, api = shop("easypost")
    code = packed_order(app)
    client = login(app.test_client(), "operator")
    page = client.get(f"/orders/{code}").get_data(as_text=True)
    assert "Buy and print label" in page and 'name="purchase_key"' in page
    import re
    key = re.search(r'name="purchase_key" value="([0-9a-f]+)"', page).group(1)
    form = {"csrf_token": client.csrf_token, "purchase_key": key, "package": "Box M", "printer": "label"}
    first = client.post(f"/orders/{code}/postage", data=form, follow_redirects=True).get_data(as_text=True)
    second = client.post(f"/orders/{code}/postage", data=form, follow_redirects=True).get_data(as_text=True)
    assert "flash-success" in first and "already bought" in second and len(server.bought) == 1
    assert api.get(f"/api/orders/{code}").json["stage"] == "labeled"
    # without the CSRF token nothing is bought
    assert client.post(f"/orders/{code}/postage", data={"package": "Box M", "another_parcel": "1"}).status_code == 400
    with app.app_context():
        pid = db.session.scalars(select(LabelPurchase).where(LabelPurchase.status == "bought")).one().id
    voided = client.post(f"/orders/{code}/postage/{pid}/void", data={"csrf_token": client.csrf_token},
                         follow_redirects=True).get_data(as_text=True)
    assert "voided" in voided and api.get(f"/api/orders/{code}").json["stage"] == "packaging"


def test_a_refusal_on_the_order_page_is_a_red_flash(shop):
    from tests.conftest import login

    app, server, api = shop("easypost")
    code = packed_order(app, ship_street1="1 Nowhere Rd")
    client = login(app.test_client(), "operator")
    page = client.post(f"/orders/{code}/postage", data={"csrf_token": client.csrf_token, "weight_oz": "abc"},
                       follow_redirects=True).get_data(as_text=True)
    assert "flash-error" in page and "weight_oz" in page
    page = client.post(f"/orders/{code}/postage", data={"csrf_token": client.csrf_token},
                       follow_redirects=True).get_data(as_text=True)
    assert "flash-error" in page and "cannot deliver" in page and not server.bought


def test_an_address_refused_for_a_missing_street_is_fixed_on_the_order_page_then_bought(shop):
    from tests.conftest import login
    from tracker.models import Event

    app, server, api = shop("easypost")
    code = packed_order(app, ship_street1=None)
    refused = api.post(f"/api/orders/{code}/postage", json={})
    assert refused.status_code == 422 and "street" in refused.json["error"] and not server.bought
    client = login(app.test_client(), "operator")
    page = client.get(f"/orders/{code}").get_data(as_text=True)
    assert 'action="/orders/' + code + '/ship-to"' in page and "<details class=\"edit-address\" open" in page
    form = {"csrf_token": client.csrf_token, "name": "Rosa Diaz", "street1": "12 Elm St", "city": "Denver",
            "region": "CO", "postal_code": "80202", "country": "us"}
    # a bad field: a red flash, nothing changed
    bad = client.post(f"/orders/{code}/ship-to", data={**form, "country": "U1"}, follow_redirects=True)
    assert "flash-error" in bad.get_data(as_text=True) and "two-letter country" in bad.get_data(as_text=True)
    assert api.post(f"/api/orders/{code}/postage", json={}).status_code == 422
    # without the CSRF token: refused
    assert client.post(f"/orders/{code}/ship-to", data={k: v for k, v in form.items() if k != "csrf_token"}
                       ).status_code == 400
    good = client.post(f"/orders/{code}/ship-to", data=form, follow_redirects=True).get_data(as_text=True)
    assert "Ship-to address changed (street)" in good and "12 Elm St" in good
    again = client.post(f"/orders/{code}/ship-to", data=form, follow_redirects=True).get_data(as_text=True)
    assert "already that" in again
    with app.app_context():
        notes = [e.note for e in db.session.scalars(select(Event).where(Event.note.like("Ship-to%")))]
    assert notes == ["Ship-to address changed: street"]  # which part, never the address itself
    bought = api.post(f"/api/orders/{code}/postage", json={})
    assert bought.status_code == 201 and len(server.bought) == 1
    assert server.calls("POST", "/v2/shipments")[-1].json()["shipment"]["to_address"]["street1"] == "12 Elm St"


def test_a_bought_label_reaches_the_customer_page_and_shopify_when_the_carrier_scans_it(shop):
    """The issue's whole path: one purchase, no number typed; the carrier's first scan (EasyPost's signed
    webhook for the tracker the purchase registered) puts the number on the public page and on Shopify."""
    import hashlib
    import hmac
    import json

    from tests.marketplaces.fake_shopify import FakeShopify
    from tests.marketplaces.test_shopify import ORDER_ID, shopify_config

    shopify = FakeShopify().start()
    shopify.add_order(ORDER_ID, "#1042")
    try:
        app, server, api = shop("easypost", config={"marketplaces": {"shopify": shopify_config(base_url=shopify.url)}},
                                app_config={"WEBHOOK_PROCESSING": "inline"})
        code = packed_order(app, channel="shopify", external_ref=ORDER_ID)
        with app.app_context():
            token = db.session.scalar(select(Order.public_token).where(Order.code == code))
        bought = api.post(f"/api/orders/{code}/postage", json={})
        assert bought.status_code == 201, bought.json
        number = bought.json["tracking_number"]
        assert number not in app.test_client().get(f"/t/{token}").get_data(as_text=True)  # not before the carrier has it
        with app.app_context():
            assert not db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind.like("shopify%"))).all()
        event = {"object": "Event", "id": "evt_label_1", "description": "tracker.updated", "result": {
            "object": "Tracker", "id": "trk_x", "tracking_code": number, "carrier": "USPS", "status": "in_transit",
            "tracking_details": [{"object": "TrackingDetail", "message": "Accepted", "status": "in_transit",
                                  "status_detail": "arrived_at_facility", "datetime": "2026-12-06T15:00:00Z",
                                  "tracking_location": {"city": "BOISE", "state": "ID"}}]}}
        body = json.dumps(event).encode()
        secret = app.extensions["tracker_settings"].providers["easypost"].webhook_secret
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        resp = app.test_client().post("/webhooks/easypost", data=body, headers={
            "X-Hmac-Signature": f"hmac-sha256-hex={digest}", "Content-Type": "application/json"})
        assert resp.status_code == 202, resp.get_data(as_text=True)  # stored, then applied
        assert api.get(f"/api/orders/{code}").json["stage"] == "in_transit"
        assert number in app.test_client().get(f"/t/{token}").get_data(as_text=True)
        with app.app_context():
            (msg,) = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "shopify_fulfillment"))
            assert json.loads(msg.payload)["number"] == number
            run_job("outbox")
        (sent,) = shopify.fulfillments.values()
        assert number in json.dumps(sent["trackingInfo"])
    finally:
        shopify.stop()

