"""A printer's test page: proves the connection and the format, with nothing from an order on it."""
from __future__ import annotations

import datetime as dt

from typing import TYPE_CHECKING

from . import drivers

if TYPE_CHECKING:
    from ..settings import Printer


def _zpl_text(text: str) -> str:
    return text.replace("^", " ").replace("~", " ")


def test_label(printer: Printer, name: str, shop: str) -> tuple[bytes, str]:
    fmt = drivers.payload_format(printer)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if fmt == "escpos":
        from escpos.printer import Dummy

        p = Dummy()
        p.set(align="center", bold=True, double_height=True, double_width=True)
        p.text("TEST PRINT\n")
        p.set(align="center", bold=False, normal_textsize=True)
        p.text(f"{shop}\nPrinter: {name}\n{stamp}\n")
        p.barcode("{BTEST123", "CODE128", function_type="B", height=80, width=3, pos="BELOW")
        p.cut()
        return p.output, fmt
    zpl = ("^XA^CI28^PW812^LL1218"
           "^FO60,80^A0N,90,90^FDTEST PRINT^FS"
           f"^FO60,220^A0N,50,50^FD{_zpl_text(shop)}^FS"
           f"^FO60,300^A0N,40,40^FDPrinter: {_zpl_text(name)}^FS"
           f"^FO60,360^A0N,40,40^FD{stamp}^FS"
           "^FO60,460^BY4^BCN,160,Y,N,N^FDTEST123^FS"
           "^FO40,40^GB732,1138,6^FS^XZ")
    return zpl.encode("utf-8"), "zpl"
