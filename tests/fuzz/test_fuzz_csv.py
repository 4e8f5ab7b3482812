"""CSV order files, fuzzed: quotes, delimiters, BOMs, encodings, blank lines, huge fields, formulas, ragged
rows. Reading a file gives rows or one clear CsvUnreadable; checking rows gives orders or per-row errors
with real line numbers; nothing else escapes. A dry run writes no order; an import keeps the documented
rule: an order with any bad row is refused whole, every other order goes in, complete."""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io

from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import func, select

from tracker.domain import csv_import as rules
from tracker.extensions import db
from tracker.models import Job, Order
from tracker.services import csv_import as service
from tracker.workers.imports import run_import
from tracker.services.orders import Actor

from .conftest import any_text, fuzz, state

TODAY = dt.date(2026, 6, 1)
HEADER_NAMES = ["Order ID", "Customer", "Email", "Phone", "Product", "SKU", "Qty", "Due Date", "Rush", "Method",
                "Notes", "Ship City", "Ship State", "Country", "Name", "Billing Name", "Lineitem quantity", "id",
                "", " ", "Order ID", "=cmd|'/C calc'!A0", "\ufeffOrder ID", "Qty\n2"]
CELL_VALUES = ["1001", "1002", "1002", "1003", "Rosa Diaz", "rosa@example.com", "not-an-email", "+1 208 555 0100",
               "Team tee", "12", "0", "-3", "1,200", "12.0", "ten", "1e3", "99999999999999", "2026-06-30", "6/30/2026",
               "2026-02-30", "13/45/2026", "2020-01-01", "yes", "no", "maybe", "dtg", "screen print", "laser", "US",
               "USA", "=1+1", "+SUM(A1)", "-2+3", "@cmd", '"quoted"', "a,b", "a;b", "a\tb", "line\nbreak", "\r", "",
               " ", "\x00", "\x07", "x" * 3000, "é", "\u202e", "\ufeff"]
cells = st.one_of(st.sampled_from(CELL_VALUES), any_text.map(lambda s: s.replace("\x00", "")), st.text(max_size=10))


@st.composite
def csv_files(draw) -> bytes:
    """A spreadsheet export, well-formed or bent: any delimiter, quoting, line ends, BOM and encoding."""
    width = draw(st.integers(1, 9))
    header = draw(st.lists(st.sampled_from(HEADER_NAMES), min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=width + 2), max_size=12))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])),
                        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])))
    writer.writerow(header)
    for row in rows:
        if draw(st.integers(0, 9)) == 0:
            out.write(draw(st.sampled_from(["\n", ",,,,\n", '"unclosed,1\n', 'a"b,"c"d"\n', "   \n"])))
        writer.writerow(row)
    text = out.getvalue()
    if draw(st.integers(0, 5)) == 0:  # cut anywhere, as a truncated upload would be
        text = text[:draw(st.integers(0, len(text)))]
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]))
    data = text.encode(encoding, "replace") if encoding not in ("utf-8", "utf-8-sig") else \
        text.encode(encoding, "surrogatepass")
    if draw(st.integers(0, 15)) == 0:
        data = draw(st.sampled_from([b"PK\x03\x04", b"%PDF-1.7", codecs.BOM_UTF16_LE + b"\x00\xd8", b"\xff" * 10])) + data
    return data


@fuzz(800)
@given(csv_files())
def test_reading_any_file_gives_rows_or_one_clear_refusal(content):
    try:
        table = rules.read_table(content)
    except rules.CsvUnreadable as exc:
        assert len(exc.message) > 10
        return
    assert table.headers and len(set(h.casefold() for h in table.headers)) == len(table.headers)
    lines = [r.line for r in table.rows]
    assert lines == sorted(lines) and all(line > table.header_line for line in lines)
    mapping = rules.guess_mapping(table.headers)
    try:
        mapping = rules.check_mapping(mapping, table.headers)
    except rules.MappingError as exc:
        assert exc.message
        return
    plan = rules.plan_import(table, mapping, today=TODAY, max_items=5, default_method="screen")
    text_lines = content.count(b"\n") + content.count(b"\r") + 1  # an upper bound on the file's lines
    for error in plan.errors:
        assert error.line in lines and error.line <= text_lines
        assert error.field in rules.FIELDS + ("row",) and error.reason
    refs = [o.external_ref for o in plan.orders]
    assert len(refs) == len(set(refs))
    assert not set(refs) & {r.external_ref for r in plan.refused}
    for order in plan.orders:
        assert 1 <= len(order.draft.items) <= 5
        assert not set(order.lines) & set(plan.bad_lines)  # an order with a bad row is never planned


@fuzz(1000)
@given(st.lists(cells, min_size=1, max_size=14), st.sampled_from(rules.FIELDS))
def test_each_field_parser_answers_a_value_or_a_reason(values, name):
    for value in values:
        try:
            rules._parse_field(name, value, today=TODAY, max_quantity=100_000)
        except rules._Bad as bad:
            assert str(bad)


