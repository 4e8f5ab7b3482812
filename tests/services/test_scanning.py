"""services/scanning.py against a real database: what a scan at each station does, the answers in plain
words, double scans, replays by scan ID, undo, batches, QC fails and the ship-out check.

Every scan is stored, even when refused; a refused scan changes no stage and writes no event."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import func, select

from tests.conftest import build_app
from tests.factories import MANAGER, OPERATOR, make_order
from tracker.domain.lifecycle import MoveRefused
from tracker.extensions import db
from tracker.models import Batch, Event, Job, Order, Scan, Shipment
from tracker.services import orders as order_service
from tracker.services.orders import Actor
from tracker.services.scanning import (ScanInputError, pending_label_order, record_scan, scan_json,
                                       undo_scan)
from tracker.services.users import create_user

T0 = datetime(2026, 3, 2, 15, 30, tzinfo=timezone.utc)
STATIONS = [
    {"key": "art-desk", "name": "Artwork desk", "moves_to": "preproduction"},
    {"key": "press-1", "name": "Press 1", "moves_to": "production"},
    {"key": "qc-1", "name": "QC table", "moves_to": "qc"},
    {"key": "pack-1", "name": "Packing bench", "moves_to": "packaging"},
    {"key": "ship-1", "name": "Ship-out check", "moves_to": "labeled"},
]
UPS_NUMBER = "1Z999AA10123456784"
UPS_OTHER = "1Z879E930346834440"


# -- helpers ----------------------------------------------------------------------------------------

def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def scan(code, station="art-desk", *, actor=OPERATOR, **kw) -> Scan:
    s, replayed = record_scan(station, code, actor=actor, **kw)
    db.session.commit()
    assert not replayed
    return s


def answer(code, station="art-desk", **kw) -> dict:
    return scan_json(scan(code, station, **kw))


def events_of_scan(s: Scan) -> list[Event]:
    return list(db.session.scalars(select(Event).where(Event.scan_id == s.id).order_by(Event.id)))


def job(code: str) -> Job:
    return db.session.scalar(select(Job).where(Job.code == code))


def order(code: str) -> Order:
    return db.session.scalar(select(Order).where(Order.code == code))


def two_job_order(**kw) -> Order:
    """A1001 (A1001A dtg, A1001B embroidery) on the first call, A1002 on the next..."""
    return make_order([("Team tee", "dtg", 12), ("Cap", "embroidery", 6)], **kw)


def bring(o: Order, to: str) -> None:
    """Moves the whole order one stage at a time up to `to`, as the board would."""
    lc_keys = ["received", "preproduction", "production", "qc", "packaging", "labeled"]
    while lc_keys.index(o.stage) < lc_keys.index(to):
        order_service.move_order(o, None, actor=OPERATOR, source="board")
    db.session.commit()


def snapshot():
    """Every stage, reprint count and the event count: what a refused scan must leave alone."""
    jobs = {j.code: (j.stage, j.reprints) for j in db.session.scalars(select(Job))}
    orders = {o.code: o.stage for o in db.session.scalars(select(Order))}
    return jobs, orders, count(Event), count(Shipment)


@pytest.fixture
def ship_ctx(tmp_path):
    """An app whose stations include a ship-out check (moves_to = "labeled")."""
    app = build_app(tmp_path, config={"stations": STATIONS})
    with app.app_context():
        yield app
        db.session.remove()
    with app.app_context():
        db.engine.dispose()


# -- moves --------------------------------------------------------------------------------------------

def test_a_job_scan_moves_the_job_and_answers_in_plain_words(ctx):
    o = two_job_order()
    with time_machine.travel(T0, tick=False):
        s = scan("A1001B", "art-desk", operator="lee")
    a = scan_json(s)
    assert a["ok"] is True and a["outcome"] == "moved"
    assert (a["order_id"], a["job_id"], a["from"], a["to"]) == ("A1001", "A1001B", "received", "preproduction")
    assert (a["from_label"], a["to_label"]) == ("Received", "Pre-production")
    assert a["message"] == "A1001B → Pre-production"
    assert a["customer"] == "Rosa Diaz" and a["station"] == "art-desk" and a["kind"] == "job"
    assert a["operator"] == "lee" and a["replayed"] is False and a["undone"] is False
    assert a["at"] == T0.isoformat() and len(a["scan_id"]) >= 8
    assert (job("A1001B").stage, job("A1001A").stage, o.stage) == ("preproduction", "received", "received")
    (ev,) = events_of_scan(s)
    assert (ev.kind, ev.from_stage, ev.to_stage, ev.source, ev.actor, ev.station, ev.job_id, ev.at) == (
        "advance", "received", "preproduction", "scan", "lee", "art-desk", job("A1001B").id, T0)


def test_the_operator_defaults_to_who_is_logged_in(ctx):
    two_job_order()
    s = scan("A1001A", actor=Actor("maria", "manager"))
    assert s.operator == "maria" and events_of_scan(s)[0].actor == "maria"


@pytest.mark.parametrize("code", [
    "A1001B", "a1001b", "  A1001B\t", "\nA1001B\r\n", "A1001 B",
    "https://shop.test/jobs/a1001b", "HTTPS://SHOP.TEST/JOBS/A1001B", "http://shop.test/j/A1001B/?x=1",
])
def test_any_case_whitespace_or_qr_url_reads_the_same_job(ctx, code):
    two_job_order()
    s = scan(code, "art-desk")
    assert s.ok and s.outcome == "moved" and s.job.code == "A1001B"
    assert job("A1001B").stage == "preproduction"
    assert s.code == code.strip()  # stored as scanned


def test_an_order_code_brings_the_lagging_jobs_to_the_station(ctx):
    o = two_job_order()
    scan("A1001A", "art-desk")
    s = scan("A1001", "art-desk")
    assert s.ok and s.job_id is None and s.order.code == "A1001"
    assert s.message == "A1001: 1 job → Pre-production"
    assert {j.code: j.stage for j in o.jobs} == {"A1001A": "preproduction", "A1001B": "preproduction"}
    assert o.stage == "preproduction"
    evs = events_of_scan(s)
    assert [(e.job.code if e.job else None, e.from_stage, e.to_stage) for e in evs] == [
        ("A1001B", "received", "preproduction"), (None, "received", "preproduction")]


def test_a_tracking_link_scans_as_its_order(ctx):
    o = two_job_order()
    s = scan(f"https://shop.test/t/{o.public_token}", "art-desk")
    assert s.ok and s.kind == "token" and s.order_id == o.id
    assert {j.stage for j in o.jobs} == {"preproduction"}


def test_at_packaging_an_order_code_packs_the_whole_order(ctx):
    o = two_job_order()
    bring(o, "qc")
    n = count(Event)
    s = scan("a1001", "pack-1")
    assert s.ok and s.to_stage == "packaging" and s.from_stage == "qc"
    assert s.message == "A1001 → Packaging (2 jobs)"
    assert o.stage == "packaging" and {j.stage for j in o.jobs} == {"packaging"}
    assert count(Event) == n + 1  # one order event covers its jobs


def test_at_packaging_a_job_code_packs_its_whole_order(ctx):
    o = two_job_order()
    bring(o, "qc")
    s = scan("A1001B", "pack-1")
    assert s.ok and o.stage == "packaging" and {j.stage for j in o.jobs} == {"packaging"}
    assert scan_json(s)["job_id"] == "A1001B"


def test_a_job_passes_qc_by_scan(ctx):
    o = two_job_order()
    bring(o, "production")
    s = scan("A1001A", "qc-1")
    assert s.ok and (s.from_stage, s.to_stage) == ("production", "qc")
    assert job("A1001A").stage == "qc" and job("A1001A").reprints == 0


def test_a_whole_day_of_scans_takes_an_order_to_packed(ctx):
    o = two_job_order()
    for station in ("art-desk", "press-1", "qc-1"):
        for code in ("A1001A", "A1001B"):
            assert scan(code, station).ok
    assert scan("A1001", "pack-1").ok
    assert o.stage == "packaging"
    assert count(Scan) == 7 and count(Scan, Scan.ok.is_(True)) == 7


# -- refusals ------------------------------------------------------------------------------------------

REFUSALS = [
    # (what to set up, code, station, message that must appear)
    ("received", "A1001B", "press-1", "A1001B is in Received; Pre-production comes next"),
    ("received", "A1001B", "qc-1", "A1001B is in Received; Pre-production comes next"),
    ("received", "A1001", "press-1", "A1001 is in Received; Pre-production comes next"),
    ("preproduction", "A1001B", "art-desk", "A1001B is already in Pre-production"),
    ("production", "A1001B", "art-desk", "A1001B is already past Pre-production (it is in On press)"),
    ("production", "A1001", "art-desk", "A1001 is already past Pre-production"),
    ("production", "A1001", "press-1", "every job of A1001 is already at On press"),
    ("production", "A1001", "pack-1", "A1001 cannot be packed until every job has passed QC"),
    ("production", "A1001A", "pack-1", "A1001 cannot be packed until every job has passed QC"),
    ("packaging", "A1001", "pack-1", "A1001 is already packed"),
    ("packaging", "A1001A", "pack-1", "A1001 is already packed"),
    ("packaging", "A1001A", "press-1", "A1001A is already past On press (it is in Packaging)"),
    ("packaging", "A1001", "qc-1", "A1001 is already past Quality check"),
    ("received", "A9999A", "art-desk", "Unknown code A9999A"),
    ("received", "A9999", "art-desk", "Unknown code A9999"),
    ("received", "hello there", "art-desk", "Unknown code 'HELLOTHERE'"),
    ("received", "https://shop.test/t/" + "x" * 32, "art-desk", "Unknown code"),
    ("received", "BATCH77", "press-1", "Unknown code BATCH77"),
    ("received", "BADGENOBODY", "art-desk", "no person has the badge 'NOBODY'"),
    ("received", UPS_NUMBER, "art-desk", "a carrier label is scanned at the ship-out station"),
    ("cancelled", "A1001A", "art-desk", "A1001 is cancelled"),
    ("cancelled", "A1001", "pack-1", "A1001 is cancelled"),
]


@pytest.mark.parametrize("setup,code,station,message", REFUSALS)
def test_refused_scans_are_stored_say_why_and_change_nothing(ctx, setup, code, station, message):
    o = two_job_order()
    if setup == "cancelled":
        order_service.cancel_order(o, actor=MANAGER, source="web", reason="customer called")
        db.session.commit()
    else:
        bring(o, setup)
    before = snapshot()
    s = scan(code, station)
    a = scan_json(s)
    assert a["ok"] is False and a["outcome"] == "refused"
    assert message.lower() in a["message"].lower(), a["message"]
    assert a["message"][0].isupper()  # a sentence
    assert a["from"] is None and a["to"] is None
    assert snapshot() == before
    assert events_of_scan(s) == []
    assert count(Scan) == 1 and db.session.get(Scan, s.id).outcome == "refused"


def test_a_refused_scan_still_names_the_order_and_job(ctx):
    o = two_job_order()
    bring(o, "packaging")
    a = answer("A1001A", "press-1")
    assert a["ok"] is False and a["order_id"] == "A1001" and a["job_id"] == "A1001A"
    assert a["customer"] == "Rosa Diaz"


def test_a_refused_order_scan_in_the_middle_of_moves_rolls_back_whole(ctx):
    """Bringing an order's lagging jobs is all or none: one job that may not move stops them all."""
    o = make_order([("Tee", "dtg", 1), ("Cap", "embroidery", 1), ("Tote", "screen", 1)])
    scan("A1001A", "art-desk")
    scan("A1001A", "press-1")
    # A1001B is in received, A1001C in received: the order scan at press-1 would skip pre-production
    before = snapshot()
    s = scan("A1001", "press-1")
    assert not s.ok and snapshot() == before and events_of_scan(s) == []


