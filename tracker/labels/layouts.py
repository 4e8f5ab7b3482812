"""Layouts: every label written once, as data, then drawn by two backends.

Two kinds of layout:

* ``FixedLayout``: a 4x6 inch label at 203 dpi (812 x 1218 dots), a list of positioned primitives
  (``Text``, ``Code128``, ``QR``, ``Box``). ``zpl.py`` turns it into ZPL, ``png.py`` into a preview.
* ``ReceiptLayout``: a receipt roll 384 (58 mm) or 576 (80 mm) dots wide, a top-to-bottom flow of
  ``ReceiptText`` lines, ``ReceiptBarcode``, ``ReceiptQR`` and ``ReceiptFeed``. ``escpos.py`` turns it
  into ESC/POS, ``png.py`` into a preview.

Everything both backends must agree on is decided here, once: where a line breaks and where it is cut
short, which characters a receipt printer can print, the Code128 symbols, the QR data, every position.
The backends only draw. Free text is cleaned here (control characters dropped, whitespace collapsed),
so a customer name can never inject a printer command or a line break.
"""
from __future__ import annotations

import itertools
import os
import re
import textwrap
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from urllib.parse import quote

import segno
from PIL import Image, ImageDraw, ImageFont

from .content import JobLabel, PackingSlip

DPI = 203
LABEL_4X6 = (812, 1218)          # 4 x 6 inch at 203 dpi, in dots
MARGIN = 32                      # 4 mm: clear of the die-cut edge if the label sits slightly off
RECEIPT_WIDTHS = (384, 576)      # printable width of 58 mm and 80 mm rolls at 203 dpi
CHAR_W, CHAR_H = 12, 24          # ESC/POS font A at 203 dpi: 32 columns on 58 mm, 48 on 80 mm
LINE_GAP = 6                     # default line spacing (1/6 inch, about 30 dots) minus the font height
MAX_TEXT = 600                   # longer free text is cut before layout: no label shows more anyway


# ---------------------------------------------------------------------------------------------------
# Primitives of the fixed 4x6 layout (dots, origin top-left).

@dataclass(frozen=True)
class Text:
    """One line of text in a box ``width`` wide. ``height`` is the font height (ZPL ``^A0N,h,h``)."""

    x: int
    y: int
    width: int
    height: int
    text: str
    align: str = "left"          # left, center or right inside the box
    reverse: bool = False        # white on black: drawn over a filled Box


@dataclass(frozen=True)
class Code128:
    """A Code128 symbol, bars only (its human-readable text is a separate Text)."""

    x: int
    y: int
    data: str
    module: int                  # narrowest bar, in dots
    height: int
    compress_digits: bool = False

    @property
    def segments(self) -> tuple[tuple[str, str], ...]:
        return code128_segments(self.data, self.compress_digits)

    @property
    def modules(self) -> str:
        return code128_modules(self.segments)

    @property
    def width(self) -> int:
        return len(self.modules) * self.module


@dataclass(frozen=True)
class QR:
    x: int
    y: int
    data: str
    module: int                  # dots per QR module (ZPL magnification)

    @property
    def symbol(self) -> segno.QRCode:
        return qr_symbol(self.data)

    @property
    def size(self) -> int:
        return self.symbol.symbol_size(border=0)[0] * self.module


@dataclass(frozen=True)
class Box:
    """A rectangle with a border ``thickness`` dots thick; a line is a thin filled box."""

    x: int
    y: int
    width: int
    height: int
    thickness: int = 3
    filled: bool = False


@dataclass(frozen=True)
class FixedLayout:
    width: int
    height: int
    items: tuple


# ---------------------------------------------------------------------------------------------------
# Steps of the receipt flow (top to bottom, each starting at the left edge of a new line).

@dataclass(frozen=True)
class ReceiptText:
    """One printed line, already cut to fit: at most ``columns // size`` characters."""

    text: str
    size: int = 1                # 1: font A 12 x 24 dots; 2: double width and height
    bold: bool = False
    align: str = "left"
    invert: bool = False         # white on black


@dataclass(frozen=True)
class ReceiptBarcode:
    """Code128, centred, bars only (the layout prints the code as text under it, in a size of its own)."""

    data: str
    module: int                  # 2..6 (GS w)
    height: int                  # 1..255 dots (GS h)
    compress_digits: bool = False

    @property
    def segments(self) -> tuple[tuple[str, str], ...]:
        return code128_segments(self.data, self.compress_digits)

    @property
    def modules(self) -> str:
        return code128_modules(self.segments)


