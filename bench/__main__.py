"""`python -m bench [--quick]`: benchmarks against the real server (python app.py) over HTTP on loopback.

Today it measures the board: a full render and the unchanged-board check, with the same active work
(2,000 jobs) over growing history (delivered orders). The ratio between history sizes is the figure that
matters: the board's cost must follow active work, not history.
"""
from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_database(instance: Path, database_url: str | None, active: int, history: int) -> dict:
    env = {**os.environ, "TRACKER_INSTANCE_PATH": str(instance)}
    if database_url:
        env["TRACKER_DATABASE_URL"] = database_url
    wipe = "    db.session.execute(db.text('DROP SCHEMA public CASCADE; CREATE SCHEMA public')); db.session.commit()\n"
    code = (
        "from tracker import create_app\n"
        "from flask_migrate import upgrade\n"
        "from bench.seed import seed\n"
        "from tracker.extensions import db\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        + (wipe if database_url and database_url.startswith("postgres") else "")
        + "    upgrade()\n"
        f"    seed({active}, {history})\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return env


class Server:
    def __init__(self, env: dict):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "app.py", "--port", str(self.port)], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in self.proc.stdout:
            if "is serving at" in line:
                break
        else:
            raise SystemExit("the server did not start")
        # Keep reading its log so a full pipe never stalls the server.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=20)


class Client:
    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str):
        resp = self.opener.open(self.base + path, timeout=30)
        return resp.status, resp.read()

    def login(self, username: str, password: str):
        _, body = self.get("/login")
        token = re.search(rb'name="csrf-token" content="([^"]+)"', body).group(1).decode()
        data = urllib.parse.urlencode({"username": username, "password": password, "csrf_token": token}).encode()
        self.opener.open(self.base + "/login", data=data, timeout=30).read()


