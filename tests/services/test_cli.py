"""`flask --app app tracker ...` through the CLI runner: users, tokens, the demo shop and jobs."""
from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from tests.conftest import Api, csrf_from
from tracker.extensions import db
from tracker.models import ApiToken, Event, Job, Order, SchedulerJob, User

PASSWORD = "a-long-enough-password"


def invoke(runner, *args, env=None):
    return runner.invoke(args=["tracker", *args], env=env or {})


def test_create_user_takes_the_password_from_the_environment(app, runner, client):
    result = invoke(runner, "create-user", "lee", "--role", "operator", env={"TRACKER_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert "lee (operator)" in result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "lee"))
        assert user.role == "operator" and PASSWORD not in user.password_hash
    page = client.get("/login")
    resp = client.post("/login", data={"username": "lee", "password": PASSWORD,
                                       "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 302
    assert client.get("/orders").status_code == 200


def test_create_user_again_resets_password_and_role(app, runner):
    invoke(runner, "create-user", "lee", "--role", "operator", env={"TRACKER_PASSWORD": PASSWORD})
    result = invoke(runner, "create-user", "lee", "--role", "manager", env={"TRACKER_PASSWORD": PASSWORD + "2"})
    assert result.exit_code == 0
    with app.app_context():
        users = list(db.session.scalars(select(User)))
        assert [(u.username, u.role) for u in users] == [("lee", "manager")]


def test_create_user_prompts_when_no_password_in_the_environment(app, runner):
    result = runner.invoke(args=["tracker", "create-user", "kim", "--role", "admin"],
                           input=f"{PASSWORD}\n{PASSWORD}\n", env={"TRACKER_PASSWORD": ""})
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(User.role).where(User.username == "kim")) == "admin"


@pytest.mark.parametrize("args,env,message", [
    (["create-user", "lee", "--role", "boss"], {"TRACKER_PASSWORD": PASSWORD}, "boss"),
    (["create-user", "lee"], {"TRACKER_PASSWORD": PASSWORD}, "--role"),
    (["create-user", "lee", "--role", "operator"], {"TRACKER_PASSWORD": "short"}, "at least 8"),
    (["create-user", "l", "--role", "operator"], {"TRACKER_PASSWORD": PASSWORD}, "username"),
    (["create-user", "lee lee", "--role", "operator"], {"TRACKER_PASSWORD": PASSWORD}, "username"),
    (["create-token", "sync", "--role", "root"], {}, "root"),
    (["create-token", " ", "--role", "operator"], {}, "name"),
])
def test_bad_arguments_fail_with_a_message_and_create_nothing(app, runner, args, env, message):
    result = invoke(runner, *args, env=env)
    assert result.exit_code != 0
    assert message in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0
        assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_create_token_prints_a_working_token_as_the_last_line(app, runner, client):
    result = invoke(runner, "create-token", "shopify-sync", "--role", "manager")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("itk_") and len(token) > 30 and " " not in token
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert row.name == "shopify-sync" and row.role == "manager"
        assert token not in row.token_hash  # only a hash is stored
    api = Api(client, token)
    resp = api.post("/api/orders", json={"customer": {"name": "Rosa Diaz"},
                                         "items": [{"description": "Tee", "method": "dtg", "quantity": 1}]})
    assert resp.status_code == 201
    # a manager token may cancel
    assert api.post("/api/orders/A1001/cancel", json={"reason": "test order"}).status_code == 200
    events = api.get("/api/orders/A1001").get_json()["events"]
    assert {e["actor"] for e in events} == {"token:shopify-sync"}


def test_operator_token_from_the_cli_cannot_cancel(app, runner, client):
    token = invoke(runner, "create-token", "bench", "--role", "operator").output.strip().splitlines()[-1]
    api = Api(client, token)
    assert api.post("/api/orders", json={"customer": {"name": "R"}, "items": [
        {"description": "Tee", "method": "dtg", "quantity": 1}]}).status_code == 201
    assert api.post("/api/orders/A1001/cancel", json={"reason": "x"}).status_code == 403


def test_token_names_fit_the_audit_trail(app, runner, client):
    # Moves by a token are recorded as "token:<name>" in an 80-character column (PostgreSQL enforces it).
    too_long = invoke(runner, "create-token", "n" * 75, "--role", "operator")
    assert too_long.exit_code != 0 and "1 to 74 characters" in too_long.output
    token = invoke(runner, "create-token", "n" * 74, "--role", "operator").output.strip().splitlines()[-1]
    resp = Api(client, token).post("/api/orders", json={"customer": {"name": "R"}, "items": [
        {"description": "Tee", "method": "dtg", "quantity": 1}]})
    assert resp.status_code == 201
    assert resp.get_json()["events"][0]["actor"] == "token:" + "n" * 74


def test_an_older_token_with_a_long_name_still_works(app, client):
    from tracker.services.users import TOKEN_PREFIX, hash_token

    token = TOKEN_PREFIX + "legacy-token-with-a-long-name-0123456789"
    with app.app_context():
        db.session.add(ApiToken(name="x" * 80, token_hash=hash_token(token), role="operator"))
        db.session.commit()
    resp = Api(client, token).post("/api/orders", json={"customer": {"name": "R"}, "items": [
        {"description": "Tee", "method": "dtg", "quantity": 1}]})
    assert resp.status_code == 201
    assert len(resp.get_json()["events"][0]["actor"]) == 80


def test_two_tokens_are_different(runner):
    a = invoke(runner, "create-token", "a", "--role", "operator").output.strip().splitlines()[-1]
    b = invoke(runner, "create-token", "a", "--role", "operator").output.strip().splitlines()[-1]
    assert a != b


# -- the demo shop -----------------------------------------------------------------------------------

def _demo_facts(app):
    with app.app_context():
        orders = list(db.session.scalars(select(Order)))
        jobs = list(db.session.scalars(select(Job)))
        return {
            "orders": len(orders),
            "jobs": len(jobs),
            "events": db.session.scalar(select(func.count()).select_from(Event)),
            "users": db.session.scalar(select(func.count()).select_from(User)),
            "stages": Counter(o.stage for o in orders),
            "methods": {j.method for j in jobs},
            "rush": sum(o.rush for o in orders),
            "multi": sum(len(o.jobs) > 1 for o in orders),
            "codes": [o.code for o in orders],
            "tokens": {o.public_token for o in orders},
            "shipped_without_shipment": [o.code for o in orders if o.stage in
                                         ("labeled", "picked_up", "in_transit", "out_for_delivery", "delivered")
                                         and not o.shipments],
            "mixed_packed": [o.code for o in orders if o.stage in ("packaging", "labeled", "delivered")
                             and {j.stage for j in o.jobs} != {o.stage}],
        }


def test_demo_seeds_a_realistic_shop_once(app, runner):
    from tracker.settings import current_settings

    result = invoke(runner, "demo")
    assert result.exit_code == 0, result.output
    assert "Seeded" in result.output and "Log in as" in result.output
    facts = _demo_facts(app)
    assert facts["orders"] >= 60
    with app.app_context():
        keys = current_settings().lifecycle.keys
    assert set(keys) <= set(facts["stages"]), set(keys) - set(facts["stages"])
    assert facts["stages"]["delivered"] >= 1
    assert {"dtg", "dtf", "screen", "embroidery"} <= facts["methods"]
    assert 0 < facts["rush"] < facts["orders"]
    assert facts["multi"] >= 5
    assert len(facts["tokens"]) == facts["orders"]
    assert facts["codes"] == [f"A{1001 + i}" for i in range(facts["orders"])]
    assert facts["shipped_without_shipment"] == []
    assert facts["mixed_packed"] == []
    assert facts["users"] >= 3

    again = invoke(runner, "demo")
    assert again.exit_code == 0, again.output
    assert "already seeded" in again.output
    second = _demo_facts(app)
    for key in ("orders", "jobs", "events", "users", "stages", "codes"):
        assert second[key] == facts[key], key


def test_demo_logins_work(app, runner, client):
    from tracker.services.demo import DEMO_PASSWORD

    invoke(runner, "demo")
    page = client.get("/login")
    resp = client.post("/login", data={"username": "maria", "password": DEMO_PASSWORD,
                                       "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/orders?stage=delivered").status_code == 200


def test_demo_histories_are_in_time_order(app, runner):
    invoke(runner, "demo")
    with app.app_context():
        for order in db.session.scalars(select(Order)):
            order_events = [e for e in order.events if e.job_id is None]
            ats = [e.at for e in order_events]
            assert ats == sorted(ats), order.code
            assert order_events[0].kind == "create"
            if order.stage != "cancelled":
                assert order_events[-1].to_stage == order.stage, order.code


# -- jobs ---------------------------------------------------------------------------------------------

def test_run_job_heartbeat(app, runner):
    result = invoke(runner, "run-job", "heartbeat")
    assert result.exit_code == 0, result.output
    assert "heartbeat: ok" in result.output
    with app.app_context():
        row = db.session.get(SchedulerJob, "heartbeat")
        assert row.runs == 1 and row.last_error is None and row.last_finished_at is not None
    invoke(runner, "run-job", "heartbeat")
    with app.app_context():
        assert db.session.get(SchedulerJob, "heartbeat").runs == 2


def test_run_unknown_job_fails_and_lists_the_jobs(app, runner):
    result = invoke(runner, "run-job", "nope")
    assert result.exit_code != 0
    assert "nope" in result.output and "heartbeat" in result.output
    with app.app_context():
        assert db.session.get(SchedulerJob, "nope") is None


def test_a_failing_job_reports_and_records_the_error(app, runner, monkeypatch):
    from tracker import jobs

    def broken():
        raise RuntimeError("printer on fire")

    monkeypatch.setitem(jobs.JOBS, "heartbeat", jobs.JobSpec("heartbeat", broken, 30, "test"))
    result = invoke(runner, "run-job", "heartbeat")
    assert result.exit_code != 0
    assert "printer on fire" in result.output
    with app.app_context():
        assert "printer on fire" in db.session.get(SchedulerJob, "heartbeat").last_error
