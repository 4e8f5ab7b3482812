"""`tracker backup` and `tracker restore` on a real database (SQLite, or PostgreSQL with
TRACKER_TEST_DATABASE_URL): a full cycle gives back every row exactly; a backup taken while the shop
writes is a consistent snapshot; a restore refuses while Inktrail runs, and bad paths and files get one
clear line and exit code 1."""
from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from tests.backup.conftest import T0, all_rows, close_other_pg_connections, seed_shop
from tests.conftest import PG_URL, TEST_CONFIG
from tests.factories import MANAGER, OPERATOR, make_order
from tracker.extensions import db
from tracker.models import Job, Order, Shipment
from tracker.services import backup as backups
from tracker.services.orders import cancel_order, move_order
from tracker.services.scanning import record_scan

ROOT = Path(__file__).resolve().parent.parent.parent
EXT = "pgdump" if PG_URL else "sqlite3"


def invoke(app, *args):
    result = app.test_cli_runner().invoke(args=["tracker", *args])
    return result.exit_code, result.output


def test_backup_change_restore_gives_back_every_row(shop, tmp_path):
    with shop.app_context():
        codes = seed_shop()
        before = all_rows()
        assert len(before["events"]) >= 8 and len(before["scans"]) == 3 and len(before["shipments"]) == 1

        code, out = invoke(shop, "backup", f"{tmp_path / 'usb'}/")
        assert code == 0, out
        (made,) = (tmp_path / "usb").iterdir()
        assert backups.BACKUP_RE.fullmatch(made.name) and made.suffix == f".{EXT}"
        assert out.strip().startswith(f"Backup written to {made} (")
        if not PG_URL:
            assert backups.check_sqlite_file(made) is None
            with sqlite3.connect(made) as conn:  # one self-contained file, not a WAL database
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"

        # The shop carries on: moves, a scan, a cancelled order, a new order, a corrected shipment.
        with time_machine.travel(T0 + dt_hours(5), tick=False):
            record_scan("pack-1", codes["a"], actor=OPERATOR, operator="kim")
            cancel_order(db.session.scalar(select(Order).where(Order.code == codes["c"])), actor=MANAGER,
                         source="web", reason="customer changed their mind")
            db.session.scalar(select(Shipment)).service = "Ground"
            make_order([("Banner", "other", 1)], customer_name="Late Order")
            db.session.commit()
        changed = all_rows()
        assert changed != before

        close_other_pg_connections()
        code, out = invoke(shop, "restore", str(made), "--yes")
        assert code == 0, out
        assert "Restored" in out
        assert all_rows() == before

        # The database before the restore was kept, in the backup folder, and holds the later work.
        (safety,) = backups.backup_directory().iterdir()
        assert f"saved as {safety}." in out
        # Numbering carries on from the backup's counters: the next order is A1004 again, no clash.
        again = make_order([("Flag", "other", 2)])
        assert again.code == "A1004"
        assert db.session.scalar(select(func.count()).select_from(Order)) == 4

        # Restoring the safety copy brings the later work back: a restore can be undone.
        db.session.remove()
        close_other_pg_connections()
        code, out = invoke(shop, "restore", str(safety), "--yes")
        assert code == 0, out
        assert all_rows() == changed


def dt_hours(n):
    return dt.timedelta(hours=n)