@pytest.mark.parametrize("kwargs,field,status", [
    (dict(station_key="nowhere", code="A1001A"), "station", 404),
    (dict(station_key="", code="A1001A"), "station", 404),
    (dict(station_key="art-desk", code=""), "code", 400),
    (dict(station_key="art-desk", code="   "), "code", 400),
    (dict(station_key="art-desk", code=None), "code", 400),
    (dict(station_key="art-desk", code=12), "code", 400),
    (dict(station_key="art-desk", code="A" * 201), "code", 400),
    (dict(station_key="art-desk", code="A1001\x00"), "code", 400),
    (dict(station_key="art-desk", code="A1001\ud800"), "code", 400),
    (dict(station_key="art-desk", code="A1001A", action="teleport"), "action", 400),
    (dict(station_key="art-desk", code="A1001A", uid="short"), "scan_id", 400),
    (dict(station_key="art-desk", code="A1001A", uid="has spaces in it"), "scan_id", 400),
    (dict(station_key="art-desk", code="A1001A", operator="x" * 81), "operator", 400),
    (dict(station_key="art-desk", code="A1001A", operator="sam\x00"), "operator", 400),
    (dict(station_key="art-desk", code="A1001A", action="qc_fail", reason="r" * 201), "reason", 400),
])
def test_unusable_scan_requests_store_nothing(ctx, kwargs, field, status):
    two_job_order()
    before = snapshot()
    station = kwargs.pop("station_key")
    code = kwargs.pop("code")
    with pytest.raises(ScanInputError) as info:
        record_scan(station, code, actor=OPERATOR, **kwargs)
    db.session.rollback()
    assert (info.value.field, info.value.status) == (field, status)
    assert len(info.value.message) > 10
    assert count(Scan) == 0 and snapshot() == before


