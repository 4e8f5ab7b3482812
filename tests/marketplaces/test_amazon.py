"""Amazon by file: the Unshipped Orders report in (service, CLI, page), the Shipping Confirmation file out
after the carrier's first scan. The report is written here by hand, tab-separated as Seller Central does."""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
import time_machine
from sqlalchemy import select

from tests.conftest import build_app, closing, login
from tests.factories import MANAGER
from tracker.extensions import db
from tracker.integrations.carriers import CarrierEvent, TrackingUpdate
from tracker.integrations.marketplaces.amazon import Confirmation, confirmation_file, load_config
from tracker.models import ImportRun, Order, Shipment
from tracker.services import amazon
from tracker.services.orders import Actor
from tracker.services.shipments import add_shipment
from tracker.services.tracking import ingest_update

T0 = dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.timezone.utc)  # 09:00 in the shop's Denver
RULES = [{"sku": "TEE-DTG-*", "method": "dtg"}, {"title": "embroidered", "method": "embroidery"}]
COLUMNS = ["order-id", "order-item-id", "purchase-date", "payments-date", "reporting-date", "promise-date",
           "days-past-promise", "buyer-email", "buyer-name", "buyer-phone-number", "sku", "product-name",
           "quantity-purchased", "quantity-shipped", "quantity-to-ship", "ship-service-level", "recipient-name",
           "ship-address-1", "ship-address-2", "ship-address-3", "ship-city", "ship-state", "ship-postal-code",
           "ship-country", "is-business-order", "purchase-order-number", "price-designation"]


def row(order_id, item_id, sku, name, qty, *, to_ship=None, level="Standard", recipient="Rosa Diaz",
        promise="2026-03-05T07:59:59+00:00", business="false", po="", city="Boise", state="ID", country="US"):
    values = [order_id, item_id, "2026-03-01T18:04:11+00:00", "2026-03-01T18:04:11+00:00", "2026-03-01T19:00:00+00:00",
              promise, "0", "abc123@marketplace.amazon.com", "Rosa D.", "+1 208-555-0100", sku, name, str(qty), "0",
              str(qty if to_ship is None else to_ship), level, recipient, "12 Elm St", "", "", city, state, "83702",
              country, business, po, ""]
    return "\t".join(values)


HEADER = "\t".join(COLUMNS)
GOOD = "\r\n".join([
    HEADER,
    row("112-0000001-0000001", "11111111111111", "TEE-DTG-BLK-L", 'Team Tee 6" logo - Black, L', 3),
    row("114-0000002-0000002", "33333333333333", "CAP-1", "Embroidered cap", 2, level="NextDay", recipient="Ann Lee",
        business="true", po="PO-77"),
    row("112-0000001-0000001", "22222222222222", "MUG-1", "Mug", 1),
]) + "\r\n"


@pytest.fixture
def app(tmp_path):
    app = build_app(tmp_path, config={"method_rules": RULES,
                                      "marketplaces": {"amazon": {"carrier_names": {"other": "OnTrac"}}}})
    yield from closing(app)


def import_text(text, *, dry_run=False, name="unshipped.txt"):
    actor = Actor("maria", "manager")
    run = amazon.store_report(text.encode("utf-8") if isinstance(text, str) else text, name, actor=actor,
                              dry_run=dry_run)
    db.session.commit()
    result = amazon.run_import(run, actor=actor)
    db.session.commit()
    return result


def amazon_orders():
    return {o.external_ref: o for o in db.session.scalars(select(Order).where(Order.channel == "amazon"))}


def scan(number, minutes=0, carrier="fedex"):
    ev = CarrierEvent(provider="fedex", carrier=carrier, tracking_number=number, code="PU", sub_code=None,
                      description="Picked up", occurred_at=T0 + dt.timedelta(minutes=minutes), location="BOISE, ID",
                      provider_event_id=None)
    ingest_update(TrackingUpdate(provider="fedex", delivery_id=None, carrier=carrier, tracking_number=number,
                                 events=(ev,), est_delivery=None, public_url=None), via="poll")
    db.session.commit()


