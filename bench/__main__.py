"""`python -m bench [--quick] [--database-url URL] [--only PART]`: Inktrail measured against the limits of
its stack, over real HTTP on loopback, and printed as one table (docs/PERFORMANCE.md).

Every figure is taken from the real server (`python app.py`, waitress, 8 threads) and, where it has one,
beside a baseline measured in the same run: a bare Flask app on the same server and the same database
doing one insert (scans, webhooks) or one indexed read (the public page). Machines here are noisy; the
ratios are what hold.

Parts: scans (1, 8 and 32 stations at once), board (render and unchanged check over active work and
history), webhooks (30% redeliveries; every acknowledged delivery kept), public (tracking page p95),
memory (server RSS over history), reports (each report over a year of history).
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import re
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from .common import (ROOT, WEBHOOK_SECRET, Baseline, Client, Conn, Server, app_env, hammer, in_app, pct, settle,
                     sqlite_url, summary, timed)

WARMUP = 20
PARTS = ("scans", "board", "webhooks", "public", "reports")
AIMS = {
    "scan_ratio": 0.3,          # scan throughput at one station at least 0.3x the bare insert's (issue 20)
    "scan_p99_ratio": 4,        # scan p99 at one station under 4x the bare insert's p99
    "scan_p50_32_ms": 100,      # with 32 stations, scan p50 under 100 ms (SQLite)
    "board_ms": 150,            # board render p95 at 2,000 active jobs with 100,000 history
    "public_p95_ms": 20,        # public page p95
    "webhooks_per_s": 1000,     # webhook deliveries a second (where the bare insert exceeds 1,250/s)
    "webhooks_ratio": 0.8,      # and at least 0.8x the bare insert at 8 and 32 senders
    "applied_per_s": 500,       # new events applied a second
}


class Table:
    """The one table the run prints: area, case, Inktrail's figure, the baseline's, the ratio, the aim."""

    def __init__(self):
        self.rows: list[tuple] = []

    def add(self, area, case, figure, unit, baseline=None, aim=None, met=None):
        ratio = (figure / baseline) if (baseline and figure is not None) else None
        self.rows.append((area, case, figure, unit, baseline, ratio, aim, met))
        b = f" | bare {baseline:,.1f}" if baseline else ""
        r = f" | {ratio:.2f}x" if ratio else ""
        print(f"  {area}: {case}: {figure:,.1f} {unit}{b}{r}" + (f" | aim {aim}: {'met' if met else 'MISSED'}" if aim else ""),
              flush=True)

    def print(self, title: str):
        print(f"\n{title}")
        head = ("area", "case", "Inktrail", "unit", "bare stack", "ratio", "aim", "")
        rows = [head] + [(a, c, f"{f:,.1f}", u, "" if b is None else f"{b:,.1f}", "" if r is None else f"{r:.2f}x",
                          aim or "", "" if met is None else ("met" if met else "MISSED"))
                         for a, c, f, u, b, r, aim, met in self.rows]
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
        for i, r in enumerate(rows):
            print("  ".join(str(v).ljust(widths[k]) if k < 2 or k == 3 else str(v).rjust(widths[k])
                            for k, v in enumerate(r)).rstrip())
            if i == 0:
                print("  ".join("-" * w for w in widths))


def database_for(tmp: Path, name: str, database_url: str | None) -> tuple[Path, str]:
    instance = tmp / name
    instance.mkdir(parents=True, exist_ok=True)
    return instance, database_url or sqlite_url(instance)


def baseline_url(tmp: Path, database_url: str | None) -> str:
    # The same database engine: a file beside Inktrail's for SQLite, the same PostgreSQL database (own tables).
    return database_url or f"sqlite:///{tmp / 'baseline.db'}"


# -- scans -------------------------------------------------------------------------------------------

def scans_part(table: Table, tmp: Path, database_url: str | None, quick: bool) -> None:
    levels = ((1, 100), (8, 240), (32, 480)) if quick else ((1, 400), (8, 2000), (32, 4000))
    instance, url = database_for(tmp, "scans", database_url)
    env = app_env(instance, database_url)
    total = WARMUP + sum(n for _, n in levels)
    out = in_app(env, "    from bench.seed import seed, add_orders\n    seed(2000, 10000)\n"
                      f"    print(','.join(add_orders({total})))\n", wipe=True)
    codes = out.strip().splitlines()[-1].split(",")
    server = Server(env)
    base = Baseline(baseline_url(tmp, database_url), env)
    try:
        c = Client(server)
        c.login()
        settle(c)  # the scheduler's first round over: measure the steady state
        headers = {"Cookie": c.cookie_header(), "X-CSRFToken": c.csrf("/scan/art-desk"),
                   "Content-Type": "application/json", "Accept": "application/json"}
        start = WARMUP
        warm = Conn(server.base, headers)
        for code in codes[:WARMUP]:
            warm.request("POST", "/scan/art-desk", json.dumps({"code": code, "scan_id": uuid.uuid4().hex}).encode())
        for concurrency, n in levels:
            batch = codes[start:start + n]
            start += n

            def scan(code):
                body = json.dumps({"code": code, "scan_id": uuid.uuid4().hex}).encode()
                return lambda conn: conn.request("POST", "/scan/art-desk", body)[0]

            ours = summary(*hammer(lambda: Conn(server.base, headers), [scan(code) for code in batch], concurrency))
            bare = summary(*hammer(lambda: Conn(base.base, {"Content-Type": "application/json"}),
                                   [lambda conn, i=i: conn.request("POST", "/insert", json.dumps(
                                       {"code": f"X{i}", "scan_id": uuid.uuid4().hex}).encode())[0]
                                    for i in range(n)], concurrency))
            label = f"{concurrency} station{'s' if concurrency > 1 else ''}"
            ratio = ours["rate"] / bare["rate"]
            one = concurrency == 1  # the ratio and p99 aims are a single station's
            table.add("scans", f"{label}: scans a second", ours["rate"], "/s", bare["rate"],
                      f">= {AIMS['scan_ratio']}x bare" if one else None, ratio >= AIMS["scan_ratio"] if one else None)
            p50_aim = concurrency == 32 and database_url is None  # the 100 ms aim is SQLite's
            table.add("scans", f"{label}: p50", ours["p50"], "ms", bare["p50"],
                      f"< {AIMS['scan_p50_32_ms']} ms" if p50_aim else None,
                      ours["p50"] < AIMS["scan_p50_32_ms"] if p50_aim else None)
            table.add("scans", f"{label}: p99", ours["p99"], "ms", bare["p99"],
                      f"< {AIMS['scan_p99_ratio']}x bare" if one else None,
                      ours["p99"] < AIMS["scan_p99_ratio"] * bare["p99"] if one else None)
            if ours["errors"]:
                table.add("scans", f"{label}: errors (4xx/5xx)", ours["errors"], "", aim="0", met=False)
    finally:
        server.stop()
        base.stop()


# -- board -------------------------------------------------------------------------------------------

def board_part(table: Table, tmp: Path, database_url: str | None, quick: bool, memory: dict) -> None:
    histories = (10_000,) if quick else (10_000, 100_000, 1_000_000)
    actives = (500, 2000) if quick else (500, 2000, 10_000)
    n = 15 if quick else 30
    renders: dict[tuple[int, int], float] = {}
    for history in histories:
        instance, _ = database_for(tmp, f"board-{history}", database_url)
        env = app_env(instance, database_url)
        t = time.perf_counter()
        in_app(env, f"    from bench.seed import seed\n    seed({actives[0]}, {history})\n", wipe=True)
        print(f"  (seeded {history:,} history orders in {time.perf_counter() - t:.0f} s)", flush=True)
        have = actives[0]
        for active in actives:
            if active > have:
                in_app(env, f"    from bench.seed import add_orders\n    add_orders({active - have}, prefix='A')\n")
                have = active
            server = Server(env)
            try:
                c = Client(server)
                c.login()
                c.get("/")
                settle(c)
                _, body = c.get("/board/columns")
                version = re.search(rb'id="board-version" name="v" value="([\d.]+)"', body).group(1).decode()
                # The board page itself: always rendered in full (the columns' poll may be answered from
                # the render the boards share for a second, which would time a copy, not a render).
                full = timed(lambda: c.get("/"), n)
                status, _ = c.get(f"/board/columns?v={version}")
                check = timed(lambda: c.get(f"/board/columns?v={version}"), n * 3) if status == 204 else []
                if active == actives[-1]:
                    memory[history] = server.rss_mb()
            finally:
                server.stop()
            case = f"{active:,} active, {history:,} history"
            p95 = pct(full, 95)
            renders[(active, history)] = statistics.median(full)
            aimed = active == 2000 and history == 100_000
            table.add("board", f"full render p95, {case}", p95, "ms",
                      aim=f"< {AIMS['board_ms']} ms" if aimed else None, met=(p95 < AIMS["board_ms"]) if aimed else None)
            if check:
                table.add("board", f"unchanged check p50, {case}", statistics.median(check), "ms")
    for active in actives:
        small, big = renders.get((active, histories[0])), renders.get((active, histories[-1]))
        if small and big and len(histories) > 1:
            table.add("board", f"render {active:,} active: history {histories[-1]:,} / {histories[0]:,}",
                      big / small, "x (1.0: history costs nothing)")


# -- webhooks ----------------------------------------------------------------------------------------

def webhooks_part(table: Table, tmp: Path, database_url: str | None, quick: bool) -> None:
    total = 1000 if quick else 10_000
    instance, _ = database_for(tmp, "webhooks", database_url)
    env = app_env(instance, database_url)
    in_app(env, "    from bench.seed import seed\n    seed(100, 0)\n", wipe=True)
    template = json.loads((ROOT / "tests" / "integrations" / "fixtures" / "easypost_tracker_updated.json").read_text())
    rng = random.Random(3)

    def deliveries(round_: int) -> list[bytes]:
        """`total` deliveries, 70% of them new events and 30% redeliveries of those, shuffled."""
        unique = []
        for i in range(int(total * 0.7)):
            event = json.loads(json.dumps(template))
            event["id"] = f"evt_bench_{round_}_{i:06d}"
            event["result"]["tracking_code"] = f"1Z999AA1{i % 500:010d}"
            unique.append(json.dumps(event).encode())
        bodies = unique + [rng.choice(unique) for _ in range(total - len(unique))]
        rng.shuffle(bodies)
        return bodies

    acknowledged: set[str] = set()

    def send(body):
        sig = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()

        def request(conn):
            status, _ = conn.request("POST", "/webhooks/easypost", body, {"X-Hmac-Signature": f"hmac-sha256-hex={sig}"})
            if status in (200, 202):
                acknowledged.add(json.loads(body)["id"])
            return status
        return request

    server = Server(env)
    base = Baseline(baseline_url(tmp, database_url), env)
    watch = Client(server)
    try:
        settle(watch)  # the scheduler's first round over: measure the steady state
        for round_, concurrency in enumerate((8, 32)):
            bodies = deliveries(round_)
            started = time.perf_counter()
            ours = summary(*hammer(lambda: Conn(server.base, {"Content-Type": "application/json"}),
                                   [send(b) for b in bodies], concurrency))
            while json.loads(watch.get("/healthz")[1])["webhooks"]["pending"]:
                time.sleep(0.05)  # polling the server's own progress, not timing anything
            drained = time.perf_counter() - started
            bare = summary(*hammer(lambda: Conn(base.base, {"Content-Type": "application/json"}),
                                   [lambda conn, b=b: conn.request("POST", "/insert", b)[0] for b in bodies], concurrency))
            table.add("webhooks", f"{concurrency} senders, 30% redeliveries: deliveries a second", ours["rate"], "/s",
                      bare["rate"], f">= {AIMS['webhooks_ratio']}x bare, > {AIMS['webhooks_per_s']}/s",
                      ours["rate"] >= AIMS["webhooks_ratio"] * bare["rate"]
                      and (ours["rate"] > AIMS["webhooks_per_s"] or bare["rate"] <= 1250))
            table.add("webhooks", f"{concurrency} senders: p50", ours["p50"], "ms", bare["p50"])
            table.add("webhooks", f"{concurrency} senders: p99", ours["p99"], "ms", bare["p99"])
            table.add("webhooks", f"{concurrency} senders: all {len(set(bodies)):,} new events processed "
                                  "(received to applied)", len(set(bodies)) / drained, "/s",
                      aim=f"> {AIMS['applied_per_s']}/s", met=len(set(bodies)) / drained > AIMS["applied_per_s"])
            if ours["errors"]:
                table.add("webhooks", f"{concurrency} senders: errors (4xx/5xx)", ours["errors"], "", aim="0", met=False)
    finally:
        server.stop()
        base.stop()
    stored = set(filter(None, in_app(env, "    from tracker.models import WebhookDelivery\n"
                                          "    print(','.join(k.split(':',1)[1] for k in "
                                          "db.session.scalars(db.select(WebhookDelivery.dedupe_key))))\n")
                        .strip().splitlines()[-1].split(",")))
    lost = len(acknowledged - stored)
    table.add("webhooks", f"acknowledged deliveries lost (of {len(acknowledged):,})", lost, "", aim="0", met=lost == 0)


# -- public page -------------------------------------------------------------------------------------

def public_part(table: Table, tmp: Path, database_url: str | None, quick: bool) -> None:
    history = 10_000 if quick else 100_000
    n = 300 if quick else 1000
    instance, _ = database_for(tmp, "public", database_url)
    env = app_env(instance, database_url)
    out = in_app(env, f"    from bench.seed import seed\n    seed(2000, {history})\n"
                      "    from tracker.models import Order\n"
                      f"    print(','.join(db.session.scalars(db.select(Order.public_token).order_by(db.func.random()).limit({n}))))\n",
                 wipe=True)
    tokens = out.strip().splitlines()[-1].split(",")
    server = Server(env)
    base = Baseline(baseline_url(tmp, database_url), env, rows=history)
    try:
        ours_client = Client(server)
        ours_client.login()
        settle(ours_client)
        c = Client(base.base)
        bare_tokens = json.loads(c.get("/tokens")[1])["tokens"]
        ours = summary(*hammer(lambda: Conn(server.base), [lambda conn, t=t: conn.request("GET", f"/t/{t}")[0]
                                                            for t in tokens], 1))
        bare = summary(*hammer(lambda: Conn(base.base), [lambda conn, t=bare_tokens[i % len(bare_tokens)]:
                                                         conn.request("GET", f"/read/{t}")[0] for i in range(n)], 1))
        table.add("public", f"tracking page p95 ({history:,} orders)", ours["p95"], "ms", bare["p95"],
                  f"< {AIMS['public_p95_ms']} ms", ours["p95"] < AIMS["public_p95_ms"])
        table.add("public", "tracking page p50", ours["p50"], "ms", bare["p50"])
        if ours["errors"]:
            table.add("public", "errors", ours["errors"], "", aim="0", met=False)
    finally:
        server.stop()
        base.stop()


# -- reports -----------------------------------------------------------------------------------------

def reports_part(table: Table, tmp: Path, database_url: str | None, quick: bool) -> None:
    import datetime as dt

    history = 5_000 if quick else 100_000
    ranges = (28,) if quick else (7, 28)
    n = 3 if quick else 5
    instance, _ = database_for(tmp, "reports", database_url)
    env = app_env(instance, database_url)
    out = in_app(env, f"    from bench.seed_history import seed_history\n    seed_history({history})\n"
                      "    from tracker.reports import load_all\n    print(','.join(load_all()))\n", wipe=True)
    names = out.strip().splitlines()[-1].split(",")
    server = Server(env)
    try:
        c = Client(server.base)
        c.login()
        today = dt.date.today()
        for days in ranges:
            query = f"from={today - dt.timedelta(days=days - 1)}&to={today}"
            for name in names:
                status, _ = c.get(f"/reports/{name}?{query}")
                assert status == 200, (name, status)
                ms = timed(lambda: c.get(f"/reports/{name}?{query}"), n)
                p95 = pct(ms, 95)
                table.add("reports", f"{name}, {days} days, {history:,} orders: p95", p95, "ms",
                          aim="< 1000 ms", met=p95 < 1000)
    finally:
        server.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Inktrail benchmarks (real server, real HTTP on loopback).")
    parser.add_argument("--quick", action="store_true", help="a smaller run, about a minute")
    parser.add_argument("--database-url", help="PostgreSQL URL to run against instead of SQLite (it is wiped)")
    parser.add_argument("--only", choices=PARTS, action="append", help="run only these parts (repeatable)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: the servers it started stop too (atexit)
    parts = args.only or list(PARTS)
    db_name = "PostgreSQL" if args.database_url else "SQLite"
    table = Table()
    memory: dict[int, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for part in parts:
            print(f"{part} ...", flush=True)
            if part == "board":
                board_part(table, tmp, args.database_url, args.quick, memory)
                for history, mb in sorted(memory.items()):
                    table.add("memory", f"server resident size, {history:,} orders of history", mb, "MB")
            else:
                globals()[f"{part}_part"](table, tmp, args.database_url, args.quick)
    table.print(f"Inktrail on {db_name}{' (quick)' if args.quick else ''}: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