def test_an_unknown_station_names_the_known_ones(ctx):
    from tracker.domain.refusals import Invalid, NotFound

    with pytest.raises(ScanInputError, match="art-desk, press-1, qc-1, pack-1") as info:
        record_scan("press-9", "A1001A", actor=OPERATOR)
    assert isinstance(info.value, NotFound)  # the refusal family's kind gives the status, in every surface
    with pytest.raises(ScanInputError) as info:
        record_scan("press-1", "", actor=OPERATOR)
    assert isinstance(info.value, Invalid) and not isinstance(info.value, NotFound)


def test_a_very_long_operator_name_from_a_token_is_cut_to_fit(ctx):
    two_job_order()
    s = scan("A1001A", actor=Actor("token:" + "t" * 74, "operator"))
    assert s.ok and len(s.operator) == 80


# -- two requests at once ------------------------------------------------------------------------------
# Each request has its own session. These load rows, let "another request" change them and commit, then
# scan: the scan must act on what is in the database now, not on what this session read before.

def end_transaction_keeping_what_was_read():
    """Ends this session's transaction but keeps the objects it loaded, unexpired: as if this request had
    read them just before another request's commit. (On SQLite a read transaction held open across the
    other commit would make the next write fail outright, as it would in a real request without
    BEGIN IMMEDIATE; PostgreSQL would carry on either way.)"""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def test_a_scan_sees_a_move_another_request_just_made(app, ctx):
    two_job_order()
    seen = job("A1001A")  # read by this request (and kept: the session's identity map holds it)
    assert seen.stage == "received"
    end_transaction_keeping_what_was_read()
    with app.app_context():                      # another request moves it meanwhile
        order_service.move_job(job("A1001A"), "preproduction", actor=OPERATOR, source="board")
        db.session.commit()
    n = count(Event)
    s, _ = record_scan("art-desk", "A1001A", actor=OPERATOR)
    db.session.commit()
    assert not s.ok and "already in Pre-production" in s.message
    assert count(Event) == n  # one move, one event


def test_two_jobs_moved_at_two_stations_at_once_move_their_order(app, ctx):
    o = two_job_order()
    bring(o, "preproduction")
    seen = list(o.jobs)
    assert [j.stage for j in seen] == ["preproduction", "preproduction"]  # read by this request
    end_transaction_keeping_what_was_read()
    with app.app_context():                      # press-2 moves A1001B meanwhile
        order_service.move_job(job("A1001B"), "production", actor=OPERATOR, source="scan")
        db.session.commit()
    s, _ = record_scan("press-1", "A1001A", actor=OPERATOR)
    db.session.commit()
    assert s.ok
    db.session.expire_all()
    assert order("A1001").stage == "production"
    assert {j.stage for j in order("A1001").jobs} == {"production"}


def test_an_undo_sees_a_move_another_request_just_made(app, ctx):
    two_job_order()
    s = scan("A1001A", "art-desk")
    seen = job("A1001A")
    assert seen.stage == "preproduction"
    end_transaction_keeping_what_was_read()
    with app.app_context():
        order_service.move_job(job("A1001A"), "production", actor=OPERATOR, source="board")
        db.session.commit()
    with pytest.raises(MoveRefused, match="has moved since"):
        undo_scan(s.uid, actor=OPERATOR)


def race(app, *calls):
    """Runs each call in its own thread as a POST request would (own app context, session and connection),
    all released at once; returns their results in order."""
    import threading

    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def run(i, call):
        try:
            with app.test_request_context("/scan/race", method="POST"):
                barrier.wait(timeout=10)
                results[i] = call()
                db.session.commit()
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    return results


def test_two_tablets_scanning_the_same_job_at_the_same_moment_move_it_once(app, ctx):
    two_job_order()

    def tablet(uid):
        return lambda: record_scan("art-desk", "A1001A", actor=OPERATOR, uid=uid)[0].outcome

    outcomes = race(app, tablet("tablet-1-race"), tablet("tablet-2-race"))
    # PostgreSQL: the second waits for the first's lock, then is refused ("already in"); SQLite: the
    # second waits for the write lock, then sees the first as a double trigger. Either way: one move.
    assert sorted(outcomes) in (["duplicate", "moved"], ["moved", "refused"])
    db.session.expire_all()
    assert count(Event, Event.job_id == job("A1001A").id, Event.kind == "advance") == 1
    assert count(Scan) == 2


def test_one_scan_sent_twice_at_the_same_moment_is_stored_once(app, ctx):
    two_job_order()

    def send():
        s, replayed = record_scan("art-desk", "A1001A", actor=OPERATOR, uid="tablet-resend-1")
        return s.outcome, replayed

    results = race(app, send, send)
    assert sorted(results) == [("moved", False), ("moved", True)]
    db.session.expire_all()
    assert count(Scan) == 1
    assert count(Event, Event.job_id == job("A1001A").id) == 1


def test_the_two_jobs_of_one_order_scanned_at_the_same_moment_move_the_order(app, ctx):
    o = two_job_order()
    bring(o, "preproduction")
    results = race(app, lambda: record_scan("press-1", "A1001A", actor=OPERATOR)[0].outcome,
                   lambda: record_scan("press-1", "https://shop.test/jobs/A1001B", actor=OPERATOR)[0].outcome)
    assert results == ["moved", "moved"]
    db.session.expire_all()
    o = order("A1001")
    assert {j.stage for j in o.jobs} == {"production"}
    assert o.stage == "production"  # neither scan may miss that the other job moved too
    assert count(Event, Event.order_id == o.id, Event.job_id.is_(None), Event.to_stage == "production") == 1


# -- operator badges ------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["BADGESAM", "badgesam", " BADGE-SAM ", "BadgeSam"])
def test_a_badge_sets_the_operator(ctx, code):
    create_user("sam", "correct-horse-battery", "operator")
    db.session.commit()
    before = snapshot()
    a = answer(code, "press-1", operator="maria")
    assert a["ok"] is True and a["outcome"] == "info" and a["kind"] == "badge"
    assert a["operator"] == "sam" and "sam" in a["message"]
    assert snapshot() == before


def test_a_badge_for_a_mixed_case_username(ctx):
    create_user("Lee.Wong", "correct-horse-battery", "operator")
    db.session.commit()
    assert answer("BADGELEE.WONG", "press-1")["operator"] == "Lee.Wong"


