"""Labels: golden ZPL and ESC/POS bytes, previews that scan back, and text that never breaks a label.

Golden files live in tests/labels/golden/. After a deliberate layout change, look at the new output
(and the PNGs in test-artifacts/labels/), then regenerate with INKTRAIL_UPDATE_GOLDEN=1.
"""
from __future__ import annotations

import io
import os
import re
from datetime import date
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from tracker.labels import JobLabel, PackingSlip, SlipItem, label_size, render_escpos, render_png, render_zpl
from tracker.labels.layouts import (QR, Box, Code128, ReceiptBarcode, ReceiptQR, ReceiptText, Text,
                                    code128_modules, code128_segments, layout_4x6, layout_receipt,
                                    receipt_text, text_width)
from tracker.labels.png import fixed_image
from tracker.labels.zpl import QR_SINK

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
ARTIFACTS = HERE.parents[1] / "test-artifacts" / "labels"
UPDATE = os.environ.get("INKTRAIL_UPDATE_GOLDEN") == "1"

STAFF_URL = "http://127.0.0.1:5000/jobs/A1042B"
TRACKING_URL = "https://print.example.com/t/Ab3_kq9Zx-7LmN2pQr8sT4uV5wXy6zA1"
NON_LATIN = "Zoë Ğüneş 李"
FORMATS = [("zpl", None), ("escpos", 384), ("escpos", 576)]


def make_job(**overrides) -> JobLabel:
    values = dict(job_code="A1042B", staff_url=STAFF_URL, customer_first_name="Maria",
                  description="Black tee, 2-colour front print, left chest logo", method="Screen print",
                  quantity=24, due=date(2025, 3, 14), rush=True, batch_code="B-17")
    return JobLabel(**{**values, **overrides})


def make_slip(**overrides) -> PackingSlip:
    values = dict(order_code="A1042", shop_name="Northside Print Co.", customer_first_name="Zoë",
                  tracking_url=TRACKING_URL,
                  items=[SlipItem("Black tee, 2-colour front print", "Screen print", 24),
                         SlipItem("Tote bag, natural", "DTG", 10),
                         SlipItem("Embroidered cap, navy", "Embroidery", 6)])
    return PackingSlip(**{**values, **overrides})


def many_items(n: int = 30) -> list[SlipItem]:
    return [SlipItem(f"Item {i}: hoodie, heather grey, size L, back print", "Screen print", i + 1)
            for i in range(n)]


def save(name: str, png: bytes) -> Image.Image:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_bytes(png)
    return Image.open(io.BytesIO(png))


def check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(data)
    assert path.exists(), f"no golden file {path}: run with INKTRAIL_UPDATE_GOLDEN=1 after checking the output"
    assert data == path.read_bytes(), f"{name} differs from its golden file"


def decoded(image: Image.Image) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"code128": [], "qr": []}
    for result in zxingcpp.read_barcodes(image):
        if result.format == zxingcpp.BarcodeFormat.Code128:
            found["code128"].append(result.text)
        elif result.format == zxingcpp.BarcodeFormat.QRCode:
            found["qr"].append(result.text)
    return found


def label_for(kind: str, **overrides):
    return make_job(**overrides) if kind == "job" else make_slip(**overrides)


def expected_codes(label) -> tuple[str, str]:
    if isinstance(label, JobLabel):
        return label.job_code, label.staff_url
    return label.order_code, label.tracking_url


# --- ESC/POS -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", [384, 576])
@pytest.mark.parametrize("kind", ["job", "slip"])
def test_escpos_golden(kind, width):
    check_golden(f"{kind}-{width}.bin", render_escpos(label_for(kind), width))


