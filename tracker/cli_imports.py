"""`flask --app app tracker import-csv FILE [--dry-run] [--map field=Column ...]` (contract).

Exit codes: 0 every row was good (orders already imported count as good), 1 some rows were refused
(the other orders were imported), 2 nothing could be read (no such file, not CSV, no column for a
required field)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli import tracker_cli
from .extensions import db

EXIT_OK, EXIT_ROWS_REFUSED, EXIT_UNREADABLE = 0, 1, 2


def _fail(message: str):
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_UNREADABLE)


def _parse_maps(maps: tuple[str, ...]) -> dict[str, str | None]:
    from .domain.csv_import import FIELDS

    mapping: dict[str, str | None] = {}
    for item in maps:
        name, sep, column = item.partition("=")
        name = name.strip()
        if not sep or not name:
            _fail(f"--map {item!r}: write it as field=Column, like --map quantity=Qty")
        if name not in FIELDS:
            _fail(f"--map {item!r}: there is no field {name!r}; the fields are: {', '.join(FIELDS)}")
        mapping[name] = column.strip() or None  # field= leaves the field out
    return mapping


@tracker_cli.command("import-csv")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report what would happen; save no orders.")
@click.option("--map", "maps", multiple=True, metavar="FIELD=COLUMN",
              help="Which column of the file holds one of our fields (repeatable), e.g. --map quantity=Qty. "
                   "Columns not named are guessed from the header; FIELD= leaves a field out.")
def import_csv_command(file: Path, dry_run: bool, maps: tuple[str, ...]):
    """Imports orders from a CSV file; reports each bad row with its line number.

    Rows with the same external_ref are one order (one job per row). Importing the same file again
    creates nothing new. Fields: external_ref, customer_name, description and quantity (required);
    customer_email, customer_phone, method, sku, due_date, rush, notes, ship_city, ship_region,
    ship_country. See docs/MARKETPLACES.md."""
    from .domain.csv_import import CsvUnreadable, guess_mapping
    from .services.csv_import import ImportRefused, read_run, record_failure, store_upload
    from .workers.imports import run_import
    from .services.orders import Actor

    overrides = _parse_maps(maps)
    try:
        content = file.read_bytes()
    except FileNotFoundError:
        _fail(f"{file}: no such file")
    except OSError as exc:
        _fail(f"{file}: cannot be read ({exc.strerror or exc})")
    try:
        run = store_upload(file.name, content, "cli")
    except ImportRefused as exc:
        _fail(f"{file}: {exc.message}")
    db.session.commit()  # stored before it is read

    try:
        table = read_run(run)
    except CsvUnreadable as exc:
        record_failure(run, exc.message)
        db.session.commit()
        _fail(f"{file}: cannot be read as CSV: {exc.message}")
    mapping = {**guess_mapping(table.headers), **overrides}
    try:
        result = run_import(run, mapping, dry_run=dry_run, actor=Actor("cli", None))
    except ImportRefused as exc:
        hint = ""
        if exc.missing:
            hint = " Name them with --map, e.g. " + " ".join(f"--map {m}=Column" for m in exc.missing) + "."
        record_failure(run, exc.message)
        db.session.commit()
        _fail(f"{file}: {exc.message.rstrip('.')}.{hint}")

    for note in result.notes:
        click.echo(f"Note: {note}")
    for error in result.errors:
        click.echo(f"line {error['line']}: {error['field']}: {error['reason']}")
    for refused in result.refused:
        good = [line for line in refused["lines"] if line not in refused["bad_lines"]]
        if good:
            click.echo(f"order {refused['external_ref']}: not imported, so its good "
                       f"row{'s' if len(good) > 1 else ''} on line{'s' if len(good) > 1 else ''} "
                       f"{', '.join(map(str, good))} {'were' if len(good) > 1 else 'was'} not imported either")
    click.echo(result.summary())
    if result.new and not dry_run:
        codes = [o["code"] for o in result.new]
        click.echo(f"New orders: {codes[0]} (first) to {codes[-1]} (last)" if len(codes) > 1
                   else f"New order: {codes[0]}")
    click.echo(f"Import #{run.id} is on record ({file.name}, {result.rows:,} rows, {result.seconds:.1f} s).")
    sys.exit(EXIT_OK if result.ok else EXIT_ROWS_REFUSED)
