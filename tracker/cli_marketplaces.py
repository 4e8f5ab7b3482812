"""Marketplace commands: `flask --app app tracker import-amazon FILE [--dry-run]` and
`flask --app app tracker export-amazon-confirmations OUT [--all]` (docs/MARKETPLACES.md).

import-amazon exit codes, as import-csv: 0 every row was good (orders imported before count as good),
1 some rows were refused (the other orders were imported), 2 the file could not be read."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli import tracker_cli
from .extensions import db

EXIT_OK, EXIT_ROWS_REFUSED, EXIT_UNREADABLE = 0, 1, 2


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe(result: dict) -> list[str]:
    """The import's outcome as lines for people: bad rows by line number, then a summary."""
    lines = []
    if result.get("unreadable"):
        return [f"Cannot read the report: {result['unreadable']}"]
    for error in result["errors"]:
        lines.append(f"line {error['line']}: {error['message']}")
    for refused in result["refused"]:
        bad = {e["line"] for e in refused["errors"]}
        good = [n for n in refused["lines"] if n not in bad]
        if good:
            lines.append(f"order {refused['order_id']}: not imported, so line{'s' if len(good) > 1 else ''} "
                         f"{', '.join(map(str, good))} of it {'were' if len(good) > 1 else 'was'} not imported either")
    for skipped in result["skipped"]:
        lines.append(f"line {skipped['line']}: skipped: {skipped['message']}")
    made = len(result["would_create"]) if result["dry_run"] else len(result["created"])
    summary = (f"{_plural(result['rows'], 'row')}, {_plural(result['orders'], 'order')}: "
               f"{made} {'would be created' if result['dry_run'] else 'created'}, "
               f"{len(result['existing'])} already imported, {len(result['refused'])} refused")
    lines.append(("Dry run (nothing saved): " if result["dry_run"] else "") + summary + ".")
    if result["created"]:
        lines.append("New orders: " + ", ".join(f"{o['code']} ({o['order_id']})" for o in result["created"]))
    return lines


@tracker_cli.command("import-amazon")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the report and say what would happen; create no orders.")
def import_amazon_command(file: Path, dry_run: bool):
    """Imports Amazon's Unshipped Orders report (tab-separated, from Seller Central > Orders > Order
    Reports). Each bad row is reported with its line number; importing the same report again creates
    nothing new."""
    from .services.amazon import ReportRefused, exit_code, run_import, store_report
    from .services.orders import Actor

    actor = Actor("cli", None)
    try:
        content = file.read_bytes()
    except FileNotFoundError:
        click.echo(f"Error: {file}: no such file", err=True)
        sys.exit(EXIT_UNREADABLE)
    except OSError as exc:
        click.echo(f"Error: {file}: cannot be read ({exc.strerror or exc})", err=True)
        sys.exit(EXIT_UNREADABLE)
    try:
        run = store_report(content, file.name, actor=actor, dry_run=dry_run)
    except ReportRefused as exc:
        click.echo(f"Error: {file}: {exc}", err=True)
        sys.exit(EXIT_UNREADABLE)
    db.session.commit()  # kept as it arrived before it is read
    result = run_import(run, actor=actor)
    db.session.commit()
    code = exit_code(result)
    for line in describe(result):
        click.echo(line, err=code == EXIT_UNREADABLE)
    click.echo(f"Import #{run.id} is on record ({file.name}).")
    sys.exit(code)


@tracker_cli.command("export-amazon-confirmations")
@click.argument("out", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--all", "include_all", is_flag=True,
              help="Every Amazon order with a scanned parcel, also those exported before.")
def export_amazon_confirmations_command(out: Path, include_all: bool):
    """Writes the Shipping Confirmation file to upload in Seller Central (Orders > Upload order related
    files). Only orders not exported before, unless --all; OUT may be - for standard output."""
    from .services.amazon import export_confirmations

    data, count, stamp = export_confirmations(include_all=include_all)
    try:
        if str(out) == "-":
            click.get_binary_stream("stdout").write(data)
        else:
            out.write_bytes(data)
    except OSError as exc:
        db.session.rollback()  # not written: not marked as exported either
        click.echo(f"Error: {out}: cannot be written ({exc.strerror or exc})", err=True)
        sys.exit(EXIT_UNREADABLE)
    db.session.commit()
    if str(out) != "-":
        click.echo(f"{_plural(count, 'order')} written to {out} (export {stamp})." if count else
                   f"Nothing new to confirm; {out} has only the header row.")
