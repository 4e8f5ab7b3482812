"""A ReceiptLayout as ESC/POS bytes, written through python-escpos's ``Dummy`` printer.

Text goes through ``printer.text``: python-escpos picks the code page (``ESC t``) for each character;
the layout has already replaced what no code page of the profile holds, and dropped control characters,
so user text cannot carry a printer command.

Code128 is the printer's own (``GS k 73``, function type B) with the ``{B`` code-set prefix the command
requires. QR is the printer's own too (``GS ( k``, ``native=True``): a few bytes the printer turns into
crisp modules, identical run to run (golden-testable) and independent of the ``qrcode`` package and
of the profile's unknown paper width, which ``native=False`` (an image) needs in order to centre.
Nearly every ESC/POS receipt printer sold since about 2012 prints ``GS ( k`` QR codes.
"""
from __future__ import annotations

from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy

from .layouts import ReceiptBarcode, ReceiptFeed, ReceiptLayout, ReceiptQR, ReceiptText, code128_modules


def barcode_data(barcode: ReceiptBarcode) -> str:
    """``GS k`` CODE128 data: ``{B`` text, ``{C`` digit pairs as byte values 0..99."""
    out = []
    for charset, text in barcode.segments:
        out.append("{" + charset)
        if charset == "B":
            out.append(text.replace("{", "{{"))
        else:
            out.append("".join(chr(int(text[i:i + 2])) for i in range(0, len(text), 2)))
    return "".join(out)


def barcode_image(barcode: ReceiptBarcode):
    """The same Code128 bars as a 1-bit image, for printers without a hardware Code128 (python-barcode's
    tables, quiet zones of 10 modules each side)."""
    from PIL import Image, ImageDraw

    modules = "0" * 10 + code128_modules(barcode.segments) + "0" * 10
    img = Image.new("1", (len(modules) * barcode.module, barcode.height), 1)
    draw = ImageDraw.Draw(img)
    for i, bit in enumerate(modules):
        if bit == "1":
            draw.rectangle([i * barcode.module, 0, (i + 1) * barcode.module - 1, barcode.height - 1], fill=0)
    return img


def to_escpos(layout: ReceiptLayout, *, hardware_barcode: bool = True) -> bytes:
    """ESC/POS bytes; ``hardware_barcode=False`` sends the barcode as an image (raster) instead of
    ``GS k``, for the few printers that have no Code128 of their own."""
    printer = Dummy()
    printer.hw("INIT")
    for item in layout.items:
        if isinstance(item, ReceiptText):
            if item.size == 2:
                printer.set(align=item.align, bold=item.bold, invert=item.invert,
                            double_width=True, double_height=True)
            else:
                printer.set(align=item.align, bold=item.bold, invert=item.invert, normal_textsize=True)
            printer.textln(item.text)
        elif isinstance(item, ReceiptBarcode) and not hardware_barcode:
            printer.set(align="center")
            printer.image(barcode_image(item), center=False)
        elif isinstance(item, ReceiptBarcode):
            printer.barcode(barcode_data(item), "CODE128", height=item.height, width=item.module,
                            pos="OFF", font="A", align_ct=True, function_type="B")
        elif isinstance(item, ReceiptQR):
            printer.set(align="center")
            printer.qr(item.data, ec=QR_ECLEVEL_M, size=item.module, native=True)
        elif isinstance(item, ReceiptFeed):
            printer.ln(item.lines)
        else:
            raise TypeError(f"no ESC/POS for {type(item).__name__}")
    printer.cut()
    return printer.output
