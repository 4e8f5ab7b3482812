"""CSV import through the service and the `flask --app app tracker import-csv` command, on a real database:
dry runs, methods from the shop's rules, idempotent re-imports, bad rows with their line numbers next to
good orders that go in, and the exit codes (0 all good, 1 rows refused, 2 file unreadable)."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import PG_URL, TEST_CONFIG, build_app, closing
from tracker.extensions import db
from tracker.models import Event, ImportRun, Job, Order
from tracker.services import csv_import as service
from tracker.workers.imports import run_import
from tracker.services.orders import Actor

ROOT = Path(__file__).resolve().parents[2]
RULES = [{"sku": "TEE-DTG-*", "method": "dtg"}, {"title": "hoodie", "method": "embroidery"}]
DUE = (dt.date.today() + dt.timedelta(days=30)).isoformat()
LATER = (dt.date.today() + dt.timedelta(days=40)).isoformat()
HEADER = "Order ID,Customer,Email,Product,SKU,Qty,Due Date,Rush"

# Two good orders (three items), one order with a bad row: line numbers 2..5.
MIXED = f"""{HEADER}
1001,Rosa Diaz,rosa@example.com,Team tee,TEE-DTG-BLK-L,12,{DUE},no
1002,Kevin Wu,,Zip hoodie,HD-1,6,,yes
1001,,,Tote bag,TOTE-1,30,,
1003,Lee Park,,Mug,MUG-1,ten,,
"""


@pytest.fixture
def app(tmp_path):
    app = build_app(tmp_path, config={"method_rules": RULES, "intake": {"default_method": "screen"}})
    yield from closing(app)


def write(tmp_path: Path, text: str | bytes, name: str = "orders.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


def import_csv(runner, *args):
    return runner.invoke(args=["tracker", "import-csv", *args])


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {name: db.session.scalar(select(func.count()).select_from(model))
                for name, model in (("orders", Order), ("jobs", Job), ("events", Event), ("runs", ImportRun))}


def csv_orders(app) -> dict[str, Order]:
    with app.app_context():
        orders = db.session.scalars(select(Order).where(Order.channel == "csv").order_by(Order.id)).all()
        for o in orders:
            _ = [j.method for j in o.jobs]
        return {o.external_ref: o for o in orders}


def last_run(app) -> tuple[ImportRun, dict]:
    with app.app_context():
        run = db.session.scalars(select(ImportRun).order_by(ImportRun.id.desc())).first()
        _ = run.content
        return run, json.loads(run.result)


# -- dry run and import ------------------------------------------------------------------------------------

def test_dry_run_creates_nothing_and_says_what_would_happen(app, runner, tmp_path):
    path = write(tmp_path, MIXED)
    result = import_csv(runner, path, "--dry-run")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert "line 5: quantity: must be a whole number above 0 (got 'ten')" in lines
    assert "Dry run: would import 2 orders (3 items), 0 already imported, 1 order refused (1 bad row). " \
           "Nothing was saved." in lines
    assert counts(app) == {"orders": 0, "jobs": 0, "events": 0, "runs": 1}
    run, stored = last_run(app)
    assert run.dry_run is True and run.created_by == "cli" and run.filename == "orders.csv"
    assert run.content == MIXED.encode() and run.finished_at is not None
    assert [o["external_ref"] for o in stored["new"]] == ["1001", "1002"]
    assert stored["errors"] == [{"line": 5, "field": "quantity", "reason": "must be a whole number above 0 (got 'ten')",
                                 "external_ref": "1003"}]
    assert json.loads(run.mapping)["quantity"] == "Qty"


def test_import_creates_orders_with_jobs_and_methods_from_the_rules(app, runner, tmp_path):
    text = f"""{HEADER}
