"""Integration tests talk to real HTTP servers on 127.0.0.1 (tests/integrations/fakes.py); nothing else
leaves the machine. No test sleeps: time is frozen or moved with time_machine."""
from __future__ import annotations

import pytest

from tracker.integrations.oauth import TOKENS
from tracker.settings import ProviderSettings

from . import fakes


@pytest.fixture(autouse=True)
def fresh_tokens():
    TOKENS.clear()
    yield
    TOKENS.clear()


@pytest.fixture
def fake():
    """fake(name, **options) -> (server, config, known tracking number, carrier); servers stop after the test.
    config is the fake's [providers.NAME] table as the settings read it (ProviderSettings)."""
    started = []

    def start(name: str, **options):
        server, table, number, carrier = fakes.BUILDERS[name](**options)
        started.append(server.start())
        return server, ProviderSettings.read(table, f"providers.{name}", name=name), number, carrier

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server():
    """A bare fake server for the HTTP client's own tests."""
    instance = fakes.FakeServer("plain").start()
    yield instance
    instance.stop()