@dataclass(frozen=True)
class ReceiptQR:
    """A QR code, centred, drawn by the printer (GS ( k) with ``module`` dots per module."""

    data: str
    module: int                  # 1..16


@dataclass(frozen=True)
class ReceiptFeed:
    lines: int = 1


@dataclass(frozen=True)
class ReceiptLayout:
    width: int
    items: tuple

    @property
    def columns(self) -> int:
        return self.width // CHAR_W


# ---------------------------------------------------------------------------------------------------
# Codes

CODE_RE = re.compile(r"^[A-Z0-9-]{1,40}\Z")


def clean_code(code: str) -> str:
    """An order or job code as it goes into a barcode: upper case letters, digits, '-'."""
    value = (code or "").strip().upper()
    if not CODE_RE.match(value):
        raise ValueError(f"not a printable order or job code: {code!r}")
    return value


def code128_segments(data: str, compress_digits: bool = False) -> tuple[tuple[str, str], ...]:
    """Code set B for everything; with ``compress_digits``, runs of 4+ digits in code set C (two per
    symbol), which shortens a long code enough to fit a 58 mm roll. Always starts in code set B, so
    ZPL starts with ``>:`` and ESC/POS with ``{B``."""
    if not compress_digits:
        return (("B", data),)
    segments: list[list[str]] = []

    def add(charset: str, text: str) -> None:
        if segments and segments[-1][0] == charset:
            segments[-1][1] += text
        else:
            segments.append([charset, text])

    for is_digit, group in itertools.groupby(data, str.isdigit):
        run = "".join(group)
        if is_digit and len(run) >= 4:
            if len(run) % 2:
                add("B", run[0])
                run = run[1:]
            add("C", run)
        else:
            add("B", run)
    if segments[0][0] != "B":
        segments.insert(0, ["B", ""])
    return tuple((charset, text) for charset, text in segments)


def code128_values(segments) -> list[int]:
    """Symbol values: start B, data (with code set switches), checksum; no stop."""
    values = [104]
    current = "B"
    for charset, text in segments:
        if charset != current:
            values.append(99 if charset == "C" else 100)
            current = charset
        if charset == "B":
            values.extend(ord(c) - 32 for c in text)
        else:
            values.extend(int(text[i:i + 2]) for i in range(0, len(text), 2))
    checksum = (values[0] + sum(i * v for i, v in enumerate(values[1:], start=1))) % 103
    return values + [checksum]


def code128_modules(segments) -> str:
    """Bars as '1' (black) and '0' (white) modules, from python-barcode's Code128 tables."""
    from barcode.charsets import code128 as tables

    return "".join(tables.CODES[v] for v in code128_values(segments)) + tables.STOP + "11"


def qr_symbol(data: str) -> segno.QRCode:
    """Always a full QR code (``make_qr``: a Micro QR is unreadable by phones), error level M, byte
    mode, no error boost: the same choices the printers get (ZPL ``MM,B``, ESC/POS level M), so the
    preview has the same version (size) as the printed code."""
    return segno.make_qr(data, error="m", mode="byte", boost_error=False)


def safe_url(url: str) -> str:
    """A URL as QR data: ASCII only, no spaces, and none of ZPL's command characters ``^`` and ``~``
    (percent-encoded, which a browser reads as the same URL)."""
    value = "".join(ch for ch in (url or "").strip() if unicodedata.category(ch)[0] != "C")
    value = quote(value, safe="!#$%&'()*+,/:;=?@[]-._").replace("~", "%7E")
    if not value or len(value) > 1000:
        raise ValueError("a label's QR code needs a URL of 1 to 1000 characters")
    return value


# ---------------------------------------------------------------------------------------------------
# Text

