"""Security commands: `tracker unlock-user USERNAME` lifts a login lockout, `tracker revoke-token NAME` stops
an API token (docs/SECURITY.md)."""
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


@tracker_cli.command("revoke-token")
@click.argument("name")
def revoke_token_command(name):
    """Revokes the API token(s) with this name (from create-token): they are refused (401) from now on."""
    from .services.users import revoke_tokens

    count = revoke_tokens(name)
    db.session.commit()
    if not count:
        raise click.ClickException(f"no live API token is named {name!r}; nothing changed")
    click.echo(f"Revoked {count} API token{'s' if count != 1 else ''} named {name}.")
