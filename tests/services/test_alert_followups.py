"""Alerts beyond the stall: end-of-day checks, acknowledge and snooze (who and when), the board's banner
and its version, the scheduler-stopped warning, and the managers' mail (a real SMTP server on loopback)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from tests.conftest import anonymous_token, build_app, login
from tests.factories import MANAGER, make_order
from tests.notifications.test_notifications import Smtp
from tracker.extensions import db
from tracker.jobs import run_job
from tracker.models import Alert, OutboxMessage
from tracker.services import alerts as svc
from tracker.services.orders import move_order
from tracker.services.shipments import add_shipment

DENVER = ZoneInfo("America/Denver")  # the test shop's time zone (DST starts Sunday March 8, 2026)
MON_10 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=DENVER)
MON_17 = dt.datetime(2026, 3, 2, 17, 0, tzinfo=DENVER)


def open_of(kind):
    return list(db.session.scalars(select(Alert).where(Alert.kind == kind, Alert.closed_at.is_(None))))


def to_stage(order, stage):
    """Skips the order ahead (a manager with a reason); packing needs QC passed first."""
    path = {"packaging": ["qc"], "labeled": ["qc", "packaging"]}.get(stage, [])
    for step in path:
        move_order(order, step, actor=MANAGER, source="web", note="test: skip ahead")
    move_order(order, stage, actor=MANAGER, source="web", note="test: skip ahead")
    db.session.commit()


@pytest.fixture
def smtp():
    server = Smtp().start()
    yield server
    server.stop()


def mail_app(tmp_path, smtp, **alerts):
    return build_app(tmp_path, config={
        "notifications": {"email": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sender": "Inktrail <it@shop.test>"},
                          "kinds": {"order_received": False}},
        "alerts": {"emails": ["owner@shop.test", "floor@shop.test"], **alerts}})


# -- end of day ----------------------------------------------------------------------------------------

def test_end_of_day_raises_after_closing_once_and_closes_when_resolved(ctx):
    with time_machine.travel(MON_10, tick=False) as clock:
        packed = make_order()
        to_stage(packed, "packaging")
        labeled = make_order()
        to_stage(labeled, "labeled")
        rush = make_order(rush=True)
        on_press = make_order(rush=True)
        to_stage(on_press, "production")
        assert run_job("end-of-day") == {"due": False, "raised": 0, "open": 0, "closed": 0}
        clock.move_to(MON_17 - dt.timedelta(seconds=1))
        assert run_job("end-of-day")["raised"] == 0  # 16:59:59: not yet
        clock.move_to(MON_17)
        assert run_job("end-of-day") == {"due": True, "raised": 3, "open": 3, "closed": 0}
        assert run_job("end-of-day")["raised"] == 0  # once only
        assert [a.order_id for a in open_of("eod_no_label")] == [packed.id]
        assert [a.order_id for a in open_of("eod_no_pickup_scan")] == [labeled.id]
        (r,) = open_of("eod_rush_not_started")
        assert r.order_id == rush.id and r.message == f"Rush order {rush.code} is not on press yet"
        # Next morning the conditions are resolved one by one: each alert closes, none is raised again.
        clock.move_to(MON_17 + dt.timedelta(hours=16))
        add_shipment(packed, tracking_number="1Z999AA10123456784", actor=MANAGER, source="web")
        to_stage(rush, "production")
        db.session.commit()
        assert run_job("end-of-day") == {"due": False, "raised": 0, "open": 1, "closed": 2}
        assert open_of("eod_no_label") == [] and open_of("eod_rush_not_started") == []
        assert len(open_of("eod_no_pickup_scan")) == 1  # still labeled, still no scan: stays open


def test_end_of_day_skips_weekends_without_a_calendar_and_a_late_order_packed_after_closing(ctx):
    sat_18 = dt.datetime(2026, 3, 7, 18, 0, tzinfo=DENVER)
    with time_machine.travel(sat_18, tick=False) as clock:
        to_stage(make_order(), "packaging")
        assert run_job("end-of-day")["due"] is False
        clock.move_to(dt.datetime(2026, 3, 9, 17, 30, tzinfo=DENVER))  # Monday after closing
        late = make_order()
        to_stage(late, "packaging")  # packed at 17:30: after the cutoff, counted tomorrow
        result = run_job("end-of-day")
        assert result["raised"] == 1 and [a.order_id for a in open_of("eod_no_label")] != [late.id]


def test_end_of_day_uses_the_configured_time(tmp_path):
    app = build_app(tmp_path, config={"alerts": {"end_of_day": "15:30"}})
    with app.app_context(), time_machine.travel(MON_10, tick=False) as clock:
        to_stage(make_order(), "packaging")
        clock.move_to(dt.datetime(2026, 3, 2, 15, 30, tzinfo=DENVER))
        assert run_job("end-of-day")["raised"] == 1


# -- acknowledge, snooze, banner -----------------------------------------------------------------------

def stalled_order(clock):
    order = make_order()
    clock.shift(dt.timedelta(hours=5))
    run_job("stall-sweep")
    return order, db.session.scalar(select(Alert).where(Alert.kind == "stall", Alert.order_id == order.id))


def test_acknowledge_and_snooze_record_who_and_when_and_leave_the_banner(ctx):
    with time_machine.travel(MON_10, tick=False) as clock:
        _, alert = stalled_order(clock)
        _, other = stalled_order(clock)
        assert svc.open_alert_count() == 2
        svc.acknowledge(alert.id, by="maria")
        db.session.commit()
        assert (alert.acknowledged_by, alert.acknowledged_at) == ("maria", dt.datetime.now(dt.timezone.utc))
        assert svc.open_alert_count() == 1
        svc.snooze(other.id, "1h", by="sam")
        db.session.commit()
        assert other.snoozed_by == "sam" and other.snoozed_until - other.snoozed_at == dt.timedelta(hours=1)
        assert svc.open_alert_count() == 0
        groups = svc.grouped_alerts()
        assert (groups["acknowledged"], groups["snoozed"], groups["attention"]) == ([alert], [other], [])
        clock.shift(dt.timedelta(hours=1))  # the snooze ends: it needs someone again
        assert svc.open_alert_count() == 1 and svc.grouped_alerts()["attention"] == [other]


def test_snooze_until_tomorrow_is_the_next_working_morning(ctx):
    fri_15 = dt.datetime(2026, 3, 6, 15, 0, tzinfo=DENVER)
    with time_machine.travel(fri_15, tick=False):
        assert svc.snooze_until("tomorrow", dt.datetime.now(dt.timezone.utc)) == \
            dt.datetime(2026, 3, 9, 8, 0, tzinfo=DENVER)


@pytest.mark.parametrize("bad", ["", "forever", "99h"])
def test_a_bad_snooze_choice_is_refused_and_changes_nothing(ctx, bad):
    with time_machine.travel(MON_10, tick=False) as clock:
        _, alert = stalled_order(clock)
        with pytest.raises(svc.AlertRefused, match="is not a snooze choice"):
            svc.snooze(alert.id, bad, by="sam")
        db.session.rollback()
        assert db.session.get(Alert, alert.id).snoozed_until is None


def test_alerts_page_acknowledge_and_snooze(app, client):
    with app.app_context(), time_machine.travel(MON_10, tick=False) as clock:
        _, alert = stalled_order(clock)
        alert_id = alert.id
    with time_machine.travel(MON_10 + dt.timedelta(hours=6), tick=False):
        login(client, "operator")
        page = client.get("/alerts").get_data(as_text=True)
        assert "Needs someone (1)" in page and "Acknowledge" in page
        resp = client.post(f"/alerts/{alert_id}/snooze", data={"for": "4h", "csrf_token": client.csrf_token},
                           follow_redirects=True)
        page = resp.get_data(as_text=True)
        assert resp.status_code == 200 and "Snoozed until" in page and "Snoozed (1)" in page
        assert "Snoozed by operator1" in page
        resp = client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": client.csrf_token},
                           follow_redirects=True)
        page = resp.get_data(as_text=True)
        assert "Acknowledged (1)" in page and "Acknowledged by" in page and "Nothing needs anyone" in page


@pytest.mark.parametrize("path,data,message", [
    ("/alerts/999/acknowledge", {}, "There is no such alert."),
    ("/alerts/999/snooze", {"for": "1h"}, "There is no such alert."),
    ("/alerts/{id}/snooze", {"for": "nope"}, "is not a snooze choice"),
])
def test_alerts_page_bad_actions_flash_red_not_500(app, client, path, data, message):
    with app.app_context(), time_machine.travel(MON_10, tick=False) as clock:
        _, alert = stalled_order(clock)
        alert_id = alert.id
    login(client, "operator")
    resp = client.post(path.format(id=alert_id), data={**data, "csrf_token": client.csrf_token}, follow_redirects=True)
    assert resp.status_code == 200 and message in resp.get_data(as_text=True)


def test_acknowledging_a_closed_alert_is_refused(ctx):
    with time_machine.travel(MON_10, tick=False) as clock:
        order, alert = stalled_order(clock)
        to_stage(order, "preproduction")
        run_job("stall-sweep")
        with pytest.raises(svc.AlertRefused, match="closed already"):
            svc.acknowledge(alert.id, by="maria")


def test_alert_actions_need_login_csrf_and_a_post(app, client):
    with app.app_context(), time_machine.travel(MON_10, tick=False) as clock:
        _, alert = stalled_order(clock)
        alert_id = alert.id
    # Anonymous: without the session's CSRF token the CSRF check refuses first (400); with it, the login page.
    resp = client.post(f"/alerts/{alert_id}/acknowledge")
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    resp = client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": anonymous_token(client)})
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    login(client, "operator")
    assert client.post(f"/alerts/{alert_id}/acknowledge").status_code == 400  # no CSRF token
    assert client.get(f"/alerts/{alert_id}/acknowledge").status_code == 405
    with app.app_context():
        assert db.session.get(Alert, alert_id).acknowledged_at is None


def version(client, **query):
    import re

    html = client.get("/", query_string=query).get_data(as_text=True)
    return re.search(r'id="board-version" name="v" value="([\d.]+)"', html).group(1), html


def test_a_new_alert_or_a_stopped_scheduler_changes_the_board_version(app, client):
    with app.app_context(), time_machine.travel(MON_10, tick=False) as clock:
        run_job("heartbeat")
        make_order()
    with time_machine.travel(MON_10, tick=False):
        login(client, "operator")
        v, html = version(client)
        assert "The scheduler has stopped" not in html
        assert html.count('id="alert-banner"') == 1 and html.count('id="board-banners"') == 1
        assert client.get("/board/columns", query_string={"v": v}).status_code == 204
    with app.app_context(), time_machine.travel(MON_10 + dt.timedelta(hours=5), tick=False):
        run_job("stall-sweep")  # raises an alert but writes no audit event
        run_job("heartbeat")
    with time_machine.travel(MON_10 + dt.timedelta(hours=5), tick=False):
        resp = client.get("/board/columns", query_string={"v": v})
        assert resp.status_code == 200 and "1 alert needs someone" in resp.get_data(as_text=True)
        v2, _ = version(client)
    with time_machine.travel(MON_10 + dt.timedelta(hours=5, minutes=2), tick=False):  # no heartbeat for 2 min
        resp = client.get("/board/columns", query_string={"v": v2})
        assert resp.status_code == 200 and "The scheduler has stopped" in resp.get_data(as_text=True)


# -- managers' mail ------------------------------------------------------------------------------------

def test_morning_digest_once_a_day_after_digest_time(tmp_path, smtp):
    app = mail_app(tmp_path, smtp, digest_time="07:30")
    with app.app_context(), time_machine.travel(dt.datetime(2026, 3, 2, 6, 0, tzinfo=DENVER), tick=False) as clock:
        make_order(due_date=dt.date(2026, 3, 3))
        due = make_order(due_date=dt.date(2026, 3, 3), rush=True)
        clock.shift(dt.timedelta(hours=5))  # 11:00: the received SLA (4 h) has passed
        run_job("stall-sweep")
        clock.move_to(dt.datetime(2026, 3, 3, 7, 29, tzinfo=DENVER))
        assert run_job("daily-digest") == {"sent": 0, "why": "not yet digest time"}
        clock.move_to(dt.datetime(2026, 3, 3, 7, 30, tzinfo=DENVER))
        assert run_job("daily-digest") == {"sent": 2}
        assert run_job("daily-digest") == {"sent": 2}  # the same day's digest: queued once (see outbox)
        run_job("outbox")
        digests = [m for m in smtp.messages if "due today" in m["Subject"]]
        assert sorted(m["To"] for m in digests) == ["floor@shop.test", "owner@shop.test"]
        body = digests[0].get_body(("plain",)).get_content()
        assert "NEEDS SOMEONE (2)" in body and f"{due.code} RUSH" in body and "DUE TODAY (2)" in body
        assert "Test Print Co: 2 alerts, 2 due today (Tue Mar 03)" == digests[0]["Subject"]
        assert "http://shop.test/alerts" in body
        clock.move_to(dt.datetime(2026, 3, 4, 8, 0, tzinfo=DENVER))
        run_job("daily-digest")
        run_job("outbox")
        assert len([m for m in smtp.messages if "due today" in m["Subject"]]) == 4  # next day: a new one


def test_digest_needs_addresses_and_mail(tmp_path):
    app = build_app(tmp_path)
    with app.app_context(), time_machine.travel(MON_17, tick=False):
        assert run_job("daily-digest")["sent"] == 0
        assert db.session.scalar(select(db.func.count()).select_from(OutboxMessage)) == 0


def test_a_rush_order_that_stalls_is_mailed_at_once_and_only_once(tmp_path, smtp):
    app = mail_app(tmp_path, smtp)
    with app.app_context(), time_machine.travel(MON_10, tick=False) as clock:
        rush = make_order(rush=True, due_date=dt.date(2026, 3, 4))
        make_order()  # stalls too, but is not a rush: no mail
        clock.shift(dt.timedelta(hours=4, seconds=1))
        assert run_job("stall-sweep") == {"stalled": 2, "closed": 0, "mailed": 2}
        assert run_job("stall-sweep") == {"stalled": 2, "closed": 0}  # still stalled: no second mail
        run_job("outbox")
        assert sorted(m["To"] for m in smtp.messages) == ["floor@shop.test", "owner@shop.test"]
        assert {m["Subject"] for m in smtp.messages} == {f"Rush order {rush.code} has stalled"}
        body = smtp.messages[0].get_body(("plain",)).get_content()
        assert f"{rush.code}A has been in Received longer than its 4 h" in body and "Due Wed Mar 04" in body
        assert f"http://shop.test/orders/{rush.code}" in body


def test_rush_stall_mail_can_be_switched_off(tmp_path, smtp):
    app = mail_app(tmp_path, smtp, rush_stall_email=False)
    with app.app_context(), time_machine.travel(MON_10, tick=False) as clock:
        make_order(rush=True)
        clock.shift(dt.timedelta(hours=5))
        assert run_job("stall-sweep") == {"stalled": 1, "closed": 0}
        assert run_job("outbox")["sent"] == 0


def test_api_acknowledge_and_snooze(app, client):
    from tests.conftest import Api, api_token

    with app.app_context(), time_machine.travel(MON_10, tick=False) as clock:
        _, alert = stalled_order(clock)
        alert_id = alert.id
    api = Api(client, api_token(app))
    with time_machine.travel(MON_10 + dt.timedelta(hours=6), tick=False):
        assert api.post(f"/api/alerts/{alert_id}/snooze", json={"for": "never"}).status_code == 400
        assert api.post("/api/alerts/999/acknowledge").status_code == 404
        resp = api.post(f"/api/alerts/{alert_id}/snooze", json={"for": "4h"})
        assert resp.status_code == 200 and resp.json["snoozed_until"].startswith("2026-03-03T03:00")
        resp = api.post(f"/api/alerts/{alert_id}/acknowledge")
        assert resp.status_code == 200 and resp.json["acknowledged_by"]
        (listed,) = api.get("/api/alerts").json["alerts"]
        assert listed["id"] == alert_id and listed["acknowledged_at"].startswith("2026-03-02T23:00")
