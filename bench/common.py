"""What every benchmark shares: real server processes (Inktrail's `python app.py` and the bare baseline),
HTTP clients (keep-alive connections, one per simulated station or board), seeding in a subprocess, and
the statistics. Nothing here is timed by tests: the benchmarks print figures and ratios."""
from __future__ import annotations

import atexit
import http.client
import http.cookiejar
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "bench-webhook-secret"
PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def sqlite_url(instance: Path) -> str:
    return f"sqlite:///{instance / 'tracker.db'}"


def run_python(code: str, env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return out.stdout


def bench_config(folder: Path) -> Path:
    """The shop's own config.toml with what a benchmark needs: EasyPost switched on (its API unreachable
    on purpose: nothing leaves the machine) and the per-address rate limits lifted, because every
    simulated station, board and carrier here shares one address (127.0.0.1)."""
    path = folder / "bench-config.toml"
    if not path.exists():
        text = (ROOT / "config.toml").read_text()
        text = text.replace('base_url = "https://api.easypost.com"', 'base_url = "http://127.0.0.1:9"')
        if "\n[security]" not in text:
            text += '\n[security]\npublic_rate = "1000000/minute"\nwebhook_rate = "1000000/minute"\n'
        path.write_text(text)
    return path


def app_env(instance: Path, database_url: str | None, config: Path | None = None) -> dict:
    env = {**os.environ, "TRACKER_INSTANCE_PATH": str(instance), "PYTHONPATH": str(ROOT),
           "EASYPOST_API_KEY": "bench", "EASYPOST_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "TRACKER_CONFIG": str(config or bench_config(instance.parent))}
    if database_url:
        env["TRACKER_DATABASE_URL"] = database_url
    return env


WIPE_PG = "    db.session.execute(db.text('DROP SCHEMA public CASCADE; CREATE SCHEMA public')); db.session.commit()\n"


def in_app(env: dict, body: str, *, wipe: bool = False) -> str:
    """Runs `body` (indented 4 spaces) inside the app's context, in a subprocess; returns its stdout."""
    pg = env.get("TRACKER_DATABASE_URL", "").startswith("postgres")
    code = ("from tracker import create_app\nfrom flask_migrate import upgrade\nfrom tracker.extensions import db\n"
            "app = create_app()\nwith app.app_context():\n" + (WIPE_PG if wipe and pg else "")
            + "    upgrade()\n" + body)
    return run_python(code, env)


def prepare_database(instance: Path, database_url: str | None, active: int, history: int) -> dict:
    env = app_env(instance, database_url)
    in_app(env, f"    from bench.seed import seed\n    seed({active}, {history})\n", wipe=True)
    return env


_RUNNING: list["Proc"] = []


def stop_all() -> None:
    """Stops every server a benchmark started and has not stopped (a part that failed half-way): a server
    left behind would hold its port and, on PostgreSQL, the scheduler's lock for the next run."""
    for proc in list(_RUNNING):
        proc.stop()


atexit.register(stop_all)


class Proc:
    """A server in its own process, started and waited for ("is serving at"), its output drained."""

    def __init__(self, args: list[str], env: dict):
        import datetime as dt

        self.port = free_port()
        self.started_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # /healthz has whole seconds
        self.proc = subprocess.Popen([sys.executable, *args, "--port", str(self.port)], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _RUNNING.append(self)
        tail = []
        for line in self.proc.stdout:
            tail = (tail + [line])[-20:]
            if "is serving at" in line:
                break
        else:
            raise SystemExit("the server did not start:\n" + "".join(tail))
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.base = f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Server(Proc):
    def __init__(self, env: dict, threads: int = 8):
        super().__init__(["app.py", "--threads", str(threads)], env)


class Baseline(Proc):
    def __init__(self, database_url: str, env: dict, rows: int = 10_000, threads: int = 8):
        super().__init__(["-m", "bench.baseline", "--database-url", database_url, "--rows", str(rows),
                          "--threads", str(threads)], env)


# Every client here says the same User-Agent, as a tablet's browser does on each request: the login's session
# protection (Flask-Login's "basic") ties a session to its address and browser, and a session used from
# another one is marked not fresh, which re-signs and re-sends its cookie on every answer (urllib and
# http.client differ: that cost 7% of each scan the bench measured before 2026-12-08).
USER_AGENT = "Mozilla/5.0 (inktrail-bench)"


class Client:
    """A browser-like client (cookies) on urllib: logging in, reading pages."""

    def __init__(self, base: str | Proc):
        self.server_started_at = getattr(base, "started_at", None)
        self.base = getattr(base, "base", base)
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.opener.addheaders = [("User-Agent", USER_AGENT)]

    def get(self, path: str):
        resp = self.opener.open(self.base + path, timeout=60)
        return resp.status, resp.read()

    def login(self, username: str = "bench", password: str = PASSWORD):
        _, body = self.get("/login")
        token = re.search(rb'name="csrf-token" content="([^"]+)"', body).group(1).decode()
        data = urllib.parse.urlencode({"username": username, "password": password, "csrf_token": token}).encode()
        self.opener.open(self.base + "/login", data=data, timeout=30).read()

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def csrf(self, path: str = "/scan") -> str:
        _, body = self.get(path)
        return re.search(rb'name="csrf-token" content="([^"]+)"', body).group(1).decode()


class Conn:
    """One keep-alive HTTP connection (a station, a board, a carrier's sender), reconnecting if dropped."""

    def __init__(self, base: str, headers: dict | None = None):
        parsed = urllib.parse.urlparse(base)
        self.host, self.port = parsed.hostname, parsed.port
        self.headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers={**self.headers, **(headers or {})})
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt == 2:
                    raise


def hammer(make_conn, requests: list, concurrency: int):
    """Sends `requests` (each a callable(conn) -> status) from `concurrency` threads, each with its own
    connection; returns (elapsed seconds, latencies ms, statuses)."""
    lat: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    chunks = [requests[i::concurrency] for i in range(concurrency)]

    def worker(chunk):
        conn = make_conn()
        mine, codes = [], []
        for req in chunk:
            t = time.perf_counter()
            codes.append(req(conn))
            mine.append((time.perf_counter() - t) * 1000)
        with lock:
            lat.extend(mine)
            statuses.extend(codes)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, chunks))
    return time.perf_counter() - t0, lat, statuses