def _gs_k_store(url: str) -> bytes:
    data = url.encode()
    n = len(data) + 3
    return b"\x1d(k" + bytes([n % 256, n // 256]) + b"1P0" + data


@pytest.mark.parametrize("width,module", [(384, 3), (576, 4)])
def test_escpos_commands(width, module):
    out = render_escpos(make_job(), width)
    assert out.startswith(b"\x1b@")                                  # ESC @: initialise
    # Code128, function B: GS h height, GS w module, HRI off, then GS k 73 n "{B" + code.
    assert b"\x1dw" + bytes([module]) in out
    assert b"\x1dH\x00" + b"\x1dkI\x08{BA1042B" in out
    # QR: model 2, module size, error level M (49), store the URL, print.
    assert b"\x1d(k\x04\x001A2\x00" in out
    assert b"\x1d(k\x03\x001C\x08" in out
    assert b"\x1d(k\x03\x001E1" in out
    assert _gs_k_store(STAFF_URL) in out
    assert b"\x1d(k\x03\x001Q0" in out
    assert b"\x1dB\x01\x1bt\x00 RUSH \n" in out                       # inverted, double size
    assert b"Maria\n" in out and b"Qty: 24\n" in out and b"Due: Fri 14 Mar\n" in out
    assert out.endswith(b"\x1bd\x06\x1dV\x00")                       # feed 6 lines, full cut


def test_escpos_packing_slip_commands():
    out = render_escpos(make_slip(), 576)
    assert b"\x1dkI\x07{BA1042" in out
    assert _gs_k_store(TRACKING_URL) in out
    assert b"Northside Print Co.\n" in out
    assert b"For: Zo\x89\n" in out                                   # ë in code page 437 (ESC t 0)
    assert b"  24 x Black tee, 2-colour front print\n" in out
    assert b"Track your order\n" in out


def test_escpos_user_text_cannot_send_commands():
    out = render_escpos(make_job(customer_first_name="Eve\x1b@\x1dV\x00\n\rX", rush=False), 384)
    assert out.count(b"\x1b@") == 1                                  # only the printer's own initialise
    assert b"\x1dV\x00" not in out[:-4]                               # only the final cut
    assert b"Eve@ V X\n" in out                                     # \x1d counts as a space in Python


def test_escpos_non_latin_text_falls_back():
    assert receipt_text(NON_LATIN) == "Zoë Ğüneş ?"
    assert receipt_text("Ｆｕｌｌ") == "Full"                          # full-width letters: their look-alikes
    out = render_escpos(make_job(customer_first_name=NON_LATIN), 384)
    assert b"\x1bt\x0d" in out                                       # code page 857 (Turkish) for Ğ and ş
    assert "李".encode("gb18030") not in out


# --- ZPL ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["job", "slip"])
def test_zpl_golden(kind):
    check_golden(f"{kind}-4x6.zpl", render_zpl(label_for(kind)))


def test_zpl_job_label():
    zpl = render_zpl(make_job()).decode("utf-8")
    assert zpl.startswith("^XA") and zpl.endswith("^XZ")
    assert "^CI28" in zpl and "^PW812" in zpl and "^LL1218" in zpl
    assert re.search(r"\^BY4\^BCN,150,N,N,N\^FD>:A1042B\^FS", zpl)
    assert re.search(rf"\^BY2,3,10\^FO\d+,\d+\^BQN,2,8\^FDMM,B{len(STAFF_URL):04d}{re.escape(STAFF_URL)}\^FS", zpl)
    assert "^FR^FH_^FDRUSH^FS" in zpl and "^FDB-17^FS" in zpl and "^FDFri 14 Mar^FS" in zpl


def test_zpl_packing_slip():
    zpl = render_zpl(make_slip()).decode("utf-8")
    assert zpl.startswith("^XA") and zpl.endswith("^XZ")
    assert "^FD>:A1042^FS" in zpl
    assert f"^FDMM,B{len(TRACKING_URL):04d}{TRACKING_URL}^FS" in zpl
    assert "^FDZoë^FS" in zpl and "^FDTrack your order^FS" in zpl


def test_zpl_escapes_user_text():
    zpl = render_zpl(make_job(customer_first_name="^XZ~JA", description="a_b\\&c ^FS")).decode("utf-8")
    assert zpl.count("^XZ") == 1 and zpl.endswith("^XZ")
    assert "~" not in zpl
    assert "^FD_5EXZ_7EJA^FS" in zpl
    assert "^FDa_5Fb\\\\&c _5EFS^FS" in zpl
    assert all(line.startswith("^") for line in zpl.splitlines())


def test_zpl_and_png_share_positions():
    layout = layout_4x6(make_job())
    zpl = render_zpl(make_job()).decode("utf-8")
    for item in layout.items:
        y = item.y - QR_SINK if isinstance(item, QR) else item.y      # see zpl.QR_SINK
        assert f"^FO{item.x},{y}^" in zpl
    image = fixed_image(layout)
    bars = next(item for item in layout.items if isinstance(item, Code128))
    assert image.getpixel((bars.x, bars.y + 1)) == 0 and image.getpixel((bars.x - 1, bars.y + 1)) == 255
    assert image.getpixel((bars.x + bars.width - 1, bars.y + bars.height - 1)) == 0
    assert image.getpixel((bars.x + bars.width, bars.y + bars.height - 1)) == 255
    qr = next(item for item in layout.items if isinstance(item, QR))
    assert image.getpixel((qr.x, qr.y)) == 0 and image.getpixel((qr.x - 1, qr.y - 1)) == 255  # finder corner


# --- previews scan back --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,width", FORMATS)
@pytest.mark.parametrize("kind", ["job", "slip"])
def test_png_preview_decodes(kind, fmt, width):
    label = label_for(kind)
    image = save(f"{kind}-{fmt if width is None else width}.png", render_png(label, fmt, width))
    assert image.format == "PNG"
    size = label_size(fmt, width)
    assert image.width == size.width
    if size.height is not None:
        assert image.height == size.height
    code, url = expected_codes(label)
    assert decoded(image) == {"code128": [code], "qr": [url]}


@pytest.mark.parametrize("fmt,width", FORMATS)
def test_longest_code_fits_and_decodes(fmt, width):
    label = make_job(job_code="ABC123456789DEF", staff_url="http://127.0.0.1:5000/jobs/ABC123456789DEF")
    image = save(f"job-longest-code-{fmt if width is None else width}.png", render_png(label, fmt, width))
    assert decoded(image) == {"code128": ["ABC123456789DEF"], "qr": [label.staff_url]}
    if fmt == "escpos":
        out = render_escpos(label, width)
        barcode = next(item for item in layout_receipt(label, width).items if isinstance(item, ReceiptBarcode))
        assert len(barcode.modules) * barcode.module <= width
        if barcode.compress_digits:                                  # 58 mm: digits in code set C
            assert b"{BABC1{C" + bytes([23, 45, 67, 89]) + b"{BDEF" in out


def test_code128_matches_python_barcode():
    from barcode import Code128 as PyCode128

    for code in ("A104B", "ZZ99-7", "AB12CD"):                       # no run of 4 digits: code set B there too
        assert code128_modules(code128_segments(code)) == PyCode128(code).build()[0]


# --- long and odd text --------------------------------------------------------------------------------

def assert_inside(layout) -> None:
    """Every primitive inside the label, every line inside its box (in the preview's font)."""
    for item in layout.items:
        if isinstance(item, Text):
            right, bottom = item.x + item.width, item.y + round(item.height * 1.05)
            assert text_width(item.text, item.height) <= item.width, item
        elif isinstance(item, Code128):
            right, bottom = item.x + item.width, item.y + item.height
        elif isinstance(item, QR):
            right, bottom = item.x + item.size, item.y + item.size
        else:
            assert isinstance(item, Box)
            right, bottom = item.x + item.width, item.y + item.height
        assert 0 <= item.x and 0 <= item.y and right <= layout.width and bottom <= layout.height, item


def assert_receipt_inside(layout) -> None:
    for item in layout.items:
        if isinstance(item, ReceiptText):
            assert len(item.text) * item.size <= layout.columns, item
        elif isinstance(item, ReceiptBarcode):
            assert len(item.modules) * item.module <= layout.width
        elif isinstance(item, ReceiptQR):
            from tracker.labels.layouts import qr_symbol
            assert qr_symbol(item.data).symbol_size(border=0)[0] * item.module <= layout.width


ODD_JOBS = {
    "long": dict(description="Heavyweight organic cotton tee " * 7, customer_first_name="Maximiliana-Alexandrina",
                 method="Direct-to-garment with white underbase and pretreatment", batch_code="BATCH-2025-03-WEEK-11"),
    "nonlatin": dict(customer_first_name=NON_LATIN, description="Футболка чёрная, Ωμέγα, 李小龙 T恤",
                     method="Sérigraphie"),
    "unbroken": dict(description="X" * 200, customer_first_name="W" * 60, quantity=123456789012),
}


@pytest.mark.parametrize("case", sorted(ODD_JOBS))
def test_odd_job_text_stays_inside(case):
    label = make_job(**ODD_JOBS[case])
    assert len(label.description) >= 200 or case == "nonlatin"
    assert_inside(layout_4x6(label))
    assert render_zpl(label).decode("utf-8").endswith("^XZ")
    for width in (384, 576):
        assert_receipt_inside(layout_receipt(label, width))
        render_escpos(label, width)
    for fmt, width in FORMATS:
        image = save(f"job-{case}-{fmt if width is None else width}.png", render_png(label, fmt, width))
        assert decoded(image) == {"code128": ["A1042B"], "qr": [STAFF_URL]}


def test_description_is_cut_with_an_ellipsis():
    layout = layout_4x6(make_job(description="word " * 60))
    lines = [item.text for item in layout.items if isinstance(item, Text) and item.height == 44]
    assert len(lines) == 3 and lines[-1].endswith("...")


@pytest.mark.parametrize("fmt,width", FORMATS)
def test_thirty_items_fit_with_more_line(fmt, width):
    label = make_slip(items=many_items(30), customer_first_name=NON_LATIN,
                      shop_name="The Extraordinarily Long-Named Print & Embroidery Cooperative of Northside")
    if fmt == "zpl":
        layout = layout_4x6(label)
        assert_inside(layout)
        texts = [item.text for item in layout.items if isinstance(item, Text)]
        shown = sum(1 for text in texts if text.startswith("Item "))
    else:
        layout = layout_receipt(label, width)
        assert_receipt_inside(layout)
        texts = [item.text.strip() for item in layout.items if isinstance(item, ReceiptText)]
        shown = sum(1 for text in texts if re.match(r"\d+ x Item ", text))
    more = [text for text in texts if re.fullmatch(r"\+\d+ more items", text)]
    assert len(more) == 1 and shown + int(more[0][1:].split()[0]) == 30
    image = save(f"slip-30-items-{fmt if width is None else width}.png", render_png(label, fmt, width))
    assert decoded(image) == {"code128": ["A1042"], "qr": [TRACKING_URL]}


def test_few_items_get_two_lines():
    label = make_slip(items=[SlipItem("Heavyweight hoodie, heather grey, back print and left sleeve text",
                                      "Screen print", 12)])
    layout = layout_4x6(label)
    assert_inside(layout)
    desc_x = next(item.x for item in layout.items if isinstance(item, Text) and item.text == "ITEM")
    rows = [item.text for item in layout.items if isinstance(item, Text) and item.x == desc_x and item.height == 36]
    assert len(rows) == 2 and rows[1].endswith("...")


def test_empty_and_missing_values():
    label = make_job(customer_first_name="", description="   ", method="\x00", due=None, batch_code=None,
                     rush=False)
    assert_inside(layout_4x6(label))
    zpl = render_zpl(label).decode("utf-8")
    assert "RUSH" not in zpl and "BATCH" not in zpl and "^FD-^FS" in zpl
    for fmt, width in FORMATS:
        save(f"job-plain-{fmt if width is None else width}.png", render_png(label, fmt, width))
    slip = make_slip(items=[])
    assert_inside(layout_4x6(slip))
    render_escpos(slip, 384)


# --- API edges ---------------------------------------------------------------------------------------

def test_label_size():
    assert label_size("zpl") == (812, 1218, 203)
    assert label_size("escpos", 384) == (384, None, 203)
    assert label_size("escpos", 576).width == 576
    with pytest.raises(ValueError):
        label_size("escpos", 500)
    with pytest.raises(ValueError):
        label_size("pdf")


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        render_zpl(make_job(job_code="A1042B^XZ"))
    with pytest.raises(ValueError):
        render_escpos(make_job(), 512)
    with pytest.raises(ValueError):
        render_png(make_job(), "pdf")
    with pytest.raises(TypeError):
        render_zpl("A1042B")


def test_url_is_made_safe_for_zpl():
    label = make_job(staff_url="http://127.0.0.1:5000/jobs/A1042B?x=^XZ~JA é")
    zpl = render_zpl(label).decode("utf-8")
    assert zpl.count("^XZ") == 1 and "~" not in zpl
    image = Image.open(io.BytesIO(render_png(label)))
    assert decoded(image)["qr"] == ["http://127.0.0.1:5000/jobs/A1042B?x=%5EXZ%7EJA%20%C3%A9"]


def test_receipt_barcode_as_an_image_for_printers_without_hardware_code128(tmp_path):
    """`barcode = "image"`: the same bars sent as a raster image (GS v 0), read back by zxing."""
    import zxingcpp

    from tracker.labels import JobLabel, render_escpos
    from tracker.labels.escpos import barcode_image
    from tracker.labels.layouts import ReceiptBarcode

    label = JobLabel(job_code="A1042B", staff_url="http://shop.test/jobs/A1042B", customer_first_name="Rosa",
                     description="Team tee", method="DTG", quantity=12)
    raster = render_escpos(label, 576, hardware_barcode=False)
    assert b"\x1dk" not in raster and b"\x1dv0" in raster  # no GS k; a GS v 0 raster image instead
    img = barcode_image(ReceiptBarcode("A1042B", module=3, height=80)).convert("L")
    (read,) = zxingcpp.read_barcodes(img)
    assert read.text == "A1042B" and read.format.name in ("Code128", "CODE_128")
