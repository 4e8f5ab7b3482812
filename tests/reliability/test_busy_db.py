"""A busy database: SQLite locked by another connection, PostgreSQL connections killed as a restart kills
them. The request waits out a short lock, answers a clear 503 (JSON with Retry-After for machines, a page
for people) for a long one, never a 500, and its write is all there or not at all."""
from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import create_engine, event, func, select, text

from tests.conftest import Api, PG_URL, api_token, build_app, closing, login
from tests.factories import make_order
from tests.tracking.test_webhooks import easypost_headers, fixture
from tracker.dbretry import BUSY_MESSAGE
from tracker.extensions import db
from tracker.models import Event, Job, Scan, WebhookDelivery
from tracker.settings import normalise_database_url

PROVIDERS = {"easypost": {"api_key": "ep-key", "webhook_secret": "ep-secret", "base_url": "http://127.0.0.1:9"}}
BUSY_SECONDS = 0.3  # the SQLite busy timeout in these tests (the app's default is 5 s)

sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite's write lock")
postgres_only = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (TRACKER_TEST_DATABASE_URL)")


def _app(tmp_path, **flask_config):
    return build_app(tmp_path, config={"providers": PROVIDERS}, WEBHOOK_PROCESSING="job", **flask_config)


@pytest.fixture
def busy_app(tmp_path):
    """SQLite with a short busy timeout, so a lock held 'too long' is quick to reach."""
    app = _app(tmp_path, SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": BUSY_SECONDS}})
    with app.app_context():
        make_order([("Tee", "dtg", 3)])
    yield from closing(app)


class WriteLock:
    """Another program holding SQLite's write lock (a backup tool, a long script): BEGIN IMMEDIATE on its
    own connection until released."""

    def __init__(self, app):
        path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def release(self):
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")

    def __exit__(self, *exc):
        self.release()
        self.conn.close()


def counts(app) -> dict:
    # As a page read (GET): under WAL it reads past another connection's write lock.
    with app.test_request_context("/", method="GET"):
        return {"scans": db.session.scalar(select(func.count()).select_from(Scan)),
                "events": db.session.scalar(select(func.count()).select_from(Event)),
                "deliveries": db.session.scalar(select(func.count()).select_from(WebhookDelivery)),
                "scan_events": db.session.scalar(select(func.count()).select_from(Event).where(Event.scan_id.is_not(None))),
                "job": db.session.scalar(select(Job.stage).where(Job.code == "A1001A"))}


def assert_busy_json(resp, *, scan: bool = False):
    assert resp.status_code == 503, (resp.status_code, resp.get_data(as_text=True))
    assert resp.headers["Retry-After"] == "5"
    body = resp.get_json()
    assert body["error"] == BUSY_MESSAGE and "nothing was saved" in body["error"]
    if scan:
        assert body["ok"] is False


SCAN = {"station": "art-desk", "code": "A1001A", "scan_id": "scan-busy-0001"}


# -- SQLite --------------------------------------------------------------------------------------------

@sqlite_only
def test_a_lock_longer_than_the_busy_timeout_is_a_503_then_the_resent_scan_moves_once(busy_app):
    api = Api(busy_app.test_client(), api_token(busy_app))
    before = counts(busy_app)
    with WriteLock(busy_app):
        assert_busy_json(api.post("/api/scans", json=SCAN), scan=True)
        assert counts(busy_app) == before  # nothing half-written
    # The sender tries again with the same scan ID: the scan is applied once.
    resp = api.post("/api/scans", json=SCAN)
    assert resp.status_code == 200 and resp.get_json()["replayed"] is False, resp.get_json()
    moved = counts(busy_app)
    assert api.post("/api/scans", json=SCAN).get_json()["replayed"] is True
    assert counts(busy_app) == moved
    assert (moved["scans"], moved["job"]) == (1, "preproduction") and moved["scan_events"] >= 1
    assert duplicate_moves(busy_app) == []


@sqlite_only
def test_the_scan_page_and_a_webhook_get_json_503s_and_their_resends_are_kept_once(busy_app):
    client = login(busy_app.test_client(), "operator")
    body = fixture("easypost_tracker_updated.json")
    with WriteLock(busy_app):
        resp = client.post("/scan/art-desk", json=SCAN, headers={"X-CSRFToken": client.csrf_token})
        assert_busy_json(resp, scan=True)
        assert_busy_json(busy_app.test_client().post("/webhooks/easypost", data=body, headers=easypost_headers(body)))
        assert counts(busy_app)["scans"] == counts(busy_app)["deliveries"] == 0
    resp = client.post("/scan/art-desk", json=SCAN, headers={"X-CSRFToken": client.csrf_token})
    assert resp.status_code == 200 and resp.get_json()["to"] == "preproduction"
    hook = busy_app.test_client()
    assert hook.post("/webhooks/easypost", data=body, headers=easypost_headers(body)).status_code == 202
    assert hook.post("/webhooks/easypost", data=body, headers=easypost_headers(body)).status_code == 200  # duplicate
    assert (counts(busy_app)["scans"], counts(busy_app)["deliveries"]) == (1, 1)


@sqlite_only
def test_a_form_under_a_long_lock_gets_a_page_that_says_so_not_a_500(busy_app):
    client = login(busy_app.test_client(), "operator")
    form = {"csrf_token": client.csrf_token, "to": "preproduction"}
    with WriteLock(busy_app):
        resp = client.post("/jobs/A1001A/move", data=form, headers={"Referer": "http://localhost/orders/A1001"})
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
        page = resp.get_data(as_text=True)
        assert BUSY_MESSAGE in page and 'href="http://localhost/orders/A1001"' in page
        assert "<script" not in page and "style=" not in page
        # Reading goes on under the lock (WAL): the board and the order page still open.
        assert client.get("/orders/A1001").status_code == 200
        assert counts(busy_app)["job"] == "received"
    assert client.post("/jobs/A1001A/move", data=form).status_code == 302
    assert counts(busy_app)["job"] == "preproduction"


@sqlite_only
def test_a_short_lock_is_waited_out_without_the_sender_noticing(tmp_path):
    app = _app(tmp_path)  # the default busy timeout (5 s)
    with app.app_context():
        make_order([("Tee", "dtg", 3)])
    api = Api(app.test_client(), api_token(app))
    reached = threading.Event()
    with app.app_context():
        engine = db.engine

    def seen(conn, cursor, statement, *args):
        if statement == "BEGIN IMMEDIATE":
            reached.set()

    event.listen(engine, "before_cursor_execute", seen)
    answers = []
    try:
        with WriteLock(app) as lock:
            sender = threading.Thread(target=lambda: answers.append(api.post("/api/scans", json=SCAN)))
            sender.start()
            assert reached.wait(10), "the scan never asked for the write lock"
            lock.release()  # the other program finishes while the scan waits
            sender.join(10)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    [resp] = answers
    assert resp.status_code == 200 and resp.get_json()["to"] == "preproduction", resp.get_json()
    assert counts(app)["scans"] == 1


# -- PostgreSQL: connections killed the way a restart kills them ------------------------------------------

class Killer:
    """An admin connection that ends the app's database sessions with pg_terminate_backend."""

    def __init__(self):
        self.engine = create_engine(normalise_database_url(PG_URL), isolation_level="AUTOCOMMIT")

    def kill(self, pid: int) -> None:
        with self.engine.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar() is True

    def kill_all_but_mine(self) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")).all())

    def close(self):
        self.engine.dispose()


@pytest.fixture
def pg_app(tmp_path):
    # A real restart keeps the pooled connections idle for longer than the ping threshold (1 s: it takes
    # seconds); 0 stands for that here, without waiting.
    app = _app(tmp_path, TRACKER_PING_AFTER_IDLE_SECONDS=0)
    with app.app_context():
        make_order([("Tee", "dtg", 3)])
    killer = Killer()
    yield app, killer
    killer.close()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def kill_on(app, killer, when, times: int):
    """Kills the connection a request is using at the moment `when(statement)` says, `times` times."""
    with app.app_context():
        engine = db.engine
    left = [times]

    def before(conn, cursor, statement, *args):
        if left[0] and when(statement):
            left[0] -= 1
            killer.kill(conn.connection.dbapi_connection.info.backend_pid)

    event.listen(engine, "before_cursor_execute", before)
    return lambda: event.remove(engine, "before_cursor_execute", before)


def duplicate_moves(app) -> list:
    """Events a scan wrote twice: the same scan moving the same job (or order) to the same stage."""
    with app.app_context():
        return db.session.execute(
            select(Event.scan_id, Event.order_id, Event.job_id, Event.to_stage, func.count())
            .where(Event.scan_id.is_not(None))
            .group_by(Event.scan_id, Event.order_id, Event.job_id, Event.to_stage).having(func.count() > 1)).all()


@postgres_only
def test_after_a_restart_the_next_request_gets_a_fresh_connection(pg_app):
    app, killer = pg_app
    api = Api(app.test_client(), api_token(app))
    assert api.get("/api/orders/A1001").status_code == 200  # the pool holds a live connection now
    assert killer.kill_all_but_mine() >= 1
    resp = api.post("/api/scans", json=SCAN)
    assert resp.status_code == 200 and resp.get_json()["to"] == "preproduction", resp.get_json()
    assert api.get("/api/orders/A1001").status_code == 200


@postgres_only
@pytest.mark.parametrize("moment", ["insert", "commit"])
def test_a_scan_whose_connection_dies_in_flight_is_run_again_once(pg_app, moment):
    app, killer = pg_app
    api = Api(app.test_client(), api_token(app))
    before = counts(app)
    when = (lambda s: s.startswith("INSERT INTO scans")) if moment == "insert" else (lambda s: s.startswith("INSERT INTO stage_stays"))
    stop = kill_on(app, killer, when, times=1)
    try:
        resp = api.post("/api/scans", json=SCAN)
    finally:
        stop()
    assert resp.status_code == 200 and resp.get_json()["replayed"] is False, resp.get_json()
    after = counts(app)
    assert (after["scans"], after["job"]) == (1, "preproduction")
    assert after["scan_events"] >= 1 and duplicate_moves(app) == []


@postgres_only
def test_a_scan_whose_connection_keeps_dying_is_a_503_with_nothing_written(pg_app):
    app, killer = pg_app
    api = Api(app.test_client(), api_token(app))
    before = counts(app)
    stop = kill_on(app, killer, lambda s: s.startswith("INSERT INTO scans"), times=10)
    try:
        assert_busy_json(api.post("/api/scans", json=SCAN), scan=True)
    finally:
        stop()
    assert counts(app) == before
    assert api.post("/api/scans", json=SCAN).status_code == 200
    assert counts(app)["scans"] == 1


@postgres_only
def test_a_webhook_whose_connection_dies_is_a_503_and_the_redelivery_is_stored_once(pg_app):
    app, killer = pg_app
    body = fixture("easypost_tracker_updated.json")
    client = app.test_client()
    stop = kill_on(app, killer, lambda s: s.startswith("INSERT INTO webhook_deliveries"), times=1)
    try:
        assert_busy_json(client.post("/webhooks/easypost", data=body, headers=easypost_headers(body)))
    finally:
        stop()
    assert counts(app)["deliveries"] == 0
    assert client.post("/webhooks/easypost", data=body, headers=easypost_headers(body)).status_code == 202
    assert client.post("/webhooks/easypost", data=body, headers=easypost_headers(body)).status_code == 200
    assert counts(app)["deliveries"] == 1


@postgres_only
@pytest.mark.parametrize("ping_after", [0, 3600])
def test_an_idle_connection_a_restart_ended_is_pinged_and_replaced_before_a_page_uses_it(tmp_path, ping_after):
    """A page is no unit of work: nothing runs it again. A pooled connection idle past the threshold is
    pinged before it is handed out, so a connection the restart ended is replaced and the page answers;
    one handed back a moment ago is handed out unpinged (no round trip while the shop is busy), and should
    the database have ended it in that moment the page answers a 503, never a 500, and the next is fine."""
    app = _app(tmp_path, TRACKER_PING_AFTER_IDLE_SECONDS=ping_after)
    killer = Killer()
    try:
        with app.app_context():
            make_order([("Tee", "dtg", 3)])
        api = Api(app.test_client(), api_token(app))
        assert api.get("/api/orders/A1001").status_code == 200  # the pool holds a live connection now
        assert killer.kill_all_but_mine() >= 1
        first = api.get("/api/orders/A1001")
        if ping_after == 0:
            assert first.status_code == 200, first.get_json()
        else:
            assert first.status_code == 503 and first.headers.get("Retry-After"), first.get_data(as_text=True)
        assert api.get("/api/orders/A1001").status_code == 200
    finally:
        killer.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
