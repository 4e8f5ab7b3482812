"""Labels: job labels and packing slips as ZPL (4x6 inch), ESC/POS (58 / 80 mm receipts) and PNG
previews. Pure rendering: no Flask, no database, no network, no printer I/O (drivers live elsewhere).

The caller copies plain values out of the database into a label, then renders it::

    from tracker.labels import JobLabel, PackingSlip, SlipItem, render_zpl, render_escpos, render_png

    label = JobLabel(job_code="A1042B", staff_url="http://127.0.0.1:5000/jobs/A1042B",
                     customer_first_name="Maria", description="Black tee, 2-colour front",
                     method="Screen print", quantity=24, due=date(2025, 3, 14), rush=True,
                     batch_code="B-17")
    render_zpl(label)                                   # -> bytes, ^XA ... ^XZ, 812 x 1218 dots
    render_escpos(label, 576)                           # -> bytes for an 80 mm printer (384: 58 mm)
    render_png(label, format="zpl")                     # -> PNG of the 4x6 label
    render_png(label, format="escpos", width_dots=384)  # -> PNG of the 58 mm receipt
    label_size("escpos", 384)                           # -> LabelSize(width=384, height=None, dpi=203)

API:

* ``content``: ``JobLabel``, ``PackingSlip``, ``SlipItem`` (frozen dataclasses of plain values).
* ``render_zpl(label) -> bytes``
* ``render_escpos(label, width_dots) -> bytes``   (width_dots: 384 or 576)
* ``render_png(label, format="zpl" | "escpos", width_dots=None) -> bytes``
* ``label_size(format, width_dots=None) -> LabelSize(width, height, dpi)``

Raises ``ValueError`` for an order or job code that is not letters, digits and '-', for a receipt
width other than 384 / 576, or for an empty URL. Free text never raises: it is cleaned and fitted.

How it is built: ``layouts`` writes each layout once, as data (positioned primitives for the 4x6
label, a top-to-bottom flow for receipts). ``zpl`` and ``escpos`` turn a layout into printer bytes,
``png`` draws the same layout, so the preview shows what prints.
"""
from .content import JobLabel, PackingSlip, SlipItem
from .layouts import DPI, LABEL_4X6, RECEIPT_WIDTHS
from .render import LabelSize, label_size, render_escpos, render_png, render_zpl

__all__ = [
    "JobLabel", "PackingSlip", "SlipItem", "render_zpl", "render_escpos", "render_png", "label_size",
    "LabelSize", "DPI", "LABEL_4X6", "RECEIPT_WIDTHS",
]