def ship(order, number, carrier="fedex", service=None):
    add_shipment(order, tracking_number=number, carrier=carrier, service=service, actor=MANAGER, source="web")
    db.session.commit()


# -- import ------------------------------------------------------------------------------------------

def test_a_report_becomes_one_order_per_order_id(app):
    with time_machine.travel(T0), app.app_context():
        result = import_text(GOOD)
        assert (result["rows"], result["orders"], len(result["created"]), result["errors"]) == (3, 2, 2, [])
        orders = amazon_orders()
        first, second = orders["112-0000001-0000001"], orders["114-0000002-0000002"]
        assert (first.customer_name, first.customer_email, first.customer_phone) == \
            ("Rosa Diaz", "abc123@marketplace.amazon.com", "+1 208-555-0100")
        assert (first.ship_city, first.ship_region, first.ship_country) == ("Boise", "ID", "US")
        assert first.due_date == dt.date(2026, 3, 5)  # promise-date, in the shop's time zone
        assert first.external_name == "112-0000001-0000001" and not first.rush
        assert [(j.description, j.method, j.quantity, j.external_ref) for j in first.jobs] == [
            ('Team Tee 6" logo - Black, L', "dtg", 3, "11111111111111"), ("Mug", "other", 1, "22222222222222")]
        assert [(j.description, j.method, j.quantity) for j in second.jobs] == [("Embroidered cap", "embroidery", 2)]
        assert second.rush and second.notes == "Amazon ship service: NextDay\nBusiness order, PO PO-77"
        run = db.session.scalar(select(ImportRun))
        assert (run.kind, run.filename, run.content, run.dry_run) == ("amazon", "unshipped.txt", GOOD.encode(), False)
        assert json.loads(run.result)["created"][0]["lines"] == [2, 4]


def test_importing_the_same_report_again_creates_nothing(app):
    with app.app_context():
        import_text(GOOD)
        again = import_text(GOOD)
        assert again["created"] == [] and [o["order_id"] for o in again["existing"]] == \
            ["112-0000001-0000001", "114-0000002-0000002"]
        assert len(amazon_orders()) == 2
        assert amazon.exit_code(again) == 0


def test_a_dry_run_creates_nothing(app):
    with app.app_context():
        result = import_text(GOOD, dry_run=True)
        assert [o["order_id"] for o in result["would_create"]] == ["112-0000001-0000001", "114-0000002-0000002"]
        assert amazon_orders() == {}


def test_bad_rows_are_named_by_line_and_their_order_is_left_out_whole(app):
    text = "\n".join([
        HEADER,
        row("112-0000001-0000001", "11111111111111", "TEE-DTG-BLK-L", "Team Tee", 3),
        row("113-0000003-0000003", "44444444444444", "MUG-1", "Mug", "two"),       # line 3: bad quantity
        row("", "55555555555555", "MUG-1", "Mug", 1),                              # line 4: no order-id
        "",                                                                        # line 5: blank, skipped
        row("113-0000003-0000003", "66666666666666", "MUG-2", "Mug", 1),           # line 6: good, same order as 3
        row("115-0000005-0000005", "77777777777777", "", "", 1),                   # line 7: nothing to call it
        row("112-0000001-0000001", "11111111111111", "TEE-DTG-BLK-L", "Team Tee", 3),  # line 8: item twice
        row("116-0000006-0000006", "88888888888888", "MUG-1", "Mug", 2, to_ship=0),    # line 9: shipped already
        row("117-0000007-0000007", "99999999999999", "MUG-1", "Mug", 1, promise="soon"),  # line 10: bad date
    ])
    with app.app_context():
        result = import_text(text)
        assert result["errors"] == [
            {"line": 3, "message": "order 113-0000003-0000003: quantity-to-ship 'two' is not a whole number"},
            {"line": 4, "message": "order-id is empty"},
            {"line": 7, "message": "order 115-0000005-0000005: product-name and sku are both empty"},
            {"line": 8, "message": "order 112-0000001-0000001: order-item-id 11111111111111 is already on line 2"},
            {"line": 10, "message": "order 117-0000007-0000007: promise-date 'soon' is not a date"},
        ]
        assert result["skipped"] == [{"line": 9, "message": "order 116-0000006-0000006 item 88888888888888: "
                                                            "nothing left to ship"}]
        assert [r["order_id"] for r in result["refused"]] == ["112-0000001-0000001", "113-0000003-0000003",
                                                             "115-0000005-0000005", "117-0000007-0000007"]
        assert result["created"] == [] and amazon_orders() == {}
        assert amazon.exit_code(result) == 1


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    (b"name,email\nRosa,rosa@example.com\n", "no order-id column (found: name, email)"),
    (b"order-id\tsku\n112-1\tX\n", "no order-item-id, no quantity-to-ship or quantity-purchased column"),
])
def test_a_file_that_is_not_a_report_is_refused_with_a_reason(app, content, message):
    with app.app_context():
        if not content:
            with pytest.raises(amazon.ReportRefused, match=message):
                import_text(content)
            return
        result = import_text(content)
        assert message in result["unreadable"] and amazon.exit_code(result) == 2