def test_an_unknown_or_inactive_badge_is_refused(ctx):
    user = create_user("sam", "correct-horse-battery", "operator")
    user.active = False
    db.session.commit()
    for code in ("BADGESAM", "BADGEMARIA"):
        a = answer(code, "press-1", operator="lee")
        assert a["ok"] is False and "badge" in a["message"] and a["operator"] == "lee"


def test_a_badge_is_never_a_double_scan(ctx):
    create_user("sam", "correct-horse-battery", "operator")
    db.session.commit()
    with time_machine.travel(T0, tick=False):
        assert answer("BADGESAM", "press-1")["outcome"] == "info"
        assert answer("BADGESAM", "press-1")["outcome"] == "info"


# -- double scans ---------------------------------------------------------------------------------------

def test_the_same_code_twice_within_seconds_is_one_move(ctx):
    two_job_order()
    with time_machine.travel(T0, tick=False) as traveller:
        first = scan("A1001A", "art-desk")
        n = count(Event)
        traveller.shift(timedelta(seconds=3))
        second = scan("A1001A", "art-desk")
        a = scan_json(second)
        assert a["ok"] is True and a["outcome"] == "duplicate"
        assert (a["order_id"], a["job_id"], a["from"], a["to"]) == ("A1001", "A1001A", "received", "preproduction")
        assert count(Event) == n and events_of_scan(second) == []
        assert second.uid != first.uid and count(Scan) == 2
        # after the window the same code is a new scan, and it has already moved
        traveller.shift(timedelta(seconds=10))
        third = scan("A1001A", "art-desk")
        assert third.ok is False and third.outcome == "refused"
        assert "A1001A is already in Pre-production" in third.message
        assert count(Event) == n


def test_the_window_edge(ctx):
    two_job_order()
    with time_machine.travel(T0, tick=False):
        scan("A1001A")
    with time_machine.travel(T0 + timedelta(seconds=5), tick=False):
        assert scan("A1001A").outcome == "duplicate"  # 5 s after the first: still the same scan
    with time_machine.travel(T0 + timedelta(seconds=9), tick=False):
        # 9 s after the move but 4 after the last trigger: the window counts from the previous scan
        assert scan("A1001A").outcome == "duplicate"
    with time_machine.travel(T0 + timedelta(seconds=14, microseconds=1), tick=False):
        assert scan("A1001A").outcome == "refused"
    assert count(Scan) == 4 and count(Event, Event.scan_id.is_not(None)) == 1


def test_the_window_is_a_setting(tmp_path):
    app = build_app(tmp_path, config={"scanning": {"duplicate_seconds": 1}})
    with app.app_context():
        two_job_order()
        with time_machine.travel(T0, tick=False) as traveller:
            scan("A1001A")
            traveller.shift(timedelta(seconds=2))
            assert scan("A1001A").outcome == "refused"
        db.session.remove()
        db.engine.dispose()


def test_the_same_job_written_differently_is_still_a_double_scan(ctx):
    two_job_order()
    with time_machine.travel(T0, tick=False) as traveller:
        scan("A1001A")
        traveller.shift(timedelta(seconds=1))
        assert scan("https://shop.test/jobs/a1001a").outcome == "duplicate"
        traveller.shift(timedelta(seconds=1))
        assert scan(" a1001a ").outcome == "duplicate"


def test_the_same_code_at_another_station_is_not_a_double_scan(ctx):
    two_job_order()
    with time_machine.travel(T0, tick=False) as traveller:
        scan("A1001A", "art-desk")
        traveller.shift(timedelta(seconds=1))
        s = scan("A1001A", "press-1")
    assert s.outcome == "moved" and job("A1001A").stage == "production"


def test_another_code_in_between_ends_the_double_scan(ctx):
    two_job_order()
    with time_machine.travel(T0, tick=False) as traveller:
        scan("A1001A")
        traveller.shift(timedelta(seconds=1))
        scan("A1001B")
        traveller.shift(timedelta(seconds=1))
        s = scan("A1001A")
    assert s.outcome == "refused" and "already in" in s.message


def test_a_refused_scan_is_not_repeated_as_ok(ctx):
    two_job_order()
    with time_machine.travel(T0, tick=False) as traveller:
        assert not scan("A1001A", "press-1").ok
        traveller.shift(timedelta(seconds=1))
        s = scan("A1001A", "press-1")
    assert s.ok is False and s.outcome == "refused"


def test_after_an_undo_the_same_code_moves_again(ctx):
    two_job_order()
    with time_machine.travel(T0, tick=False) as traveller:
        first = scan("A1001A")
        traveller.shift(timedelta(seconds=1))
        undo_scan(first.uid, actor=OPERATOR)
        db.session.commit()
        assert job("A1001A").stage == "received"
        traveller.shift(timedelta(seconds=1))
        again = scan("A1001A")
    assert again.outcome == "moved" and job("A1001A").stage == "preproduction"


def test_a_qc_fail_right_after_a_pass_is_not_swallowed(ctx):
    o = two_job_order()
    bring(o, "production")
    with time_machine.travel(T0, tick=False) as traveller:
        assert scan("A1001A", "qc-1").outcome == "moved"
        traveller.shift(timedelta(seconds=2))
        s = scan("A1001A", "qc-1", action="qc_fail", reason="Misprint")
    assert s.outcome == "moved" and job("A1001A").stage == "production" and job("A1001A").reprints == 1


# -- replays by scan ID ---------------------------------------------------------------------------------

def test_a_replayed_scan_id_returns_the_first_answer_and_moves_nothing(ctx):
    two_job_order()
    first, replayed = record_scan("art-desk", "A1001A", actor=OPERATOR, uid="tablet-0001")
    db.session.commit()
    assert not replayed
    n = count(Event)
    again, replayed = record_scan("art-desk", "A1001A", actor=OPERATOR, uid="tablet-0001")
    db.session.commit()
    assert replayed and again.id == first.id
    a1, a2 = scan_json(first), scan_json(again, replayed=True)
    assert a2.pop("replayed") is True and a1.pop("replayed") is False
    assert a1 == a2
    assert count(Event) == n and count(Scan) == 1


def test_a_replay_is_the_first_answer_even_with_another_code_or_station(ctx):
    two_job_order()
    first, _ = record_scan("art-desk", "A1001A", actor=OPERATOR, uid="tablet-0002")
    db.session.commit()
    again, replayed = record_scan("press-1", "A1001B", actor=OPERATOR, uid="tablet-0002")
    assert replayed and again.id == first.id and again.job.code == "A1001A"
    assert job("A1001B").stage == "received"


