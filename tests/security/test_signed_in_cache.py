"""The login check reads a person's row at most once per SIGNED_IN_SECONDS (auth.py): a change made in this
process is seen by the next request, one made by another process within SIGNED_IN_SECONDS."""
from __future__ import annotations

import time

import time_machine
from sqlalchemy import select, text, update

from tests.conftest import login
from tracker.auth import SIGNED_IN_SECONDS
from tracker.extensions import db
from tracker.models import User


def _user(app, username):
    with app.app_context():
        return db.session.scalar(select(User).where(User.username == username))


def test_a_staff_request_reads_the_user_once_then_not_again(app, client):
    login(client, "operator")
    assert client.get("/scan").status_code == 200
    seen = []
    with app.app_context():
        from sqlalchemy import event

        def count(conn, cursor, statement, *args):
            if "FROM users" in statement:
                seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert client.get("/scan").status_code == 200
            assert client.get("/scan").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
    assert seen == []


def test_a_person_deactivated_here_is_refused_at_the_next_request(app, client):
    login(client, "operator", "olga")
    assert client.get("/scan").status_code == 200
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "olga"))
        user.active = False
        db.session.commit()
    resp = client.get("/scan")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_a_role_lowered_by_a_statement_is_seen_at_the_next_request(app, client):
    login(client, "manager", "mia")
    assert client.get("/reports").status_code == 200
    with app.app_context():
        db.session.execute(update(User).where(User.username == "mia").values(role="operator"))
        db.session.commit()
    assert client.get("/reports").status_code == 403


def test_a_change_by_another_process_is_seen_within_the_bound(app, client):
    login(client, "operator", "omar")
    with time_machine.travel(time.time(), tick=False) as clock:
        assert client.get("/scan").status_code == 200
        with app.app_context(), db.engine.begin() as conn:  # not through this process's session
            conn.execute(text("UPDATE users SET active = :no WHERE username = 'omar'"), {"no": False})
        assert client.get("/scan").status_code == 200  # still within the bound: the copy read before
        clock.shift(SIGNED_IN_SECONDS + 0.5)
        resp = client.get("/scan")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert _user(app, "omar").active is False
