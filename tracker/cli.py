"""`flask --app app tracker ...`: the shop's commands (the README lists them)."""
from __future__ import annotations

import os
import signal
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from .domain.lifecycle import ROLES
from .extensions import db

tracker_cli = AppGroup("tracker", help="Inktrail commands: demo data, users, tokens, jobs.")


@tracker_cli.command("demo")
def demo_command():
    """Seeds a realistic demo shop (does nothing if it is already seeded)."""
    from .services.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo

    made = seed_demo()
    db.session.commit()
    if made:
        click.echo(f"Seeded {made} demo orders.")
    else:
        click.echo("The demo shop is already seeded; nothing changed.")
    click.echo("Log in as " + ", ".join(f"{u} ({r})" for u, r in DEMO_USERS) + f" with password {DEMO_PASSWORD!r}.")


@tracker_cli.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
def create_user_command(username, role):
    """Creates a user (or resets one's password and role). Password from TRACKER_PASSWORD, else prompted."""
    from .services.users import UserError, create_user

    password = os.environ.get("TRACKER_PASSWORD")
    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(username, password, role)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"User {user.username} ({user.role}) is ready.")


@tracker_cli.command("create-token")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
def create_token_command(name, role):
    """Creates an API token; it is printed once, as the last line, and only its hash is stored."""
    from .services.users import UserError, create_token

    try:
        _, token = create_token(name, role)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"API token {name!r} ({role}). Keep it safe: it is shown only now.")
    click.echo(token)


@tracker_cli.command("rebuild-stays")
def rebuild_stays_command():
    """Rebuilds the stage stays the reports read from the audit trail (events). Safe to run at any time;
    never needed in normal use, because every move keeps them up to date."""
    import time

    from .services.stays import rebuild_all

    started = time.perf_counter()
    written = rebuild_all(db.session.connection())
    db.session.commit()
    click.echo(f"{written} stage stays rebuilt from the events in {time.perf_counter() - started:.1f} s.")


@tracker_cli.command("run-job")
@click.argument("name")
def run_job_command(name):
    """Runs one scheduled job now, once."""
    from .jobs import JOBS, run_job

    if name not in JOBS:
        raise click.ClickException(f"no job {name!r}; jobs: {', '.join(sorted(JOBS))}")
    try:
        result = run_job(name)
    except Exception as exc:
        raise click.ClickException(f"{name} failed: {exc}") from None
    click.echo(f"{name}: {result if result is not None else 'done'}")


@tracker_cli.command("scheduler")
def scheduler_command():
    """Runs only the scheduler, in this process, until Ctrl-C (for setups with several web processes)."""
    from .scheduling import start_scheduler

    app = current_app._get_current_object()
    handle = start_scheduler(app)
    if not handle.running:
        raise click.ClickException("another process already runs the scheduler")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo("Scheduler running; Ctrl-C stops it.")
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    handle.stop(wait=True)
