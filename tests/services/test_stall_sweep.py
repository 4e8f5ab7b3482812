"""Stall alerts with frozen time: raised once at the SLA boundary, closed when the job moves, raised
again if it stalls later."""
from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy import select

from tests.factories import OPERATOR, make_order
from tracker.extensions import db
from tracker.jobs import run_job
from tracker.models import Alert
from tracker.services.orders import move_job

T0 = dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.timezone.utc)


def open_alerts():
    return list(db.session.scalars(select(Alert).where(Alert.closed_at.is_(None), Alert.kind == "stall")))


def test_stall_alert_boundary_once_clear_and_reraise(ctx):
    with time_machine.travel(T0, tick=False) as clock:
        order = make_order()  # "received" has a 4 h SLA by default
        job = order.jobs[0]
        clock.shift(dt.timedelta(hours=4))
        assert run_job("stall-sweep") == {"stalled": 0, "closed": 0}  # exactly at the SLA: not yet
        clock.shift(dt.timedelta(seconds=1))
        assert run_job("stall-sweep")["stalled"] == 1
        run_job("stall-sweep")
        (alert,) = open_alerts()
        assert alert.job_id == job.id and alert.stage == "received" and "longer than its 4 h" in alert.message
        move_job(job, "preproduction", actor=OPERATOR, source="board")
        db.session.commit()
        assert run_job("stall-sweep") == {"stalled": 0, "closed": 1}
        assert open_alerts() == []
        clock.shift(dt.timedelta(hours=25))  # "preproduction" has a 24 h SLA: a new stall, a new alert
        run_job("stall-sweep")
        (again,) = open_alerts()
        assert again.id != alert.id and again.stage == "preproduction"
        assert db.session.scalar(select(db.func.count()).select_from(Alert)) == 2


def test_api_lists_stall_alerts(app, client):
    from tests.conftest import Api, api_token

    with app.app_context(), time_machine.travel(T0, tick=False) as clock:
        order = make_order()
        code = order.code
        clock.shift(dt.timedelta(hours=5))
        run_job("stall-sweep")
    api = Api(client, api_token(app))
    (alert,) = api.get("/api/alerts").json["alerts"]
    assert (alert["kind"], alert["order_id"], alert["job_id"], alert["stage"]) == ("stall", code, f"{code}A", "received")


def test_board_shows_the_open_alert_count_and_the_alerts_page_lists_them(app, client):
    from tests.conftest import login

    with app.app_context(), time_machine.travel(T0, tick=False) as clock:
        make_order()
        clock.shift(dt.timedelta(hours=5))
        run_job("stall-sweep")
    login(client, "operator")
    board = client.get("/").get_data(as_text=True)
    assert "1 alert needs someone" in board
    page = client.get("/alerts").get_data(as_text=True)
    assert "longer than its 4 h" in page and "A1001" in page


def _statements(run) -> int:
    """How many SQL statements `run()` sends."""
    from tests.conftest import Statements

    with Statements() as seen:
        run()
    return len(seen)


SWEEPS = ("stall-sweep", "risk-sweep", "delay-notices")


def _second_round(clock, new_orders: int) -> dict[str, int]:
    """Adds orders that will stall and be at risk, runs the sweeps once (they raise what is new), then
    counts the statements of the next round, which only confirms what is open."""
    for _ in range(new_orders):
        make_order(due_date=dt.date(2026, 3, 3))
    db.session.commit()
    clock.shift(dt.timedelta(hours=5))
    for name in SWEEPS:
        run_job(name)
    return {name: _statements(lambda n=name: run_job(n)) for name in SWEEPS}


def test_the_sweeps_cost_does_not_grow_with_the_number_of_stalls_already_raised(ctx):
    # Each sweep reads what it needs in batches: with thousands of stalled jobs (their alerts open from
    # the last round) it must not ask the database once per job (that took seconds every five minutes).
    with time_machine.travel(T0, tick=False) as clock:
        few = _second_round(clock, 3)
        many = _second_round(clock, 9)  # 12 stalled and at risk now
        assert len(open_alerts()) == 12
    assert few == many, (few, many)