def test_a_windows_1252_report_with_lone_quotes_reads(app):
    text = "\n".join([HEADER, row("112-0000001-0000001", "11111111111111", "X", 'Caf\xe9 tee 5" "wide', 1)])
    with app.app_context():
        assert import_text(text.encode("cp1252"))["errors"] == []
        [job] = amazon_orders()["112-0000001-0000001"].jobs
        assert job.description == 'Caf\xe9 tee 5" "wide'


# -- export ------------------------------------------------------------------------------------------

HEADER_OUT = b"order-id\torder-item-id\tquantity\tship-date\tcarrier-code\tcarrier-name\ttracking-number\tship-method\n"
FIRST_OUT = (b"112-0000001-0000001\t11111111111111\t3\t2026-03-02\tFedEx\t\t123456789012\t\n"
             b"112-0000001-0000001\t22222222222222\t1\t2026-03-02\tFedEx\t\t123456789012\t\n")
SECOND_OUT = b"114-0000002-0000002\t33333333333333\t2\t2026-03-02\tOther\tOnTrac\tD10011223344\tGround\n"


def test_the_confirmation_file_has_scanned_parcels_once(app):
    with time_machine.travel(T0), app.app_context():
        import_text(GOOD)
        orders = amazon_orders()
        ship(orders["112-0000001-0000001"], "123456789012")
        ship(orders["114-0000002-0000002"], "D10011223344", carrier="other", service="Ground")
        assert amazon.export_confirmations()[0] == HEADER_OUT  # labels only: nothing scanned yet
        scan("123456789012")
        data, count, stamp = amazon.export_confirmations()
        db.session.commit()
        assert (data, count) == (HEADER_OUT + FIRST_OUT, 1)
        shipment = db.session.scalar(select(Shipment).where(Shipment.tracking_number == "123456789012"))
        assert (shipment.marketplace_ref, shipment.marketplace_number) == (f"amazon-export:{stamp}", "123456789012")
        assert amazon.export_confirmations()[0] == HEADER_OUT  # the second export: nothing new
        scan("D10011223344", 5, carrier="other")
        assert amazon.pending_count() == 1
        assert amazon.export_confirmations()[0] == HEADER_OUT + SECOND_OUT
        db.session.commit()
        assert amazon.export_confirmations(include_all=True)[0] == HEADER_OUT + FIRST_OUT + SECOND_OUT
        # A second parcel of a confirmed order is not a new confirmation.
        ship(orders["112-0000001-0000001"], "123456789999")
        scan("123456789999", 10)
        assert amazon.export_confirmations() == (HEADER_OUT, 0, stamp)


def test_confirmation_cells_never_break_the_file():
    data = confirmation_file([Confirmation("1-2-3", "9", 1, dt.date(2026, 3, 2), "dhl", "JD01",
                                           "Express\tWorldwide\n")])
    assert data.splitlines()[1] == b"1-2-3\t9\t1\t2026-03-02\tDHL\t\tJD01\tExpress Worldwide"


