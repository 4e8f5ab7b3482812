"""Fixtures in the flaskr style: an app per test with its own database, a client and a CLI runner.

SQLite by default (a fresh file per test). With TRACKER_TEST_DATABASE_URL set (PostgreSQL), the schema is
created once per run and every table is emptied before each test.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlalchemy import event, text

from tracker import create_app
from tracker.extensions import db

HERE = Path(__file__).resolve().parent
TEST_CONFIG = HERE / "test_config.toml"
PG_URL = os.environ.get("TRACKER_TEST_DATABASE_URL")
PASSWORD = "correct-horse-battery"
_pg_schema_ready = False


def build_app(tmp_path: Path, config: dict | None = None, **flask_config):
    global _pg_schema_ready
    url = PG_URL or f"sqlite:///{tmp_path / 'test.db'}"
    from tracker.settings import normalise_database_url

    overrides = {
        "TESTING": True,
        "INSTANCE_PATH": tmp_path / "instance",
        "TRACKER_CONFIG_PATH": TEST_CONFIG,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(url),
        **flask_config,
    }
    if config:
        overrides["TRACKER_CONFIG"] = config
    app = create_app(overrides)
    with app.app_context():
        if PG_URL:
            if not _pg_schema_ready:
                db.drop_all()
                with db.engine.begin() as conn:
                    conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
                    conn.exec_driver_sql("DROP FUNCTION IF EXISTS events_append_only() CASCADE")
                db.create_all()
                _pg_schema_ready = True
            names = ", ".join(t.name for t in db.metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            db.create_all()
    return app


def closing(app):
    """A fixture's body for an app: yields it, then lets go of its database connections."""
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(tmp_path):
    app = build_app(tmp_path)
    yield from closing(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def ctx(app):
    """An app context for service-level tests."""
    with app.app_context():
        yield app


def make_user(app, username: str = "sam", role: str = "operator", password: str = PASSWORD):
    from tracker.services.users import create_user

    with app.app_context():
        create_user(username, password, role)
        db.session.commit()


def csrf_from(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def anonymous_token(client) -> str:
    """The CSRF token of a session that has not logged in (the login page gives it one)."""
    return csrf_from(client.get("/login").get_data(as_text=True))


def login(client, role: str = "operator", username: str | None = None):
    """Creates a user of that role, logs the client in through the real form, and leaves the session's
    CSRF token on client.csrf_token for later form posts."""
    username = username or f"{role}1"
    make_user(client.application, username, role)
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    resp = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    client.csrf_token = token
    return client


def api_token(app, role: str = "operator", name: str | None = None) -> str:
    from tracker.services.users import create_token

    with app.app_context():
        _, token = create_token(name or f"{role}-token", role)
        db.session.commit()
    return token


class Api:
    """A JSON client with a bearer token."""

    def __init__(self, client, token):
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def get(self, url, **kw):
        return self.client.get(url, headers=self.headers, **kw)

    def post(self, url, json=None, **kw):
        return self.client.post(url, json=json, headers={**self.headers, **kw.pop("headers", {})}, **kw)


@pytest.fixture
def api(app, client):
    return Api(client, api_token(app, "operator"))


@pytest.fixture
def manager_api(app, client):
    return Api(client, api_token(app, "manager"))


class Statements:
    """Counts the SQL statements sent while the block runs: `with Statements(app) as seen: ...`, then
    `seen.sql` (each statement's text, spaces folded, lower case) and `len(seen)`. Needs no app context:
    it listens on the app's engine."""

    def __init__(self, app=None):
        self.app, self.sql = app, []

    def _seen(self, conn, cursor, statement, *args):
        self.sql.append(" ".join(statement.split()).lower())

    def __len__(self) -> int:
        return len(self.sql)

    def __enter__(self):
        if self.app is None:
            self.engine = db.engine  # inside an app context
        else:
            with self.app.app_context():
                self.engine = db.engine
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)
