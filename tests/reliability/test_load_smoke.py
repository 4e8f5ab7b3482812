"""bench/load.py for a few seconds with a few threads: it runs, the server answers every request without
an error, and every scan it acknowledged is stored once. No timing is asserted (the figures are the
bench's to print, on a quiet machine)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import PG_URL
from tests.test_scheduler_once import ROOT


@pytest.mark.skipif(bool(PG_URL), reason="the bench wipes the database it is given; it runs on its own SQLite file here")
def test_the_load_bench_runs_without_errors_and_stores_every_acknowledged_scan():
    out = subprocess.run([sys.executable, "-m", "bench.load", "--seconds", "3", "--stations", "4", "--boards", "2",
                          "--active", "200"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    header = lines[1].split()
    figures = dict(zip(header[:3], lines[2].split()[:3]))
    assert figures["errors"] == "0" and int(figures["scans"].replace(",", "")) > 0, out.stdout
    assert "stored once: all" in out.stdout, out.stdout
    assert "moved" in out.stdout
