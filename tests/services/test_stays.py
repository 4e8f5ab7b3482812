"""Stage stays (services/stays.py): written with every move, in the same transaction, and always equal
to what a replay of the audit trail gives (rebuild_all) — moves in time order, out of time order, within
one transaction or many, after a rollback, with jobs added later, cancellations and undone scans."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from tests.factories import MANAGER, make_order
from tests.reports import NOW, L, build_history
from tracker.extensions import db
from tracker.models import StageStay
from tracker.services.orders import Actor, add_job, cancel_order, move_job, move_order, record_note
from tracker.services.stays import rebuild_all

CARRIER = Actor("carrier")
H = dt.timedelta(hours=1)


def stays():
    db.session.expire_all()
    return sorted(((s.order_id, s.job_id, s.stage, s.entered_at, s.left_at, s.ended_by, s.scan_id)
                   for s in db.session.scalars(select(StageStay))),
                  key=lambda r: (r[0], r[1] or 0, r[3], r[2]))


def assert_same_as_replay():
    written = stays()
    rebuild_all(db.session.connection())
    db.session.commit()
    assert stays() == written
    return written


def stages_of(order_id, job_id):
    return [(s.stage, s.left_at is None) for s in db.session.scalars(
        select(StageStay).where(StageStay.order_id == order_id, StageStay.job_id.is_(job_id) if job_id is None
                                else StageStay.job_id == job_id).order_by(StageStay.id))]


@pytest.fixture
def frozen(ctx):
    with time_machine.travel(NOW, tick=False):
        yield


def test_the_hand_made_history_gives_the_stays_a_replay_gives(frozen):
    build_history()  # every move in one transaction
    written = assert_same_as_replay()
    assert len(written) == 60  # F 2, E 4, B 16, A 30, C 6, D 2
    from tracker.models import Order
    a = db.session.scalar(select(Order).where(Order.due_date == dt.date(2026, 1, 9)))
    tee, cap = a.jobs
    # The tee went through the job stages on its own moves, then followed the order from packing on.
    assert stages_of(a.id, tee.id) == [("received", False), ("preproduction", False), ("production", False),
                                       ("qc", False), ("packaging", False), ("labeled", False), ("picked_up", False),
                                       ("in_transit", False), ("out_for_delivery", False), ("delivered", True)]
    assert stages_of(a.id, None)[:2] == [("received", False), ("preproduction", False)]
    qc = db.session.scalar(select(StageStay).where(StageStay.job_id == tee.id, StageStay.stage == "qc"))
    assert (qc.entered_at, qc.left_at, qc.ended_by) == (L(6, 14), L(7, 10), "packaging")


def test_one_move_per_transaction_and_a_note_that_is_not_a_move(frozen):
    order = make_order([("Tee", "dtg", 1), ("Cap", "embroidery", 1)], at=L(5, 8))
    for i, job in enumerate(order.jobs):
        move_job(job, "preproduction", actor=MANAGER, source="web", at=L(5, 9 + i))
        db.session.commit()
    record_note(order, kind="note", actor=MANAGER, source="web", note="called the customer", at=L(5, 12))
    db.session.commit()
    assert_same_as_replay()
    assert stages_of(order.id, order.jobs[0].id) == [("received", False), ("preproduction", True)]
    # The order moved once, when its last job did.
    assert stages_of(order.id, None) == [("received", False), ("preproduction", True)]


def test_a_move_dated_before_the_latest_stay_rebuilds_the_order(frozen):
    order = make_order([("Tee", "dtg", 1)], at=L(5, 8))
    job = order.jobs[0]
    for stage, hour in (("preproduction", 9), ("production", 12), ("qc", 14)):
        move_job(job, stage, actor=MANAGER, source="web", at=L(5, hour))
    move_order(order, "packaging", actor=MANAGER, source="web", at=L(5, 15))
    move_order(order, "labeled", actor=MANAGER, source="web", at=L(5, 16))
    db.session.commit()
    # The carrier's pickup arrives late, dated before the label was even recorded as done.
    move_order(order, "picked_up", actor=CARRIER, source="carrier", at=L(5, 15) + H / 2)
    move_order(order, "in_transit", actor=CARRIER, source="carrier", at=L(6, 9))  # in the same transaction
    db.session.commit()
    assert_same_as_replay()
    assert [s for s, _ in stages_of(order.id, None)][-4:] == ["packaging", "picked_up", "labeled", "in_transit"]


def test_a_rolled_back_move_leaves_no_stay(frozen):
    order = make_order([("Tee", "dtg", 1)], at=L(5, 8))
    move_job(order.jobs[0], "preproduction", actor=MANAGER, source="web", at=L(5, 9))
    db.session.rollback()
    move_job(order.jobs[0], "preproduction", actor=MANAGER, source="web", at=L(5, 10))
    db.session.commit()
    written = assert_same_as_replay()
    assert [(w[2], w[3]) for w in written if w[1] is not None] == [("received", L(5, 8)),
                                                                     ("preproduction", L(5, 10))]


def test_a_move_rolled_back_to_a_savepoint_is_undone_on_the_objects_too(frozen):
    # A move writes the job's and order's stage with statements, not through the unit of work; a savepoint's
    # rollback (a refused batch scan) must still leave the objects showing what the database holds.
    order = make_order([("Tee", "dtg", 1), ("Cap", "embroidery", 1)], at=L(5, 8))
    job = order.jobs[0]
    savepoint = db.session.begin_nested()
    move_job(job, "preproduction", actor=MANAGER, source="web", at=L(5, 9))
    assert job.stage == "preproduction"
    savepoint.rollback()
    assert job.stage == "received" and order.stage == "received"
    move_job(order.jobs[1], "preproduction", actor=MANAGER, source="web", at=L(5, 10))
    db.session.commit()
    assert [j.stage for j in order.jobs] == ["received", "preproduction"]
    written = assert_same_as_replay()
    assert [(w[1] == job.id, w[2]) for w in written if w[1] is not None and w[4] is None] == [
        (True, "received"), (False, "preproduction")]


def test_two_moves_of_one_job_in_one_transaction_end_the_stay_the_first_began(frozen):
    order = make_order([("Tee", "dtg", 1)], at=L(5, 8))
    move_job(order.jobs[0], "preproduction", actor=MANAGER, source="web", at=L(5, 9))
    move_job(order.jobs[0], "production", actor=MANAGER, source="web", at=L(5, 10))
    db.session.commit()
    written = assert_same_as_replay()
    assert [(w[2], w[4]) for w in written if w[1] is not None] == [
        ("received", L(5, 9)), ("preproduction", L(5, 10)), ("production", None)]


def test_a_job_added_later_and_a_cancellation(frozen):
    from tracker.domain.intake import ItemDraft

    order = make_order([("Tee", "dtg", 1)], at=L(5, 8))
    move_job(order.jobs[0], "preproduction", actor=MANAGER, source="web", at=L(5, 9))
    db.session.commit()
    added = add_job(order, ItemDraft("Cap", "embroidery", 2), actor=MANAGER, source="web", at=L(5, 10))
    db.session.commit()
    cancel_order(order, actor=MANAGER, source="web", reason="customer cancelled", at=L(6, 9))
    db.session.commit()
    assert_same_as_replay()
    assert stages_of(order.id, added.id) == [("received", False), ("cancelled", True)]
    assert stages_of(order.id, order.jobs[0].id) == [("received", False), ("preproduction", False),
                                                      ("cancelled", True)]


def test_an_undone_scan_is_a_move_back_on_the_record(frozen):
    from tracker.services.scanning import record_scan, undo_scan

    order = make_order([("Tee", "dtg", 1)], at=L(5, 8))
    db.session.commit()
    from tracker.settings import current_settings

    station = next(k for k, s in current_settings().stations.items() if s.moves_to == "preproduction")
    scan, _ = record_scan(station, order.jobs[0].code, actor=MANAGER, uid="undo-test-0001")
    db.session.commit()
    undo_scan("undo-test-0001", actor=MANAGER)
    db.session.commit()
    written = assert_same_as_replay()
    job_stays = [w for w in written if w[1] is not None]
    assert [w[2] for w in job_stays] == ["received", "preproduction", "received"]
    assert job_stays[1][6] == scan.id  # the stay begun by the scan names it


def test_rebuild_stays_command(app, runner):
    with app.app_context():
        make_order([("Tee", "dtg", 1)])
        db.session.execute(StageStay.__table__.delete())
        db.session.commit()
    result = runner.invoke(args=["tracker", "rebuild-stays"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("2 stage stays rebuilt from the events")
    with app.app_context():
        assert db.session.query(StageStay).count() == 2
