"""Due date at risk through the sweep: raised once while there is time to act, closed when the outlook
is good again, the order ships or is cancelled, or the due date moves."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import select

from tests.factories import MANAGER, make_order
from tracker.extensions import db
from tracker.jobs import run_job
from tracker.models import Alert
from tracker.services.orders import cancel_order, move_job

DENVER = ZoneInfo("America/Denver")
MON_10 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=DENVER)
# With no history, each stage takes its SLA: received 4 + preproduction 24 + production 24 (test config)
# + qc 8 + packaging 8 + labeled 8 = 76 working hours (Mon-Fri) -> Thu 14:00; + 3 days transit -> Sunday.


def open_risks():
    return list(db.session.scalars(select(Alert).where(Alert.kind == "at_risk", Alert.closed_at.is_(None))))


def test_raised_once_with_its_reason_and_closed_when_the_order_catches_up(ctx):
    with time_machine.travel(MON_10, tick=False) as clock:
        fine = make_order(due_date=dt.date(2026, 3, 8))
        tight = make_order(due_date=dt.date(2026, 3, 7), rush=True)
        make_order()  # no due date: nothing to miss
        assert run_job("risk-sweep") == {"at_risk": 1, "raised": 1, "closed": 0}
        assert run_job("risk-sweep") == {"at_risk": 1, "raised": 0, "closed": 0}
        (alert,) = open_risks()
        assert alert.order_id == tight.id and alert.job_id == tight.jobs[0].id and alert.stage == "received"
        assert alert.message == (f"{tight.code} may miss its due date Sat Mar 07: at the usual pace {tight.code}A "
                                 "(Received) is ready Thu Mar 05 14:00 and arrives about Sun Mar 08")
        assert fine.id not in [a.order_id for a in open_risks()]
        # The shop rushes it: artwork and press done within the hour, so the rest fits again.
        clock.shift(dt.timedelta(minutes=30))
        for stage in ("preproduction", "production", "qc"):
            move_job(tight.jobs[0], stage, actor=MANAGER, source="board", note="rushed")
        db.session.commit()
        assert run_job("risk-sweep") == {"at_risk": 0, "raised": 0, "closed": 1}


def test_a_new_due_date_is_a_new_occurrence_and_cancelling_closes_it(ctx):
    with time_machine.travel(MON_10, tick=False):
        order = make_order(due_date=dt.date(2026, 3, 6))
        run_job("risk-sweep")
        (first,) = open_risks()
        order.due_date = dt.date(2026, 3, 5)  # promised even sooner: a new alert for the new date
        db.session.commit()
        assert run_job("risk-sweep") == {"at_risk": 1, "raised": 1, "closed": 1}
        (second,) = open_risks()
        assert second.id != first.id and "Thu Mar 05" in second.message
        cancel_order(order, reason="customer called", actor=MANAGER, source="web")
        db.session.commit()
        assert run_job("risk-sweep") == {"at_risk": 0, "raised": 0, "closed": 1}


def test_past_the_due_date_it_stays_open_but_is_not_raised_anew(ctx):
    with time_machine.travel(MON_10, tick=False) as clock:
        watched = make_order(due_date=dt.date(2026, 3, 3))
        run_job("risk-sweep")
        clock.move_to(dt.datetime(2026, 3, 4, 9, 0, tzinfo=DENVER))
        make_order(due_date=dt.date(2026, 3, 3))  # entered already late: the Late filter's business
        assert run_job("risk-sweep") == {"at_risk": 1, "raised": 0, "closed": 0}
        assert [a.order_id for a in open_risks()] == [watched.id]


def test_the_margin_setting_warns_earlier(tmp_path):
    from tests.conftest import build_app

    app = build_app(tmp_path, config={"alerts": {"at_risk_margin_hours": 12}})
    with app.app_context(), time_machine.travel(MON_10, tick=False):
        make_order(due_date=dt.date(2026, 3, 8))  # arrives Sun ~15:00: fine without a margin, not with 12 h
        assert run_job("risk-sweep")["raised"] == 1


def test_the_api_lists_at_risk_alerts(app, client):
    from tests.conftest import Api, api_token

    with app.app_context(), time_machine.travel(MON_10, tick=False):
        code = make_order(due_date=dt.date(2026, 3, 4)).code
        run_job("risk-sweep")
    api = Api(client, api_token(app))
    (alert,) = api.get("/api/alerts").json["alerts"]
    assert (alert["kind"], alert["order_id"], alert["job_id"], alert["stage"]) == ("at_risk", code, f"{code}A", "received")
