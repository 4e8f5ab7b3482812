"""Helpers shared by the view tests: row counts (to prove a refusal wrote nothing) and a quick order."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tracker.extensions import db
from tracker.models import Event, Job, Order


def row_counts(app) -> dict[str, int]:
    # A fresh app context means a fresh session: it sees what the requests committed.
    with app.app_context():
        return {name: db.session.scalar(select(func.count()).select_from(model))
                for name, model in (("orders", Order), ("jobs", Job), ("events", Event))}


@pytest.fixture
def counts(app):
    return lambda: row_counts(app)


ITEM = {"description": "Team tee", "method": "dtg", "quantity": 12}


def order_body(**overrides) -> dict:
    body = {"customer": {"name": "Rosa Diaz", "email": "rosa@example.com", "phone": "+1 208 555 0100"},
            "items": [dict(ITEM), {"description": "Cap", "method": "embroidery", "quantity": 6}]}
    body.update(overrides)
    return body


def create_via_api(api, **overrides) -> dict:
    resp = api.post("/api/orders", json=order_body(**overrides))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


@pytest.fixture
def order(app):
    """A1001 with two jobs (A1001A dtg, A1001B embroidery), in received."""
    from tests.factories import make_order

    with app.app_context():
        return make_order([("Team tee", "dtg", 12), ("Cap", "embroidery", 6)]).code


def order_state(app, code: str) -> tuple[str, dict[str, str]]:
    """(order stage, {job code: stage}) read fresh from the database."""
    from tracker.queries import get_order

    with app.app_context():
        o = get_order(code)
        return o.stage, {j.code: j.stage for j in o.jobs}