def clean(text) -> str:
    """Free text as it may appear on a label: one line, no control or format characters (no escape
    sequences for a receipt printer, no bidi overrides), at most one combining mark per letter."""
    value = unicodedata.normalize("NFC", str(text if text is not None else "")[:MAX_TEXT * 4])
    out: list[str] = []
    marks = 0
    for ch in value:
        category = unicodedata.category(ch)
        if ch.isspace() or category in ("Zs", "Zl", "Zp"):
            out.append(" ")
            marks = 0
        elif category[0] == "C":          # Cc, Cf, Cs, Co, Cn
            continue
        elif category in ("Mn", "Me"):    # left over after NFC; a pile of them would overdraw lines
            marks += 1
            if marks == 1 and out:
                out.append(ch)
        else:
            out.append(ch)
            marks = 0
    return " ".join("".join(out).split())[:MAX_TEXT]


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def due_text(due: date | None) -> str:
    """'Fri 14 Mar': short, and independent of the server's locale (strftime's %a is not)."""
    if due is None:
        return "-"
    return f"{WEEKDAYS[due.weekday()]} {due.day} {MONTHS[due.month - 1]}"


# Fonts of the preview. The 4x6 preview uses Pillow's bundled Aileron (the printer's font 0 is a
# similar sans, CG Triumvirate Bold Condensed), with DejaVu Sans Mono (shipped with python-barcode)
# for the characters the bundled Aileron lacks (it has ASCII only). The receipt preview uses DejaVu
# Sans Mono: a receipt printer's font is monospaced, 12 x 24 dots.

@lru_cache(maxsize=None)
def sans_font(size: int):
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=None)
def mono_font(size: int):
    try:
        import barcode.writer

        path = os.path.join(barcode.writer.PATH, "fonts", "DejaVuSansMono.ttf")
        return ImageFont.truetype(path, size)
    except (ImportError, AttributeError, OSError):
        return ImageFont.load_default(size=size)


def _glyph_pixels(font, ch: str) -> bytes:
    image = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(image).text((8, 8), ch, font=font, fill=255)
    return image.tobytes()


@lru_cache(maxsize=None)
def _missing_glyph(kind: str) -> bytes:
    font = sans_font(32) if kind == "sans" else mono_font(32)
    return _glyph_pixels(font, "\U000F0000")   # private use: always the font's "missing" box


@lru_cache(maxsize=8192)
def sans_has(ch: str) -> bool:
    return ch == " " or _glyph_pixels(sans_font(32), ch) != _missing_glyph("sans")


@lru_cache(maxsize=8192)
def mono_has(ch: str) -> bool:
    return ch == " " or _glyph_pixels(mono_font(32), ch) != _missing_glyph("mono")


def fallback_font(height: int):
    """DejaVu Sans Mono a size smaller: its letters are larger than Aileron's at the same size."""
    return mono_font(max(1, round(height * 0.88)))


def label_text(text) -> str:
    """Free text for the 4x6 label: cleaned, and '?' for a character neither preview font has (CJK,
    for one). The printer's font 0 has no CJK either: '?' on both is honest, an empty box is not."""
    return "".join(ch if sans_has(ch) or mono_has(ch) else "?" for ch in clean(text))


def font_runs(text: str) -> list[tuple[str, bool]]:
    """Split text into runs: (run, True) for the sans font, (run, False) for the fallback font."""
    runs: list[tuple[str, bool]] = []
    for has, group in itertools.groupby(text, sans_has):
        runs.append(("".join(group), has))
    return runs


def stroke_for(height: int) -> int:
    """The preview draws text bold, as the printer's font 0 is."""
    return max(1, round(height / 28))


def baseline_for(height: int) -> int:
    """Offset from a ZPL field's top to the baseline of ``^A0`` text of that height."""
    return round(height * 0.8)


def text_width(text: str, height: int) -> float:
    """Width of a 4x6 text line in the preview font, bold stroke included."""
    total = 0.0
    for run, has in font_runs(text):
        total += (sans_font(height) if has else fallback_font(height)).getlength(run)
    return total + 2 * stroke_for(height)


# A line is fitted to this share of its box: the printer's font is not the preview's (it runs a little
# narrower, but metrics differ), so neither may touch the box's edge.
FIT = 0.94


def fits(text: str, height: int, width: int) -> bool:
    return text_width(text, height) <= width * FIT


def _longest_prefix(text: str, height: int, width: int, suffix: str = "") -> int:
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(text[:mid].rstrip() + suffix, height, width):
            lo = mid
        else:
            hi = mid - 1
    return lo


def ellipsize(text: str, height: int, width: int, force: bool = False) -> str:
    """The text if it fits (and ``force`` is off), else its longest start that fits with '...'."""
    if not force and fits(text, height, width):
        return text
    n = _longest_prefix(text, height, width, "...")
    return text[:n].rstrip() + "..."


