"""Stall alerts in the shop's open hours: with a [calendar], a stage's SLA counts only the hours the shop is
open (nights, weekends and holidays left out). Frozen time, the real stall-sweep job."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from tests.conftest import build_app, login
from tests.factories import make_order
from tracker.extensions import db
from tracker.jobs import run_job
from tracker.models import Alert

DENVER = ZoneInfo("America/Denver")  # the test shop's time zone (tests/test_config.toml)
# Monday to Friday 08:00-17:00; the weekend of 7-8 March 2026 is also the spring-forward one.
CALENDAR = {"open_days": ["mon", "tue", "wed", "thu", "fri"], "opens": "08:00", "closes": "17:00"}


def at(y, m, d, h=0, mi=0, s=0):
    return dt.datetime(y, m, d, h, mi, s, tzinfo=DENVER)


FRIDAY_1600 = at(2026, 3, 6, 16)


@pytest.fixture
def shop_app(tmp_path):
    """An app factory: the test shop with the given [calendar] table."""
    apps = []

    def make(calendar: dict):
        app = build_app(tmp_path, config={"calendar": calendar})
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def open_stalls():
    return list(db.session.scalars(select(Alert).where(Alert.closed_at.is_(None), Alert.kind == "stall")))


def test_a_friday_afternoon_job_stalls_on_monday_morning(shop_app):
    app = shop_app(CALENDAR)
    with app.app_context(), time_machine.travel(FRIDAY_1600, tick=False) as clock:
        make_order()  # "received": a 4 h SLA; one hour of it left on Friday, three on Monday
        clock.move_to(at(2026, 3, 6, 20, 1))  # 4 wall-clock hours later: the shop is closed
        assert run_job("stall-sweep")["stalled"] == 0
        clock.move_to(at(2026, 3, 7, 12))  # Saturday
        assert run_job("stall-sweep")["stalled"] == 0
        clock.move_to(at(2026, 3, 9, 10, 59))  # Monday: 1 h Friday + 2 h 59 m
        assert run_job("stall-sweep")["stalled"] == 0
        clock.move_to(at(2026, 3, 9, 11))  # exactly 4 open hours: not yet
        assert run_job("stall-sweep")["stalled"] == 0
        clock.move_to(at(2026, 3, 9, 11, 0, 1))
        assert run_job("stall-sweep")["stalled"] == 1
        (alert,) = open_stalls()
        assert alert.stage == "received" and alert.since == FRIDAY_1600.astimezone(dt.timezone.utc)


def test_a_holiday_monday_pushes_the_stall_to_tuesday(shop_app):
    app = shop_app({**CALENDAR, "holidays": ["2026-03-09"]})
    with app.app_context(), time_machine.travel(FRIDAY_1600, tick=False) as clock:
        make_order()
        clock.move_to(at(2026, 3, 9, 16))  # the holiday Monday, late
        assert run_job("stall-sweep")["stalled"] == 0
        clock.move_to(at(2026, 3, 10, 10, 59))
        assert run_job("stall-sweep")["stalled"] == 0
        clock.move_to(at(2026, 3, 10, 11, 0, 1))
        assert run_job("stall-sweep")["stalled"] == 1


def test_the_board_marks_stalls_by_the_same_hours(shop_app):
    app = shop_app(CALENDAR)
    client = app.test_client()
    with time_machine.travel(FRIDAY_1600, tick=False) as clock:
        with app.app_context():
            make_order()
        login(client, "operator")
        clock.move_to(at(2026, 3, 9, 10, 59))
        assert "badge-stalled" not in client.get("/").get_data(as_text=True)
        clock.move_to(at(2026, 3, 9, 11, 0, 1))
        assert "badge-stalled" in client.get("/").get_data(as_text=True)


def test_without_a_calendar_the_sla_is_wall_clock_hours(ctx):
    with time_machine.travel(FRIDAY_1600, tick=False) as clock:
        make_order()
        clock.move_to(at(2026, 3, 6, 20, 0, 1))
        assert run_job("stall-sweep")["stalled"] == 1
