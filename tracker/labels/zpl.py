"""A FixedLayout as ZPL II for a 203 dpi Zebra-compatible printer.

Text is UTF-8 (``^CI28``) in the resident scalable font (``^A0N``), one ``^FB`` block per line so the
printer aligns it in its box. User text goes through ``^FH`` (hex escapes): ``^`` and ``~`` become
``_5E`` and ``_7E`` and can never start a command, ``_`` (the escape character) becomes ``_5F``, and a
backslash is doubled (``^FB`` reads ``\\&`` as a line break). Code128 is the printer's own ``^BC``,
started in code set B (``>:``); QR is ``^BQ`` model 2, error level M, byte mode, like the preview
(placed ``QR_SINK`` dots higher than the layout says, which the firmware adds back).
"""
from __future__ import annotations

from .layouts import QR, Box, Code128, FixedLayout, Text

_JUSTIFY = {"left": "L", "center": "C", "right": "R"}
QR_SINK = 10


def field_text(text: str) -> str:
    """Field data for ``^FH_^FD...^FS`` inside a ``^FB`` block."""
    out = []
    for ch in text:
        if ch in "^~_":
            out.append(f"_{ord(ch):02X}")
        elif ch == "\\":
            out.append("\\\\")
        elif ch < " " or ch == "\x7f":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def barcode_data(barcode: Code128) -> str:
    """``^BC`` field data in mode N: ``>:`` starts code set B, ``>5`` switches to C, ``>6`` back to B."""
    out = []
    current = None
    for charset, text in barcode.segments:
        if current is None:
            out.append(">:")
        elif charset != current:
            out.append(">5" if charset == "C" else ">6")
        current = charset
        out.append(text)
    return "".join(out)


def _command(item) -> str:
    if isinstance(item, Text):
        reverse = "^FR" if item.reverse else ""
        return (f"^FO{item.x},{item.y}^A0N,{item.height},{item.height}"
                f"^FB{item.width},1,0,{_JUSTIFY[item.align]},0{reverse}^FH_^FD{field_text(item.text)}^FS")
    if isinstance(item, Code128):
        return (f"^FO{item.x},{item.y}^BY{item.module}^BCN,{item.height},N,N,N"
                f"^FD{barcode_data(item)}^FS")
    if isinstance(item, QR):
        data = item.data.encode("ascii")          # safe_url made it ASCII without ^ or ~
        # Zebra firmware moves a ^FO-placed QR code down by the current ^BY bar height, which persists
        # on the printer between labels: pin it to its default (10 dots) and start that much higher.
        return (f"^BY2,3,{QR_SINK}^FO{item.x},{item.y - QR_SINK}^BQN,2,{item.module}"
                f"^FDMM,B{len(data):04d}{item.data}^FS")
    if isinstance(item, Box):
        thickness = min(item.width, item.height) if item.filled else item.thickness
        return f"^FO{item.x},{item.y}^GB{item.width},{item.height},{thickness},B,0^FS"
    raise TypeError(f"no ZPL for {type(item).__name__}")


def to_zpl(layout: FixedLayout) -> bytes:
    lines = ["^XA", "^CI28", f"^PW{layout.width}", f"^LL{layout.height}", "^LH0,0"]
    lines.extend(_command(item) for item in layout.items)
    lines.append("^XZ")
    return "\n".join(lines).encode("utf-8")