@pytest.mark.skipif(bool(PG_URL), reason="pg_dump's snapshot is PostgreSQL's own; this checks SQLite's online backup")
@pytest.mark.parametrize("step_pages", [4, backups.STEP_PAGES], ids=["small-steps", "default-steps"])
def test_a_backup_taken_while_the_shop_writes_is_a_consistent_snapshot(shop, tmp_path, step_pages, caplog,
                                                                       monkeypatch):
    monkeypatch.setattr(backups.log, "disabled", False)  # an in-process Alembic run may have disabled it
    with shop.app_context():
        for _ in range(150):
            make_order([("Tee", "dtg", 1), ("Cap", "embroidery", 1)], commit=False)
        db.session.commit()
    written = []
    stop, started = threading.Event(), threading.Event()
    errors = []

    def writer():
        # Another connection keeps committing orders (an order, two jobs and their events in one
        # transaction) for as long as the backup runs.
        try:
            with shop.app_context():
                while not stop.is_set():
                    written.append(make_order([("Tee", "dtg", 1), ("Cap", "embroidery", 1)]).code)
                    started.set()
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
            started.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert started.wait(30)
        with shop.app_context():
            first = len(written)
            with caplog.at_level("INFO", "tracker.backup"):
                result = backups.create_backup(tmp_path / "snap.sqlite3", step_pages=step_pages)
            during = len(written) - first
    finally:
        stop.set()
        thread.join(30)
    assert not errors
    assert during > 0, "the shop wrote nothing during the backup"
    if step_pages == 4:
        # Writes between steps make SQLite start over; after MAX_RESTARTS it copies in one read transaction.
        assert any("copying in one step" in r.getMessage() for r in caplog.records)

    assert backups.check_sqlite_file(result.path) is None
    with sqlite3.connect(result.path) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        assert 150 + first <= orders <= 150 + len(written)
        # Each order is whole: both jobs and every job's creation are there, or the order is not.
        assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 2 * orders
        assert conn.execute("SELECT count(*) FROM orders o WHERE (SELECT count(*) FROM jobs j "
                            "WHERE j.order_id = o.id) <> 2").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM events WHERE kind = 'create' AND job_id IS NULL"
                            ).fetchone()[0] == orders
        assert conn.execute("SELECT value FROM counters").fetchone()[0] >= orders


def test_a_restore_refuses_while_inktrail_runs(shop, tmp_path):
    with shop.app_context():
        seed_shop()
        code, out = invoke(shop, "backup", str(tmp_path / f"b.{EXT}"))
        assert code == 0, out
        url = shop.config["SQLALCHEMY_DATABASE_URI"]
        db.session.remove()
        db.engine.dispose()
    env = {**os.environ, "TRACKER_INSTANCE_PATH": str(tmp_path / "instance"), "TRACKER_CONFIG": str(TEST_CONFIG),
           "TRACKER_DATABASE_URL": PG_URL or url, "PYTHONUNBUFFERED": "1"}
    # The scheduler process of Inktrail (`python app.py` runs the same scheduler in its web process).
    server = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "tracker", "scheduler"], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in server.stdout:  # ends when the process does: no sleeping, no polling
            lines.append(line)
            if "Scheduler running" in line:
                break
        else:
            pytest.fail("the scheduler stopped before running:\n" + "".join(lines))
        # Keep reading what it logs: a full pipe would block its logging, and it would never stop.
        threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
        with shop.app_context():
            code, out = invoke(shop, "restore", str(tmp_path / f"b.{EXT}"), "--yes")
        assert code == 1
        assert out.startswith("Error: ") and "stop" in out and "Traceback" not in out
        assert not (tmp_path / "instance" / "backups").exists()  # refused before anything was done
    finally:
        server.send_signal(signal.SIGTERM)
        # It finishes the jobs it started when it came up (every interval job runs at once); on a busy
        # machine that has taken over 30 s. systemd allows a service 90 s to stop.
        try:
            server.wait(90)
        except subprocess.TimeoutExpired:  # still finishing a job under a loaded machine: what is tested is done
            server.kill()
            server.wait()
    with shop.app_context():
        close_other_pg_connections()
        code, out = invoke(shop, "restore", str(tmp_path / f"b.{EXT}"), "--yes")
        assert code == 0, out