1001,Rosa Diaz,rosa@example.com,Team tee,TEE-DTG-BLK-L,12,{DUE},no
1002,Kevin Wu,,Zip hoodie,HD-1,6,,yes
1001,,,Tote bag,TOTE-1,30,,
"""
    result = import_csv(runner, write(tmp_path, text))
    assert result.exit_code == 0, result.output
    assert "2 orders imported (3 items), 0 already imported, 0 orders refused (0 bad rows)" in result.stdout
    orders = csv_orders(app)
    rosa, kevin = orders["1001"], orders["1002"]
    assert [(j.code, j.description, j.method, j.quantity) for j in rosa.jobs] == [
        (f"{rosa.code}A", "Team tee", "dtg", 12), (f"{rosa.code}B", "Tote bag", "screen", 30)]  # rule, default
    assert [(j.description, j.method) for j in kevin.jobs] == [("Zip hoodie", "embroidery")]  # title rule
    assert rosa.customer_email == "rosa@example.com" and rosa.due_date.isoformat() == DUE and not rosa.rush
    assert kevin.rush is True and rosa.stage == "received"
    with app.app_context():
        events = db.session.scalars(select(Event).where(Event.order_id == rosa.id)).all()
        assert [(e.kind, e.source, e.actor) for e in events] == [("create", "import", "cli")]
    run, stored = last_run(app)
    assert run.dry_run is False
    assert [(o["external_ref"], o["code"], o["items"]) for o in stored["new"]] == [
        ("1001", rosa.code, 2), ("1002", kevin.code, 1)]
    assert f"New orders: {rosa.code} (first) to {kevin.code} (last)" in result.stdout


def test_reimporting_the_same_file_creates_nothing_new(app, runner, tmp_path):
    path = write(tmp_path, MIXED.replace(",ten,", ",3,"))
    assert import_csv(runner, path).exit_code == 0
    before = counts(app)
    codes = {ref: o.code for ref, o in csv_orders(app).items()}

    again = import_csv(runner, path)
    assert again.exit_code == 0, again.output
    assert "0 orders imported (0 items), 3 already imported, 0 orders refused (0 bad rows)" in again.stdout
    after = counts(app)
    assert after == {**before, "runs": before["runs"] + 1}
    _, stored = last_run(app)
    assert {o["external_ref"]: o["code"] for o in stored["already"]} == codes

    dry = import_csv(runner, path, "--dry-run")
    assert "Dry run: would import 0 orders (0 items), 3 already imported" in dry.stdout and dry.exit_code == 0


def test_bad_rows_are_reported_by_line_and_the_good_orders_go_in(app, runner, tmp_path):
    text = (f"{HEADER}\r\n"
            f'1001,Rosa Diaz,rosa@example.com,"Team tee\r\nfront: logo\r\nback: names",TEE-DTG-1,12,{DUE},no\r\n'  # 2-4
            "1002,Kevin Wu,kevin@,Cap,CAP-1,6,,\r\n"                                        # 5: bad email
            "1003,Lee Park,,Mug,MUG-1,2,,\r\n"                                              # 6
            "1003,,,Tote,TOTE-1,0,,\r\n"                                                    # 7: bad quantity
            "\r\n"                                                                          # 8
            f"1004,Ana Ruiz,,Poster,P-1,1,{LATER},maybe\r\n"                                # 9: bad rush
            f"1001,Rosa Diaz,,Hoodie,HD-1,4,{DUE},\r\n"                                     # 10
            "1005,Bo Chen,,Sticker,ST-1,50,,\r\n"                                           # 11
            "1005,Bo Chen,,Pin,PIN-1,5,2020-01-01,\r\n")                                    # 12: past date
    result = import_csv(runner, write(tmp_path, text))
    assert result.exit_code == 1
    out = result.stdout.splitlines()
    assert [line for line in out if line.startswith("line ")] == [
        "line 5: customer_email: is not an email address (got 'kevin@')",
        "line 7: quantity: must be a whole number above 0 (got '0')",
        "line 9: rush: must be yes or no (also true/false, 1/0, or blank for no) (got 'maybe')",
        "line 12: due_date: 2020-01-01 is in the past",
    ]
    assert "order 1003: not imported, so its good row on line 6 was not imported either" in out
    assert "order 1005: not imported, so its good row on line 11 was not imported either" in out
    assert "1 order imported (2 items), 0 already imported, 4 orders refused (4 bad rows)" in out
    orders = csv_orders(app)
    assert list(orders) == ["1001"]
    assert [j.description for j in orders["1001"].jobs] == ["Team tee\nfront: logo\nback: names", "Hoodie"]

    # Fixed and imported again: the good order is not duplicated, the fixed ones go in.
    fixed = text.replace("kevin@,", "kevin@example.com,").replace(",0,,", ",1,,").replace(",maybe", ",yes") \
        .replace("2020-01-01", "")
    again = import_csv(runner, write(tmp_path, fixed, "fixed.csv"))
    assert again.exit_code == 0, again.output
    assert "4 orders imported (6 items), 1 already imported, 0 orders refused (0 bad rows)" in again.stdout
    assert sorted(csv_orders(app)) == ["1001", "1002", "1003", "1004", "1005"]


def test_an_order_imported_before_is_skipped_even_when_its_rows_now_fail(app, runner, tmp_path):
    import_csv(runner, write(tmp_path, f"{HEADER}\n1001,Rosa Diaz,,Team tee,T,12,{DUE},\n"))
    changed = f"{HEADER}\n1001,Rosa Diaz,,Team tee,T,twelve,{DUE},\n1002,Kevin Wu,,Cap,C,1,,\n"
    result = import_csv(runner, write(tmp_path, changed, "changed.csv"))
    assert result.exit_code == 0, result.output
    assert "1 order imported (1 item), 1 already imported, 0 orders refused (0 bad rows)" in result.stdout
    assert "line " not in result.stdout
    assert [j.quantity for j in csv_orders(app)["1001"].jobs] == [12]


def test_a_european_excel_file_semicolons_and_windows_1252(app, runner, tmp_path):
    text = f"Bestell-ID;Customer;Product;Qty;Due\n7001;Jos\xe9 N\xfa\xf1ez;Caf\xe9 tee, front;4;{DUE}\n"
    result = import_csv(runner, write(tmp_path, text.encode("cp1252")), "--map", "external_ref=Bestell-ID")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Note: The file is not UTF-8 (first at line 2), so it was read as Windows-1252")
    order = csv_orders(app)["7001"]
    assert order.customer_name == "José Núñez" and order.jobs[0].description == "Café tee, front"


def test_map_names_columns_the_guess_cannot_and_leaves_fields_out(app, runner, tmp_path):
    path = write(tmp_path, "Key,Who,Thing,Amount,Method\nX-1,Rosa,Team tee,3,silkscreen-ish\n")
    refused = import_csv(runner, path)
    assert refused.exit_code == 2
    assert "no column for external_ref, customer_name, description, quantity (required)" in refused.stderr
    assert "--map external_ref=Column --map customer_name=Column" in refused.stderr
    result = import_csv(runner, path, "--map", "external_ref=Key", "--map", "customer_name=who",
                        "--map", "description=Thing", "--map", "quantity= AMOUNT", "--map", "method=")
    assert result.exit_code == 0, result.output
    assert [j.method for j in csv_orders(app)["X-1"].jobs] == ["screen"]  # the shop's default, not the column


# -- exit code 2: nothing could be read -------------------------------------------------------------------

@pytest.mark.parametrize("content,args,message", [
    (None, (), "no such file"),
    (b"", (), "The file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", (), "cannot be read as CSV"),
    (b"PK\x03\x04\x14\x00\x06\x00", (), "Excel workbook"),
    ('Order ID,Customer,Product,Qty\n1,"Rosa,Tee,1\n'.encode(), (),
     "line 2: a quoted value starts here and is never closed"),
    (b"Order ID,Customer,Product\n1,Rosa,Tee\n", (), "no column for quantity"),
    (MIXED.encode(), ("--map", "quantity"), "write it as field=Column"),
    (MIXED.encode(), ("--map", "colour=Qty"), "there is no field 'colour'"),
    (MIXED.encode(), ("--map", "quantity=Amount"), "the file has no column 'Amount'"),
])
def test_unreadable_files_exit_2_with_a_message_and_create_nothing(app, runner, tmp_path, content, args, message):
    path = str(tmp_path / "missing.csv") if content is None else write(tmp_path, content)
    result = import_csv(runner, path, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert "Traceback" not in result.output
    assert counts(app)["orders"] == 0


def test_an_unreadable_file_is_still_kept_on_record(app, runner, tmp_path):
    import_csv(runner, write(tmp_path, b"Order ID,Customer,Product\n1,Rosa,Tee\n"))
    run, stored = last_run(app)
    assert run.content == b"Order ID,Customer,Product\n1,Rosa,Tee\n" and run.created_by == "cli"
    assert stored["status"] == "unreadable" and "quantity" in stored["error"]


# -- the service's limits and guards -------------------------------------------------------------------------

def test_store_upload_refuses_empty_and_too_large_files(ctx):
    with pytest.raises(service.ImportRefused, match="empty"):
        service.store_upload("a.csv", b"", "maria")
    with pytest.raises(service.ImportRefused, match="at most 5 MB"):
        service.store_upload("a.csv", b"x" * (service.MAX_FILE_BYTES + 1), "maria")
    run = service.store_upload("C:\\Users\\maria\\orders.csv", b"a,b\n", "maria")
    assert run.filename == "orders.csv" and run.kind == "csv"


def test_more_than_20000_rows_is_refused_whole(ctx):
    rows = "".join(f"{i},Rosa,Tee,1\n" for i in range(service.MAX_ROWS + 1))
    run = service.store_upload("big.csv", f"Order ID,Customer,Product,Qty\n{rows}".encode(), "maria")
    db.session.commit()
    with pytest.raises(service.ImportRefused, match="more than 20,000 rows"):
        run_import(run, {"external_ref": "Order ID", "customer_name": "Customer", "description": "Product",
                                 "quantity": "Qty"}, dry_run=True)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert json.loads(db.session.get(ImportRun, run.id).result)["status"] == "unreadable"


MAPPING = {"external_ref": "Order ID", "customer_name": "Customer", "description": "Product", "quantity": "Qty",
           "sku": "SKU"}


def test_a_run_is_imported_once_and_dry_runs_come_before(ctx):
    run = service.store_upload("o.csv", MIXED.replace(",ten,", ",3,").encode(), "maria")
    db.session.commit()
    maria = Actor("maria", "manager")
    first = run_import(run, MAPPING, dry_run=True, actor=maria)
    second = run_import(run, MAPPING, dry_run=True, actor=maria)
    assert len(first.new) == len(second.new) == 3 and db.session.scalar(select(func.count()).select_from(Order)) == 0
    done = run_import(run, MAPPING, dry_run=False, actor=maria)
    assert len(done.new) == 3 and done.ok
    for dry_run in (False, True):
        with pytest.raises(service.AlreadyImported, match="already been imported"):
            run_import(run, MAPPING, dry_run=dry_run, actor=maria)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 3
    stored = service.ImportResult.from_json(db.session.get(ImportRun, run.id).result)
    assert stored.dry_run is False and [o["code"] for o in stored.new] == [o["code"] for o in done.new]
    events = db.session.scalars(select(Event)).all()
    assert {(e.source, e.actor) for e in events} == {("import", "maria")}


def test_hundreds_of_orders_are_imported_in_batches(ctx):
    rows = "".join(f"{i},Customer {i},Tee,TEE-DTG-{i},{i % 7 + 1}\n{i},,Hoodie,H,1\n" for i in range(250))
    run = service.store_upload("many.csv", f"Order ID,Customer,Product,SKU,Qty\n{rows}".encode(), "maria")
    db.session.commit()
    result = run_import(run, MAPPING, dry_run=False, actor=Actor("maria", "manager"))
    assert len(result.new) == 250 and result.items == 500 and result.ok
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(Job)) == 500
    assert db.session.scalar(select(func.count(func.distinct(Order.code)))) == 250
    methods = db.session.execute(select(Job.method, func.count()).group_by(Job.method)).all()
    assert dict(methods) == {"dtg": 250, "embroidery": 250}


# -- the contract command, as a shop runs it ----------------------------------------------------------------

def test_the_contract_command_in_a_real_process(app, tmp_path):
    path = write(tmp_path, MIXED)
    env = {**os.environ, "TRACKER_CONFIG": str(TEST_CONFIG), "TRACKER_INSTANCE_PATH": str(tmp_path / "instance"),
           "TRACKER_DATABASE_URL": PG_URL or app.config["SQLALCHEMY_DATABASE_URI"]}
    cmd = [sys.executable, "-m", "flask", "--app", "app", "tracker", "import-csv", path]
    dry = subprocess.run([*cmd, "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 1, dry.stderr
    assert "line 5: quantity: must be a whole number above 0 (got 'ten')" in dry.stdout
    assert "Dry run: would import 2 orders (3 items)" in dry.stdout
    real = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert real.returncode == 1, real.stderr
    assert "2 orders imported (3 items), 0 already imported, 1 order refused (1 bad row)" in real.stdout
    assert sorted(csv_orders(app)) == ["1001", "1002"]
    missing = subprocess.run([*cmd[:-1], str(tmp_path / "nope.csv")], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode == 2 and "no such file" in missing.stderr