def summary(elapsed: float, lat: list[float], statuses: list[int]) -> dict:
    return {"n": len(lat), "rate": len(lat) / elapsed if elapsed else 0.0, "p50": statistics.median(lat),
            "p95": pct(lat, 95), "p99": pct(lat, 99), "errors": sum(1 for s in statuses if s >= 400)}


def settle(c: Client, seconds: float = 600) -> None:
    """Waits for the scheduler's first round in this server (the sweeps raise alerts, which the board's
    version counts, and take seconds with thousands of active jobs) so the figures are the steady state.
    The job rows stay in the database across servers, so a round counts only if it finished after this
    server started."""
    import datetime as dt
    import json

    started = c.server_started_at
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _, body = c.get("/healthz")
        jobs = json.loads(body)["scheduler"]["jobs"]
        finished = [jobs.get(name, {}).get("last_finished_at") for name in SWEEPS]
        if all(f and dt.datetime.fromisoformat(f) >= started for f in finished):
            return
        time.sleep(0.2)  # polling the server's own progress, not timing anything
    raise SystemExit("the scheduler's first round did not finish")


SWEEPS = ("stall-sweep", "risk-sweep", "end-of-day", "carrier-alerts", "delay-notices")


def seeded_app(overrides: dict, active: int = 500, history: int = 2000):
    """An in-process app on a fresh database (the PostgreSQL one named by TRACKER_DATABASE_URL is wiped),
    migrated and seeded with `active` jobs over `history` orders, for the in-process benchmarks."""
    from flask_migrate import upgrade

    from tracker import create_app
    from tracker.extensions import db

    from .seed import seed

    app = create_app(overrides)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(db.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade()
        seed(active, history)
    return app
