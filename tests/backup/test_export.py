"""Export: `tracker export DIR [--format csv|json]` and the manager-only Export page, checked against a
known history; times in ISO 8601 UTC; formula-looking text made safe in CSV and exact in JSON; the export
reads one snapshot and, on SQLite, holds no write lock while it streams."""
from __future__ import annotations

import csv
import io
import json
import threading
import zipfile

import pytest

from tests.backup.conftest import T0, seed_shop
from tests.conftest import PG_URL, login
from tests.factories import make_order
from tracker.extensions import db
from tracker.services import export

TABLES = ["orders", "jobs", "events", "shipments", "tracking_events", "scans"]


def read_csv(text: str) -> list[dict]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def check_tables(tables: dict[str, list[dict]], *, as_json: bool) -> None:
    """The seeded history, as the export must show it (CSV: text; JSON: typed)."""
    na = None if as_json else ""
    yes, no = (True, False) if as_json else ("true", "false")
    num = (lambda n: n) if as_json else str

    orders = {o["order_code"]: o for o in tables["orders"]}
    assert list(orders) == ["A1001", "A1002", "A1003"]
    a = orders["A1001"]
    assert (a["customer_name"], a["customer_email"], a["channel"], a["due_date"], a["rush"], a["stage"]) == (
        "Rosa Diaz", "rosa@example.com", "manual", "2026-03-09", no, "preproduction")
    assert a["created_at"] == "2026-03-02T15:00:00Z" and a["stage_entered_at"] == "2026-03-02T17:00:00Z"
    assert a["cancelled_at"] == na
    b = orders["A1002"]
    # Text a spreadsheet would run as a formula: an apostrophe in CSV, exact in JSON.
    assert b["customer_name"] == ('=HYPERLINK("x")' if as_json else '\'=HYPERLINK("x")')
    assert (b["rush"], b["stage"]) == (yes, "packaging")
    c = orders["A1003"]
    assert (c["customer_name"], c["customer_email"], c["customer_phone"]) == ("Zoë Ünal", na, na)
    assert "public_token" not in a and "id" not in a

    jobs = [(j["job_code"], j["order_code"], j["method"], j["quantity"], j["stage"]) for j in tables["jobs"]]
    assert jobs == [("A1001A", "A1001", "dtg", num(12), "production"),
                    ("A1001B", "A1001", "embroidery", num(6), "preproduction"),
                    ("A1002A", "A1002", "screen", num(40), "packaging"),
                    ("A1003A", "A1003", "dtf", num(5), "received")]

    events = [(e["order_code"], e["job_code"], e["at"], e["kind"], e["from_stage"], e["to_stage"], e["source"],
               e["actor"], e["station"]) for e in tables["events"]]
    assert events[:3] == [("A1001", na, "2026-03-02T15:00:00Z", "create", na, "received", "web", "maria", na),
                          ("A1002", na, "2026-03-02T15:00:00Z", "create", na, "received", "web", "maria", na),
                          ("A1003", na, "2026-03-02T15:00:00Z", "create", na, "received", "web", "maria", na)]
    assert ("A1001", "A1001B", "2026-03-02T16:00:00Z", "advance", "received", "preproduction", "scan", "lee",
            "art-desk") in events
    assert ("A1001", "A1001A", "2026-03-02T17:00:00Z", "advance", "preproduction", "production", "scan", "lee",
            "press-1") in events
    notes = [e["note"] for e in tables["events"] if e["order_code"] == "A1002"]
    assert "artwork approved by phone" in notes and "Shipment added: UPS 1Z999AA10123456784" in notes
    ids = [e["event_id"] for e in tables["events"]]
    assert ids == sorted(ids, key=int) and len(ids) == len(set(ids))

    (ship,) = tables["shipments"]
    assert (ship["order_code"], ship["carrier"], ship["tracking_number"], ship["final"]) == (
        "A1002", "ups", "1Z999AA10123456784", no)
    (track,) = tables["tracking_events"]
    assert (track["order_code"], track["status"], track["location"], track["occurred_at"]) == (
        "A1002", "in_transit", "Boise, ID", "2026-03-02T18:00:00Z")
    scans = [(s["station"], s["code"], s["operator"], s["outcome"], s["order_code"], s["job_code"], s["received_at"])
             for s in tables["scans"]]
    assert scans == [("art-desk", "A1001B", "lee", "moved", "A1001", "A1001B", "2026-03-02T16:00:00Z"),
                     ("art-desk", "A1001", "lee", "moved", "A1001", na, "2026-03-02T17:00:00Z"),
                     ("press-1", "A1001A", "lee", "moved", "A1001", "A1001A", "2026-03-02T17:00:00Z")]
    assert tables["scans"][0]["ok"] == yes


