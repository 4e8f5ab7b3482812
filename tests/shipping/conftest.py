"""A shop that buys labels: a fake EasyPost or Shippo (real HTTP on 127.0.0.1), a fake ZPL printer (a real
TCP listener), package presets and a ship-from address."""
from __future__ import annotations

import pytest

from tests.conftest import Api, api_token, build_app, closing
from tests.factories import MANAGER, make_order
from tests.integrations import fakes
from tests.printing.fake_printer import FakePrinter
from tracker.extensions import db
from tracker.services.orders import move_order

FROM = {"name": "Test Print Co", "street1": "100 Press Way", "city": "Boise", "state": "ID", "zip": "83702",
        "country": "US", "phone": "208 555 0199"}
PACKAGES = [{"name": "Poly mailer", "weight_oz": 10, "length_in": 12, "width_in": 10, "height_in": 1},
            {"name": "Box M", "weight_oz": 40, "length_in": 14, "width_in": 10, "height_in": 6}]


@pytest.fixture
def printer():
    p = FakePrinter().start()
    yield p
    p.stop()


@pytest.fixture
def shop(tmp_path, printer):
    """shop(provider, **shipping) -> (app, fake server, Api). Stations: ship-1 buys labels. `config` adds
    sections to config.toml (a marketplace, say); `app_config` sets Flask settings."""
    made = []

    def start(provider: str = "easypost", provider_extra: dict | None = None, config: dict | None = None,
              app_config: dict | None = None, **shipping):
        server, provider_config, _, _ = fakes.BUILDERS[provider]()
        server.start()
        provider_config.update(provider_extra or {})
        stations = [{"key": "pack-1", "name": "Packing", "moves_to": "packaging"},
                    {"key": "ship-1", "name": "Ship-out", "moves_to": "labeled", "printer": "label",
                     "buy_labels": True, "package": "Poly mailer"}]
        app = build_app(tmp_path, config={
            "providers": {provider: provider_config}, "packages": PACKAGES, "stations": stations,
            "printers": {"label": {"driver": "zpl", "host": "127.0.0.1", "port": printer.port, "timeout": 2}},
            "shipping": {"from": FROM, "default_package": "Poly mailer", **shipping}, **(config or {})},
            **(app_config or {}))
        made.append((app, server))
        return app, server, Api(app.test_client(), api_token(app))

    yield start
    for app, server in made:
        server.stop()
        list(closing(app))


ADDRESS = dict(ship_name="Rosa Diaz", ship_street1="12 Elm St", ship_city="Denver", ship_region="CO",
               ship_postal="80202", ship_country="US")


def packed_order(app, **overrides) -> str:
    """An order in Packaging with a full ship-to address; returns its code."""
    with app.app_context():
        order = make_order([("Tee", "dtg", 3)], **{**ADDRESS, **overrides})
        move_order(order, "qc", actor=MANAGER, source="web", note="set-up")
        move_order(order, "packaging", actor=MANAGER, source="web")
        db.session.commit()
        return order.code