def test_bad_paths_and_files_get_one_clear_line(shop, tmp_path):
    with shop.app_context():
        seed_shop()
        code, out = invoke(shop, "backup", str(tmp_path / "no-such-folder" / "b.db"))
        assert (code, out) == (1, f"Error: the folder {tmp_path / 'no-such-folder'} does not exist\n")
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            code, out = invoke(shop, "backup", str(locked / "b.db"))
            if os.geteuid() != 0:  # root writes anywhere
                assert (code, out) == (1, f"Error: cannot write to the folder {locked}: permission denied\n")
        finally:
            locked.chmod(0o700)
        code, out = invoke(shop, "backup", f"{tmp_path / 'a-file.txt'}")  # a new file name is fine
        assert code == 0, out

        code, out = invoke(shop, "restore", str(tmp_path / "nothing.db"), "--yes")
        assert (code, out) == (1, f"Error: {tmp_path / 'nothing.db'}: no such file\n")
        (tmp_path / "notes.txt").write_text("not a backup")
        code, out = invoke(shop, "restore", str(tmp_path / "notes.txt"), "--yes")
        assert code == 1 and out.startswith(f"Error: {tmp_path / 'notes.txt'}") and "Traceback" not in out
        code, out = invoke(shop, "restore", str(tmp_path / "a-file.txt"))  # no --yes, no terminal to ask
        assert (code, out) == (1, "Error: a restore replaces every order in the database; add --yes to confirm\n")
        assert db.session.scalar(select(func.count()).select_from(Job)) == 4  # nothing was touched


@pytest.mark.skipif(bool(PG_URL), reason="SQLite files")
def test_sqlite_restore_refuses_a_backup_from_a_newer_version_and_a_foreign_database(shop, tmp_path):
    with shop.app_context():
        seed_shop()
        assert invoke(shop, "backup", str(tmp_path / "b.sqlite3"))[0] == 0
        with sqlite3.connect(tmp_path / "b.sqlite3") as conn:
            conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
            conn.execute("INSERT INTO alembic_version VALUES ('0099_from_the_future')")
        code, out = invoke(shop, "restore", str(tmp_path / "b.sqlite3"), "--yes")
        assert code == 1
        assert out == ("Error: the backup was made by a newer Inktrail (database version 0099_from_the_future); "
                       "upgrade Inktrail first, then restore\n")
        with sqlite3.connect(tmp_path / "other.db") as conn:
            conn.execute("CREATE TABLE t (x)")
        code, out = invoke(shop, "restore", str(tmp_path / "other.db"), "--yes")
        assert code == 1 and "not an Inktrail one" in out
        code, out = invoke(shop, "restore", backups._sqlite_path().as_posix(), "--yes")
        assert code == 1 and "is the live database itself" in out


@pytest.mark.skipif(not PG_URL, reason="pg_dump is used with PostgreSQL only")
def test_pg_dump_missing_is_a_clear_error(shop, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a computer without the PostgreSQL client tools
    with shop.app_context():
        code, out = invoke(shop, "backup", f"{tmp_path}/")
    assert code == 1
    assert out == ("Error: pg_dump is not installed on this computer: install the PostgreSQL client tools "
                   "(Debian/Ubuntu: sudo apt install postgresql-client)\n")
    assert list(tmp_path.glob("*.pgdump")) == [] and list(tmp_path.glob(".*partial*")) == []


def test_proof_files_are_copied_beside_the_backup_and_restored(shop, tmp_path):
    from tests.proofs.conftest import PNG
    from tracker.services import proofs

    with shop.app_context():
        order = make_order()
        proof = proofs.post_proof(order.jobs[0], filename="front.png", content=PNG, note=None, actor=OPERATOR,
                                  source="web")
        db.session.commit()
        live = proofs.file_path(proof)
        code, out = invoke(shop, "backup", f"{tmp_path / 'usb'}/")
        assert code == 0, out
        assert (tmp_path / "usb" / "proofs" / live.name).read_bytes() == PNG
        (made,) = [p for p in (tmp_path / "usb").iterdir() if p.is_file()]
        assert invoke(shop, "backup", f"{tmp_path / 'usb'}/")[0] == 0  # a second backup copies nothing again
        assert len(list((tmp_path / "usb" / "proofs").iterdir())) == 1

        live.unlink()  # the instance folder lost its proofs (a new computer, a wiped disk)
        db.session.remove()
        close_other_pg_connections()
        result = shop.test_cli_runner().invoke(args=["tracker", "restore", str(made), "--yes"])
        assert result.exit_code == 0, (result.output, repr(result.exception))
        assert live.read_bytes() == PNG