def test_cli_export_csv_and_json(shop, tmp_path):
    with shop.app_context():
        seed_shop()
    runner = shop.test_cli_runner()
    result = runner.invoke(args=["tracker", "export", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"{tmp_path / 'out' / 'orders.csv'}: 3 rows"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{t}.csv" for t in TABLES)
    check_tables({t: read_csv((tmp_path / "out" / f"{t}.csv").read_text(encoding="utf-8")) for t in TABLES},
                 as_json=False)

    result = runner.invoke(args=["tracker", "export", str(tmp_path / "out"), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "3 orders, 4 jobs," in result.output
    doc = json.loads((tmp_path / "out" / "inktrail-export.json").read_text(encoding="utf-8"))
    assert (doc["format"], doc["version"], doc["shop"]) == ("inktrail-export", 1, "Test Print Co")
    assert doc["exported_at"].endswith("Z")
    check_tables(doc, as_json=True)


def test_cli_export_refuses_a_path_that_is_a_file(shop, tmp_path):
    (tmp_path / "taken").write_text("")
    result = shop.test_cli_runner().invoke(args=["tracker", "export", str(tmp_path / "taken" / "sub")])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot create the folder {tmp_path / 'taken' / 'sub'}: ")


def test_managers_download_the_zip_and_the_json_operators_get_403(shop, client):
    with shop.app_context():
        seed_shop()
    assert client.get("/export").status_code == 302  # anonymous: to the login page
    assert client.get("/export/orders.zip").status_code == 302
    login(client, "operator")
    for url in ("/export", "/export/orders.zip", "/export/orders.json"):
        assert client.get(url).status_code == 403
    client = login(shop.test_client(), "manager", username="boss")
    assert "/export" in client.get("/reports").get_data(as_text=True)  # the way there
    page = client.get("/export").get_data(as_text=True)
    assert "Download CSV files (zip)" in page and "No backup yet" in page

    resp = client.get("/export/orders.zip")
    assert resp.status_code == 200 and resp.is_streamed and resp.mimetype == "application/zip"
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="inktrail-export-')
    with zipfile.ZipFile(io.BytesIO(resp.get_data())) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == [f"{t}.csv" for t in TABLES]
        check_tables({t: read_csv(zf.read(f"{t}.csv").decode("utf-8")) for t in TABLES}, as_json=False)

    resp = client.get("/export/orders.json")
    assert resp.status_code == 200 and resp.is_streamed and resp.mimetype == "application/json"
    check_tables(json.loads(resp.get_data()), as_json=True)


def test_the_export_page_shows_the_latest_backup(shop, client):
    login(client, "manager")
    with shop.app_context():
        from tracker.services.backup import backup_to_folder

        made = backup_to_folder().path
    page = client.get("/export").get_data(as_text=True)
    assert made.name in page and "1 backup in" in page and "No backup yet" not in page


def test_rows_stream_in_batches(shop, monkeypatch):
    monkeypatch.setattr(export, "YIELD_PER", 2)
    with shop.app_context():
        for _ in range(5):
            make_order(commit=False)
        db.session.commit()
        with export.snapshot() as conn:
            chunks = list(export.csv_chunks(conn, export.tables()[0]))
            assert len(chunks) == 3  # rows 1-2, 3-4, then 5 (a chunk per YIELD_PER rows, never the whole table)
            assert sum(c.count("\r\n") for c in chunks) == 6
            parts = list(export.zip_chunks(conn))
            assert len(parts) > 3 and zipfile.ZipFile(io.BytesIO(b"".join(parts))).testzip() is None


def test_an_export_reads_one_snapshot_and_does_not_block_the_shop(shop):
    """While an export streams, a scan or a new order commits at once (SQLite: no write lock held; the
    5 s busy timeout is never reached) and the export does not show it."""
    with shop.app_context():
        seed_shop()
        with export.snapshot() as conn:
            stream = export.json_chunks(conn)
            first = next(stream) + next(stream) + next(stream)  # reading the orders table has begun
            done = []

            def writer():
                # Had the export held SQLite's write lock, this would fail "database is locked" after the
                # 5 s busy timeout and `done` would stay empty (how long it takes: python -m bench.micro).
                with shop.app_context():
                    done.append(make_order(customer_name="During Export").code)
                    db.session.remove()

            thread = threading.Thread(target=writer)
            thread.start()
            thread.join(30)
            assert done == ["A1004"]
            doc = json.loads(first + "".join(stream))
        assert [o["order_code"] for o in doc["orders"]] == ["A1001", "A1002", "A1003"]
        assert all(e["order_code"] != "A1004" for e in doc["events"])