def test_a_replay_of_a_refusal_is_the_same_refusal(ctx):
    two_job_order()
    first, _ = record_scan("press-1", "A1001A", actor=OPERATOR, uid="tablet-0003")
    db.session.commit()
    scan("A1001A", "art-desk")  # now the scan would be allowed...
    again, replayed = record_scan("press-1", "A1001A", actor=OPERATOR, uid="tablet-0003")
    assert replayed and again.ok is False and again.message == first.message
    assert job("A1001A").stage == "preproduction"


def test_a_replay_after_the_duplicate_window_is_still_a_replay(ctx):
    two_job_order()
    with time_machine.travel(T0, tick=False) as traveller:
        record_scan("art-desk", "A1001A", actor=OPERATOR, uid="tablet-0004")
        db.session.commit()
        traveller.shift(timedelta(hours=3))
        again, replayed = record_scan("art-desk", "A1001A", actor=OPERATOR, uid="tablet-0004")
    assert replayed and again.ok and again.outcome == "moved"


def test_a_flood_of_replays_leaves_exactly_one_scan_each(ctx):
    """50 scans, each sent 3 times (a tablet that lost every answer), the resends in shuffled order."""
    for _ in range(25):
        two_job_order(commit=False)
    db.session.commit()
    codes = [f"A{1001 + i}{j}" for i in range(25) for j in "AB"]
    sends = [(f"flood-{n:04d}", code) for n, code in enumerate(codes)]
    resends = sends * 2
    random.Random(7).shuffle(resends)
    events_before = count(Event)
    answers = {}
    for uid, code in sends + resends:
        s, replayed = record_scan("art-desk", code, actor=OPERATOR, uid=uid)
        db.session.commit()
        a = scan_json(s, replayed=replayed)
        assert a["ok"] and a["job_id"] == code
        if uid in answers:
            assert replayed and {**a, "replayed": False} == answers[uid]
        else:
            assert not replayed
            answers[uid] = a
    assert count(Scan) == 50
    # each job moved once (50 job events); each order moved once, when its second job came (25)
    assert count(Event) - events_before == 75
    assert {j.stage for j in db.session.scalars(select(Job))} == {"preproduction"}


# -- undo ----------------------------------------------------------------------------------------------

def test_undo_puts_the_job_back_with_an_undo_event(ctx):
    o = two_job_order()
    with time_machine.travel(T0, tick=False) as traveller:
        s = scan("A1001A", "art-desk")
        traveller.shift(timedelta(seconds=30))
        undone = undo_scan(s.uid, actor=OPERATOR)
        db.session.commit()
    assert undone.undone_at == T0 + timedelta(seconds=30)
    assert scan_json(undone)["undone"] is True
    assert job("A1001A").stage == "received" and o.stage == "received"
    last = db.session.scalars(select(Event).order_by(Event.id.desc())).first()
    assert (last.kind, last.from_stage, last.to_stage, last.job.code, last.station) == (
        "undo", "preproduction", "received", "A1001A", "art-desk")


def test_undo_of_an_order_scan_puts_every_job_back(ctx):
    o = two_job_order()
    s = scan("A1001", "art-desk")
    undo_scan(s.uid, actor=OPERATOR)
    db.session.commit()
    assert o.stage == "received" and {j.stage for j in o.jobs} == {"received"}


def test_undo_of_packing_unpacks(ctx):
    o = two_job_order()
    bring(o, "qc")
    s = scan("A1001", "pack-1")
    undo_scan(s.uid, actor=OPERATOR)
    db.session.commit()
    assert o.stage == "qc" and {j.stage for j in o.jobs} == {"qc"}
    assert db.session.scalars(select(Event).order_by(Event.id.desc())).first().kind == "undo"


def test_undo_after_the_window_is_refused(ctx):
    two_job_order()
    with time_machine.travel(T0, tick=False) as traveller:
        s = scan("A1001A")
        traveller.shift(timedelta(seconds=61))
        before = snapshot()
        with pytest.raises(MoveRefused, match="within 60 seconds"):
            undo_scan(s.uid, actor=OPERATOR)
        db.session.rollback()
    assert snapshot() == before and db.session.get(Scan, s.id).undone_at is None


def test_undo_window_edge(ctx):
    two_job_order()
    with time_machine.travel(T0, tick=False) as traveller:
        s = scan("A1001A")
        traveller.shift(timedelta(seconds=60))
        undo_scan(s.uid, actor=OPERATOR)
        db.session.commit()
    assert job("A1001A").stage == "received"


def test_undo_twice_is_refused(ctx):
    two_job_order()
    s = scan("A1001A")
    undo_scan(s.uid, actor=OPERATOR)
    db.session.commit()
    n = count(Event)
    with pytest.raises(MoveRefused, match="already undone"):
        undo_scan(s.uid, actor=OPERATOR)
    db.session.rollback()
    assert count(Event) == n and job("A1001A").stage == "received"


def test_undo_after_the_job_moved_again_is_refused(ctx):
    two_job_order()
    s = scan("A1001A", "art-desk")
    scan("A1001A", "press-1")
    before = snapshot()
    with pytest.raises(MoveRefused, match="A1001A has moved since"):
        undo_scan(s.uid, actor=OPERATOR)
    db.session.rollback()
    assert snapshot() == before and job("A1001A").stage == "production"


def test_undo_after_the_order_moved_on_is_refused(ship_ctx):
    o = two_job_order()
    bring(o, "qc")
    s = scan("A1001", "pack-1")
    scan("A1001", "ship-1")
    scan(UPS_NUMBER, "ship-1")
    assert o.stage == "labeled"
    before = snapshot()
    with pytest.raises(MoveRefused, match="moved since"):
        undo_scan(s.uid, actor=OPERATOR)
    db.session.rollback()
    assert snapshot() == before and db.session.get(Scan, s.id).undone_at is None


@pytest.mark.parametrize("code,station,why", [
    ("A1001A", "press-1", "only a scan that moved something"),     # refused
    ("hello", "press-1", "only a scan that moved something"),      # unknown
])
def test_undo_of_a_scan_that_moved_nothing_is_refused(ctx, code, station, why):
    two_job_order()
    s = scan(code, station)
    with pytest.raises(MoveRefused, match=why):
        undo_scan(s.uid, actor=OPERATOR)


def test_undo_of_a_duplicate_is_refused_and_the_move_stays(ctx):
    two_job_order()
    with time_machine.travel(T0, tick=False):
        scan("A1001A")
        dup = scan("A1001A")
        with pytest.raises(MoveRefused, match="only a scan that moved something"):
            undo_scan(dup.uid, actor=OPERATOR)
    assert job("A1001A").stage == "preproduction"