MAPPING = {"external_ref": "Order ID", "customer_name": "Customer", "description": "Product", "quantity": "Qty",
           "due_date": "Due Date", "rush": "Rush", "customer_email": "Email"}


@st.composite
def order_files(draw) -> bytes:
    """Files with our own header and rows that are mostly good, so imports really happen."""
    refs = draw(st.lists(st.sampled_from(["1001", "1002", "1003", "1004", "1005", "10 06", ""]), min_size=1, max_size=10))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(list(MAPPING.values()))
    for ref in refs:
        writer.writerow([ref, draw(st.sampled_from(["Rosa Diaz", "Rosa Diaz", "Kevin Wu", "", "x" * 300])),
                         draw(st.sampled_from(["rosa@example.com", "", "nope"])),
                         draw(st.sampled_from(["Team tee", "Cap", "", "=HYPERLINK(\"x\")"])),
                         draw(st.sampled_from(["12", "3", "0", "ten", "", "100001"])),
                         draw(st.sampled_from(["", "2099-06-30", "2020-01-01", "2099-02-30"])),
                         draw(st.sampled_from(["", "yes", "no", "perhaps"]))])
    return out.getvalue().encode()


def orders_by_ref(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(select(Order.external_ref, func.count(Job.id)).join(Job, Job.order_id == Order.id)
                                  .where(Order.channel == "csv").group_by(Order.external_ref)).all()
        db.session.remove()
    return dict(rows)


@fuzz(150)
@given(content=st.one_of(order_files(), order_files(), csv_files()), dry_run=st.booleans())
def test_an_import_is_all_or_nothing_per_order_and_a_dry_run_writes_no_order(app, content, dry_run):
    before_orders = orders_by_ref(app)
    before = state(app)
    with app.app_context():
        try:
            run = service.store_upload("fuzz.csv", content, "fuzz")
            db.session.commit()
        except service.ImportRefused as exc:
            db.session.rollback()
            assert exc.message
            return
        try:
            result = run_import(run, MAPPING, dry_run=dry_run, actor=Actor("fuzz", "manager"))
        except service.ImportRefused as exc:
            db.session.rollback()
            assert exc.message
            result = None
        db.session.remove()
    after_orders = orders_by_ref(app)
    after = state(app)
    if result is None or dry_run:
        # Only the stored file itself (one import_runs row) is new: no order, job or event.
        assert after[1] == before[1] and after_orders == before_orders
        assert after[0][:-1] == before[0][:-1] and after[0][-1] == before[0][-1] + 1
        return
    new = {o["external_ref"]: o["items"] for o in result.new}
    for ref, items in new.items():
        assert after_orders.get(ref) == items and ref not in before_orders  # complete: every row's item
    for refused in result.refused:
        assert after_orders.get(refused["external_ref"]) == before_orders.get(refused["external_ref"])
    assert set(after_orders) == set(before_orders) | set(new)
    for error in result.errors:
        assert error["line"] >= 2 and error["reason"]


form_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)


@fuzz(200)
@given(data=st.data())
def test_the_import_pages_answer_any_file_and_mapping_without_a_5xx(app, client, data):
    """Through the pages: upload a fuzzed file, then post a fuzzed column mapping with any action."""
    from tests.conftest import login

    if not hasattr(client, "csrf_token"):
        login(client, "manager")
    content = data.draw(st.one_of(order_files(), csv_files()), "file")
    name = data.draw(st.sampled_from(["orders.csv", "", "../../etc/passwd", "x" * 300 + ".csv", "ö\x00.csv"]), "name")
    resp = client.post("/imports", data={"csrf_token": client.csrf_token, "file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")
    assert resp.status_code in (302, 303), resp.status_code
    location = resp.headers["Location"]
    event("file read" if "/imports/" in location else "file refused")
    if "/imports/" not in location:
        return  # refused with a red flash: empty, unreadable or no file name
    headers = rules.read_table(content).headers
    form = {f"map-{field}": data.draw(st.one_of(st.sampled_from(headers + ["", "nope"]), form_text), field)
            for field in data.draw(st.lists(st.sampled_from(rules.FIELDS + ("bogus",)), max_size=6, unique=True), "f")}
    if data.draw(st.booleans(), "our own mapping"):
        form = {f"map-{field}": column for field, column in MAPPING.items()}
    form["action"] = data.draw(st.sampled_from(["preview", "dry-run", "import", "", "explode"]), "action")
    before = state(app)
    resp = client.post(location, data={"csrf_token": client.csrf_token, **form})
    assert resp.status_code < 500, resp.get_data(as_text=True)[:400]
    event(f"mapping answered {resp.status_code}")
    if resp.status_code == 400 or form["action"] in ("preview", "dry-run", "", "explode"):
        assert state(app)[1] == before[1]  # no order or job written by a preview, dry run or refusal
