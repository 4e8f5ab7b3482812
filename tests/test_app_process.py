"""The README's first command, for real: `python app.py --demo` in its own process, over HTTP."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PG_URL, TEST_CONFIG
from tracker import create_app
from tracker.scheduling import SchedulerLock, start_scheduler

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_line(proc, needle: str, limit: int = 400) -> list[str]:
    lines = []
    for _ in range(limit):
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError("server did not start:\n" + "".join(lines))


@pytest.mark.skipif(bool(PG_URL), reason="runs the default SQLite setup, as a new shop would")
def test_python_app_py_demo_serves_with_scheduler(tmp_path):
    port = _free_port()
    env = {**os.environ, "TRACKER_INSTANCE_PATH": str(tmp_path / "instance"), "TRACKER_CONFIG": str(TEST_CONFIG),
           "PYTHONUNBUFFERED": "1"}
    env.pop("TRACKER_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "app.py", "--demo", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = "".join(_wait_for_line(proc, "is serving at"))
        assert "Seeded a demo shop with" in out and "inktrail-demo" in out
        health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10))
        assert health["database"]["ok"] is True
        # The heartbeat job runs at start, so a live scheduler shows at once.
        assert health["scheduler"]["jobs"]["heartbeat"]["runs"] >= 1
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/orders/A1001", timeout=10)
        assert err.value.code == 401
        assert (tmp_path / "instance" / "tracker.db").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, rest
    assert "Inktrail stopped." in rest


def test_create_app_never_starts_a_scheduler(tmp_path):
    import threading

    before = {t.name for t in threading.enumerate()}
    create_app({"TESTING": True, "INSTANCE_PATH": tmp_path, "TRACKER_CONFIG_PATH": TEST_CONFIG,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    after = {t.name for t in threading.enumerate()}
    assert not [t for t in after - before if "APScheduler" in t or "scheduler" in t.lower()]


def test_second_scheduler_start_against_same_instance_is_refused(app):
    handle = start_scheduler(app)
    try:
        assert handle.running
        second = SchedulerLock(app)
        assert second.acquire() is False
        again = start_scheduler(app)
        assert not again.running
    finally:
        handle.stop()
    third = SchedulerLock(app)
    assert third.acquire() is True
    third.release()