def test_undo_of_an_unknown_scan_id(ctx):
    with pytest.raises(ScanInputError) as info:
        undo_scan("no-such-scan", actor=OPERATOR)
    assert info.value.status == 404


def test_undo_at_another_station_is_refused(ctx):
    two_job_order()
    s = scan("A1001A", "art-desk")
    with pytest.raises(ScanInputError) as info:
        undo_scan(s.uid, actor=OPERATOR, station="press-1")
    assert info.value.status == 404
    assert job("A1001A").stage == "preproduction"


def test_undo_of_a_qc_fail_restores_the_job_and_the_reprint_count(ctx):
    o = two_job_order()
    bring(o, "qc")
    s = scan("A1001A", "qc-1", action="qc_fail", reason="Misprint")
    assert job("A1001A").stage == "production" and job("A1001A").reprints == 1
    undo_scan(s.uid, actor=OPERATOR)
    db.session.commit()
    assert job("A1001A").stage == "qc" and job("A1001A").reprints == 0 and o.stage == "qc"


def test_undo_of_a_qc_fail_on_press_restores_the_reprint_count_with_an_undo_event(ctx):
    o = two_job_order()
    bring(o, "production")
    s = scan("A1001A", "qc-1", action="qc_fail", reason="Misprint")
    assert job("A1001A").reprints == 1
    n = count(Event)
    undo_scan(s.uid, actor=OPERATOR)
    db.session.commit()
    assert job("A1001A").stage == "production" and job("A1001A").reprints == 0
    (ev,) = db.session.scalars(select(Event).where(Event.id > 0).order_by(Event.id.desc()).limit(1))
    assert count(Event) == n + 1 and ev.kind == "undo" and ev.job.code == "A1001A"


def test_undo_of_a_batch_puts_every_job_back(ctx):
    o1, o2 = two_job_order(), two_job_order()
    add_batch("BATCH1", ["A1001A", "A1001B", "A1002A"])
    s = scan("BATCH1", "art-desk")
    assert {job(c).stage for c in ("A1001A", "A1001B", "A1002A")} == {"preproduction"}
    undo_scan(s.uid, actor=OPERATOR)
    db.session.commit()
    assert {j.stage for j in db.session.scalars(select(Job))} == {"received"}
    assert (o1.stage, o2.stage) == ("received", "received")


# -- batches ------------------------------------------------------------------------------------------

def add_batch(code: str, job_codes: list[str], station: str = "press-1") -> Batch:
    batch = Batch(code=code, station=station, position=0)
    db.session.add(batch)
    db.session.flush()
    for i, c in enumerate(job_codes):
        j = job(c)
        j.batch_id, j.batch_position = batch.id, i
    db.session.commit()
    return batch


@pytest.mark.parametrize("code", ["BATCH1", "batch1", " BATCH 1 "])
def test_a_batch_code_moves_all_its_jobs(ctx, code):
    o1, o2 = two_job_order(), two_job_order()
    add_batch("BATCH1", ["A1001A", "A1002A", "A1002B"])
    s = scan(code, "art-desk")
    a = scan_json(s)
    assert a["ok"] and a["kind"] == "batch" and a["to"] == "preproduction"
    assert a["message"] == "BATCH1: 3 jobs → Pre-production"
    assert {j.code: j.stage for j in db.session.scalars(select(Job))} == {
        "A1001A": "preproduction", "A1001B": "received", "A1002A": "preproduction", "A1002B": "preproduction"}
    assert o2.stage == "preproduction" and o1.stage == "received"
    assert len([e for e in events_of_scan(s) if e.job_id]) == 3


def test_a_batch_moves_only_the_jobs_that_are_behind(ctx):
    two_job_order()
    add_batch("BATCH1", ["A1001A", "A1001B"])
    scan("A1001A", "art-desk")
    s = scan("BATCH1", "art-desk")
    assert s.ok and s.message == "BATCH1: 1 job → Pre-production"


def test_a_batch_with_one_job_out_of_step_moves_none(ctx):
    two_job_order()
    add_batch("BATCH1", ["A1001A", "A1001B"])
    scan("A1001A", "art-desk")
    before = snapshot()
    s = scan("BATCH1", "press-1")  # A1001B is still in received: it cannot skip pre-production
    assert not s.ok and "A1001B" in s.message
    assert snapshot() == before


@pytest.mark.parametrize("station,message", [
    ("art-desk", "every job of BATCH1 is already at Pre-production or past it"),
    ("pack-1", "a batch is scanned at a production station"),
])
def test_batch_refusals(ctx, station, message):
    o = two_job_order()
    add_batch("BATCH1", ["A1001A", "A1001B"])
    bring(o, "preproduction")
    before = snapshot()
    s = scan("BATCH1", station)
    assert not s.ok and message.lower() in s.message.lower()
    assert snapshot() == before


def test_an_unknown_batch_is_an_unknown_code(ctx):
    s = scan("BATCH404", "press-1")
    assert not s.ok and s.message == "Unknown code BATCH404: no such batch"


# -- QC fails -----------------------------------------------------------------------------------------

def test_a_qc_fail_sends_the_job_back_to_production_as_a_reprint(ctx):
    o = two_job_order()
    bring(o, "qc")
    s = scan("A1001B", "qc-1", action="qc_fail", reason="Misprint")
    a = scan_json(s)
    assert a["ok"] and a["action"] == "qc_fail" and (a["from"], a["to"]) == ("qc", "production")
    assert "failed QC (Misprint)" in a["message"] and "reprint #1" in a["message"]
    assert job("A1001B").stage == "production" and job("A1001B").reprints == 1
    assert o.stage == "production"
    job_events = [e for e in events_of_scan(s) if e.job_id]
    assert [(e.kind, e.from_stage, e.to_stage, e.note) for e in job_events] == [
        ("qc_fail", "qc", "production", "QC fail: Misprint")]
    # passes QC on the second try, fails again: the count keeps going
    scan("A1001B", "qc-1")
    scan("A1001B", "qc-1", action="qc_fail", reason="Stain or damage")
    assert job("A1001B").reprints == 2


def test_a_qc_fail_before_the_qc_scan_keeps_the_job_on_press(ctx):
    o = two_job_order()
    bring(o, "production")
    s = scan("A1001A", "qc-1", action="qc_fail", reason="Placement off")
    assert s.ok and job("A1001A").stage == "production" and job("A1001A").reprints == 1
    (ev,) = events_of_scan(s)
    assert (ev.kind, ev.from_stage, ev.to_stage, ev.note) == ("qc_fail", "production", "production",
                                                              "QC fail: Placement off")