def settle(c: "Client", seconds: float = 120) -> None:
    """Waits for the scheduler's first round (the sweeps raise alerts, which the board's version counts)
    so the unchanged-board check measures an unchanged board."""
    import json

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _, body = c.get("/healthz")
        jobs = json.loads(body)["scheduler"]["jobs"]
        if all(jobs.get(name, {}).get("runs") for name in ("stall-sweep", "risk-sweep", "end-of-day", "carrier-alerts",
                                                           "delay-notices")):
            return
        time.sleep(0.2)
    raise SystemExit("the scheduler's first round did not finish")


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def board_case(active: int, history: int, database_url: str | None, n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        t = time.perf_counter()
        env = prepare_database(instance, database_url, active, history)
        seeded = time.perf_counter() - t
        server = Server(env)
        try:
            c = Client(server.base)
            c.login("bench", "bench-password")
            c.get("/")  # warm up
            settle(c)
            _, body = c.get("/board/columns")
            version = re.search(rb'id="board-version" name="v" value="([\d.]+)"', body).group(1).decode()
            full = timed(lambda: c.get("/board/columns"), n)
            page = timed(lambda: c.get("/"), max(3, n // 3))
            status, _ = c.get(f"/board/columns?v={version}")
            assert status == 204, status
            check = timed(lambda: c.get(f"/board/columns?v={version}"), n * 3)
        finally:
            server.stop()
    return {"active": active, "history": history, "seed_s": seeded,
            "render_p50": statistics.median(full), "render_p95": pct(full, 95),
            "page_p50": statistics.median(page),
            "check_p50": statistics.median(check), "check_p95": pct(check, 95)}


WEBHOOK_SECRET = "bench-webhook-secret"


def webhook_case(total: int, concurrency: int, database_url: str | None) -> dict:
    """EasyPost deliveries over HTTP, 30% of them redeliveries, from `concurrency` senders at once; then
    counts what the database kept: every acknowledged unique delivery, once."""
    import hashlib
    import hmac
    import json
    import random
    from concurrent.futures import ThreadPoolExecutor

    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        config = Path(tmp) / "config.toml"
        config.write_text('[providers.easypost]\napi_key = "bench"\nwebhook_secret = "' + WEBHOOK_SECRET + '"\n'
                          'base_url = "http://127.0.0.1:9"\n')
        env = prepare_database(instance, database_url, 100, 0)
        env["TRACKER_CONFIG"] = str(config)
        template = json.loads((ROOT / "tests" / "integrations" / "fixtures" / "easypost_tracker_updated.json").read_text())
        unique = []
        for i in range(int(total * 0.7)):
            event = json.loads(json.dumps(template))
            event["id"] = f"evt_bench_{i:06d}"
            event["result"]["tracking_code"] = f"1Z999AA1{i % 500:010d}"
            unique.append(json.dumps(event).encode())
        rng = random.Random(3)
        bodies = unique + [rng.choice(unique) for _ in range(total - len(unique))]
        rng.shuffle(bodies)
        server = Server(env)
        acknowledged = set()
        lat = []
        try:
            def send(body):
                sig = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
                req = urllib.request.Request(server.base + "/webhooks/easypost", data=body, method="POST",
                                             headers={"Content-Type": "application/json",
                                                      "X-Hmac-Signature": f"hmac-sha256-hex={sig}"})
                t = time.perf_counter()
                with urllib.request.urlopen(req, timeout=30) as resp:
                    resp.read()
                    status = resp.status
                return body, status, (time.perf_counter() - t) * 1000

            t0 = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                for body, status, ms in pool.map(send, bodies):
                    lat.append(ms)
                    if status in (200, 202):
                        acknowledged.add(json.loads(body)["id"])
            elapsed = time.perf_counter() - t0
        finally:
            server.stop()
        check = ("from tracker import create_app\nfrom tracker.extensions import db\n"
                 "from tracker.models import WebhookDelivery\napp = create_app()\n"
                 "with app.app_context():\n"
                 "    print(','.join(k.split(':',1)[1] for k in db.session.scalars(db.select(WebhookDelivery.dedupe_key))))\n")
        out = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        stored = set(filter(None, out.stdout.strip().split(",")))
    return {"total": total, "concurrency": concurrency, "rate": total / elapsed, "p50": statistics.median(lat),
            "p99": pct(lat, 99), "acknowledged": len(acknowledged), "stored": len(stored),
            "lost": len(acknowledged - stored)}


def reports_case(history: int, database_url: str | None, n: int, ranges=(7, 28)) -> list[dict]:
    """Every report over HTTP for the last `ranges` days, with `history` finished orders spread over a
    year (each with its whole audit trail, scans and parcel)."""
    import datetime as dt

    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        env = {**os.environ, "TRACKER_INSTANCE_PATH": str(instance)}
        if database_url:
            env["TRACKER_DATABASE_URL"] = database_url
        wipe = ("    db.session.execute(db.text('DROP SCHEMA public CASCADE; CREATE SCHEMA public')); db.session.commit()\n"
                if database_url and database_url.startswith("postgres") else "")
        code = ("from tracker import create_app\nfrom flask_migrate import upgrade\n"
                "from bench.seed_history import seed_history\nfrom tracker.extensions import db\n"
                "app = create_app()\nwith app.app_context():\n" + wipe +
                f"    upgrade()\n    seed_history({history})\n"
                "    from tracker.reports import load_all\n    print(','.join(load_all()))\n")
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        seeded = time.perf_counter() - t
        names = out.stdout.strip().splitlines()[-1].split(",")
        server = Server(env)
        rows = []
        try:
            c = Client(server.base)
            c.login("bench", "bench-password")
            today = dt.date.today()
            for days in ranges:
                query = f"from={today - dt.timedelta(days=days - 1)}&to={today}"
                for name in names:
                    status, _ = c.get(f"/reports/{name}?{query}")  # warm up
                    assert status == 200, (name, status)
                    ms = timed(lambda: c.get(f"/reports/{name}?{query}"), n)
                    rows.append({"report": name, "days": days, "history": history, "seed_s": seeded,
                                 "p50": statistics.median(ms), "p95": pct(ms, 95)})
        finally:
            server.stop()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Inktrail benchmarks (real server, real HTTP on loopback).")
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--database-url", help="PostgreSQL URL to run against instead of SQLite (it is wiped)")
    parser.add_argument("--only", choices=("board", "webhooks", "reports"), help="run one part only")
    args = parser.parse_args(argv)
    if args.quick:
        cases, n = [(500, 0), (500, 10_000), (2_000, 10_000)], 15
    else:
        cases, n = [(500, 10_000), (2_000, 0), (2_000, 10_000), (2_000, 100_000), (10_000, 100_000)], 40
    db_name = "PostgreSQL" if args.database_url else "SQLite"
    if args.only == "reports":
        return reports_table(args, db_name)
    by = board_table(args, db_name, cases, n) if args.only in (None, "board") else {}
    if args.only in (None, "webhooks"):
        webhooks_table(args, db_name)
    if args.only is None:
        reports_table(args, db_name)
    if (2000, 100_000) in by:
        r = by[(2000, 100_000)]
        print(f"aim: board under 150 ms at 2,000 active jobs with 100,000 history -> p95 {r['render_p95']:.1f} ms "
              f"({'met' if r['render_p95'] < 150 else 'MISSED'})")
    return 0


def board_table(args, db_name, cases, n) -> dict:
    print(f"Board on {db_name}: full render of /board/columns and the unchanged check (204), over HTTP, ms")
    rows = [board_case(a, h, args.database_url, n) for a, h in cases]
    print(f"{'active jobs':>11} {'history':>9} {'render p50':>10} {'render p95':>10} {'page p50':>9} "
          f"{'check p50':>9} {'check p95':>9}")
    for r in rows:
        print(f"{r['active']:>11,} {r['history']:>9,} {r['render_p50']:>10.1f} {r['render_p95']:>10.1f} "
              f"{r['page_p50']:>9.1f} {r['check_p50']:>9.2f} {r['check_p95']:>9.2f}")
    by = {(r["active"], r["history"]): r for r in rows}
    small, big = min(h for a, h in by if a == 2000), max(h for a, h in by if a == 2000)
    if small != big:
        ratio = by[(2000, big)]["render_p50"] / by[(2000, small)]["render_p50"]
        print(f"render at 2,000 active jobs: history {big:,} / history {small:,} = {ratio:.2f}x "
              "(1.0 means history costs nothing)")
    return by


def webhooks_table(args, db_name) -> None:
    total = 1000 if args.quick else 5000
    print(f"\nWebhooks on {db_name}: EasyPost deliveries over HTTP, 30% redeliveries")
    print(f"{'deliveries':>10} {'senders':>8} {'per second':>10} {'p50 ms':>7} {'p99 ms':>7} {'acked':>6} {'stored':>6} {'lost':>5}")
    for conc in (1, 8):
        w = webhook_case(total, conc, args.database_url)
        print(f"{w['total']:>10,} {w['concurrency']:>8} {w['rate']:>10,.0f} {w['p50']:>7.2f} {w['p99']:>7.2f} "
              f"{w['acknowledged']:>6} {w['stored']:>6} {w['lost']:>5}")


def reports_table(args, db_name) -> int:
    history = 10_000 if args.quick else 100_000
    print(f"\nReports on {db_name}: each report page over HTTP, {history:,} finished orders over a year, ms "
          "(aim: under 1,000)")
    print(f"{'report':>18} {'range':>9} {'p50':>8} {'p95':>8}")
    for r in reports_case(history, args.database_url, 3 if args.quick else 5, (28,) if args.quick else (7, 28)):
        print(f"{r['report']:>18} {str(r['days']) + ' days':>9} {r['p50']:>8.1f} {r['p95']:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
