"""Pages read what they show in a fixed number of statements, however many rows they show (no read per
alert, per parcel or per parcel's events from the template)."""
from __future__ import annotations

import datetime as dt

from tests.conftest import Api, Statements, api_token, build_app, closing, login
from tests.factories import make_order
from tracker.extensions import db
from tracker.models import Alert, Shipment, TrackingEvent, utcnow


def _parcels(order, n: int, events_each: int = 3) -> None:
    now = utcnow()
    for i in range(n):
        s = Shipment(order_id=order.id, carrier="ups", tracking_number=f"1Z999AA1{order.id:04d}{i:06d}",
                     status="in_transit")
        db.session.add(s)
        db.session.flush()
        for k in range(events_each):
            db.session.add(TrackingEvent(key=f"t:{s.id}:{k}", shipment_id=s.id, provider="ups", carrier="ups",
                                         tracking_number=s.tracking_number, description=f"Scan {k}",
                                         status="in_transit", occurred_at=now - dt.timedelta(hours=k),
                                         received_at=now))


def _alerts(n: int) -> None:
    now = utcnow()
    for i in range(n):
        order = make_order(commit=False)
        db.session.flush()
        _parcels(order, 1, 0)
        db.session.flush()
        db.session.add(Alert(kind="stall", key=f"stall:test:{i}", order_id=order.id, job_id=order.jobs[0].id,
                             shipment_id=order.shipments[0].id, stage="received", since=now,
                             message=f"Stalled {i}"))


def _count_page(app, client, url: str) -> int:
    assert client.get(url).status_code == 200  # warm: the login check's cache, the settings
    with Statements(app) as st:
        assert client.get(url).status_code == 200
    return len(st)


def _with_2_and_20(tmp_path, role: str, measure) -> dict:
    """measure(app, client, rows) on an app of its own with 2 rows, then with 20."""
    seen = {}
    for rows in (2, 20):
        app = build_app(tmp_path / str(rows))
        for _ in closing(app):
            seen[rows] = measure(app, login(app.test_client(), role), rows)
    return seen


def test_the_order_page_costs_the_same_with_2_or_20_parcels(tmp_path):
    def measure(app, client, rows):
        with app.app_context():
            order = make_order(commit=False)
            db.session.flush()
            _parcels(order, rows)
            db.session.commit()
            code = order.code
        return _count_page(app, client, f"/orders/{code}")

    seen = _with_2_and_20(tmp_path, "manager", measure)
    assert seen[2] == seen[20], seen


def test_the_alerts_page_and_api_cost_the_same_with_2_or_20_alerts(tmp_path):
    def measure(app, client, rows):
        with app.app_context():
            _alerts(rows)
            db.session.commit()
        page = _count_page(app, client, "/alerts")
        api = Api(app.test_client(), api_token(app, "operator"))
        assert len(api.get("/api/alerts").json["alerts"]) == rows
        with Statements(app) as st:
            assert len(api.get("/api/alerts").json["alerts"]) == rows
        return page, len(st)

    seen = _with_2_and_20(tmp_path, "operator", measure)
    assert seen[2] == seen[20], seen