# -- command line ------------------------------------------------------------------------------------

def test_cli_import_exit_codes(app, tmp_path):
    runner = app.test_cli_runner()
    good, bad, junk = tmp_path / "good.txt", tmp_path / "bad.txt", tmp_path / "junk.txt"
    good.write_text(GOOD)
    bad.write_text("\n".join([HEADER, row("113-0000003-0000003", "44444444444444", "MUG-1", "Mug", "x"),
                              row("113-0000003-0000003", "66666666666666", "MUG-1", "Mug", 1)]))
    junk.write_bytes(b"\x00\x01\x02")

    dry = runner.invoke(args=["tracker", "import-amazon", str(good), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Dry run (nothing saved): 3 rows, 2 orders: 2 would be created" in dry.output
    done = runner.invoke(args=["tracker", "import-amazon", str(good)])
    assert done.exit_code == 0 and "2 created, 0 already imported, 0 refused" in done.output
    again = runner.invoke(args=["tracker", "import-amazon", str(good)])
    assert again.exit_code == 0 and "0 created, 2 already imported" in again.output
    refused = runner.invoke(args=["tracker", "import-amazon", str(bad)])
    assert refused.exit_code == 1
    assert "line 2: order 113-0000003-0000003: quantity-to-ship 'x' is not a whole number" in refused.output
    assert "order 113-0000003-0000003: not imported, so line 3 of it was not imported either" in refused.output
    assert runner.invoke(args=["tracker", "import-amazon", str(junk)]).exit_code == 2
    assert runner.invoke(args=["tracker", "import-amazon", str(tmp_path / "missing.txt")]).exit_code == 2
    with app.app_context():
        assert len(amazon_orders()) == 2


def test_cli_export_writes_new_confirmations_and_all_again(app, tmp_path):
    runner = app.test_cli_runner()
    with time_machine.travel(T0):
        with app.app_context():
            import_text(GOOD)
            ship(amazon_orders()["112-0000001-0000001"], "123456789012")
            scan("123456789012")
        out = tmp_path / "confirm.txt"
        first = runner.invoke(args=["tracker", "export-amazon-confirmations", str(out)])
        assert first.exit_code == 0 and "1 order written" in first.output
        assert out.read_bytes() == HEADER_OUT + FIRST_OUT
        second = runner.invoke(args=["tracker", "export-amazon-confirmations", str(out)])
        assert second.exit_code == 0 and "Nothing new" in second.output and out.read_bytes() == HEADER_OUT
        every = runner.invoke(args=["tracker", "export-amazon-confirmations", str(out), "--all"])
        assert every.exit_code == 0 and out.read_bytes() == HEADER_OUT + FIRST_OUT


# -- pages -------------------------------------------------------------------------------------------

def upload(client, content: bytes, action: str, name="unshipped.txt", token=None):
    return client.post("/marketplaces/amazon/import", content_type="multipart/form-data",
                       data={"csrf_token": token or client.csrf_token, "action": action,
                             "report": (io.BytesIO(content), name)})


def test_the_page_checks_then_imports_an_upload(app):
    client = login(app.test_client(), "manager")
    page = client.get("/marketplaces")
    assert page.status_code == 200 and "Unshipped Orders" in page.get_data(as_text=True)
    assert 'href="/marketplaces"' in page.get_data(as_text=True)  # the nav link, for managers

    checked = upload(client, GOOD.encode(), "check")
    html = checked.get_data(as_text=True)
    assert checked.status_code == 200 and "checked (dry run, nothing saved)" in html and "2 would be created" in html
    with app.app_context():
        assert amazon_orders() == {}
        run_id = db.session.scalar(select(ImportRun.id))
    imported = client.post(f"/marketplaces/amazon/import/{run_id}", data={"csrf_token": client.csrf_token})
    assert imported.status_code == 200 and "2 created" in imported.get_data(as_text=True)
    with app.app_context():
        assert len(amazon_orders()) == 2
    assert "already imported" in upload(client, GOOD.encode(), "import").get_data(as_text=True)


def test_the_page_lists_bad_rows_by_line(app):
    client = login(app.test_client(), "manager")
    text = "\n".join([HEADER, row("112-0000001-0000001", "11111111111111", "X", "Tee", 1),
                      row("113-0000003-0000003", "44444444444444", "MUG-1", "Mug", "-1")])
    html = upload(client, text.encode(), "import").get_data(as_text=True)
    assert "<td>3</td>" in html and "quantity-to-ship &#39;-1&#39; is not a whole number" in html
    assert "1 created" in html


def test_the_page_refuses_a_file_that_is_not_a_report(app):
    client = login(app.test_client(), "manager")
    resp = upload(client, b"name,email\nRosa,rosa@example.com\n", "import", name="customers.csv")
    assert resp.status_code == 400 and "no order-id column" in resp.get_data(as_text=True)
    assert upload(client, b"", "import").status_code == 400
    no_file = client.post("/marketplaces/amazon/import", data={"csrf_token": client.csrf_token, "action": "import"})
    assert no_file.status_code == 400 and "Choose the Unshipped Orders report" in no_file.get_data(as_text=True)


def test_the_page_downloads_confirmations_and_an_earlier_file_again(app):
    with time_machine.travel(T0):  # logged in at that time too (a form signed "in the future" is refused)
        client = login(app.test_client(), "manager")
        with app.app_context():
            import_text(GOOD)
            ship(amazon_orders()["112-0000001-0000001"], "123456789012")
            scan("123456789012")
        resp = client.post("/marketplaces/amazon/confirmations.txt", data={"csrf_token": client.csrf_token})
        assert resp.status_code == 200 and resp.data == HEADER_OUT + FIRST_OUT
        assert resp.headers["Content-Disposition"] == \
            'attachment; filename="amazon-confirmations-2026-03-02T160000Z.txt"'
        empty = client.post("/marketplaces/amazon/confirmations.txt", data={"csrf_token": client.csrf_token})
        assert empty.data == HEADER_OUT
        again = client.get("/marketplaces/amazon/confirmations.txt?export=2026-03-02T16:00:00Z")
        assert again.status_code == 200 and again.data == HEADER_OUT + FIRST_OUT
        assert client.get("/marketplaces/amazon/confirmations.txt").data == HEADER_OUT + FIRST_OUT
        assert client.get("/marketplaces/amazon/confirmations.txt?export=nonsense").status_code == 404
        every = client.post("/marketplaces/amazon/confirmations.txt",
                            data={"csrf_token": client.csrf_token, "all": "1"})
        assert every.data == HEADER_OUT + FIRST_OUT
        assert "2026-03-02T16:00:00Z" in client.get("/marketplaces").get_data(as_text=True)


def test_operators_and_forged_forms_are_refused(app):
    operator = login(app.test_client(), "operator")
    assert operator.get("/marketplaces").status_code == 403
    assert upload(operator, GOOD.encode(), "import").status_code == 403
    token = {"csrf_token": operator.csrf_token}
    assert operator.post("/marketplaces/amazon/confirmations.txt", data=token).status_code == 403
    assert operator.post("/marketplaces/etsy/fetch", data=token).status_code == 403
    assert 'href="/marketplaces"' not in operator.get("/").get_data(as_text=True)
    manager = login(app.test_client(), "manager", username="maria")
    forged = upload(manager, GOOD.encode(), "import", token="not-the-token")
    assert forged.status_code == 400
    with app.app_context():
        assert amazon_orders() == {}
    assert app.test_client().get("/marketplaces").status_code == 302  # not logged in: to the login page


def test_the_amazon_table_is_read_into_its_config():
    assert load_config(None).carrier_names == {}  # no [marketplaces.amazon]: Amazon's own codes, else "Other"
    assert load_config({"carrier_names": {"other": "OnTrac"}}).carrier_names == {"other": "OnTrac"}
