"""Rows by their unique key, in bulk, on either database.

- insert_new(): inserts rows unless their key is stored, in one statement: the hot paths that store what
  arrives from outside (webhook deliveries, carrier events) use it instead of a read, a savepoint and an
  insert for each row.
- stored_keys(): which of many keys are stored, a few hundred per indexed read: the sweeps over thousands
  of jobs ask once, not once per job.
- connection(): the session's connection for the transaction, asked of SQLAlchemy once per transaction
  (Session.connection() is about 15 microseconds a call, and a scan's Core statements asked it nine times).
- Plain: an order's or a job's columns read by Core for a scan's move (services/scanning.py), not an ORM
  object: the move service (services/orders.py) sets and writes them as it does an object's.

The statement is plain SQL (SQLite 3.35+ and PostgreSQL share INSERT ... ON CONFLICT DO NOTHING RETURNING)
with typed parameters, built once per table and column set: SQLAlchemy does not cache the compiled form of
its dialect-specific insert constructs, and compiling one anew took a third of a webhook's answer."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Column, Table, bindparam, event as sa_event, select, text
from sqlalchemy.orm import Session

from ..extensions import db

_CONNECTION = "inktrail_connection"  # session.info key: the Connection of the session's transaction


def connection(session=None):
    """The Connection the session's transaction runs on (Session.connection(), which begins the transaction
    if none is open), kept in the session until that transaction ends: savepoints run on the same one."""
    session = session or db.session()
    conn = session.info.get(_CONNECTION)
    if conn is None:
        conn = session.info[_CONNECTION] = session.connection()
    return conn


def _transaction_ended(session, transaction) -> None:
    if transaction.parent is None:  # the outermost: its connection goes back to the pool
        session.info.pop(_CONNECTION, None)


sa_event.listen(Session, "after_transaction_end", _transaction_ended)


def insert_new(table: Table, key: str, rows, returning: str | None = None, *, conn=None):
    """Inserts `rows` (a dict, or a list of dicts with the same keys: every column to set, defaults are not
    applied) unless a row with the same unique `key` is stored. Returns the Result: with `returning`, that
    column of the rows actually inserted. `conn`: a Connection to run on instead of the session's."""
    first = rows if isinstance(rows, dict) else rows[0]
    stmt = _statement(table, key, tuple(first), returning, db.engine.dialect.name)
    return (conn or connection()).execute(stmt, rows)


@lru_cache(maxsize=64)
def _statement(table: Table, key: str, columns: tuple[str, ...], returning: str | None, dialect: str):
    quote = db.engine.dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           f"VALUES ({', '.join(':' + c for c in columns)}) ON CONFLICT ({quote(key)}) DO NOTHING")
    if returning:
        sql += f" RETURNING {quote(returning)}"
    stmt = text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))
    return stmt.columns(table.c[returning]) if returning else stmt


class Plain:
    """A row of `__table__` read by a Core statement, holding only the columns its reader asked for (and what
    the reader attached: an order's `jobs`, a job's `order`). The move service's _set() writes a change of
    one by the same UPDATE it writes an ORM object's, and sets it on the row; nothing tracks it: it lives as
    long as the request that read it, in the transaction that locked it."""

    __slots__ = ()
    __table__: Table

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {getattr(self, 'code', '?')}>"


def stored_keys(column: Column, keys: list[str], chunk: int = 500) -> set[str]:
    """The ones of `keys` stored in `column` (a unique, indexed key column), read `chunk` at a time."""
    found: set[str] = set()
    for i in range(0, len(keys), chunk):
        found.update(db.session.scalars(select(column).where(column.in_(keys[i:i + chunk]))))
    return found
