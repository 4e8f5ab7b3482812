"""Inktrail: an order tracker for print shops. create_app() builds the Flask app; it never starts the
scheduler (app.py does, once)."""
from __future__ import annotations

import mimetypes
import os
import sqlite3
import threading
import time
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool

from .extensions import csrf, db, limiter, login_manager, migrate
from .extensions import htmx as htmx_requests  # not "htmx": the package's tracker.htmx module would shadow it
from .settings import load_settings

# The scan page's barcode decoder: browsers compile it fastest when it is served as application/wasm, which
# Python's own table (and Windows' registry) may not know.
mimetypes.add_type("application/wasm", ".wasm")

ROOT = Path(__file__).resolve().parent.parent
MAX_BODY_BYTES = 1024 * 1024


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    # WAL lets the board read while a scan writes; SQLite leaves foreign keys off unless asked. The busy
    # timeout (how long a writer waits out another's lock before "database is locked", then a 503) is the
    # sqlite3 `timeout` connect argument: 5 s from create_app's engine options (and sqlite3's default).
    if isinstance(dbapi_connection, sqlite3.Connection):
        # Take transaction control from the sqlite3 module (it would commit a savepoint that opened a
        # transaction as soon as the savepoint closed); _sqlite_begin below emits BEGIN instead.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """Everything but a page read (GET) takes SQLite's write lock at BEGIN: requests that write, scheduled
    jobs and commands queue on busy_timeout instead of one failing as it upgrades a read lock to write
    after another writer committed. Reads (the board's GETs) stay lock-free under WAL."""
    if conn.dialect.name != "sqlite":
        return
    from flask import has_request_context, request

    reading = has_request_context() and request.method in ("GET", "HEAD", "OPTIONS")
    if reading or conn.get_execution_options().get("tracker_read_only"):  # e.g. an export from the CLI
        conn.exec_driver_sql("BEGIN")
        return
    # Writers of this process queue on a plain lock first: SQLite's own busy handler waits in growing
    # sleeps (up to 100 ms each), which turns a short queue of writers into long tail latencies.
    lock = _WRITE_LOCKS.setdefault(str(conn.engine.url), threading.Lock())
    if lock.acquire(timeout=5):  # after that, SQLite's busy_timeout decides, as it would without the lock
        conn.info["inktrail_write_lock"] = lock
    conn.exec_driver_sql("BEGIN IMMEDIATE")


_WRITE_LOCKS: dict[str, threading.Lock] = {}


def _release_write_lock(info) -> None:
    lock = info.pop("inktrail_write_lock", None)
    if lock is not None:
        lock.release()


@event.listens_for(Engine, "commit")
def _sqlite_commit(conn):
    _release_write_lock_of(conn)


@event.listens_for(Engine, "rollback")
def _sqlite_rollback(conn):
    _release_write_lock_of(conn)


def _release_write_lock_of(conn) -> None:
    # A connection the database dropped (PostgreSQL restarting) refuses even a look at .info until it is
    # rolled back, which would fail the rollback itself; its lock, if any, goes at check-in below.
    if conn.dialect.name == "sqlite" and not conn.invalidated:
        _release_write_lock(conn.info)


@event.listens_for(Pool, "checkin")
def _pool_checkin(dbapi_connection, record):
    if record is not None:
        _release_write_lock(record.info)


# A pooled PostgreSQL connection idle this long is asked whether it is alive before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def ping_after_idle(engine, seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Pessimistic disconnect handling that costs nothing while the shop is busy: a connection handed back
    to the pool less than `seconds` ago is handed out again as it is; one idle for longer (a restart of
    the database may have ended it meanwhile) is pinged first, and a dead one replaced by a fresh one
    (SQLAlchemy's pool_pre_ping pinged on every checkout: one more round trip for every request, 15% of a
    webhook's answer on PostgreSQL). A connection that dies while in use is the unit of work's to retry
    (tracker/dbretry.py), as it always was; the pool then replaces the others."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _idle_from_now(dbapi_connection, record):
        if record is not None:
            record.info["inktrail_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy):
        idle_since = record.info.get("inktrail_idle_since")
        if idle_since is None or time.monotonic() - idle_since < seconds:
            return  # a new connection, or one in use a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception:
            alive = False
        if not alive:  # the pool discards it and connects again (up to three times)
            raise DisconnectionError("the database ended this connection while it was idle")


def create_app(overrides: dict | None = None) -> Flask:
    """overrides: Flask config keys, plus TRACKER_CONFIG (a dict merged over config.toml, for tests),
    TRACKER_CONFIG_PATH and INSTANCE_PATH."""
    overrides = dict(overrides or {})
    instance_path = Path(overrides.pop("INSTANCE_PATH", None) or os.environ.get("TRACKER_INSTANCE_PATH")
                         or ROOT / "instance").resolve()
    instance_path.mkdir(parents=True, exist_ok=True)
    settings = load_settings(instance_path, overrides.pop("TRACKER_CONFIG_PATH", None),
                             overrides=overrides.pop("TRACKER_CONFIG", None))

    app = Flask("tracker", root_path=str(ROOT), instance_path=str(instance_path),
                template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # a tablet's board stays open all day
        RATELIMIT_HEADERS_ENABLED=True,  # a 429 says when to come back (Retry-After); webhook senders honour it
    )
    app.config.update(overrides)
    if "RATELIMIT_ENABLED" not in overrides:  # the public page's rate limit: off in tests unless asked for
        app.config["RATELIMIT_ENABLED"] = not app.config.get("TESTING", False)
    if "SQLALCHEMY_ENGINE_OPTIONS" not in overrides:
        sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
        # PostgreSQL: idle connections are pinged before use (ping_after_idle, below), not every checkout
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 5}} if sqlite else {}
        # A statement's values (password hashes, tokens) never reach an error message or a log.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"]["hide_parameters"] = True
    app.extensions["tracker_settings"] = settings
    app.json.sort_keys = False  # keep the contract's field order in answers

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            ping_after_idle(db.engine, app.config.get("TRACKER_PING_AFTER_IDLE_SECONDS", PING_AFTER_IDLE_SECONDS))
    from .models import render_migration_item
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True,
                     render_item=render_migration_item)
    csrf.init_app(app)
    htmx_requests.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)

    from . import auth, errors, security, templating
    from .views import webhooks as webhook_views
    webhook_views.install(app)  # a carrier's delivery answered ahead of Flask's machinery; inside the proxy fix
    security.init_app(app)  # headers, cookies over TLS, trusted proxies, log masking
    auth.init_app(app)
    errors.init_app(app)
    templating.init_app(app)

    from .services import handlers  # noqa: F401 (who reacts to what: outbox kinds, order events, marketplaces)
    from .views import api, batches, board, health, imports, marketplaces, orders, printing, public, reports, scan, webhooks
    from .views import auth as auth_views
    from .views import export as export_views
    for bp in (auth_views.bp, board.bp, orders.bp, scan.bp, batches.bp, printing.bp, webhooks.bp, public.bp, api.bp,
               health.bp, imports.bp, marketplaces.bp, reports.bp, export_views.bp):
        app.register_blueprint(bp)
    csrf.exempt(api.bp)  # token-authenticated, no cookies: CSRF cannot ride on it

    from . import cli_backup, cli_imports, cli_marketplaces, cli_security  # noqa: F401 (their commands join the group)
    from .cli import tracker_cli
    app.cli.add_command(tracker_cli)
    return app
