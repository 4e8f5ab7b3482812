"""The server killed with SIGKILL in the middle of a flood of webhooks and scans, for real: `python app.py`
in its own process, signed EasyPost deliveries and API scans from many threads, SIGKILL once a number of
them were acknowledged, a new process on the same database. Every delivery and scan that got a 2xx is in
the database once, each scan's move applied once, and what was cut off in flight goes through when its
sender tries again (a carrier redelivers, the scan page resends its queue with the same scan IDs).

On SQLite by default; on PostgreSQL with TRACKER_TEST_DATABASE_URL (a schema of its own, as
tests/test_scheduler_once.py does)."""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import PG_URL, TEST_CONFIG
from tests.test_scheduler_once import ROOT, START_SECONDS, Server, Shop, wait_until

SECRET = "crash-webhook-secret"
FIXTURE = Path(__file__).resolve().parent.parent / "integrations" / "fixtures" / "easypost_tracker_updated.json"
STATIONS = ("art-desk", "press-1", "qc-1", "pack-1")  # tests/test_config.toml, in the order a job goes
ORDERS, JOBS_PER_ORDER = 30, 2
SCANNERS, SENDERS = 6, 4
DELIVERIES_PER_SENDER = 60
KILL_AFTER_ACKS = 200


def shop_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(TEST_CONFIG.read_text() + f'\n[providers.easypost]\napi_key = "crash"\nwebhook_secret = "{SECRET}"\n'
                    'base_url = "http://127.0.0.1:9"\n')
    return path


class CrashShop(Shop):
    def __init__(self, tmp_path: Path):
        super().__init__(tmp_path)
        self.config = shop_config(tmp_path)

    def env(self, name: str) -> dict:
        return {**super().env(name), "TRACKER_CONFIG": str(self.config)}


def request(base: str, path: str, body: bytes, headers: dict) -> tuple[int | None, dict | None]:
    """(status, JSON answer); (None, None) when the connection failed (the server is gone)."""
    req = urllib.request.Request(base + path, data=body, method="POST", headers=headers)
    try:
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")
    except (OSError, ValueError, http.client.HTTPException):  # refused, reset, cut off mid-answer
        return None, None


@dataclass
class Flood:
    base: str
    token: str
    acks: int = 0
    scans: dict = field(default_factory=dict)       # scan_id -> (status, answer) of the last try
    deliveries: dict = field(default_factory=dict)  # evt id -> status of the last try
    cond: threading.Condition = field(default_factory=threading.Condition)

    def _count(self, status):
        if status is not None and 200 <= status < 300:
            with self.cond:
                self.acks += 1
                self.cond.notify_all()

    def scan(self, scan_id: str, station: str, code: str) -> int | None:
        body = json.dumps({"station": station, "code": code, "scan_id": scan_id}).encode()
        status, answer = request(self.base, "/api/scans", body, {"Content-Type": "application/json",
                                                                 "Authorization": f"Bearer {self.token}"})
        self.scans[scan_id] = (status, answer)
        self._count(status)
        return status

    def deliver(self, evt: str, body: bytes) -> int | None:
        sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        status, _ = request(self.base, "/webhooks/easypost", body, {"Content-Type": "application/json",
                                                                    "X-Hmac-Signature": f"hmac-sha256-hex={sig}"})
        self.deliveries[evt] = status
        self._count(status)
        return status


def delivery(i: int) -> tuple[str, bytes]:
    event = json.loads(FIXTURE.read_text())
    event["id"] = f"evt_crash_{i:05d}"
    event["result"]["tracking_code"] = f"1Z999AA1{i:010d}"
    return event["id"], json.dumps(event).encode()


def create_token(shop: CrashShop) -> str:
    out = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "tracker", "create-token", "crash-test",
                          "--role", "operator"], cwd=ROOT, env=shop.env("cli"), capture_output=True, text=True,
                         check=True)
    return out.stdout.strip().splitlines()[-1].strip()