def wrap(text: str, height: int, width: int, max_lines: int) -> list[str]:
    """Word-wrap to the box; a word too long for a line is broken; the last line ends with '...'
    when text is left over."""
    lines: list[str] = []
    words = text.split(" ") if text else []
    current = ""
    i = 0
    while i < len(words) and len(lines) <= max_lines:
        candidate = f"{current} {words[i]}" if current else words[i]
        if fits(candidate, height, width):
            current = candidate
            i += 1
        elif current:
            lines.append(current)
            current = ""
        else:
            n = max(1, _longest_prefix(words[i], height, width))
            lines.append(words[i][:n])
            words[i] = words[i][n:]
    if current:
        lines.append(current)
    if len(lines) > max_lines or i < len(words):
        lines = lines[:max_lines]
        lines[-1] = ellipsize(lines[-1], height, width, force=True)
    return lines


def shrink(text: str, width: int, heights: tuple[int, ...]) -> tuple[str, int]:
    """The largest of ``heights`` at which the text fits one line; else the smallest, cut short."""
    for height in heights:
        if fits(text, height, width):
            return text, height
    return ellipsize(text, heights[-1], width), heights[-1]


# Receipt printers print from code pages. A character no code page of the profile holds becomes an
# accent-less look-alike (Ő -> O) or '?': decided here, so the preview shows what the printer prints
# and a line's length in characters is its length on paper.

@lru_cache(maxsize=None)
def _receipt_encoder():
    from escpos.capabilities import get_profile
    from escpos.magicencode import Encoder

    pages = {name: slot for name, slot in get_profile().get_code_pages().items() if name != "Unknown"}
    return Encoder(pages)


@lru_cache(maxsize=8192)
def receipt_char(ch: str) -> str:
    if " " <= ch <= "~":
        return ch
    encoder = _receipt_encoder()
    if unicodedata.east_asian_width(ch) not in ("W", "F") and unicodedata.category(ch)[0] != "M":
        if any(encoder.can_encode(name, ch) for name in encoder.codepages):
            return ch
    base = unicodedata.normalize("NFKD", ch)[:1]
    if base and base != ch and " " <= base <= "~":
        return base
    return "?"


def receipt_text(text) -> str:
    cleaned = clean(text)
    return "".join(receipt_char(ch) for ch in cleaned if unicodedata.category(ch)[0] != "M")


def wrap_columns(text: str, columns: int, max_lines: int, indent: str = "") -> list[str]:
    lines = textwrap.wrap(text, width=columns, subsequent_indent=indent,
                          break_long_words=True, break_on_hyphens=False) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:columns - 3].rstrip() + "..."
    return lines


def cut_columns(text: str, columns: int) -> str:
    return text if len(text) <= columns else text[:columns - 3].rstrip() + "..."


# ---------------------------------------------------------------------------------------------------
# Shared sizing

def barcode_fit(code: str, width: int, max_module: int) -> tuple[int, bool]:
    """(module, compress_digits) for the widest Code128 of ``code`` that fits ``width`` dots, with a
    quiet zone of 10 modules each side if possible. Code set B unless only code set C digits fit."""
    for quiet in (20, 0):
        for compress in (False, True):
            n = len(code128_modules(code128_segments(code, compress)))
            for module in range(max_module, 1, -1):
                if (n + quiet) * module <= width:
                    return module, compress
    raise ValueError(f"code {code!r} is too long for a barcode {width} dots wide")


