"""`python -m bench.load [--seconds 60] [--stations 32] [--boards 10] [--database-url URL]`: a shop floor at
full tilt against the real server (python app.py) over HTTP on loopback.

Station threads scan job codes the way a scan page does (POST /scan/<station>: JSON with the page's own
scan ID, the CSRF header and the session cookie), each at its own station, taking jobs waiting in the stage
before its station's one: art desks (to preproduction), presses (production) and QC tables (qc). They scan
back to back, with no pause between scans (--pause to give them one): a busier floor than any real one.
Board threads refresh /board/columns every second the way an open board does: with the version they show,
answered 204 when nothing changed or re-rendered (200, with the new version) when something did.

After the run the boards go on for a few quiet seconds: under load every refresh is a full render (each
scan changes the board), so the unchanged check (204) is measured then.

Prints one table: requests, errors (anything but a scan's answer 200/409/422 or a board's 200/204, and any
failed connection: must be 0), scans per second, scan latency p50/p95/p99, board render p50/p95 and the
unchanged-check p50; then checks that every scan the server acknowledged is stored, once.
"""
from __future__ import annotations

import argparse
import json
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from bench.common import ROOT, USER_AGENT, Client, Server, pct, prepare_database, settle

QUIET_SECONDS = 5
STEPS = (("art", "received", "preproduction"), ("press", "preproduction", "production"), ("qc", "production", "qc"))


def write_config(path: Path, stations: int) -> None:
    """The bench shop: the default stages and `stations` stations, art desks, presses and QC tables in turn."""
    lines = ['[shop]\nname = "Load Test Print Co"\ntimezone = "America/Denver"\n']
    for i in range(stations):
        kind, _, to = STEPS[i % len(STEPS)]
        lines.append(f'[[stations]]\nkey = "{kind}-{i + 1}"\nname = "{kind.title()} {i + 1}"\nmoves_to = "{to}"\n')
    path.write_text("\n".join(lines))


