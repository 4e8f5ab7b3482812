"""A shop with one of everything a URL can name (an order, its jobs, a shipment, an alert, an import run,
a printer, a station, a report), and the URL of any rule of the URL map filled in with real values."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import build_app, closing
from tracker.extensions import db

PRINTERS = {"front": {"driver": "file"}}


@pytest.fixture
def sec_app(tmp_path):
    """The test app with a printer (so /printers/<name> names a real one)."""
    app = build_app(tmp_path, config={"printers": PRINTERS})
    yield from closing(app)


def make_world(app) -> dict:
    """Real objects for every kind of URL parameter; returns the values, by parameter and meaning."""
    from tests.factories import MANAGER, make_order
    from tracker.reports import load_all
    from tracker.services.alerts import raise_alert
    from tracker.services.csv_import import store_upload
    from tracker.services.shipments import add_shipment

    with app.app_context():
        order = make_order([("Team tee", "dtg", 12), ("Cap", "embroidery", 6)])
        shipment = add_shipment(order, tracking_number="1Z999AA10123456784", actor=MANAGER, source="web")
        alert = raise_alert("stalled", f"stalled:{order.code}", message="A1001 has not moved", order_id=order.id,
                            since=dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc))
        run = store_upload("orders.csv", b"customer,item,method,quantity\nRosa,Tee,dtg,2\n", by="maria")
        from tracker.services.proofs import post_proof

        proof = post_proof(order.jobs[0], filename="front.png", content=b"\x89PNG\r\n\x1a\n" + b"\0" * 32,
                           note=None, actor=MANAGER, source="web")
        db.session.commit()
        station = next(iter(app.extensions["tracker_settings"].stations))
        return {"order": order.code, "job": order.jobs[0].code, "number": shipment.tracking_number,
                "alert_id": alert.id, "run_id": run.id, "printer": next(iter(PRINTERS)), "station": station,
                "report": next(iter(load_all())), "token": order.public_token, "provider": "easypost",
                "filename": "css/app.css", "purchase_id": 1, "job_id": order.jobs[0].code,
                "proof_id": proof.id}


def fill(rule, world: dict) -> str:
    """The rule's URL with a real object for each parameter. A parameter this does not know fails the
    test: a new kind of URL needs a real value here before the access tests can cover it."""
    values = {}
    for arg in rule.arguments:
        if arg == "code":
            values[arg] = world["job"] if rule.rule.startswith(("/jobs/", "/labels/job/")) else world["order"]
        elif arg == "order_id":
            values[arg] = world["order"]
        elif arg == "name":
            values[arg] = world["report"] if rule.rule.startswith("/reports/") else world["printer"]
        elif arg in world:
            values[arg] = world[arg]
        else:
            raise AssertionError(f"{rule.rule} ({rule.endpoint}): no test value for <{arg}>; add one to "
                                 "tests/security/conftest.py")
    return rule.build(values, append_unknown=False)[1]
