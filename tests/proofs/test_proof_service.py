"""Proofs through the services: stored files, versions, the customer's answers and what they move, mail
to a real SMTP server, reminders, and the customer's time kept out of stall checks and estimates."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from tests.conftest import closing
from tests.factories import OPERATOR, make_order
from tests.proofs.conftest import PDF, PNG, T0, proof_app
from tracker.domain.proofs import ProofRefused
from tracker.extensions import db
from tracker.jobs import run_job
from tracker.models import Alert, Event, Job, Proof
from tracker.queries import public_estimate
from tracker.services import proofs as service
from tracker.services.orders import move_job


def post(job, content=PNG, note=None, name="tee-front.png"):
    proof = service.post_proof(job, filename=name, content=content, note=note, actor=OPERATOR, source="web")
    db.session.commit()
    return proof


def answer(order, proof, answer="approve", comment=None):
    result = service.answer_proof(order, proof.id, answer=answer, comment=comment)
    db.session.commit()
    return result


def job_events(job):
    return db.session.scalars(select(Event).where(Event.job_id == job.id).order_by(Event.id)).all()


def test_a_proof_is_stored_under_the_instance_folder_and_the_job_waits_for_the_customer(app):
    with time_machine.travel(T0, tick=False), app.app_context():
        order = make_order()
        job = order.jobs[0]
        assert job.stage == "received"
        proof = post(job, note="Logo 10 in wide")
        path = service.file_path(proof)
        assert path.parent == service.folder() and str(path).startswith(app.instance_path)
        assert path.read_bytes() == PNG and proof.size == len(PNG) and proof.content_type == "image/png"
        assert (proof.version, proof.state, proof.filename, proof.posted_by) == (1, "pending", "tee-front.png", "sam")
        # A proof means the job is in artwork: it was moved there, and it waits for the customer from now.
        assert job.stage == "preproduction" and job.proof_state == "pending" and job.waiting_since == T0
        assert [(e.kind, e.to_stage, e.note) for e in job_events(job)][-2:] == [
            ("advance", "preproduction", "A proof was posted"),
            ("proof", "preproduction", "Proof v1 posted for the customer's approval: Logo 10 in wide")]


def test_a_new_version_supersedes_the_pending_one(app):
    with app.app_context():
        order = make_order()
        job = order.jobs[0]
        first = post(job)
        second = post(job, content=PDF, name="v2.pdf")
        assert (first.state, second.state, second.version, second.content_type) == (
            "superseded", "pending", 2, "application/pdf")
        stale = answer(order, first)
        assert not stale.changed and "version 2 is newer" in stale.message
        assert job.proof_state == "pending" and job.stage == "preproduction"


def test_approval_moves_the_job_to_production_as_the_customer(app):
    with time_machine.travel(T0, tick=False) as clock, app.app_context():
        order = make_order()
        job = order.jobs[0]
        proof = post(job)
        clock.shift(dt.timedelta(hours=5))
        result = answer(order, proof)
        assert result.changed and "goes to print" in result.message
        assert proof.state == "approved" and proof.answered_at == T0 + dt.timedelta(hours=5)
        assert job.stage == "production" and job.proof_state == "approved" and job.waiting_since is None
        last = job_events(job)[-2:]
        assert [(e.kind, e.source, e.actor, e.to_stage) for e in last] == [
            ("proof", "customer", "customer", "preproduction"), ("advance", "customer", "customer", "production")]
        again = answer(order, proof)
        assert not again.changed and "already approved version 1" in again.message
        assert len(job_events(job)) == len(last) + 2  # create/advance before: nothing new


def test_with_approval_moves_on_off_the_job_waits_for_staff(tmp_path):
    app = proof_app(tmp_path, approval_moves_on=False)
    with app.app_context():
        order = make_order()
        proof = post(order.jobs[0])
        assert "goes to print" not in answer(order, proof).message
        assert order.jobs[0].stage == "preproduction" and order.jobs[0].proof_state == "approved"
    list(closing(app))


def test_changes_requested_go_back_to_staff_with_the_comment(app):
    with app.app_context():
        order = make_order()
        job = order.jobs[0]
        proof = post(job)
        with pytest.raises(ProofRefused) as exc:
            service.answer_proof(order, proof.id, answer="changes", comment="  ")
        assert exc.value.field == "comment"
        db.session.rollback()
        result = answer(order, proof, "changes", "Make the logo navy, not black")
        assert result.changed and proof.state == "changes" and proof.comment == "Make the logo navy, not black"
        assert job.stage == "preproduction" and job.proof_state == "changes"
        assert job.proof_comment == "Make the logo navy, not black"
        assert job_events(job)[-1].note == "Changes requested on proof v1: Make the logo navy, not black"
        assert not answer(order, proof, "approve").changed  # answered once: a later click changes nothing
        second = post(job)
        assert job.proof_state == "pending" and job.proof_comment is None and second.version == 2


def test_bad_uploads_and_jobs_are_refused_and_store_nothing(app):
    with app.app_context():
        order = make_order([("Tee", "dtg", 1), ("Hat", "embroidery", 2)])
        first, second = order.jobs
        for content, status in ((b"", 400), (b"<svg onload=alert(1)>", 400), (PNG + b"\0" * (8 * 1024 * 1024), 413)):
            with pytest.raises(ProofRefused) as exc:
                service.post_proof(first, filename="x.png", content=content, note=None, actor=OPERATOR, source="web")
            assert exc.value.status == status
            db.session.rollback()
        move_job(second, "preproduction", actor=OPERATOR, source="web")
        move_job(second, "production", actor=OPERATOR, source="web")
        db.session.commit()
        with pytest.raises(ProofRefused) as past:
            service.post_proof(second, filename="x.png", content=PNG, note=None, actor=OPERATOR, source="web")
        assert past.value.status == 409 and "already past Pre-production" in past.value.message
        db.session.rollback()
        assert db.session.scalar(select(Proof.id)) is None
        assert not service.folder().exists() or list(service.folder().iterdir()) == []
        with pytest.raises(ProofRefused) as other:
            service.get_proof(make_order(), 10**12)
        assert other.value.status == 404


def test_another_orders_proof_is_unknown(app):
    with app.app_context():
        mine, theirs = make_order(), make_order()
        proof = post(theirs.jobs[0])
        with pytest.raises(ProofRefused) as exc:
            service.answer_proof(mine, proof.id, answer="approve")
        assert exc.value.status == 404 and proof.state == "pending"


def test_the_customer_is_mailed_a_link_and_reminded_once(app, smtp):
    with time_machine.travel(T0, tick=False) as clock, app.app_context():
        order = make_order()
        proof = post(order.jobs[0], note="Check the spelling")
        run_job("outbox")
        assert smtp.subjects() == [f"Your proof for order {order.code} is ready to approve"]
        body = smtp.messages[0].get_body(("plain",)).get_content()
        assert "Check the spelling" in body and "Review your proof: http://shop.test/t/" in body
        clock.shift(dt.timedelta(hours=23))
        assert run_job("proof-reminders") == {"reminded": 0}
        clock.shift(dt.timedelta(hours=2))
        assert run_job("proof-reminders") == {"reminded": 1}
        assert run_job("proof-reminders") == {"reminded": 0}  # once per version
        run_job("outbox")
        assert smtp.subjects()[1:] == [f"Reminder: your proof for order {order.code} is waiting for you"]
        answer(order, proof)
        clock.shift(dt.timedelta(hours=48))
        assert run_job("proof-reminders") == {"reminded": 0}  # answered: nothing to remind


def test_reminders_can_be_switched_off(tmp_path):
    app = proof_app(tmp_path, remind_after_hours=0)
    with time_machine.travel(T0, tick=False) as clock, app.app_context():
        post(make_order().jobs[0])
        clock.shift(dt.timedelta(days=10))
        assert run_job("proof-reminders") == {"reminded": 0}
    list(closing(app))


def stalled_codes():
    return sorted(a.message.split()[0] for a in db.session.scalars(select(Alert).where(Alert.closed_at.is_(None))))


def test_the_customers_time_is_not_a_stall(app):
    """Pre-production's SLA is 24 h. The job waits 30 h for the customer, then the shop spends 20 h on the
    changes: not stalled (20 h of the shop's time). At 25 h of the shop's own time it is."""
    with time_machine.travel(T0, tick=False) as clock, app.app_context():
        order = make_order(due_date=(T0 + dt.timedelta(days=60)).date())
        job = order.jobs[0]
        move_job(job, "preproduction", actor=OPERATOR, source="web")
        db.session.commit()
        proof = post(job)
        clock.shift(dt.timedelta(hours=30))
        run_job("stall-sweep")
        assert stalled_codes() == [] and run_job("delay-notices") == {"estimate": 0, "stall": 0}
        answer(order, proof, "changes", "Smaller text")
        assert job.customer_wait(T0 + dt.timedelta(hours=30)) == dt.timedelta(hours=30)
        clock.shift(dt.timedelta(hours=20))
        run_job("stall-sweep")
        assert stalled_codes() == []
        clock.shift(dt.timedelta(hours=5))
        run_job("stall-sweep")
        assert stalled_codes() == [job.code]
        # A move starts a new stay: the old wait no longer counts.
        move_job(job, "production", actor=OPERATOR, source="web")
        db.session.commit()
        assert job.customer_wait(T0 + dt.timedelta(hours=60)) == dt.timedelta(0)


def test_the_estimate_counts_from_the_customers_answer(app):
    with time_machine.travel(T0, tick=False) as clock, app.app_context():
        order = make_order()
        job = order.jobs[0]
        move_job(job, "preproduction", actor=OPERATOR, source="web")
        db.session.commit()
        post(job)
        clock.shift(dt.timedelta(days=3))
        waiting = public_estimate(order, T0 + dt.timedelta(days=3))
        # As if pre-production began now: the same estimate as an order that entered it just now.
        fresh = make_order()
        move_job(fresh.jobs[0], "preproduction", actor=OPERATOR, source="web")
        db.session.commit()
        assert waiting.date == public_estimate(fresh, T0 + dt.timedelta(days=3)).date


def test_housekeeping_removes_only_proof_files_no_row_names(app):
    with time_machine.travel(T0, tick=False) as clock, app.app_context():
        proof = post(make_order().jobs[0])
        orphan = service.folder() / ("ab" * 16 + ".png")
        orphan.write_bytes(PNG)
        theirs = service.folder() / "notes.txt"
        theirs.write_text("the shop's own file")
        import os
        old = (T0 - dt.timedelta(days=2)).timestamp()
        for path in (orphan, theirs, service.file_path(proof)):
            os.utime(path, (old, old))
        clock.shift(dt.timedelta(hours=1))
        assert run_job("housekeeping")["proof_files"] == 1
        assert not orphan.exists() and theirs.exists() and service.file_path(proof).exists()


def test_the_report_shows_time_waiting_for_approval(app):
    from tracker.reports import Period, load_all
    from tracker.settings import current_settings

    with time_machine.travel(T0, tick=False) as clock, app.app_context():
        a, b = make_order(), make_order([("Hat", "embroidery", 1)])
        pa, pb = post(a.jobs[0]), post(b.jobs[0])
        clock.shift(dt.timedelta(hours=6))
        answer(a, pa, "changes", "Navy")
        pa2 = post(a.jobs[0])
        clock.shift(dt.timedelta(hours=2))
        answer(a, pa2)
        tz = current_settings().shop.tz
        day = T0.astimezone(tz).date()
        result = load_all()["proofs"].compute(Period(day, day, tz))
        figures = dict(result.summary)
        assert figures["Proofs posted"] == "3" and figures["Approved"] == "1" and figures["Changes requested"] == "1"
        assert figures["Median hours to answer"] == "4" and figures["Waiting now"] == "1"
        tables = {t.key: t for t in result.tables}
        assert tables["by_method"].rows == [("dtg", 2, 4.0, 5.6, 2.0)]
        assert tables["rounds"].rows == [(1, 1, 50.0), (2, 1, 50.0)]
        assert [r[:3] for r in tables["waiting"].rows] == [(pb.job.code, b.code, 1)]
        assert db.session.get(Job, pb.job_id).proof_state == "pending"


def test_a_job_moved_on_by_hand_while_waiting_is_no_longer_waiting(app):
    """Staff print before the answer: in production the job is the shop's again (stall checks see it)."""
    with time_machine.travel(T0, tick=False) as clock, app.app_context():
        order = make_order(due_date=(T0 + dt.timedelta(days=60)).date())
        job = order.jobs[0]
        proof = post(job)
        assert job.waiting_for_customer
        clock.shift(dt.timedelta(hours=1))
        move_job(job, "production", actor=OPERATOR, source="web")
        db.session.commit()
        assert not job.waiting_for_customer and job.customer_wait(T0 + dt.timedelta(hours=30)) == dt.timedelta(0)
        clock.shift(dt.timedelta(hours=30))  # past production's 24 h SLA
        run_job("stall-sweep")
        assert stalled_codes() == [job.code]
        late = answer(order, proof)  # the customer still approves: recorded, nothing moves
        assert late.changed and job.stage == "production" and job.proof_state == "approved"
        assert job.waiting_since is None