def qr_module(data: str, box: int, max_module: int) -> int:
    n = qr_symbol(data).symbol_size(border=0)[0]
    return max(1, min(max_module, box // n))


# ---------------------------------------------------------------------------------------------------
# 4x6 layouts

CAPTION = 28


def _hr(y: int) -> Box:
    width, _ = LABEL_4X6
    return Box(MARGIN, y, width - 2 * MARGIN, 4, filled=True)


def _caption(x: int, y: int, width: int, text: str) -> Text:
    return Text(x, y, width, CAPTION, text)


def job_label_4x6(label: JobLabel) -> FixedLayout:
    width, height = LABEL_4X6
    inner = width - 2 * MARGIN
    x = MARGIN
    code = clean_code(label.job_code)
    url = safe_url(label.staff_url)
    items: list = []
    y = MARGIN

    if label.rush:
        items.append(Box(x, y, inner, 100, filled=True))
        items.append(Text(x, y + 10, inner, 84, "RUSH", align="center", reverse=True))
        y += 100 + 24

    module, compress = barcode_fit(code, inner, 4)
    barcode = Code128(0, y, code, module, 150, compress)
    items.append(Code128((width - barcode.width) // 2, y, code, module, 150, compress))
    y += 150 + 10
    items.append(Text(x, y, inner, 72, code, align="center"))
    y += 72 + 18
    items.append(_hr(y))
    y += 4 + 16

    items.append(_caption(x, y, inner, "CUSTOMER"))
    y += CAPTION + 8
    name, size = shrink(label_text(label.customer_first_name) or "-", inner, (72, 60, 48))
    items.append(Text(x, y, inner, size, name))
    y += 72 + 18

    items.append(_caption(x, y, inner, "ITEM"))
    y += CAPTION + 8
    for line in wrap(label_text(label.description) or "-", 44, inner, 3):
        items.append(Text(x, y, inner, 44, line))
        y += 54

    # The bottom block sits on the bottom edge; the space a RUSH band or a short description leaves
    # falls between the blocks, so the fields a packer looks for are always in the same place.
    qr = QR(0, 0, url, qr_module(url, 248, 8))
    qr_x = width - MARGIN - qr.size
    left = qr_x - x - 28
    half = (left - 20) // 2
    row_method, row_qty, row_batch = CAPTION + 8 + 56 + 22, CAPTION + 8 + 84 + 22, CAPTION + 8 + 56
    y = max(y + 8, height - MARGIN - (4 + 20 + row_method + row_qty + row_batch))
    items.append(_hr(y))
    y += 4 + 20
    # A QR code needs a quiet zone of 4 modules: keep the rule above it that far away.
    qr_y = max(y, y - 20 + 4 * qr.module)
    items.append(QR(qr_x, qr_y, url, qr.module))
    items.append(Text(qr_x - 24, qr_y + qr.size + 12, qr.size + 48, CAPTION, "Scan to open job",
                      align="center"))

    items.append(_caption(x, y, left, "METHOD"))
    text, size = shrink(label_text(label.method) or "-", left, (56, 48, 40))
    items.append(Text(x, y + CAPTION + 8, left, size, text))
    y += row_method

    items.append(_caption(x, y, half, "QTY"))
    items.append(_caption(x + half + 20, y, half, "DUE"))
    text, size = shrink(str(label.quantity), half, (84, 64, 48, 36, 28))   # a count is never cut short
    items.append(Text(x, y + CAPTION + 8, half, size, text))
    text, size = shrink(due_text(label.due), half, (56, 48, 40))
    items.append(Text(x + half + 20, y + CAPTION + 8, half, size, text))
    y += row_qty

    batch = label_text(label.batch_code)
    if batch:
        items.append(_caption(x, y, left, "BATCH"))
        text, size = shrink(batch, left, (56, 48, 40))
        items.append(Text(x, y + CAPTION + 8, left, size, text))
    return FixedLayout(width, height, tuple(items))


def packing_slip_4x6(slip: PackingSlip) -> FixedLayout:
    width, height = LABEL_4X6
    inner = width - 2 * MARGIN
    x = MARGIN
    code = clean_code(slip.order_code)
    url = safe_url(slip.tracking_url)
    items: list = []
    y = MARGIN

    text, size = shrink(label_text(slip.shop_name) or "-", inner, (52, 44, 36))
    items.append(Text(x, y, inner, size, text, align="center"))
    y += 52 + 8
    items.append(Text(x, y, inner, CAPTION, "PACKING SLIP", align="center"))
    y += CAPTION + 12
    items.append(_hr(y))
    y += 4 + 20

    module, compress = barcode_fit(code, inner, 4)
    barcode = Code128(0, y, code, module, 110, compress)
    items.append(Code128((width - barcode.width) // 2, y, code, module, 110, compress))
    y += 110 + 8
    items.append(Text(x, y, inner, 56, code, align="center"))
    y += 56 + 14

    items.append(_caption(x, y, inner, "FOR"))
    text, size = shrink(label_text(slip.customer_first_name) or "-", inner, (52, 44, 36))
    items.append(Text(x, y + CAPTION + 8, inner, size, text))
    y += CAPTION + 8 + 52 + 14
    items.append(_hr(y))
    y += 4 + 16

    qty_w, gap, method_w = 96, 18, 200
    desc_x = x + qty_w + gap
    method_x = width - MARGIN - method_w
    desc_w = method_x - gap - desc_x
    items.append(Text(x, y, qty_w, CAPTION, "QTY", align="right"))
    items.append(Text(desc_x, y, desc_w, CAPTION, "ITEM"))
    items.append(Text(method_x, y, method_w, CAPTION, "METHOD"))
    y += CAPTION + 12

    module_qr = qr_module(url, 210, 8)
    qr_size = QR(0, 0, url, module_qr).size
    footer = height - MARGIN - qr_size - 4 * module_qr - 4
    entries = list(slip.items)
    # Rows of 36-dot text; when the items do not all fit, 30-dot rows, so more of them do. A few items
    # may take two lines for their description. What still does not fit becomes "+N more items".
    row_h, pitch = 36, 48
    if len(entries) > (footer - 12 - y) // pitch:
        row_h, pitch = 30, 40
    rows = max(1, (footer - 12 - y) // pitch)
    shown = entries if len(entries) <= rows else entries[:rows - 1]
    desc_lines = 2 if 2 * len(entries) <= rows else 1
    for item in shown:
        qty, qty_size = shrink(str(item.quantity), qty_w, (row_h, 24, 18))
        items.append(Text(x, y + row_h - qty_size, qty_w, qty_size, qty, align="right"))
        items.append(Text(method_x, y, method_w, row_h,
                          ellipsize(label_text(item.method) or "-", row_h, method_w)))
        for line in wrap(label_text(item.description) or "-", row_h, desc_w, desc_lines):
            items.append(Text(desc_x, y, desc_w, row_h, line))
            y += pitch
    if len(shown) < len(entries):
        more = len(entries) - len(shown)
        items.append(Text(desc_x, y, desc_w, row_h, f"+{more} more item{'s' if more > 1 else ''}"))
    if not entries:
        items.append(Text(desc_x, y, desc_w, row_h, "-"))

    items.append(_hr(footer))
    qr_y = footer + 4 + 4 * module_qr
    items.append(QR(x, qr_y, url, module_qr))
    text_x = x + qr_size + 32
    text_w = width - MARGIN - text_x
    y = qr_y + 6
    for line in wrap(label_text(slip.caption) or "Track your order", 56, text_w, 2):
        items.append(Text(text_x, y, text_w, 56, line))
        y += 66
    for line in wrap("Scan the code with your phone camera", 30, text_w, 2):
        items.append(Text(text_x, y + 6, text_w, 30, line))
        y += 38
    return FixedLayout(width, height, tuple(items))


# ---------------------------------------------------------------------------------------------------
# Receipt layouts

RECEIPT_MAX_ITEMS = 15


def check_receipt_width(width_dots) -> int:
    if width_dots not in RECEIPT_WIDTHS:
        raise ValueError(f"receipt width must be one of {RECEIPT_WIDTHS} dots, not {width_dots!r}")
    return int(width_dots)


def _receipt_barcode(code: str, width: int) -> ReceiptBarcode:
    module, compress = barcode_fit(code, width, 4)
    return ReceiptBarcode(code, module, 80 if width < 576 else 100, compress)


def _receipt_qr(url: str, width: int) -> ReceiptQR:
    return ReceiptQR(url, qr_module(url, width - 96, 8))


def job_label_receipt(label: JobLabel, width_dots: int) -> ReceiptLayout:
    width = check_receipt_width(width_dots)
    cols = width // CHAR_W
    code = clean_code(label.job_code)
    url = safe_url(label.staff_url)
    rule = ReceiptText("-" * cols)
    items: list = []
    if label.rush:
        items.append(ReceiptText(" RUSH ", size=2, bold=True, align="center", invert=True))
        items.append(ReceiptFeed(1))
    items.append(_receipt_barcode(code, width))
    items.append(ReceiptText(code, size=2, bold=True, align="center"))
    items.append(ReceiptFeed(1))
    items.append(ReceiptText(cut_columns(receipt_text(label.customer_first_name) or "-", cols // 2),
                             size=2, bold=True))
    for line in wrap_columns(receipt_text(label.description) or "-", cols, 4):
        items.append(ReceiptText(line))
    items.append(rule)
    for line in wrap_columns("Method: " + (receipt_text(label.method) or "-"), cols, 2, "        "):
        items.append(ReceiptText(line))
    qty = f"Qty: {label.quantity}"
    items.append(ReceiptText(qty, size=2, bold=True) if len(qty) <= cols // 2
                 else ReceiptText(cut_columns(qty, cols), bold=True))
    items.append(ReceiptText(cut_columns("Due: " + due_text(label.due), cols), bold=True))
    batch = receipt_text(label.batch_code)
    if batch:
        items.append(ReceiptText(cut_columns("Batch: " + batch, cols)))
    items.append(rule)
    items.append(ReceiptFeed(1))
    items.append(_receipt_qr(url, width))
    items.append(ReceiptFeed(1))
    items.append(ReceiptText("Scan to open job", align="center"))
    return ReceiptLayout(width, tuple(items))


def packing_slip_receipt(slip: PackingSlip, width_dots: int) -> ReceiptLayout:
    width = check_receipt_width(width_dots)
    cols = width // CHAR_W
    code = clean_code(slip.order_code)
    url = safe_url(slip.tracking_url)
    rule = ReceiptText("-" * cols)
    items: list = []
    shop = receipt_text(slip.shop_name) or "-"
    size = 2 if len(textwrap.wrap(shop, cols // 2, break_on_hyphens=False)) <= 2 else 1
    for line in wrap_columns(shop, cols // size, 2):
        items.append(ReceiptText(line, size=size, bold=True, align="center"))
    items.append(ReceiptText("PACKING SLIP", align="center"))
    items.append(rule)
    items.append(_receipt_barcode(code, width))
    items.append(ReceiptText(code, size=2, bold=True, align="center"))
    items.append(ReceiptFeed(1))
    items.append(ReceiptText(cut_columns("For: " + (receipt_text(slip.customer_first_name) or "-"), cols),
                             bold=True))
    items.append(rule)
    entries = list(slip.items)
    shown = entries if len(entries) <= RECEIPT_MAX_ITEMS else entries[:RECEIPT_MAX_ITEMS - 1]
    indent = " " * 7
    desc_lines = 2 if len(entries) <= 6 else 1      # many items: one line each, the slip stays short
    for item in shown:
        lead = f"{item.quantity:>4} x "
        lines = wrap_columns(lead + (receipt_text(item.description) or "-"), cols, desc_lines, indent)
        lines += wrap_columns(indent + (receipt_text(item.method) or "-"), cols, 1)
        items.extend(ReceiptText(line) for line in lines)
    if len(shown) < len(entries):
        more = len(entries) - len(shown)
        items.append(ReceiptText(f"{indent}+{more} more item{'s' if more > 1 else ''}", bold=True))
    items.append(rule)
    items.append(ReceiptFeed(1))
    items.append(_receipt_qr(url, width))
    items.append(ReceiptFeed(1))
    for line in wrap_columns(receipt_text(slip.caption) or "Track your order", cols // 2, 2):
        items.append(ReceiptText(line, size=2, bold=True, align="center"))
    return ReceiptLayout(width, tuple(items))


def layout_4x6(label) -> FixedLayout:
    if isinstance(label, JobLabel):
        return job_label_4x6(label)
    if isinstance(label, PackingSlip):
        return packing_slip_4x6(label)
    raise TypeError(f"no 4x6 layout for {type(label).__name__}")


def layout_receipt(label, width_dots: int) -> ReceiptLayout:
    if isinstance(label, JobLabel):
        return job_label_receipt(label, width_dots)
    if isinstance(label, PackingSlip):
        return packing_slip_receipt(label, width_dots)
    raise TypeError(f"no receipt layout for {type(label).__name__}")


__all__ = [
    "DPI", "LABEL_4X6", "RECEIPT_WIDTHS", "CHAR_W", "CHAR_H", "Text", "Code128", "QR", "Box",
    "FixedLayout", "ReceiptText", "ReceiptBarcode", "ReceiptQR", "ReceiptFeed", "ReceiptLayout",
    "job_label_4x6", "packing_slip_4x6", "job_label_receipt", "packing_slip_receipt", "layout_4x6",
    "layout_receipt",
]
