"""`python -m bench` runs: its quick webhook and public-page parts against a real server on a SQLite file of
their own, printing one table with the baseline beside each figure. No timing is asserted (the figures are
the bench's to print, on a quiet machine); what is asserted could break: the run finishes, no request
failed, and every webhook delivery the server acknowledged is stored."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import PG_URL
from tests.test_scheduler_once import ROOT


@pytest.mark.skipif(bool(PG_URL), reason="the bench wipes the database it is given; it runs on its own SQLite file here")
def test_the_bench_prints_its_table_and_loses_no_acknowledged_webhook():
    out = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "webhooks", "--only", "public"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    table = out.stdout[out.stdout.index("Inktrail on SQLite (quick)"):]
    rows = {re.split(r"\s{2,}", line.strip())[1]: re.split(r"\s{2,}", line.strip())[2:]
            for line in table.splitlines()[3:] if line.strip()}
    lost = next(v for k, v in rows.items() if k.startswith("acknowledged deliveries lost"))
    assert lost[0] == "0.0" and lost[-1] == "met", table
    assert not any("errors" in k for k in rows), table  # a row appears only when some request failed
    for case in ("8 senders, 30% redeliveries: deliveries a second", "tracking page p95 (10,000 orders)"):
        figure, unit, bare, ratio = rows[case][:4]
        assert float(figure.replace(",", "")) > 0 and float(bare.replace(",", "")) > 0 and ratio.endswith("x"), table
