"""services/orders.py against a real database: codes, tokens, the append-only audit trail, and the events
every move writes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from tests.factories import MANAGER, OPERATOR, make_order
from tracker.domain.codes import looks_like_token
from tracker.domain.intake import ItemDraft, OrderDraft
from tracker.domain.lifecycle import MoveRefused
from tracker.extensions import db
from tracker.models import Event, Job, Order
from tracker.services import orders as order_service
from tracker.services.orders import Actor

T0 = datetime(2026, 3, 2, 15, 30, tzinfo=timezone.utc)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def events_of(order: Order) -> list[Event]:
    return list(db.session.scalars(select(Event).where(Event.order_id == order.id).order_by(Event.id)))


def draft(**overrides) -> OrderDraft:
    fields = {"customer_name": "Rosa Diaz", "customer_email": None, "customer_phone": None,
              "items": (ItemDraft("Team tee", "dtg", 12),), "channel": "manual"}
    fields.update(overrides)
    return OrderDraft(**fields)


# -- the audit trail is append-only, in the database itself ---------------------------------------------

@pytest.mark.parametrize("sql", [
    "UPDATE events SET note = 'rewritten'",
    "UPDATE events SET to_stage = 'delivered' WHERE kind = 'create'",
    "DELETE FROM events",
    "DELETE FROM events WHERE kind = 'create'",
])
def test_events_cannot_be_updated_or_deleted(ctx, sql):
    order = make_order()
    order_service.move_order(order, None, actor=OPERATOR, source="web", note="first move")
    db.session.commit()
    before = [(e.id, e.kind, e.from_stage, e.to_stage, e.note) for e in events_of(order)]
    with pytest.raises(DBAPIError) as info:
        db.session.execute(text(sql))
        db.session.flush()
    assert "append-only" in str(info.value)
    db.session.rollback()
    db.session.expire_all()
    assert [(e.id, e.kind, e.from_stage, e.to_stage, e.note) for e in events_of(order)] == before


def test_changing_an_event_through_the_orm_fails_too(ctx):
    order = make_order()
    ev = events_of(order)[0]
    ev.note = "nothing happened here"
    with pytest.raises(DBAPIError):
        db.session.commit()
    db.session.rollback()
    assert events_of(order)[0].note == "Order received: 1 item"


def test_events_can_still_be_appended(ctx):
    order = make_order()
    order_service.move_order(order, None, actor=OPERATOR, source="web")
    db.session.commit()
    assert count(Event) == 1 + 1 + 1


# -- order codes and tracking tokens ------------------------------------------------------------------

def test_order_codes_are_sequential_and_jobs_are_lettered(ctx):
    codes = [make_order([("Tee", "dtg", 1)] * n).code for n in (1, 2, 27)]
    assert codes == ["A1001", "A1002", "A1003"]
    jobs = list(db.session.scalars(select(Job.code).join(Order).where(Order.code == "A1003").order_by(Job.position)))
    assert jobs[:3] == ["A1003A", "A1003B", "A1003C"] and jobs[-2:] == ["A1003Z", "A1003AA"]


def test_a_rolled_back_order_never_leaves_a_duplicate_code(ctx):
    make_order()                                    # A1001, committed
    make_order(commit=False)                        # flushed, then the transaction is rolled back
    db.session.rollback()
    assert count(Order) == 1
    third = make_order()
    fourth = make_order()
    codes = list(db.session.scalars(select(Order.code).order_by(Order.id)))
    assert codes == ["A1001", third.code, fourth.code]
    assert len(set(codes)) == 3
    # still sequential: the rolled-back number was never seen by anyone, and no committed code repeats
    assert [int(c[1:]) for c in codes] == sorted(int(c[1:]) for c in codes)
    assert third.code == "A1002" and fourth.code == "A1003"


def test_the_first_order_rolled_back_starts_again_at_the_first_number(ctx):
    make_order(commit=False)
    db.session.rollback()
    assert make_order().code == "A1001"
    assert make_order().code == "A1002"


def test_a_lost_race_on_external_ref_returns_the_winner_and_keeps_codes_sequential(ctx, monkeypatch):
    winner = make_order(channel="shopify", external_ref="SO-1")  # A1001
    real = order_service.find_by_external_ref
    calls = []

    def stale_first_look(channel, ref):
        # The first look happens "before the other request committed": it sees nothing.
        calls.append(ref)
        return None if len(calls) == 1 else real(channel, ref)

    monkeypatch.setattr(order_service, "find_by_external_ref", stale_first_look)
    got, created = order_service.create_order(draft(channel="shopify", external_ref="SO-1"), actor=MANAGER,
                                              source="import")
    db.session.commit()
    assert created is False and got.id == winner.id
    assert (count(Order), count(Job), count(Event)) == (1, 1, 1)
    nxt = make_order().code
    assert nxt != "A1001" and int(nxt[1:]) > 1001  # the loser's number may be skipped, never reused


def test_duplicate_external_ref_returns_the_existing_order_and_writes_nothing(ctx):
    first, created = order_service.create_order(draft(channel="etsy", external_ref="E-9"), actor=MANAGER, source="import")
    db.session.commit()
    assert created is True
    again, created = order_service.create_order(draft(channel="etsy", external_ref="E-9", customer_name="Somebody else"),
                                                actor=MANAGER, source="import")
    db.session.commit()
    assert created is False and again.id == first.id and again.customer_name == "Rosa Diaz"
    assert (count(Order), count(Job), count(Event)) == (1, 1, 1)


def test_public_tokens_are_long_unguessable_and_unique(ctx):
    tokens = [make_order(commit=False).public_token for _ in range(40)]
    db.session.commit()
    assert len(set(tokens)) == 40
    for token in tokens:
        assert len(token) >= 32
        assert looks_like_token(token)
        assert "A10" not in token[:4]  # not derived from the order code


# -- every move writes a full event ----------------------------------------------------------------------

def test_create_writes_one_event_at_the_frozen_time(ctx):
    with time_machine.travel(T0, tick=False):
        order = make_order([("Tee", "dtg", 5), ("Cap", "embroidery", 5)])
    order = db.session.get(Order, order.id)
    assert order.created_at == T0 and order.stage_entered_at == T0
    assert all(j.stage_entered_at == T0 and j.stage == "received" for j in order.jobs)
    (ev,) = events_of(order)
    assert (ev.at, ev.kind, ev.from_stage, ev.to_stage, ev.source, ev.actor, ev.station, ev.job_id) == (
        T0, "create", None, "received", "web", "maria", None, None)
    assert ev.note == "Order received: 2 items"


def test_a_job_move_writes_time_from_to_source_actor_station_and_note(ctx):
    order = make_order([("Tee", "dtg", 5), ("Cap", "embroidery", 5)], at=T0)
    job = order.jobs[1]
    with time_machine.travel(T0 + timedelta(minutes=42), tick=False):
        plan = order_service.move_job(job, "preproduction", actor=Actor("lee", "operator"), source="scan",
                                      station="art-desk", note="  proof signed  ")
        db.session.commit()
    assert plan.kind == "advance"
    ev = events_of(order)[-1]
    assert (ev.at, ev.kind, ev.from_stage, ev.to_stage, ev.source, ev.actor, ev.station, ev.note, ev.job_id) == (
        T0 + timedelta(minutes=42), "advance", "received", "preproduction", "scan", "lee", "art-desk",
        "proof signed", job.id)
    assert job.stage == "preproduction" and job.stage_entered_at == T0 + timedelta(minutes=42)
    assert order.stage == "received"  # the other job is still there
    assert len(events_of(order)) == 2  # no order-level event: the order did not change stage


def test_the_last_job_moving_moves_the_order_with_its_own_event(ctx):
    order = make_order([("Tee", "dtg", 5), ("Cap", "embroidery", 5)], at=T0)
    order_service.move_job(order.jobs[0], "preproduction", actor=OPERATOR, source="board", at=T0 + timedelta(hours=1))
    order_service.move_job(order.jobs[1], "preproduction", actor=OPERATOR, source="board", at=T0 + timedelta(hours=2))
    db.session.commit()
    evs = events_of(order)
    assert [(e.job_id is None, e.from_stage, e.to_stage) for e in evs] == [
        (True, None, "received"), (False, "received", "preproduction"), (False, "received", "preproduction"),
        (True, "received", "preproduction")]
    assert evs[-1].at == T0 + timedelta(hours=2) and evs[-1].actor == "sam" and evs[-1].source == "board"
    assert order.stage == "preproduction" and order.stage_entered_at == T0 + timedelta(hours=2)


def test_packing_moves_every_job_and_writes_one_order_event(ctx):
    order = make_order([("Tee", "dtg", 5), ("Cap", "embroidery", 5), ("Tote", "screen", 50)], at=T0)
    order_service.move_order(order, "qc", actor=MANAGER, source="web", note="reprint", at=T0 + timedelta(hours=1))
    db.session.commit()
    n = len(events_of(order))
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        plan = order_service.move_order(order, None, actor=Actor("lee", "operator"), source="scan", station="pack-1")
        db.session.commit()
    assert plan.to_stage == "packaging"
    new = events_of(order)[n:]
    assert len(new) == 1
    (ev,) = new
    assert (ev.job_id, ev.kind, ev.from_stage, ev.to_stage, ev.at, ev.actor, ev.source, ev.station) == (
        None, "advance", "qc", "packaging", T0 + timedelta(hours=2), "lee", "scan", "pack-1")
    assert order.stage == "packaging"
    assert {j.stage for j in order.jobs} == {"packaging"}
    assert {j.stage_entered_at for j in order.jobs} == {T0 + timedelta(hours=2)}


def test_packing_is_refused_until_every_job_passed_qc_and_writes_nothing(ctx):
    order = make_order([("Tee", "dtg", 5), ("Cap", "embroidery", 5)])
    order_service.move_job(order.jobs[0], "qc", actor=MANAGER, source="web", note="checked early")
    db.session.commit()
    n = count(Event)
    with pytest.raises(MoveRefused, match="A1001B is in Received"):
        order_service.move_order(order, "packaging", actor=MANAGER, source="web")
    assert count(Event) == n and order.stage == "received"


def test_an_order_move_within_job_stages_records_each_job_and_the_order(ctx):
    order = make_order([("Tee", "dtg", 5), ("Cap", "embroidery", 5)], at=T0)
    order_service.move_job(order.jobs[0], "preproduction", actor=OPERATOR, source="web", at=T0)
    db.session.commit()
    n = count(Event)
    order_service.move_order(order, "preproduction", actor=OPERATOR, source="web", at=T0 + timedelta(hours=1))
    db.session.commit()
    new = events_of(order)[n:]
    assert [(e.job.code if e.job else None, e.from_stage, e.to_stage) for e in new] == [
        ("A1001B", "received", "preproduction"), (None, "received", "preproduction")]


@pytest.mark.parametrize("actor,to,note,message", [
    (OPERATOR, "production", "hurry", "needs a manager"),
    (MANAGER, "production", None, "needs a reason"),
    (MANAGER, "picked_up", "handed over", "carrier"),
    (MANAGER, "nowhere", "x", "not a stage"),
])
def test_refused_moves_raise_and_write_no_event(ctx, actor, to, note, message):
    order = make_order()
    n = count(Event)
    with pytest.raises(MoveRefused, match=message):
        order_service.move_order(order, to, actor=actor, source="web", note=note)
    with pytest.raises(MoveRefused):
        order_service.move_job(order.jobs[0], to, actor=actor, source="web", note=note)
    assert count(Event) == n
    assert order.stage == "received" and order.jobs[0].stage == "received"


def test_rework_needs_a_reason_and_is_recorded_as_rework(ctx):
    order = make_order(at=T0)
    order_service.move_order(order, "production", actor=MANAGER, source="web", note="pre-approved", at=T0)
    with pytest.raises(MoveRefused, match="needs a reason"):
        order_service.move_job(order.jobs[0], "preproduction", actor=OPERATOR, source="web")
    order_service.move_job(order.jobs[0], "preproduction", actor=OPERATOR, source="web", note="wrong colour")
    db.session.commit()
    ev = events_of(order)[-2]
    assert (ev.kind, ev.from_stage, ev.to_stage, ev.note) == ("rework", "production", "preproduction", "wrong colour")
    assert order.stage == "preproduction"


def test_unknown_event_source_is_refused(ctx):
    order = make_order()
    with pytest.raises(ValueError):
        order_service.move_order(order, None, actor=OPERATOR, source="telepathy")


def test_cancel_writes_one_event_and_cancels_every_job(ctx):
    order = make_order([("Tee", "dtg", 5), ("Cap", "embroidery", 5)], at=T0)
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        order_service.cancel_order(order, actor=MANAGER, source="web", reason=" customer changed their mind ")
        db.session.commit()
    ev = events_of(order)[-1]
    assert (ev.kind, ev.from_stage, ev.to_stage, ev.note, ev.actor, ev.at) == (
        "cancel", "received", "cancelled", "customer changed their mind", "maria", T0 + timedelta(days=1))
    assert order.cancelled_at == T0 + timedelta(days=1)
    assert {j.stage for j in order.jobs} == {"cancelled"}
    with pytest.raises(MoveRefused):
        order_service.move_order(order, None, actor=MANAGER, source="web")


@pytest.mark.parametrize("actor,reason,message", [(OPERATOR, "asked", "needs a manager"), (MANAGER, "  ", "needs a reason")])
def test_cancel_refusals_write_nothing(ctx, actor, reason, message):
    order = make_order()
    with pytest.raises(MoveRefused, match=message):
        order_service.cancel_order(order, actor=actor, source="web", reason=reason)
    assert count(Event) == 1 and order.stage == "received"