@pytest.mark.parametrize("setup,code,reason,message", [
    ("qc", "A1001A", None, "say why it failed QC"),
    ("qc", "A1001A", "  ", "say why it failed QC"),
    ("qc", "A1001A", "Too ugly", "'Too ugly' is not one of this shop's QC fail reasons"),
    ("qc", "A1001A", "misprint", "not one of this shop's QC fail reasons"),
    ("qc", "A1001", "Misprint", "a QC fail is scanned per job"),
    ("preproduction", "A1001A", "Misprint", "only a job on press or in QC can fail QC"),
    ("packaging", "A1001A", "Misprint", "only a job on press or in QC can fail QC"),
    ("qc", "A9999A", "Misprint", "Unknown code A9999A"),
])
def test_qc_fail_refusals(ctx, setup, code, reason, message):
    o = two_job_order()
    bring(o, setup)
    before = snapshot()
    s = scan(code, "qc-1", action="qc_fail", reason=reason)
    assert not s.ok and message.lower() in s.message.lower(), s.message
    assert snapshot() == before and events_of_scan(s) == []


def test_qc_fail_reasons_come_from_the_config(tmp_path):
    app = build_app(tmp_path, config={"scanning": {"qc_fail_reasons": ["Ink smudge", "Wrong size"]}})
    with app.app_context():
        o = two_job_order()
        bring(o, "qc")
        assert not scan("A1001A", "qc-1", action="qc_fail", reason="Misprint").ok
        assert scan("A1001A", "qc-1", action="qc_fail", reason="Ink smudge").ok
        assert job("A1001A").reprints == 1
        db.session.remove()
        db.engine.dispose()


# -- the ship-out check ---------------------------------------------------------------------------------

def test_ship_out_links_the_label_and_moves_the_order_to_labeled(ship_ctx):
    o = two_job_order()
    bring(o, "packaging")
    first = answer("A1001", "ship-1")
    assert first["ok"] and first["outcome"] == "info" and first["order_id"] == "A1001"
    assert "scan its carrier label" in first["message"]
    assert pending_label_order("ship-1").code == "A1001"
    assert o.stage == "packaging"
    s = scan(UPS_NUMBER, "ship-1", operator="lee")
    a = scan_json(s)
    assert a["ok"] and a["outcome"] == "moved" and a["kind"] == "label"
    assert (a["order_id"], a["from"], a["to"]) == ("A1001", "packaging", "labeled")
    assert a["message"] == f"A1001 checked out: UPS {UPS_NUMBER}"
    assert o.stage == "labeled" and {j.stage for j in o.jobs} == {"labeled"}
    (shipment,) = o.shipments
    assert (shipment.carrier, shipment.tracking_number) == ("ups", UPS_NUMBER)
    assert pending_label_order("ship-1") is None
    moved = [e for e in events_of_scan(s) if e.to_stage == "labeled"]
    assert len(moved) == 1 and moved[0].actor == "lee" and "UPS" in moved[0].note


@pytest.mark.parametrize("barcode,carrier,number", [
    ("1Z999AA10123456784", "ups", "1Z999AA10123456784"),
    ("1z 999 aa1 0123 456784", "ups", "1Z999AA10123456784"),
    ("9400111899223197428490", "usps", "9400111899223197428490"),
    ("420841019400111899223197428490", "usps", "9400111899223197428490"),
    ("4201002334249200190132607600833457", "usps", "9200190132607600833457"),
    ("42084101\x1d9400111899223197428490", "usps", "9400111899223197428490"),
    ("EC123456789US", "usps", "EC123456789US"),
    ("986578788855", "fedex", "986578788855"),
    ("041441760228964", "fedex", "041441760228964"),
    ("9611020987654312345672", "fedex", "9611020987654312345672"),
    ("1001921334250001000300779017972697", "fedex", "779017972697"),
])
def test_the_carrier_comes_from_the_label(ship_ctx, barcode, carrier, number):
    o = two_job_order()
    bring(o, "packaging")
    scan("A1001A", "ship-1")  # a job's label stands for its order here
    s = scan(barcode, "ship-1")
    assert s.ok, s.message
    (shipment,) = o.shipments
    assert (shipment.carrier, shipment.tracking_number) == (carrier, number)
    assert o.stage == "labeled"


def test_a_label_scanned_first_is_refused(ship_ctx):
    o = two_job_order()
    bring(o, "packaging")
    before = snapshot()
    s = scan(UPS_NUMBER, "ship-1")
    assert not s.ok and "scan the order first" in s.message.lower()
    assert snapshot() == before


def test_the_order_must_be_packed_first(ship_ctx):
    o = two_job_order()
    bring(o, "qc")
    before = snapshot()
    s = scan("A1001", "ship-1")
    assert not s.ok and "pack it first" in s.message
    assert pending_label_order("ship-1") is None
    assert not scan(UPS_NUMBER, "ship-1").ok
    assert snapshot() == before


def test_an_order_already_checked_out_is_refused(ship_ctx):
    o = two_job_order()
    bring(o, "packaging")
    scan("A1001", "ship-1")
    scan(UPS_NUMBER, "ship-1")
    s = scan("A1001", "ship-1")
    assert not s.ok and "already passed the ship-out check" in s.message


def test_a_label_of_another_order_is_a_mismatch(ship_ctx):
    o1, o2 = two_job_order(), two_job_order()
    bring(o1, "packaging")
    bring(o2, "packaging")
    scan("A1001", "ship-1")
    scan(UPS_NUMBER, "ship-1")
    scan("A1002", "ship-1")
    before = snapshot()
    s = scan(UPS_NUMBER, "ship-1")
    a = scan_json(s)
    assert a["ok"] is False and "mismatch" in a["message"].lower()
    assert "A1001" in a["message"] and a["order_id"] == "A1002"
    assert snapshot() == before and o2.stage == "packaging"
    # the right label still goes through: the order is still waiting for it
    assert scan(UPS_OTHER, "ship-1").ok and o2.stage == "labeled"


def test_a_different_label_for_an_order_that_has_one_is_a_mismatch(ship_ctx):
    o = two_job_order()
    bring(o, "packaging")
    from tracker.services.shipments import add_shipment
    add_shipment(o, tracking_number=UPS_NUMBER, actor=MANAGER, source="web")
    db.session.commit()
    scan("A1001", "ship-1")
    before = snapshot()
    s = scan(UPS_OTHER, "ship-1")
    assert not s.ok and "mismatch" in s.message.lower() and UPS_NUMBER in s.message
    assert snapshot() == before
    # its own label matches: no second shipment
    assert scan(UPS_NUMBER, "ship-1").ok
    assert len(o.shipments) == 1 and o.stage == "labeled"


