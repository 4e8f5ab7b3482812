"""The bare stack, for the benchmarks' ratios: a Flask app on the same server (waitress, same threads)
and the same database engine as Inktrail, doing the least a request can do there.

- POST /insert: one INSERT of the request body, committed (the baseline for scans and webhooks);
- GET /read/<token>: one indexed read of a row by a random token, rendered as a tiny page (the baseline
  for the public tracking page).

`python -m bench.baseline --port P [--database-url URL] [--rows N]` runs it; the benchmark starts it the
way it starts Inktrail and measures both with the same client.
"""
from __future__ import annotations

import argparse
import secrets
import sqlite3
import sys

from flask import Flask, abort, request
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, create_engine, event, insert, select


def build(database_url: str, rows: int = 10_000) -> Flask:
    from tracker.settings import normalise_database_url  # postgresql:// -> the psycopg 3 driver, as Inktrail

    database_url = normalise_database_url(database_url)
    engine = create_engine(database_url, pool_size=10, max_overflow=20) if database_url.startswith("postgres") \
        else create_engine(database_url)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):  # the same settings Inktrail gives SQLite
        if isinstance(dbapi_connection, sqlite3.Connection):
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    meta = MetaData()
    writes = Table("baseline_writes", meta, Column("id", Integer, primary_key=True), Column("body", Text))
    reads = Table("baseline_reads", meta, Column("id", Integer, primary_key=True),
                  Column("token", String(64), unique=True), Column("name", String(100)))
    meta.drop_all(engine)
    meta.create_all(engine)
    tokens = [secrets.token_urlsafe(24) for _ in range(rows)]
    with engine.begin() as conn:
        conn.execute(insert(reads), [{"token": t, "name": f"Order {i}"} for i, t in enumerate(tokens)])

    app = Flask(__name__)
    app.config["BASELINE_TOKENS"] = tokens

    @app.post("/insert")
    def do_insert():
        with engine.begin() as conn:
            conn.execute(insert(writes).values(body=request.get_data(as_text=True)))
        return {"ok": True}, 201

    @app.get("/read/<token>")
    def do_read(token):
        with engine.connect() as conn:
            name = conn.scalar(select(reads.c.name).where(reads.c.token == token))
        if name is None:
            abort(404)
        return f"<!doctype html><title>{name}</title><p>{name}</p>"

    @app.get("/tokens")
    def all_tokens():
        return {"tokens": tokens[:1000]}

    return app


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    from waitress import create_server

    server = create_server(build(args.database_url, args.rows), host="127.0.0.1", port=args.port,
                           threads=args.threads, ident="baseline")
    print(f"Baseline is serving at http://127.0.0.1:{args.port}/", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
