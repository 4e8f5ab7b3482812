"""`flask --app app tracker unlock-user USERNAME`: lifts a login lockout (docs/SECURITY.md)."""
from __future__ import annotations

import click

from .cli import tracker_cli
from .extensions import db


@tracker_cli.command("unlock-user")
@click.argument("username")
def unlock_user_command(username):
    """Lifts the lockout after too many failed logins (it also lifts by itself after [security] lockout_minutes)."""
    from .services.users import unlock

    if unlock(username):
        db.session.commit()
        click.echo(f"{username} is unlocked: the failed logins are forgotten.")
    else:
        click.echo(f"{username} was not locked out (no failed logins counted); nothing changed.")
