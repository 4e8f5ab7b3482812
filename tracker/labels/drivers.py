"""Printer drivers: send already-rendered label bytes to a printer. Each raises PrinterError with a short
reason a shop owner can act on ("connection refused at 192.168.1.50:9100"). No database here."""
from __future__ import annotations

import datetime as dt
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Printer

DEFAULT_TIMEOUT = 5.0
EXTENSIONS = {"zpl": "zpl", "escpos": "bin", "pdf": "pdf", "png": "png"}


class PrinterError(Exception):
    pass


def payload_format(printer: Printer) -> str:
    """What a printer takes: zpl for ZPL label printers, escpos for receipt printers, and for the file
    printer whatever it is set to imitate (zpl unless `format = "escpos"`)."""
    driver = printer.driver
    if driver == "zpl":
        return "zpl"
    if driver.startswith("escpos"):
        return "escpos"
    if driver == "cups":
        return "pdf"
    return printer.format


def receipt_width_dots(printer: Printer) -> int:
    """58 mm paper prints 384 dots across, 80 mm 576 (203 dpi heads)."""
    return 384 if int(printer.width_mm or 80) == 58 else 576


def send(printer: Printer, payload: bytes, *, name: str, label_name: str, instance_path: Path | str,
         fmt: str | None = None) -> str:
    """Sends one label; returns where it went. `name` is the printer's name in config.toml."""
    driver = printer.driver
    timeout = float(printer.timeout or DEFAULT_TIMEOUT)
    if driver == "file":
        folder = Path(printer.path or Path(instance_path) / "labels")
        folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", label_name)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
        path = folder / f"{stamp}-{name}-{safe}.{EXTENSIONS.get(fmt or payload_format(printer), 'bin')}"
        path.write_bytes(payload)
        return str(path)
    if driver in ("zpl", "escpos-network"):
        # Port 9100 "raw" printing: open, write everything, close. Both ZPL and ESC/POS printers take it.
        host, port = printer.host, int(printer.port)
        if driver == "escpos-network":
            return _escpos(_escpos_network(host, port, timeout), payload, f"{host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                sock.sendall(payload)
                sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise PrinterError(f"{_reason(exc)} at {host}:{port}") from None
        return f"{host}:{port}"
    if driver == "escpos-usb":
        from escpos.printer import Usb

        vendor, product = int(str(printer.vendor_id), 0), int(str(printer.product_id), 0)
        return _escpos(Usb(idVendor=vendor, idProduct=product, timeout=int(timeout * 1000)), payload,
                       f"USB {vendor:04x}:{product:04x}")
    if driver == "escpos-file":
        from escpos.printer import File

        return _escpos(File(devfile=printer.device), payload, printer.device)
    if driver == "cups":
        return _cups(printer.queue, payload, fmt or "pdf", timeout)
    raise PrinterError(f"unknown printer driver {driver!r}")


def _escpos_network(host, port, timeout):
    from escpos.printer import Network

    return Network(host=host, port=port, timeout=timeout)


def _escpos(device, payload: bytes, where: str) -> str:
    """Through python-escpos: its device classes own the connection (socket, USB, device file)."""
    try:
        device.open()
        device._raw(payload)
    except Exception as exc:  # python-escpos raises its own errors, OSError or usb.core errors
        raise PrinterError(f"{_reason(exc)} ({where})") from None
    finally:
        try:
            device.close()
        except Exception:
            pass
    return where


def _cups(queue: str, payload: bytes, fmt: str, timeout: float) -> str:
    lp = shutil.which("lp")
    if lp is None:
        raise PrinterError("CUPS is not installed here (no lp command)")
    with tempfile.NamedTemporaryFile(suffix=f".{EXTENSIONS.get(fmt, 'bin')}") as fh:
        fh.write(payload)
        fh.flush()
        try:
            done = subprocess.run([lp, "-d", queue, fh.name], capture_output=True, text=True, timeout=timeout * 4)
        except subprocess.TimeoutExpired:
            raise PrinterError(f"CUPS did not answer for queue {queue}") from None
    if done.returncode != 0:
        raise PrinterError(f"CUPS refused the job: {(done.stderr or done.stdout).strip()[:200]}")
    return f"CUPS {queue}"


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (printer off or wrong port)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "no answer (printer off, asleep or wrong address)"
    return (text[-1] if text else exc.__class__.__name__)[:200]
