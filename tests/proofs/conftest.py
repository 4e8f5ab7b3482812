"""Proof tests: an app whose customer mail goes to a real SMTP server on loopback."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import build_app, closing
from tests.notifications.test_notifications import Smtp

T0 = dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.timezone.utc)  # a Monday, 09:00 in Denver
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 10 + b"%%EOF\n"


@pytest.fixture
def smtp():
    server = Smtp().start()
    yield server
    server.stop()


def proof_app(tmp_path, smtp=None, **proofs):
    config = {"proofs": proofs} if proofs else {}
    if smtp is not None:
        config["notifications"] = {"email": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                             "sender": "Test Print Co <orders@shop.test>"},
                                   "kinds": {"order_received": False}}
    return build_app(tmp_path, config=config)


@pytest.fixture
def app(tmp_path, smtp):
    yield from closing(proof_app(tmp_path, smtp))