def test_sigkill_in_a_flood_of_webhooks_and_scans_loses_nothing_acknowledged(tmp_path):
    shop = CrashShop(tmp_path)
    servers = []
    try:
        first = Server(shop, "first")
        servers.append(first)
        first.wait_healthy(time.monotonic() + START_SECONDS)
        flood = Flood(f"http://127.0.0.1:{first.port}", create_token(shop))
        jobs = []
        for n in range(ORDERS):
            body = json.dumps({"customer": {"name": f"Crash {n}"}, "external_ref": f"crash-{n}", "items": [
                {"description": f"Tee {k}", "method": "dtg", "quantity": 1} for k in range(JOBS_PER_ORDER)]}).encode()
            status, answer = request(flood.base, "/api/orders", body, {"Content-Type": "application/json",
                                                                       "Authorization": f"Bearer {flood.token}"})
            assert status == 201, answer
            jobs += [j["job_id"] for j in answer["jobs"]]

        # Each scanner takes its share of jobs through the stations; each sender its share of deliveries,
        # every fifth one sent twice (a carrier's redelivery).
        plan_scans = {t: [(f"crash-{t}-{j}-{s}", station, job) for j, job in enumerate(jobs[t::SCANNERS])
                          for s, station in enumerate(STATIONS)] for t in range(SCANNERS)}
        plan_hooks = {}
        for t in range(SENDERS):
            items = [delivery(t * DELIVERIES_PER_SENDER + i) for i in range(DELIVERIES_PER_SENDER)]
            plan_hooks[t] = [x for i, x in enumerate(items) for _ in range(2 if i % 5 == 0 else 1)]

        def scanner(t):
            for scan_id, station, code in plan_scans[t]:
                if flood.scan(scan_id, station, code) is None:
                    return  # the server is gone

        def sender(t):
            for evt, body in plan_hooks[t]:
                if flood.deliver(evt, body) is None:
                    return

        threads = [threading.Thread(target=scanner, args=(t,)) for t in range(SCANNERS)]
        threads += [threading.Thread(target=sender, args=(t,)) for t in range(SENDERS)]
        for th in threads:
            th.start()
        with flood.cond:
            assert flood.cond.wait_for(lambda: flood.acks >= KILL_AFTER_ACKS, timeout=120), flood.acks
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        for th in threads:
            th.join(60)
        acked_scans = {k: a for k, (st, a) in flood.scans.items() if st is not None and 200 <= st < 300}
        acked_hooks = {k for k, st in flood.deliveries.items() if st is not None and 200 <= st < 300}
        cut_scans = [k for k, (st, _) in flood.scans.items() if st is None]
        cut_hooks = [k for k, st in flood.deliveries.items() if st is None]
        assert acked_scans and acked_hooks and cut_scans + cut_hooks, "the kill did not land mid-flood"
        # Not everything was sent: the kill came in the middle.
        assert len(acked_scans) < sum(map(len, plan_scans.values()))
        print(f"killed after {flood.acks} acks: {len(acked_scans)} scans and {len(acked_hooks)} deliveries "
              f"acknowledged, {len(cut_scans)} scans and {len(cut_hooks)} deliveries cut off in flight")

        # A new process on the same database.
        second = Server(shop, "second")
        servers.append(second)
        second.wait_healthy(time.monotonic() + START_SECONDS)
        stored = stored_rows(shop)
        for scan_id in acked_scans:
            assert stored["scans"].get(scan_id) == 1, scan_id
        for evt in acked_hooks:
            assert stored["deliveries"].get(f"easypost:{evt}") == 1, evt
        # Each acknowledged move is in the audit trail (the job's event, or its order's when the scan moved
        # the whole order), and no scan wrote the same move twice.
        for scan_id, answer in acked_scans.items():
            if answer["outcome"] == "moved":
                assert answer["to"] in {to for _, _, to in stored["moves"].get(scan_id, [])}, (scan_id, answer)
        assert stored["double_moves"] == []

        # The senders try again what was cut off, with the same scan IDs and bodies: taken once.
        flood.base = f"http://127.0.0.1:{second.port}"
        bodies = dict(x for items in plan_hooks.values() for x in items)
        steps = {sid: (station, code) for items in plan_scans.values() for sid, station, code in items}
        for scan_id in cut_scans:
            # Answered now (a 409 is the rules refusing it: another job of the order is behind), not a 5xx.
            assert flood.scan(scan_id, *steps[scan_id]) in (200, 409), flood.scans[scan_id]
        for evt in cut_hooks:
            assert flood.deliver(evt, bodies[evt]) in (200, 202)
        again = stored_rows(shop)
        assert all(again["scans"].get(k) == 1 for k in [*acked_scans, *cut_scans])
        assert all(again["deliveries"].get(f"easypost:{k}") == 1 for k in [*acked_hooks, *cut_hooks])
        assert again["double_moves"] == []
        # Deliveries acknowledged but not yet processed when the process died are processed by the new
        # one (the process-webhooks job runs at start and every 5 s).
        wait_until(lambda: stored_rows(shop)["unprocessed"] == 0, "every stored delivery to be processed", 60)
    finally:
        for s in servers:
            s.stop()
        shop.close()
    assert "Traceback" not in servers[-1].log, servers[-1].log


def stored_rows(shop: Shop) -> dict:
    scans = dict(shop.query("SELECT uid, COUNT(*) FROM scans GROUP BY uid"))
    deliveries = dict(shop.query("SELECT dedupe_key, COUNT(*) FROM webhook_deliveries GROUP BY dedupe_key"))
    moves: dict[str, list] = {}
    for uid, order, job, to in shop.query(
            "SELECT s.uid, o.code, j.code, e.to_stage FROM events e JOIN scans s ON s.id = e.scan_id "
            "JOIN orders o ON o.id = e.order_id LEFT JOIN jobs j ON j.id = e.job_id ORDER BY e.id"):
        moves.setdefault(uid, []).append((order, job, to))
    double = shop.query("SELECT scan_id, order_id, job_id, to_stage, COUNT(*) FROM events WHERE scan_id IS NOT NULL "
                        "GROUP BY scan_id, order_id, job_id, to_stage HAVING COUNT(*) > 1")
    unprocessed = shop.query("SELECT COUNT(*) FROM webhook_deliveries WHERE processed_at IS NULL")[0][0]
    return {"scans": scans, "deliveries": deliveries, "moves": moves, "double_moves": double,
            "unprocessed": unprocessed}
