"""The print queue against a real TCP printer on loopback: down, queued, up, each label printed once and
in order; nothing lost across a restart."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import func, select

from tests.conftest import build_app
from tests.factories import MANAGER
from tests.printing.fake_printer import FakePrinter
from tracker.extensions import db
from tracker.jobs import run_job
from tracker.models import PrinterState, PrintJob
from tracker.services import printing

T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.timezone.utc)


def _app(tmp_path, printers):
    return build_app(tmp_path, config={"printers": printers})


def _queue_tests(n):
    return [printing.queue_test_print("front", actor=MANAGER).id for _ in range(n)]


def test_offline_printer_keeps_jobs_then_prints_each_once_in_order(tmp_path):
    printer = FakePrinter().start()
    port = printer.port
    printer.stop()  # the printer is off: its port refuses connections
    app = _app(tmp_path, {"front": {"driver": "zpl", "host": "127.0.0.1", "port": port, "timeout": 2}})
    with app.app_context(), time_machine.travel(T0, tick=False) as clock:
        ids = _queue_tests(3)
        db.session.commit()
        summary = run_job("print-queue")
        assert summary == {"printed": 0, "failed": 1, "waiting": 3}
        state = db.session.get(PrinterState, "front")
        assert state.online is False and "refused" in state.last_error
        assert state.next_attempt_at == T0 + dt.timedelta(seconds=printing.BACKOFF_FIRST_SECONDS)
        statuses = db.session.scalars(select(PrintJob.status).order_by(PrintJob.id)).all()
        assert statuses == ["queued"] * 3

        # Inside the backoff window nothing is tried, even with the printer back.
        printer = FakePrinter(port).start()
        assert run_job("print-queue")["printed"] == 0
        clock.shift(dt.timedelta(seconds=printing.BACKOFF_FIRST_SECONDS + 1))
        assert run_job("print-queue") == {"printed": 3, "failed": 0, "waiting": 0}
        got = printer.wait_for(3)
        payloads = [db.session.get(PrintJob, i).payload for i in ids]
        assert got == payloads  # each once, in the order queued
        assert run_job("print-queue")["printed"] == 0
        assert printer.wait_for(3) == payloads
        state = db.session.get(PrinterState, "front")
        assert state.online is True and state.failures == 0 and state.last_error is None
        printer.stop()


def test_backoff_grows_and_is_capped():
    assert [printing.backoff_seconds(n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert printing.backoff_seconds(50) == printing.BACKOFF_MAX_SECONDS


def test_queued_labels_survive_a_restart(tmp_path):
    printer = FakePrinter().start()
    port = printer.port
    printer.stop()
    config = {"front": {"driver": "zpl", "host": "127.0.0.1", "port": port, "timeout": 2}}
    app = _app(tmp_path, config)
    with app.app_context():
        _queue_tests(2)
        db.session.commit()
        run_job("print-queue")
        db.session.remove()
        db.engine.dispose()
    # A new process: same database (the SQLite file, or the PostgreSQL tables) without re-creating it.
    from tracker import create_app
    from tests.conftest import TEST_CONFIG

    again = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path / "instance", "TRACKER_CONFIG_PATH": TEST_CONFIG,
                        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "TRACKER_CONFIG": {"printers": config}})
    with again.app_context():
        assert db.session.scalar(select(func.count()).select_from(PrintJob).where(PrintJob.status == "queued")) == 2
        printing.retry_now("front")
        db.session.commit()
        with FakePrinter(port) as back:
            assert run_job("print-queue")["printed"] == 2
            assert len(back.wait_for(2)) == 2
        db.session.remove()
        db.engine.dispose()


def test_file_printer_writes_labels_to_instance_folder(tmp_path):
    app = _app(tmp_path, {"front": {"driver": "file"}})
    with app.app_context():
        _queue_tests(1)
        db.session.commit()
        assert run_job("print-queue")["printed"] == 1
        files = list((tmp_path / "instance" / "labels").glob("*.zpl"))
        assert len(files) == 1 and files[0].read_bytes().startswith(b"^XA")


def test_escpos_network_printer_gets_escpos_bytes(tmp_path):
    with FakePrinter() as printer:
        app = _app(tmp_path, {"front": {"driver": "escpos-network", "host": "127.0.0.1", "port": printer.port,
                                        "width_mm": 58}})
        with app.app_context():
            _queue_tests(1)
            db.session.commit()
            assert run_job("print-queue")["printed"] == 1
            (got,) = printer.wait_for(1)
    assert b"TEST PRINT" in got and b"\x1dk" in got  # GS k: a hardware barcode command
    assert got.endswith(b"\x1dVA\x00") or b"\x1dV" in got  # cut


def test_unknown_printer_is_refused(tmp_path):
    app = _app(tmp_path, {"front": {"driver": "file"}})
    with app.app_context():
        with pytest.raises(Exception, match="no printer 'back'"):
            printing.queue_test_print("back", actor=MANAGER)


def test_job_labels_print_at_intake_when_the_shop_turns_it_on(tmp_path):
    from tests.conftest import Api, api_token

    app = build_app(tmp_path, config={"printers": {"front": {"driver": "file"}},
                                      "intake": {"print_job_labels": True, "label_printer": "front"}})
    api = Api(app.test_client(), api_token(app))
    resp = api.post("/api/orders", json={"customer": {"name": "Rosa Diaz"},
                                         "items": [{"description": "Tee", "method": "dtg", "quantity": 3},
                                                   {"description": "Cap", "method": "embroidery", "quantity": 3}]})
    assert resp.status_code == 201
    with app.app_context():
        jobs = db.session.scalars(select(PrintJob).order_by(PrintJob.id)).all()
        assert [(j.kind, j.job.code, j.status) for j in jobs] == [("job", "A1001A", "queued"), ("job", "A1001B", "queued")]
        assert b"A1001A" in jobs[0].payload
    # The same order again (idempotent intake) queues nothing more.
    again = api.post("/api/orders", json={"customer": {"name": "Rosa Diaz"}, "channel": "shopify", "external_ref": "1",
                                          "items": [{"description": "Tee", "method": "dtg", "quantity": 3}]})
    api.post("/api/orders", json={"customer": {"name": "Rosa Diaz"}, "channel": "shopify", "external_ref": "1",
                                  "items": [{"description": "Tee", "method": "dtg", "quantity": 3}]})
    with app.app_context():
        assert again.status_code == 201
        assert db.session.scalar(select(func.count()).select_from(PrintJob)) == 3


def test_order_page_prints_and_previews(tmp_path):
    from tests.conftest import login
    from tests.factories import make_order

    app = build_app(tmp_path, config={"printers": {"front": {"driver": "file"},
                                                   "desk": {"driver": "file", "format": "escpos", "width_mm": 58}}})
    with app.app_context():
        make_order([("Tee", "dtg", 3)])
    client = login(app.test_client(), "operator")
    page = client.get("/orders/A1001").get_data(as_text=True)
    assert "/labels/job/A1001A.png" in page and "Print packing slip" in page
    resp = client.post("/orders/A1001/labels", data={"kind": "packing", "printer": "desk",
                                                     "csrf_token": client.csrf_token})
    assert resp.status_code == 302
    with app.app_context():
        (job,) = db.session.scalars(select(PrintJob)).all()
        assert (job.kind, job.printer, job.format) == ("packing", "desk", "escpos")
    png = client.get("/labels/job/A1001A.png")
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png" and png.data[:4] == b"\x89PNG"
    receipt = client.get("/labels/order/A1001/packing.png?printer=desk")
    assert receipt.status_code == 200
    from PIL import Image
    import io

    assert Image.open(io.BytesIO(receipt.data)).width == 384
    assert Image.open(io.BytesIO(png.data)).size == (812, 1218)
    assert client.get("/labels/job/NOPE1A.png").status_code == 404
    html = client.get("/labels/order/A1001/print?kind=job").get_data(as_text=True)
    assert "A1001A.png" in html and "size-4x6" in html
    # Printers page shows the queue and offers a test print.
    printers = client.get("/printers").get_data(as_text=True)
    assert "desk" in printers and "Test print" in printers and "1</strong> label waiting" in printers


def test_packing_at_a_station_with_a_printer_prints_the_packing_slip_there(tmp_path):
    from tests.conftest import Api, api_token
    from tests.factories import make_order
    from tracker.services.orders import move_order

    app = build_app(tmp_path, config={"printers": {"bench": {"driver": "file"}},
                                      "stations": [{"key": "pack-1", "moves_to": "packaging", "printer": "bench"},
                                                   {"key": "qc-1", "moves_to": "qc"}]})
    with app.app_context():
        order = make_order([("Tee", "dtg", 3)])
        move_order(order, "qc", actor=MANAGER, source="board", note="test set-up")
        db.session.commit()
    api = Api(app.test_client(), api_token(app))
    resp = api.post("/api/scans", json={"station": "pack-1", "code": "A1001"})
    assert resp.status_code == 200 and "packing slip to bench" in resp.json["message"]
    with app.app_context():
        (job,) = db.session.scalars(select(PrintJob)).all()
        assert (job.kind, job.printer, job.order.code) == ("packing", "bench", "A1001")


def test_carrier_label_files_pass_through_unchanged(tmp_path):
    from tests.conftest import login
    from tests.factories import make_order
    from tracker.services.shipments import add_shipment

    zpl = b"^XA^FO50,50^A0N,40,40^FDUPS GROUND 1Z999AA10123456784^FS^BCN,100^FD1Z999AA10123456784^FS^XZ"
    with FakePrinter() as zebra:
        app = build_app(tmp_path, config={"printers": {"zebra": {"driver": "zpl", "host": "127.0.0.1",
                                                                 "port": zebra.port},
                                                       "office": {"driver": "cups", "queue": "Rollo"}}})
        with app.app_context():
            order = make_order([("Tee", "dtg", 3)])
            add_shipment(order, tracking_number="1Z999AA10123456784", actor=MANAGER, source="web")
            db.session.commit()
        client = login(app.test_client(), "operator")
        import io

        bad = client.post("/orders/A1001/shipments/1Z999AA10123456784/label",
                          data={"csrf_token": client.csrf_token, "label": (io.BytesIO(b"hello"), "label.txt")},
                          content_type="multipart/form-data", follow_redirects=True)
        assert "must be a ZPL file" in bad.get_data(as_text=True)
        ok = client.post("/orders/A1001/shipments/1Z999AA10123456784/label",
                         data={"csrf_token": client.csrf_token, "label": (io.BytesIO(zpl), "label.zpl")},
                         content_type="multipart/form-data", follow_redirects=True)
        assert "ZPL label attached" in ok.get_data(as_text=True)
        # A ZPL label cannot go to the CUPS (PDF) printer; it can go to the Zebra.
        refused = client.post("/orders/A1001/shipments/1Z999AA10123456784/print",
                              data={"csrf_token": client.csrf_token, "printer": "office"}, follow_redirects=True)
        assert "send ZPL labels to a ZPL printer" in refused.get_data(as_text=True)
        client.post("/orders/A1001/shipments/1Z999AA10123456784/print",
                    data={"csrf_token": client.csrf_token, "printer": "zebra"})
        with app.app_context():
            assert run_job("print-queue")["printed"] == 1
        (got,) = zebra.wait_for(1)
    assert got == zpl  # byte for byte


def test_pdf_label_to_a_zpl_printer_is_refused_with_the_way_out(tmp_path):
    from tests.factories import make_order
    from tracker.domain.refusals import Conflict
    from tracker.services.shipments import add_shipment, attach_label

    app = build_app(tmp_path, config={"printers": {"zebra": {"driver": "zpl", "host": "127.0.0.1", "port": 9}}})
    with app.app_context():
        order = make_order([("Tee", "dtg", 3)])
        s = add_shipment(order, tracking_number="1Z999AA10123456784", actor=MANAGER, source="web")
        assert attach_label(s, b"%PDF-1.7\n...", actor=MANAGER, source="web") == "pdf"
        with pytest.raises(Conflict, match="PDF labels print through CUPS"):
            printing.queue_carrier_label(s, printer="zebra", actor=MANAGER)
