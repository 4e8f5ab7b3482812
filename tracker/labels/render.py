"""The four calls the rest of the app uses: ZPL, ESC/POS, PNG preview, and a layout's size."""
from __future__ import annotations

from typing import NamedTuple

from . import escpos, png, zpl
from .content import JobLabel, PackingSlip
from .layouts import DPI, LABEL_4X6, check_receipt_width, layout_4x6, layout_receipt

FORMATS = ("zpl", "escpos")


class LabelSize(NamedTuple):
    width: int                   # dots
    height: int | None           # dots; None for a receipt roll, whose length follows its content
    dpi: int = DPI


def render_zpl(label: JobLabel | PackingSlip) -> bytes:
    """The 4x6 inch layout as ZPL (UTF-8 bytes, ``^XA`` ... ``^XZ``)."""
    return zpl.to_zpl(layout_4x6(label))


def render_escpos(label: JobLabel | PackingSlip, width_dots: int, *, hardware_barcode: bool = True) -> bytes:
    """The receipt layout for a 384 (58 mm) or 576 (80 mm) dot wide printer, as ESC/POS bytes
    (python-escpos ``Dummy`` output: initialise, content, feed and cut). ``hardware_barcode=False``
    prints the Code128 as an image, for printers without one of their own."""
    return escpos.to_escpos(layout_receipt(label, width_dots), hardware_barcode=hardware_barcode)


def render_png(label: JobLabel | PackingSlip, format: str = "zpl", width_dots: int | None = None) -> bytes:
    """A PNG preview, one pixel per printer dot: ``format="zpl"`` the 4x6 label, ``format="escpos"``
    the receipt ``width_dots`` wide."""
    if format == "zpl":
        return png.png_bytes(png.fixed_image(layout_4x6(label)))
    if format == "escpos":
        return png.png_bytes(png.receipt_image(layout_receipt(label, width_dots)))
    raise ValueError(f"format must be one of {FORMATS}, not {format!r}")


def label_size(format: str, width_dots: int | None = None) -> LabelSize:
    """Size in dots of what ``format`` prints: (812, 1218) for the 4x6 label; (width_dots, None) for a
    receipt (58 mm: 384, 80 mm: 576)."""
    if format == "zpl":
        return LabelSize(*LABEL_4X6)
    if format == "escpos":
        return LabelSize(check_receipt_width(width_dots), None)
    raise ValueError(f"format must be one of {FORMATS}, not {format!r}")


def render_escpos_image(png_bytes: bytes, width_dots: int) -> bytes:
    """A picture (a carrier's PNG label) scaled to the paper's width, as ESC/POS bytes (python-escpos
    ``Dummy``: initialise, the image, feed and cut)."""
    import io

    from escpos.printer import Dummy
    from PIL import Image

    with Image.open(io.BytesIO(png_bytes)) as img:
        img = img.convert("L")
        if img.width > width_dots:
            img = img.resize((width_dots, max(1, round(img.height * width_dots / img.width))))
        printer = Dummy()
        printer.hw("INIT")
        printer.image(img.convert("1"))
        printer.cut()
        return printer.output
