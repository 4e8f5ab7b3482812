"""Previews: the same layouts the printers get, drawn with Pillow at the printer's resolution (one
pixel per dot, 203 dpi), so a preview shows what prints: same positions, sizes and content.

Bars and QR modules are whole dots, drawn from the same Code128 symbols and the same QR symbol (version,
error level) the printer is told to draw; only the QR's mask pattern may differ, which changes neither
its size nor what it reads. Text is drawn in the preview's fonts (see ``layouts``), which are close to
the printers' resident fonts but not identical: a line's position, height and wording are exact, its
width is close.
"""
from __future__ import annotations

import io

from PIL import Image, ImageDraw

from .layouts import (CHAR_H, CHAR_W, DPI, LINE_GAP, QR, Box, Code128, FixedLayout, ReceiptBarcode,
                      ReceiptFeed, ReceiptLayout, ReceiptQR, ReceiptText, baseline_for, fallback_font,
                      font_runs, mono_font, qr_symbol, sans_font, stroke_for, text_width)

BLACK, WHITE = 0, 255


def _bars(draw: ImageDraw.ImageDraw, x: int, y: int, modules: str, module: int, height: int) -> None:
    position = 0
    for bit, run in _runs(modules):
        if bit == "1":
            draw.rectangle([x + position * module, y, x + (position + run) * module - 1, y + height - 1],
                           fill=BLACK)
        position += run


def _runs(modules: str):
    start = 0
    for i in range(1, len(modules) + 1):
        if i == len(modules) or modules[i] != modules[start]:
            yield modules[start], i - start
            start = i


def _qr(draw: ImageDraw.ImageDraw, x: int, y: int, data: str, module: int) -> None:
    for row, line in enumerate(qr_symbol(data).matrix):
        for col, dark in enumerate(line):
            if dark:
                draw.rectangle([x + col * module, y + row * module,
                                x + (col + 1) * module - 1, y + (row + 1) * module - 1], fill=BLACK)


def _text(draw: ImageDraw.ImageDraw, item) -> None:
    stroke = stroke_for(item.height)
    width = text_width(item.text, item.height)
    if item.align == "center":
        x = item.x + (item.width - width) / 2
    elif item.align == "right":
        x = item.x + item.width - width
    else:
        x = item.x
    x += stroke
    baseline = item.y + baseline_for(item.height)
    colour = WHITE if item.reverse else BLACK
    for run, has in font_runs(item.text):
        font = sans_font(item.height) if has else fallback_font(item.height)
        draw.text((x, baseline), run, font=font, fill=colour, anchor="ls",
                  stroke_width=stroke, stroke_fill=colour)
        x += font.getlength(run)


def fixed_image(layout: FixedLayout) -> Image.Image:
    image = Image.new("L", (layout.width, layout.height), WHITE)
    draw = ImageDraw.Draw(image)
    for item in layout.items:
        if isinstance(item, Box):
            box = [item.x, item.y, item.x + item.width - 1, item.y + item.height - 1]
            if item.filled:
                draw.rectangle(box, fill=BLACK)
            else:
                draw.rectangle(box, outline=BLACK, width=item.thickness)
        elif isinstance(item, Code128):
            _bars(draw, item.x, item.y, item.modules, item.module, item.height)
        elif isinstance(item, QR):
            _qr(draw, item.x, item.y, item.data, item.module)
        else:
            _text(draw, item)
    return image


# Receipts: the printer's font A is 12 x 24 dots per character, doubled in both directions for size 2.
# A line is drawn character by character into those cells, at single size, then scaled up by whole
# dots, which is what the printer does.

RECEIPT_TOP, RECEIPT_BOTTOM = 16, 48
BARCODE_GAP = 6


def _receipt_line(text: str, bold: bool, invert: bool) -> Image.Image:
    cell = Image.new("L", (max(1, len(text)) * CHAR_W, CHAR_H), BLACK if invert else WHITE)
    draw = ImageDraw.Draw(cell)
    font = mono_font(20)
    colour = WHITE if invert else BLACK
    for i, ch in enumerate(text):
        for shift in ((0, 1) if bold else (0,)):     # emphasised: each dot printed twice, shifted
            draw.text((i * CHAR_W + CHAR_W / 2 + shift, 19), ch, font=font, fill=colour, anchor="ms")
    return cell


def _x(align: str, width: int, total: int) -> int:
    if align == "center":
        return (total - width) // 2
    if align == "right":
        return total - width
    return 0


def _receipt_height(layout: ReceiptLayout) -> int:
    height = RECEIPT_TOP + RECEIPT_BOTTOM
    for item in layout.items:
        height += _step_height(item)
    return height


def _step_height(item) -> int:
    if isinstance(item, ReceiptText):
        return CHAR_H * item.size + LINE_GAP
    if isinstance(item, ReceiptBarcode):
        return item.height + BARCODE_GAP
    if isinstance(item, ReceiptQR):
        return qr_symbol(item.data).symbol_size(border=0)[0] * item.module
    if isinstance(item, ReceiptFeed):
        return (CHAR_H + LINE_GAP) * item.lines
    raise TypeError(f"no preview for {type(item).__name__}")


def receipt_image(layout: ReceiptLayout) -> Image.Image:
    total = layout.width
    image = Image.new("L", (total, _receipt_height(layout)), WHITE)
    draw = ImageDraw.Draw(image)
    y = RECEIPT_TOP
    for item in layout.items:
        if isinstance(item, ReceiptText):
            line = _receipt_line(item.text, item.bold, item.invert)
            if item.size != 1:
                line = line.resize((line.width * item.size, line.height * item.size), Image.NEAREST)
            if item.text:
                image.paste(line, (_x(item.align, line.width, total), y))
        elif isinstance(item, ReceiptBarcode):
            width = len(item.modules) * item.module
            _bars(draw, (total - width) // 2, y, item.modules, item.module, item.height)
        elif isinstance(item, ReceiptQR):
            size = qr_symbol(item.data).symbol_size(border=0)[0] * item.module
            _qr(draw, (total - size) // 2, y, item.data, item.module)
        y += _step_height(item)
    return image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(DPI, DPI))
    return buffer.getvalue()
