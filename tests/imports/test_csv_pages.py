"""The import pages through the test client, with real CSRF tokens: upload, column matching with a
preview, dry run, import, the result page; the template download; managers only; bad uploads get a red
flash, never a 500."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from sqlalchemy import func, select

from tests.conftest import build_app, closing, login
from tracker.domain.csv_import import FIELDS
from tracker.extensions import db
from tracker.models import ImportRun, Order
from tracker.services import csv_import as service

RULES = [{"sku": "TEE-DTG-*", "method": "dtg"}, {"title": "hoodie", "method": "embroidery"}]
DUE = (dt.date.today() + dt.timedelta(days=30)).isoformat()
# "Bestell-ID" is not a name the guess knows: the order ID column must be picked by hand.
TEXT = f"""Bestell-ID;Customer;Email;Product;SKU;Qty;Due Date
1001;Rosa Diaz;rosa@example.com;"Team tee
front logo";TEE-DTG-BLK;12;{DUE}
1002;Kevin Wu;;Zip hoodie;HD-1;6;
1001;;;Tote bag;TOTE-1;30;
1003;Lee Park;;Mug;MUG-1;ten;
"""
MAPPING = {"external_ref": "Bestell-ID", "customer_name": "Customer", "customer_email": "Email",
           "description": "Product", "sku": "SKU", "quantity": "Qty", "due_date": "Due Date"}


@pytest.fixture
def app(tmp_path):
    app = build_app(tmp_path, config={"method_rules": RULES, "intake": {"default_method": "screen"}})
    yield from closing(app)


def upload(client, content: bytes | None, filename: str = "orders.csv", **extra):
    data = {"csrf_token": client.csrf_token, **extra}
    if content is not None:
        data["file"] = (io.BytesIO(content), filename)
    return client.post("/imports", data=data, content_type="multipart/form-data")


def form(client, action: str, mapping: dict | None = None) -> dict:
    mapping = MAPPING if mapping is None else mapping
    return {"csrf_token": client.csrf_token, "action": action,
            **{f"map-{name}": mapping.get(name, "") for name in FIELDS}}


def flashes(html: str, kind: str = "error") -> list[str]:
    return [" ".join(m.split()) for m in re.findall(rf'class="flash flash-{kind}"[^>]*>(.*?)</div>', html, re.S)]


def order_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Order))


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# -- who may -------------------------------------------------------------------------------------------

def test_operators_are_refused_and_do_not_see_the_link(client):
    login(client, "operator")
    assert 'href="/imports"' not in client.get("/orders").get_data(as_text=True)
    for url in ("/imports", "/imports/template.csv", "/imports/1", "/imports/1/result"):
        assert client.get(url).status_code == 403, url
    assert upload(client, TEXT.encode()).status_code == 403
    assert client.post("/imports/1", data=form(client, "import")).status_code == 403


def test_logged_out_is_sent_to_the_login_page(client):
    resp = client.get("/imports")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_see_the_nav_link(client, role):
    login(client, role)
    html = client.get("/orders").get_data(as_text=True)
    assert re.search(r'<a href="/imports" class="">Import</a>', html)
    page = client.get("/imports").get_data(as_text=True)
    assert re.search(r'<a href="/imports" class="active">Import</a>', page)
    assert 'enctype="multipart/form-data"' in page and 'name="csrf_token"' in page


# -- the template -------------------------------------------------------------------------------------------

def test_the_template_downloads_and_imports_as_one_order_with_two_items(app, client):
    login(client, "manager")
    resp = client.get("/imports/template.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    body = resp.data
    assert body.startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == list(FIELDS) and len(rows) == 3 and rows[1][0] == rows[2][0]

    run_id = int(upload(client, body, "inktrail-orders-template.csv").headers["Location"].rsplit("/", 1)[1])
    resp = client.post(f"/imports/{run_id}", data=form(client, "import", {n: n for n in FIELDS}))
    assert resp.status_code == 302
    html = client.get(f"/imports/{run_id}/result").get_data(as_text=True)
    assert "1 order imported (2 items), 0 already imported, 0 orders refused (0 bad rows)" in html
    with app.app_context():
        order = db.session.scalar(select(Order))
        assert [j.method for j in order.jobs] == ["dtg", "embroidery"] and order.ship_country == "US"


# -- upload, match, preview, dry run, import ----------------------------------------------------------------

def test_upload_match_preview_dry_run_and_import(app, client):
    login(client, "manager", "maria")
    resp = upload(client, TEXT.encode("utf-8"))
    assert resp.status_code == 302
    with app.app_context():
        run = db.session.scalar(select(ImportRun))
        run_id = run.id
        assert run.content == TEXT.encode() and run.created_by == "maria" and run.result is None  # stored first
    assert resp.headers["Location"].endswith(f"/imports/{run_id}")

    # The matching page: guessed columns pre-selected; the order ID is missing, so no plan yet.
    html = client.get(f"/imports/{run_id}").get_data(as_text=True)
    assert re.search(r'<select name="map-quantity"[^>]*>.*?<option value="Qty" selected>', html, re.S)
    assert re.search(r'<select name="map-customer_name"[^>]*>.*?<option value="Customer" selected>', html, re.S)
    assert re.search(r'<select name="map-external_ref" class="is-missing">', html)
    assert "Pick the column for Order ID." in html
    assert flashes(html) == ["no column for external_ref (required); the file&#39;s columns are: &#39;Bestell-ID&#39;, "
                             "&#39;Customer&#39;, &#39;Email&#39;, &#39;Product&#39;, &#39;SKU&#39;, &#39;Qty&#39;, "
                             "&#39;Due Date&#39;"]
    assert "semicolon separated" in html

    # Preview with the order ID picked: the first rows as read, methods from the rules, the bad row's reason.
    resp = client.post(f"/imports/{run_id}", data=form(client, "preview"))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    page = text_of(html)
    assert "Whole file: 2 orders ready (3 items), 1 refused (1 bad row)" in page
    assert "Quantity: must be a whole number above 0 (got &#39;ten&#39;)" in html
    preview = html[html.index('id="preview"'):]
    lines = re.findall(r"<tr class=\"[^\"]*\">\s*<td>(\d+)</td>", preview)
    assert lines == ["2", "4", "5", "6"]  # the quoted value spans lines 2-3
    assert "dtg <small class=\"muted\">(rule)</small>" in preview
    assert "screen <small class=\"muted\">(default)</small>" in preview
    assert order_count(app) == 0

    # Dry run: says what would happen, saves nothing.
    resp = client.post(f"/imports/{run_id}", data=form(client, "dry-run"))
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/imports/{run_id}/result")
    html = client.get(f"/imports/{run_id}/result").get_data(as_text=True)
    assert flashes(html) == ["Dry run: would import 2 orders (3 items), 0 already imported, 1 order refused "
                             "(1 bad row). Nothing was saved."]
    bad = text_of(html[html.index('id="bad-rows"'):])
    assert "6 1003 Quantity quantity must be a whole number above 0 (got &#39;ten&#39;)" in bad
    assert order_count(app) == 0
    assert 'name="map-external_ref" value="Bestell-ID"' in html  # "Import now" keeps the mapping

    # Import: the good orders go in and are linked; the bad row is listed with its line.
    resp = client.post(f"/imports/{run_id}", data=form(client, "import"))
    assert resp.status_code == 302
    html = client.get(f"/imports/{run_id}/result").get_data(as_text=True)
    assert flashes(html) == ["2 orders imported (3 items), 0 already imported, 1 order refused (1 bad row)"]
    with app.app_context():
        orders = {o.external_ref: o for o in db.session.scalars(select(Order))}
        assert sorted(orders) == ["1001", "1002"]
        assert [(j.description, j.method) for j in orders["1001"].jobs] == [("Team tee\nfront logo", "dtg"),
                                                                           ("Tote bag", "screen")]
        assert orders["1002"].jobs[0].method == "embroidery"
        codes = [orders["1001"].code, orders["1002"].code]
    for code in codes:
        assert f'href="/orders/{code}"' in html
    assert client.get(f"/orders/{codes[0]}").status_code == 200

    # A second click on Import does not import again: it shows the first result.
    resp = client.post(f"/imports/{run_id}", data=form(client, "import"), follow_redirects=True)
    assert "has already been imported" in flashes(resp.get_data(as_text=True), "info")[0]
    assert order_count(app) == 2
    # The matching page of an imported run goes to its result.
    assert client.get(f"/imports/{run_id}").headers["Location"].endswith(f"/imports/{run_id}/result")

    # The list of past imports shows it.
    listing = text_of(client.get("/imports").get_data(as_text=True))
    assert "orders.csv maria 2 orders imported (3 items)" in listing

    # The same file uploaded again: nothing new, the existing orders linked.
    again = int(upload(client, TEXT.encode()).headers["Location"].rsplit("/", 1)[1])
    client.post(f"/imports/{again}", data=form(client, "import"))
    html = client.get(f"/imports/{again}/result").get_data(as_text=True)
    assert flashes(html)[0].startswith("0 orders imported (0 items), 2 already imported, 1 order refused")
    assert all(f'href="/orders/{code}"' in html for code in codes)
    assert order_count(app) == 2


def test_changing_the_mapping_to_a_column_the_file_lacks_is_a_red_message(app, client):
    login(client, "manager")
    run_id = int(upload(client, TEXT.encode()).headers["Location"].rsplit("/", 1)[1])
    resp = client.post(f"/imports/{run_id}", data=form(client, "import", {**MAPPING, "quantity": "Pieces"}))
    assert resp.status_code == 400
    assert flashes(resp.get_data(as_text=True)) == [
        "quantity: the file has no column &#39;Pieces&#39; (its columns: &#39;Bestell-ID&#39;, &#39;Customer&#39;, "
        "&#39;Email&#39;, &#39;Product&#39;, &#39;SKU&#39;, &#39;Qty&#39;, &#39;Due Date&#39;)"]
    assert order_count(app) == 0


def test_a_form_without_its_csrf_token_is_refused(app, client):
    login(client, "manager")
    resp = client.post("/imports", data={"file": (io.BytesIO(TEXT.encode()), "o.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    run_id = int(upload(client, TEXT.encode()).headers["Location"].rsplit("/", 1)[1])
    data = form(client, "import")
    del data["csrf_token"]
    assert client.post(f"/imports/{run_id}", data=data).status_code == 400
    assert order_count(app) == 0


def test_an_unknown_import_is_404(client):
    login(client, "manager")
    assert client.get("/imports/999").status_code == 404
    assert client.get("/imports/999/result").status_code == 404


# -- bad uploads: a red flash, never a 500 ------------------------------------------------------------------

@pytest.mark.parametrize("content,filename,message", [
    (None, None, "Choose a CSV file to upload."),
    (b"", "", "Choose a CSV file to upload."),
    (b"", "empty.csv", "The file is empty: it needs a header row and one row per item."),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "photo.csv",
     "photo.csv cannot be read as CSV: this is a PNG picture, not a CSV file"),
    (b"PK\x03\x04\x14\x00\x06\x00", "orders.xlsx", "orders.xlsx cannot be read as CSV: this is an Excel workbook"),
    (b"x" * (service.MAX_FILE_BYTES + 1), "big.csv", "The file is 5.0 MB; at most 5 MB can be imported at once."),
    (b"x" * (service.MAX_FILE_BYTES + 400_000), "huge.csv",
     "The file is too large: at most 5 MB can be imported at once."),
])
def test_bad_uploads_flash_red(app, client, content, filename, message):
    login(client, "manager")
    resp = upload(client, content, filename) if filename is not None else upload(client, None)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/imports")
    html = client.get("/imports").get_data(as_text=True)
    assert any(f.startswith(message) for f in flashes(html)), flashes(html)
    assert order_count(app) == 0


def test_an_unreadable_upload_is_kept_and_listed_with_the_reason(app, client):
    login(client, "manager")
    upload(client, b"Order ID,Customer,Product,Qty\n1,\"Rosa,Tee,1\n", "broken.csv")
    with app.app_context():
        run = db.session.scalar(select(ImportRun))
        assert run.filename == "broken.csv" and json.loads(run.result)["status"] == "unreadable"
        run_id = run.id
    listing = text_of(client.get("/imports").get_data(as_text=True))
    assert "broken.csv" in listing and "Not imported: line 2: a quoted value starts here and is never closed" in listing
    resp = client.get(f"/imports/{run_id}", follow_redirects=True)
    assert flashes(resp.get_data(as_text=True))[0].startswith("broken.csv cannot be imported: line 2")


def test_a_changed_column_swaps_only_the_matching_block(app, client):
    """The page's selects post on change (HTMX, aimed at #import-mapping): the answer is that block alone,
    the same block the whole page includes."""
    login(client, "manager", "maria")
    upload(client, TEXT.encode("utf-8"))
    with app.app_context():
        run_id = db.session.scalar(select(ImportRun.id))
    swap = client.post(f"/imports/{run_id}", data=form(client, "preview"),
                       headers={"HX-Request": "true", "HX-Target": "import-mapping"})
    whole = client.post(f"/imports/{run_id}", data=form(client, "preview"))
    assert swap.status_code == whole.status_code == 200
    block = swap.get_data(as_text=True)
    assert block.lstrip().startswith('<div id="import-mapping">') and "<html" not in block
    assert "Whole file: 2 orders ready (3 items)" in text_of(block)
    assert block.strip() in whole.get_data(as_text=True)
    elsewhere = client.post(f"/imports/{run_id}", data=form(client, "preview"),
                            headers={"HX-Request": "true", "HX-Target": "something-else"})
    assert "<html" in elsewhere.get_data(as_text=True)  # aimed elsewhere: the whole page
