"""Rows by their unique key, in bulk, on either database.

- insert_new(): inserts rows unless their key is stored, in one statement: the hot paths that store what
  arrives from outside (webhook deliveries, carrier events) use it instead of a read, a savepoint and an
  insert for each row.
- stored_keys(): which of many keys are stored, a few hundred per indexed read: the sweeps over thousands
  of jobs ask once, not once per job.

The statement is plain SQL (SQLite 3.35+ and PostgreSQL share INSERT ... ON CONFLICT DO NOTHING RETURNING)
with typed parameters, built once per table and column set: SQLAlchemy does not cache the compiled form of
its dialect-specific insert constructs, and compiling one anew took a third of a webhook's answer."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Column, Table, bindparam, select, text

from ..extensions import db


def insert_new(table: Table, key: str, rows, returning: str | None = None, *, conn=None):
    """Inserts `rows` (a dict, or a list of dicts with the same keys: every column to set, defaults are not
    applied) unless a row with the same unique `key` is stored. Returns the Result: with `returning`, that
    column of the rows actually inserted. `conn`: a Connection to run on instead of the session's."""
    first = rows if isinstance(rows, dict) else rows[0]
    stmt = _statement(table, key, tuple(first), returning, db.engine.dialect.name)
    return (conn or db.session.connection()).execute(stmt, rows)


@lru_cache(maxsize=64)
def _statement(table: Table, key: str, columns: tuple[str, ...], returning: str | None, dialect: str):
    quote = db.engine.dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           f"VALUES ({', '.join(':' + c for c in columns)}) ON CONFLICT ({quote(key)}) DO NOTHING")
    if returning:
        sql += f" RETURNING {quote(returning)}"
    stmt = text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))
    return stmt.columns(table.c[returning]) if returning else stmt


def stored_keys(column: Column, keys: list[str], chunk: int = 500) -> set[str]:
    """The ones of `keys` stored in `column` (a unique, indexed key column), read `chunk` at a time."""
    found: set[str] = set()
    for i in range(0, len(keys), chunk):
        found.update(db.session.scalars(select(column).where(column.in_(keys[i:i + chunk]))))
    return found
