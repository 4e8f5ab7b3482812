"""Inktrail: `python app.py` upgrades the database, then serves the app and runs the scheduler in this
one process. `python app.py --demo` also seeds a demo shop when the database is empty."""
from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys

from tracker import create_app
from tracker.settings import ConfigError


def _build():
    try:
        return create_app()
    except ConfigError as exc:
        # A bad config.toml stops start-up with the key and the reason, not a traceback.
        sys.exit(f"Inktrail cannot start: {exc}")


app = _build()


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            logger.disabled = False
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not a line per job run, every few seconds


def _settle_the_heap() -> None:
    """Everything loaded at start (the app, its libraries, the settings) lives as long as the process: moved
    out of the garbage collector's sight, a full collection no longer walks it. Each full collection took
    70-75 ms with 2,000 cards on the board (the slowest 1 in 20 board renders, public pages and scans); now
    under 1 ms. Collections also run less often (every 10,000 new objects, not 700): a board render makes
    tens of thousands of short-lived objects. (docs/PERFORMANCE.md)"""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run Inktrail: web server and scheduler in one process.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for tablets on the LAN)")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--demo", action="store_true", help="seed a demo shop when the database is empty")
    parser.add_argument("--threads", type=int, default=8, help="web server threads")
    args = parser.parse_args(argv)
    _configure_logging()

    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from tracker.extensions import db
    from tracker.models import Order
    from tracker.scheduling import migration_lock, start_scheduler

    with migration_lock(app), app.app_context():
        upgrade()
        if args.demo:
            from tracker.services.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo

            if db.session.scalar(select(func.count()).select_from(Order)) == 0:
                made = seed_demo()
                db.session.commit()
                print(f"Seeded a demo shop with {made} orders.")
            print("Log in as " + ", ".join(f"{u} ({r})" for u, r in DEMO_USERS)
                  + f" with the password {DEMO_PASSWORD!r}.")

    # Alembic's env.py applies alembic.ini's logging (logging.config.fileConfig): the root logger at WARN with
    # its own handler, and every logger that existed before it disabled (the scheduler's, the jobs', the
    # printers'). Put ours back, or "another process runs the scheduler" and job failures are never seen.
    _configure_logging()

    from waitress import create_server

    from tracker.security import SERVER_BODY_LIMIT  # bigger bodies get 413 before they are buffered

    def _stop(*_):
        raise KeyboardInterrupt  # SIGTERM (systemd, docker) stops as cleanly as Ctrl-C

    signal.signal(signal.SIGTERM, _stop)

    try:
        server = create_server(app, host=args.host, port=args.port, threads=args.threads, ident="inktrail",
                               max_request_body_size=SERVER_BODY_LIMIT)
    except OSError as exc:
        sys.exit(f"Inktrail cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    scheduler = start_scheduler(app, standby=True)
    from tracker.workers.checkpoint import start_checkpointer

    checkpointer = start_checkpointer(app)  # SQLite: the log's checkpoints off the requests' path
    _settle_the_heap()
    print(f"Inktrail is serving at http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        scheduler.stop()
        if checkpointer is not None:
            checkpointer.stop()
        print("Inktrail stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