def test_the_order_scan_is_forgotten_after_five_minutes(ship_ctx):
    o = two_job_order()
    bring(o, "packaging")
    with time_machine.travel(T0, tick=False) as traveller:
        scan("A1001", "ship-1")
        traveller.shift(timedelta(minutes=6))
        s = scan(UPS_NUMBER, "ship-1")
    assert not s.ok and "scan the order first" in s.message.lower() and o.stage == "packaging"


def test_a_label_at_a_production_station_is_refused(ship_ctx):
    o = two_job_order()
    bring(o, "packaging")
    s = scan(UPS_NUMBER, "pack-1")
    assert not s.ok and "ship-out station" in s.message


def test_a_label_scanned_twice_is_one_check(ship_ctx):
    o = two_job_order()
    bring(o, "packaging")
    with time_machine.travel(T0, tick=False):
        scan("A1001", "ship-1")
        scan(UPS_NUMBER, "ship-1")
        s = scan(UPS_NUMBER, "ship-1")
    assert s.ok and s.outcome == "duplicate" and len(o.shipments) == 1


def test_two_tablets_scanning_the_same_label_at_once_check_it_out_once(ship_ctx):
    o = two_job_order()
    bring(o, "packaging")
    scan("A1001", "ship-1")
    label = lambda: record_scan("ship-1", UPS_NUMBER, actor=OPERATOR)[0].message  # noqa: E731
    messages = race(ship_ctx, label, label)
    db.session.expire_all()
    o = order("A1001")
    assert o.stage == "labeled" and len(o.shipments) == 1
    assert count(Event, Event.order_id == o.id, Event.to_stage == "labeled", Event.from_stage == "packaging") == 1
    assert sorted(messages)[0] == f"A1001 checked out: UPS {UPS_NUMBER}"
    assert sorted(messages)[1] in ("A1001 has already passed the ship-out check (Label)",
                                   "Already recorded (the same code twice in a row)")


def test_a_ship_out_check_is_not_undone_by_scan(ship_ctx):
    o = two_job_order()
    bring(o, "packaging")
    scan("A1001", "ship-1")
    s = scan(UPS_NUMBER, "ship-1")
    with pytest.raises(MoveRefused, match="ship-out check cannot be undone"):
        undo_scan(s.uid, actor=OPERATOR)


def test_a_scan_reads_the_order_and_its_jobs_in_one_statement(ctx):
    """The hot path's lookup: the scanned order's row and its jobs' in one joined, locked read."""
    from tests.conftest import Statements

    two_job_order()
    with Statements() as seen:
        s = scan("A1001B")  # the scan and its commit; the answer's reads afterwards are not the lookup
    assert scan_json(s)["outcome"] == "moved"
    reads = [s for s in seen.sql if s.startswith("select") and (" from orders" in s or " from jobs" in s)]
    assert len(reads) == 1 and " join jobs on " in reads[0], reads


def test_a_scan_answers_from_what_it_read_with_no_read_after_its_outcome(ctx):
    """A plain move reads the order and its jobs as plain rows (no ORM objects): the answer names the order,
    its customer and the job from that read; nothing is read after the scan's outcome is written."""
    from tests.conftest import Statements

    two_job_order(customer_name="Dana Reyes")
    with Statements() as seen:
        s, _ = record_scan("art-desk", "A1001B", actor=OPERATOR)
        a = scan_json(s)
        db.session.commit()
    assert (a["order_id"], a["job_id"], a["customer"], a["from"], a["to"]) == \
        ("A1001", "A1001B", "Dana Reyes", "received", "preproduction")
    last_write = max(i for i, sql in enumerate(seen.sql) if sql.startswith("update scans"))
    assert not [sql for sql in seen.sql[last_write + 1:] if sql.startswith("select")], seen.sql
    db.session.expire_all()
    assert job("A1001B").stage == "preproduction" and job("A1001A").stage == "received"


def test_an_order_the_session_holds_is_refreshed_by_a_scan_of_it(ctx):
    """A caller that already holds the order and its jobs as objects (a page, a command) sees what the scan
    did on those same objects, as the locked re-read always gave it: the scan takes the ORM way then."""
    o = two_job_order()
    held_job = o.jobs[0]
    assert (o.stage, held_job.stage) == ("received", "received")
    s, _ = record_scan("art-desk", "A1001", actor=OPERATOR)
    assert s.ok and s.outcome == "moved"
    assert o.stage == "preproduction" and held_job.stage == "preproduction"  # no expire needed
    assert scan_json(s)["order_id"] == "A1001"
    db.session.commit()
    order_service.move_order(o, None, actor=OPERATOR, source="board")  # the held object moves on from there
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalar(select(Order.stage).where(Order.code == "A1001")) == "production"


def test_a_refused_plain_scan_names_its_order_and_writes_nothing_but_the_scan(ctx):
    two_job_order(customer_name="Dana Reyes")
    scan("A1001A")
    scan("A1001B")  # another code between: the next A1001A is no double scan, but already done
    n = count(Event)
    db.session.expire_all()
    s, _ = record_scan("art-desk", "A1001A", actor=OPERATOR, uid="second-scan-of-a")
    db.session.commit()
    a = scan_json(s)
    assert not a["ok"] and "already in Pre-production" in a["message"]
    assert (a["order_id"], a["job_id"], a["customer"]) == ("A1001", "A1001A", "Dana Reyes")
    assert count(Event) == n


def test_a_plain_scan_leaves_no_object_of_the_scan_order_or_jobs_in_the_session(ctx):
    """The hot path's identity map stays empty of what it wrote: the scan is returned as its outcome (the
    row's columns), the order and jobs were read as plain rows; the stored row reads the same."""
    two_job_order(customer_name="Dana Reyes")
    db.session.expunge_all()
    s, _ = record_scan("art-desk", "A1001A", actor=OPERATOR, uid="no-objects-0001")
    held = [o for o in db.session.identity_map.values() if isinstance(o, (Scan, Order, Job))]
    assert held == [] and s.ok and s.order.code == "A1001" and s.job.code == "A1001A"
    db.session.commit()
    stored = db.session.scalar(select(Scan).where(Scan.uid == "no-objects-0001"))
    fresh, replay = scan_json(s), scan_json(stored, replayed=True)
    assert {k: v for k, v in fresh.items() if k != "replayed"} == {k: v for k, v in replay.items() if k != "replayed"}


def test_a_double_scan_names_the_order_and_job_of_the_scan_before_it(ctx):
    two_job_order()
    scan("A1001A")
    db.session.expunge_all()
    s, _ = record_scan("art-desk", "A1001A", actor=OPERATOR)  # the same code again at once
    assert s.outcome == "duplicate" and (s.order.code, s.job.code) == ("A1001", "A1001A")
    db.session.commit()
