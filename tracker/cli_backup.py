"""`flask --app app tracker backup PATH`, `... restore PATH --yes` and `... export DIR [--format csv|json]`.

Errors (a folder that cannot be written, pg_dump missing, a file that is not a backup, Inktrail still
running during a restore) print one line starting "Error:" and exit with code 1, never a traceback."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli import tracker_cli


def _fail(message: str):
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@tracker_cli.command("backup")
@click.argument("path", type=click.Path())  # a str: a trailing slash says "a folder"
def backup_command(path: str):
    """Backs the whole database up to PATH while Inktrail keeps running.

    PATH is a file, or a folder (then the file is named inktrail-YYYYMMDD-HHMMSSZ.sqlite3, or .pgdump with
    PostgreSQL, in UTC). SQLite uses its online backup; PostgreSQL uses pg_dump. See docs/DEPLOY.md."""
    from .services.backup import BackupError, create_backup

    try:
        result = create_backup(path)
    except BackupError as exc:
        _fail(exc.message)
    click.echo(result.summary())


@tracker_cli.command("restore")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore_command(path: Path, yes: bool):
    """Replaces the whole database with the backup in PATH. Stop Inktrail first.

    The current database is backed up to the backup folder first, so a restore can be undone by
    restoring that file."""
    from .services.backup import BackupError, backup_directory, restore_backup

    if not yes:
        if not sys.stdin.isatty():
            _fail("a restore replaces every order in the database; add --yes to confirm")
        click.confirm(f"Replace everything in the database with {path}? (The current database is backed up "
                      f"to {backup_directory()} first.)", abort=True)
    try:
        result = restore_backup(path)
    except BackupError as exc:
        _fail(exc.message)
    if result.safety_copy:
        click.echo(f"The database before the restore is saved as {result.safety_copy}.")
    click.echo(f"Restored {result.source} ({result.seconds:.1f} s). Start Inktrail again: it upgrades the "
               "database if the backup came from an older version.")


@tracker_cli.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="csv: one file per table (orders.csv, jobs.csv, events.csv, ...); json: one document.")
def export_command(directory: Path, fmt: str):
    """Exports all orders, jobs, events (the audit trail), shipments, tracking events and scans.

    Times are ISO 8601 in UTC. The files are written one row at a time, so any number of orders fits."""
    from .services.export import ExportError, export_to_directory

    try:
        written = export_to_directory(directory, fmt)
    except ExportError as exc:
        _fail(exc.message)
    for path, rows in written:
        click.echo(f"{path}: {rows:,} rows" if fmt == "csv" else f"{path}: " + ", ".join(
            f"{n:,} {name}" for name, n in rows.items()))