def jobs_by_stage(env: dict) -> dict[str, list[str]]:
    code = ("import json\nfrom tracker import create_app\nfrom tracker.extensions import db\n"
            "from tracker.models import Job\napp = create_app()\nwith app.app_context():\n"
            "    out = {}\n"
            "    for code, stage in db.session.execute(db.select(Job.code, Job.stage).order_by(Job.id)):\n"
            "        out.setdefault(stage, []).append(code)\n"
            "    print(json.dumps(out))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def stored_scan_ids(env: dict) -> Counter:
    code = ("from tracker import create_app\nfrom tracker.extensions import db\nfrom tracker.models import Scan\n"
            "app = create_app()\nwith app.app_context():\n"
            "    print(','.join(db.session.scalars(db.select(Scan.uid))))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return Counter(filter(None, out.stdout.strip().splitlines()[-1].split(",")))


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.errors: Counter = Counter()
        self.scan_ms: list[float] = []
        self.outcomes: Counter = Counter()
        self.acked: list[str] = []
        self.render_ms: list[float] = []
        self.check_ms: list[float] = []
        self.quiet_check_ms: list[float] = []

    def error(self, what: str) -> None:
        with self.lock:
            self.requests += 1
            self.errors[what] += 1


def post_json(opener, url: str, body: dict, headers: dict) -> tuple[int, dict | None]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Accept": "application/json", **headers})
    try:
        with opener.open(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw or b"null")
        except ValueError:
            return err.code, None


def station_loop(client: Client, csrf: str, station: str, jobs: list[str], stop: threading.Event, tally: Tally,
                 pause: float) -> None:
    url = f"{client.base}/scan/{station}"
    i = 0
    while not stop.is_set():
        code = jobs[i % len(jobs)] if jobs else "A0000A"  # past the end: scanned again, refused (409)
        i += 1
        scan_id = secrets.token_hex(16)
        body = {"scan_id": scan_id, "station": station, "code": code, "operator": "load",
                "scanned_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "action": "move"}
        t = time.perf_counter()
        try:
            status, answer = post_json(client.opener, url, body, {"X-CSRFToken": csrf})
        except OSError as exc:
            tally.error(f"scan: {exc.__class__.__name__}")
            continue
        ms = (time.perf_counter() - t) * 1000
        if status not in (200, 409, 422) or not isinstance(answer, dict):
            tally.error(f"scan: HTTP {status}")
            continue
        with tally.lock:
            tally.requests += 1
            tally.scan_ms.append(ms)
            tally.outcomes[answer.get("outcome") or "?"] += 1
            tally.acked.append(scan_id)
        if pause:
            stop.wait(pause)


def board_loop(client: Client, stop: threading.Event, tally: Tally, quiet: threading.Event) -> None:
    version = ""
    next_at = time.monotonic()
    while not stop.is_set():
        t = time.perf_counter()
        try:
            status, body = client.get(f"/board/columns?v={version}")
        except urllib.error.HTTPError as err:
            tally.error(f"board: HTTP {err.code}")
            status, body = None, b""
        except OSError as exc:
            tally.error(f"board: {exc.__class__.__name__}")
            status, body = None, b""
        ms = (time.perf_counter() - t) * 1000
        if status == 204:
            with tally.lock:
                tally.requests += 1
                (tally.quiet_check_ms if quiet.is_set() else tally.check_ms).append(ms)
        elif status == 200:
            found = re.search(rb'id="board-version" name="v" value="([^"]+)"', body)
            with tally.lock:
                tally.requests += 1
                tally.render_ms.append(ms)
            if found:
                version = found.group(1).decode()
            else:
                tally.error("board: no version in the columns")
        elif status is not None:
            tally.error(f"board: HTTP {status}")
        next_at += 1.0  # hx-trigger="every 1s"
        stop.wait(max(0.0, next_at - time.monotonic()))


def run(seconds: float, stations: int, boards: int, database_url: str | None, active: int, pause: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        config = Path(tmp) / "config.toml"
        write_config(config, stations)
        env = prepare_database(instance, database_url, active, 0)
        env["TRACKER_CONFIG"] = str(config)
        waiting = jobs_by_stage(env)
        # Each station gets its own share of the jobs waiting for it, so two stations never fight over one.
        shares: dict[str, list[str]] = {}
        for kind, before, _ in STEPS:
            keys = [f"{k}-{i + 1}" for i in range(stations) for k in [STEPS[i % len(STEPS)][0]] if k == kind]
            for n, key in enumerate(keys):
                shares[key] = waiting.get(before, [])[n::len(keys)]
        server = Server(env)
        try:
            staff = Client(server)
            staff.login("bench", "bench-password")  # one login; every thread shows the same session cookie
            _, page = staff.get("/scan")
            csrf = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()
            settle(staff)
            tally = Tally()

            jar = next(h.cookiejar for h in staff.opener.handlers if isinstance(h, urllib.request.HTTPCookieProcessor))

            def clone() -> Client:
                c = Client(server.base)
                c.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
                c.opener.addheaders = [("User-Agent", USER_AGENT)]
                return c

            scanning, boards_stop, quiet = threading.Event(), threading.Event(), threading.Event()
            stations_ = [threading.Thread(target=station_loop, args=(clone(), csrf, key, shares[key], scanning, tally,
                                                                     pause)) for key in shares]
            boards_ = [threading.Thread(target=board_loop, args=(clone(), boards_stop, tally, quiet))
                       for _ in range(boards)]
            t0 = time.perf_counter()
            for th in stations_ + boards_:
                th.start()
            scanning.wait(seconds)
            scanning.set()
            for th in stations_:
                th.join(120)
            elapsed = time.perf_counter() - t0
            # A few quiet seconds after the floor stops: the boards' unchanged checks (204). Under load the
            # board changes every second (every scan is news), so each refresh there is a full render.
            boards_stop.wait(1.5)  # the boards' first refresh after the last scan still renders it
            quiet.set()
            boards_stop.wait(QUIET_SECONDS)
            boards_stop.set()
            for th in boards_:
                th.join(120)
        finally:
            server.stop()
        stored = stored_scan_ids(env)
    acked = Counter(tally.acked)
    return {"seconds": elapsed, "stations": stations, "boards": boards, "requests": tally.requests,
            "errors": sum(tally.errors.values()), "error_kinds": dict(tally.errors), "scans": len(tally.scan_ms),
            "outcomes": dict(tally.outcomes), "scan_ms": tally.scan_ms, "render_ms": tally.render_ms,
            "check_ms": tally.check_ms, "quiet_check_ms": tally.quiet_check_ms, "acked": len(acked),
            "missing": sum(1 for k in acked if stored[k] != 1), "database": "PostgreSQL" if database_url else "SQLite"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Inktrail load test: stations scanning and boards refreshing at once.")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--stations", type=int, default=32)
    parser.add_argument("--boards", type=int, default=10)
    parser.add_argument("--active", type=int, default=4000, help="active jobs seeded (default 4,000)")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds each station waits between scans (0: none)")
    parser.add_argument("--database-url", help="PostgreSQL URL to run against instead of SQLite (it is wiped)")
    args = parser.parse_args(argv)
    r = run(args.seconds, args.stations, args.boards, args.database_url, args.active, args.pause)
    scans, renders, checks = r["scan_ms"], r["render_ms"], r["check_ms"] + r["quiet_check_ms"]

    def p(values, q):
        return f"{pct(values, q):.1f}" if values else "-"

    print(f"Load on {r['database']}: {r['stations']} stations scanning, {r['boards']} boards refreshing every second, "
          f"{r['seconds']:.0f} s, {args.active:,} active jobs, pause between scans {args.pause:g} s; latencies in ms")
    print(f"{'requests':>8} {'errors':>6} {'scans':>6} {'scans/s':>7} {'scan p50':>8} {'scan p95':>8} {'scan p99':>8} "
          f"{'renders':>7} {'board p50':>9} {'board p95':>9} {'checks':>6} {'check p50':>9}")
    # (checks: the unchanged-board answers, 204: during the run if any, and in the quiet seconds after it)
    print(f"{r['requests']:>8,} {r['errors']:>6} {r['scans']:>6,} {r['scans'] / r['seconds']:>7.1f} "
          f"{p(scans, 50):>8} {p(scans, 95):>8} {p(scans, 99):>8} {len(renders):>7,} {p(renders, 50):>9} "
          f"{p(renders, 95):>9} {len(checks):>6,} {p(checks, 50):>9}")
    outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(r["outcomes"].items()))
    print(f"scan answers: {outcomes}; acknowledged {r['acked']:,}, stored once: "
          f"{'all' if r['missing'] == 0 else str(r['acked'] - r['missing']) + ' (MISSING ' + str(r['missing']) + ')'}")
    if r["errors"]:
        print("errors: " + ", ".join(f"{k} x{v}" for k, v in r["error_kinds"].items()))
    return 0 if r["errors"] == 0 and r["missing"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
