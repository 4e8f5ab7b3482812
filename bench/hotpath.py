"""`python -m bench.hotpath [--database-url URL] [--n N] [--show] [--profile]`: the two hot paths measured
inside one process, without HTTP: the SQL statements one scan and one webhook delivery send (each a round
trip on PostgreSQL), and their in-process latency (p50, p99), over a freshly seeded database.

- a scan: POST /scan/art-desk of a job in "received" (the busiest move: the job, its order, the audit
  event, the stage stays, the scan row and its answer);
- a webhook: POST /webhooks/easypost of a new signed delivery (stored and acknowledged; applying it
  follows in the background, and is measured separately as "apply").

`--show` prints each statement of one scan and one delivery; `--profile [scans|webhooks|apply]` prints a
pyinstrument profile of the scans (or the deliveries) (when pyinstrument is installed). The SQLite database lives in a temporary folder; a
PostgreSQL database named with --database-url is WIPED.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from .common import WEBHOOK_SECRET, bench_config, pct


class Statements:
    """Counts (and keeps) the statements an engine sends while on."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.on, self.sql = False, []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if self.on:
            self.sql.append(" ".join(statement.split()))

    def __enter__(self):
        self.sql, self.on = [], True
        return self

    def __exit__(self, *exc):
        self.on = False


def _tracking_body(i: int) -> bytes:
    return json.dumps({"id": f"evt_hot{i}_{uuid.uuid4().hex[:8]}", "object": "Event", "description": "tracker.updated",
                       "result": {"object": "Tracker", "id": f"trk_hot{i}", "tracking_code": f"9400100000000000{i:06d}",
                                  "carrier": "USPS", "status": "in_transit", "tracking_details": [
                                      {"status": "in_transit", "message": "Arrived at facility",
                                       "datetime": "2026-12-01T10:00:00Z",
                                       "tracking_location": {"city": "Reno", "state": "NV"}}]}}).encode()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--show", action="store_true")
    parser.add_argument("--profile", nargs="?", const="scans", choices=("scans", "webhooks", "apply"))
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="inktrail-hotpath-"))
    os.environ.update({"TRACKER_INSTANCE_PATH": str(tmp), "EASYPOST_API_KEY": "bench",
                       "EASYPOST_WEBHOOK_SECRET": WEBHOOK_SECRET, "TRACKER_CONFIG": str(bench_config(tmp))})
    if args.database_url:
        os.environ["TRACKER_DATABASE_URL"] = args.database_url
    from tracker.extensions import db

    from .common import seeded_app
    from .seed import add_orders

    app = seeded_app({"WEBHOOK_PROCESSING": "job", "RATELIMIT_ENABLED": False})
    from tracker.workers.checkpoint import start_checkpointer

    start_checkpointer(app)  # as the serving process does (app.py): SQLite's checkpoints in their own thread
    with app.app_context():
        codes = add_orders(args.n + 20)
        counter = Statements(db.engine)
        dialect = db.engine.dialect.name

    client = app.test_client()
    page = client.get("/login").data
    token = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()
    client.post("/login", data={"username": "bench", "password": "bench-password", "csrf_token": token})
    page = client.get("/scan/art-desk").data
    csrf = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()
    headers = {"X-CSRFToken": csrf, "Accept": "application/json"}

    def scan(code):
        resp = client.post("/scan/art-desk", json={"code": code, "scan_id": uuid.uuid4().hex}, headers=headers)
        assert resp.status_code == 200 and resp.json["outcome"] == "moved", resp.json

    carrier = app.test_client()  # a carrier sends no cookies

    def webhook(i):
        body = _tracking_body(i)
        sig = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        resp = carrier.post("/webhooks/easypost", data=body, content_type="application/json",
                           headers={"X-Hmac-Signature": f"hmac-sha256-hex={sig}"})
        assert resp.status_code == 202, resp.data

    for code in codes[:20]:
        scan(code)
    for i in range(20):
        webhook(i)
    with counter:
        scan(codes[20])
    scan_sql = counter.sql
    with counter:
        webhook(20)
    hook_sql = counter.sql

    cpu = {}

    def timed(fn, items):
        out = []
        start = time.thread_time()
        for item in items:
            t = time.perf_counter()
            fn(item)
            out.append((time.perf_counter() - t) * 1000)
        cpu[fn.__name__] = (time.thread_time() - start) * 1000 / len(out)  # steadier than wall time on a busy machine
        return out

    profiler = None
    if args.profile:
        try:
            from pyinstrument import Profiler
        except ImportError:
            print("(pyinstrument is not installed: pip install pyinstrument)")
        else:
            profiler = Profiler(interval=0.0002)
    if profiler is not None and args.profile == "scans":
        profiler.start()
    scans = timed(scan, codes[21:21 + args.n - 1])
    if profiler is not None and args.profile == "scans":
        profiler.stop()
    if profiler is not None and args.profile == "webhooks":
        profiler.start()
    hooks = timed(webhook, range(21, 21 + args.n))
    if profiler is not None and args.profile == "webhooks":
        profiler.stop()

    from tracker.workers.webhooks import process_pending_deliveries

    with app.app_context():
        if profiler is not None and args.profile == "apply":
            profiler.start()
        t = time.perf_counter()
        applied = 0
        while True:
            n = process_pending_deliveries(limit=50)
            if not n:
                break
            applied += n
        apply_s = time.perf_counter() - t
        if profiler is not None and args.profile == "apply":
            profiler.stop()
        with counter:
            body = _tracking_body(99999)
            from tracker.services.tracking import store_delivery
            delivery_id, _ = store_delivery("easypost", f"easypost:one-{uuid.uuid4().hex}", {}, body)
            db.session.commit()
        with counter:  # as the worker applies it: a batch (here of one)
            process_pending_deliveries(limit=50)
        apply_sql = counter.sql

    print(f"database: {dialect}")
    print(f"scan:    {len(scan_sql):3d} statements | in-process p50 {statistics.median(scans):.2f} ms, "
          f"p99 {pct(scans, 99):.2f} ms, CPU {cpu['scan']:.2f} ms a scan ({len(scans)} scans)")
    print(f"webhook: {len(hook_sql):3d} statements | in-process p50 {statistics.median(hooks):.2f} ms, "
          f"p99 {pct(hooks, 99):.2f} ms, CPU {cpu['webhook']:.2f} ms a delivery ({len(hooks)} deliveries)")
    print(f"apply:   {len(apply_sql):3d} statements for one delivery | {applied} applied in {apply_s:.2f} s "
          f"({applied / apply_s if apply_s else 0:,.0f}/s)")
    if args.show:
        for name, sql in (("scan", scan_sql), ("webhook", hook_sql), ("apply", apply_sql)):
            print(f"\n{name}:")
            for i, s in enumerate(sql, 1):
                print(f"  {i:2d}. {s[:160]}")
    if profiler is not None:
        print(profiler.output_text(unicode=False, color=False, show_all=bool(os.environ.get("HOTPATH_SHOW_ALL"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
