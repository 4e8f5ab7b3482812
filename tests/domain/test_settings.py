"""load_settings: config.toml + environment -> Settings, or a ConfigError that names the key."""
from __future__ import annotations

import datetime as dt
import json
import os
import stat
import textwrap
from dataclasses import fields
from pathlib import Path

import pytest

from tracker.domain import providers
from tracker.settings import (Alerts, ConfigError, Housekeeping, Intake, Printer, Proofs, ProviderSettings,
                              default_database_url, load_settings, normalise_database_url)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("TRACKER_DATABASE_URL", "TRACKER_SECRET_KEY", "TRACKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def instance(tmp_path) -> Path:
    return tmp_path / "instance"


@pytest.fixture
def load(tmp_path, instance):
    def load(text: str = "", **kwargs):
        path = tmp_path / "config.toml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return load_settings(instance, path, **kwargs)
    return load


def config_error(load, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(text)
    message = str(info.value)
    assert message.startswith("config: ")
    return message


# -- good configs -------------------------------------------------------------------------------

def test_empty_file_gives_defaults(load, instance):
    s = load("")
    assert (s.shop.name, s.shop.public_url, s.shop.timezone, s.shop.order_prefix, s.shop.first_order_number) == \
        ("Print shop", "http://127.0.0.1:5000", "UTC", "A", 1001)
    assert s.lifecycle.keys[0] == "received" and s.lifecycle.keys[-1] == "delivered"
    assert s.stations == {} and s.printers == {} and s.providers == {} and s.marketplaces == {}
    assert s.intake == Intake(max_quantity=100_000, max_items=200, print_job_labels=False, label_printer=None,
                              default_method="other", method_rules=())
    assert s.database_url == default_database_url(instance) == f"sqlite:///{instance / 'tracker.db'}"


def test_shipped_config_loads(instance):
    s = load_settings(instance, ROOT / "config.toml")
    assert set(s.lifecycle.keys) >= {"received", "qc", "packaging", "labeled", "delivered"}
    for station in s.stations.values():
        assert station.moves_to in s.lifecycle
        assert station.printer is None or station.printer in s.printers


def test_full_config(load):
    s = load("""
        [shop]
        name = "Test Print Co"
        public_url = "https://shop.test/"
        timezone = "America/Denver"
        order_prefix = "PS"
        first_order_number = 5000

        [[stages]]
        key = "production"
        label = "On press"
        sla_hours = 12

        [[stages]]
        key = "curing"
        after = "production"
        sla_hours = 0.5

        [[stations]]
        key = "cure-1"
        name = "Dryer"
        moves_to = "curing"
        printer = "front"

        [[stations]]
        key = "pack-1"
        moves_to = "packaging"

        [printers.front]
        driver = "zpl"
        host = "10.0.0.5"
        port = 9100

        [printers.desk]
        driver = "escpos-file"
        device = "/dev/usb/lp0"
        width_mm = 58

        [providers.easypost]
        base_url = "http://127.0.0.1:8001"

        [marketplaces.shopify]
        shop_domain = "demo.myshopify.com"

        [notifications.email]
        smtp_host = "127.0.0.1"
        smtp_port = 2525

        [intake]
        max_quantity = 500
        max_items = 20

        [database]
        url = "sqlite:////tmp/inktrail.db"
    """)
    assert s.shop.public_url == "https://shop.test"  # trailing slash dropped
    assert str(s.shop.tz) == "America/Denver"
    assert (s.shop.order_prefix, s.shop.first_order_number) == ("PS", 5000)
    assert s.lifecycle.keys[2:5] == ["production", "curing", "qc"]
    assert s.lifecycle.label("production") == "On press" and s.lifecycle.get("curing").sla_hours == 0.5
    assert s.stations["cure-1"].moves_to == "curing" and s.stations["cure-1"].printer == "front"
    assert s.stations["pack-1"].name == "pack-1" and s.stations["pack-1"].printer is None
    assert s.printers["front"] == Printer(driver="zpl", host="10.0.0.5", port=9100)
    assert s.printers["desk"].driver == "escpos-file"
    assert s.providers["easypost"].base_url == "http://127.0.0.1:8001"
    assert s.notifications.email.smtp_port == 2525
    assert s.intake == Intake(max_quantity=500, max_items=20, print_job_labels=False, label_printer=None,
                              default_method="other", method_rules=())
    assert s.printers["desk"].width_mm == 58
    assert s.database_url == "sqlite:////tmp/inktrail.db"


def test_printer_driver_defaults_to_file(load):
    assert load('[printers.front]\n').printers["front"] == Printer(driver="file")


def test_overrides_replace_whole_sections(load):
    s = load('[shop]\nname = "From file"\ntimezone = "Europe/Madrid"\n',
             overrides={"shop": {"name": "From test"}})
    assert s.shop.name == "From test" and s.shop.timezone == "UTC"
    with pytest.raises(ConfigError, match="config: bogus: unknown section"):
        load("", overrides={"bogus": {}})


# -- bad configs: every message names the key ---------------------------------------------------

BAD = [
    pytest.param('[[stations]]\nkey = "s"\nmoves_to = "shipping"\n',
                 "config: stations[0].moves_to: 'shipping' is not a stage people move", id="station-unknown-stage"),
    pytest.param('[[stations]]\nkey = "s"\nmoves_to = "in_transit"\n',
                 "config: stations[0].moves_to: 'in_transit' is not a stage people move", id="station-carrier-stage"),
    pytest.param('[[stations]]\nkey = "a"\nmoves_to = "qc"\n[[stations]]\nkey = "b"\n',
                 "config: stations[1].moves_to: is required", id="station-no-moves-to"),
    pytest.param('[[stations]]\nmoves_to = "qc"\n', "config: stations[0].key: is required", id="station-no-key"),
    pytest.param('[[stations]]\nkey = "QC 1"\nmoves_to = "qc"\n', "config: stations[0].key: 'QC 1' is not valid",
                 id="station-bad-key"),
    pytest.param('[[stations]]\nkey = "qc-1\\n"\nmoves_to = "qc"\n', "config: stations[0].key:",
                 id="station-key-trailing-newline"),
    pytest.param('[[stations]]\nkey = "qc-1"\nmoves_to = "qc"\n[[stations]]\nkey = "qc-1"\nmoves_to = "qc"\n',
                 "config: stations[1].key: station 'qc-1' is listed twice", id="duplicate-station"),
    pytest.param('[[stations]]\nkey = "s"\nmoves_to = "qc"\nprinter = "back"\n',
                 "config: stations[0].printer: no printer named 'back' in [printers]", id="station-no-printer"),
    pytest.param('[[stations]]\nkey = "s"\nmoves_to = "qc"\ncolour = "red"\n',
                 "config: stations[0].colour: unknown key", id="station-unknown-key"),
    pytest.param('stations = "qc"\n', "config: stations: must be a list", id="stations-not-list"),
    pytest.param('[shop]\ntimezone = "Mars/Olympus"\n',
                 "config: shop.timezone: 'Mars/Olympus' is not a time zone name", id="bad-timezone"),
    pytest.param('[shop]\ntimezone = "America"\n', "config: shop.timezone: 'America' is not a time zone name",
                 id="timezone-directory"),
    pytest.param('[shop]\ntimezone = "../../etc/passwd"\n', "config: shop.timezone:", id="timezone-path"),
    pytest.param('[shop]\ntimezone = ""\n', "config: shop.timezone: must be a non-empty string", id="timezone-empty"),
    pytest.param('[shop]\ntimezone = 7\n', "config: shop.timezone: must be a non-empty string", id="timezone-int"),
    pytest.param('[shop]\ncolour = "red"\n',
                 "config: shop.colour: unknown key (allowed: brand_color, first_order_number, logo_url, name, "
                 "order_prefix, public_url, support_email, support_phone, support_url, timezone)", id="shop-unknown-key"),
    pytest.param('[shop]\npublic_url = "shop.test"\n',
                 "config: shop.public_url: 'shop.test' must start with http:// or https://", id="public-url"),
    pytest.param('[shop]\norder_prefix = "a"\n', "config: shop.order_prefix: 'a' is not valid", id="prefix-lower"),
    pytest.param('[shop]\norder_prefix = "ABCD"\n', "config: shop.order_prefix:", id="prefix-long"),
    pytest.param('[shop]\norder_prefix = "A\\n"\n', "config: shop.order_prefix:", id="prefix-newline"),
    pytest.param('[shop]\nfirst_order_number = 0\n', "config: shop.first_order_number: must be between 1 and",
                 id="first-number-zero"),
    pytest.param('[shop]\nfirst_order_number = "1001"\n', "config: shop.first_order_number: must be a whole number",
                 id="first-number-text"),
    pytest.param('[shop]\nfirst_order_number = 10.5\n', "config: shop.first_order_number: must be a whole number",
                 id="first-number-float"),
    pytest.param('shop = "x"\n', "config: shop: must be a table", id="shop-not-table"),
    pytest.param('[colours]\nprimary = "red"\n', "config: colours: unknown section (known: alerts, backup, calendar, database,",
                 id="unknown-section"),
    pytest.param('debug = true\n', "config: debug: unknown section", id="unknown-top-level-key"),
    pytest.param('[printers.front]\ndriver = "laser"\n',
                 "config: printers.front.driver: 'laser' is not one of zpl, escpos-network", id="printer-driver"),
    pytest.param('[printers.front]\ndriver = "zpl"\n', "config: printers.front.host: is required",
                 id="zpl-no-host"),
    pytest.param('[printers.front]\ndriver = "escpos-network"\nhost = "p"\nport = 70000\n',
                 "config: printers.front.port: must be between 1 and 65535", id="printer-port"),
    pytest.param('[printers]\nfront = "zpl"\n', "config: printers.front: must be a table", id="printer-not-table"),
    pytest.param('[[stages]]\nkey = "curing"\n',
                 "config: stages: stage 'curing' is new, so it needs after", id="stage-no-after"),
    pytest.param('[[stages]]\nkey = "curing"\nafter = "qc"\n',
                 "config: stages: stage 'curing': added stages are production steps and must come before qc "
                 "(after = 'qc' is too late)", id="stage-after-qc"),
    pytest.param('[[stages]]\nkey = "curing"\nafter = "labeled"\n', "is too late", id="stage-after-labeled"),
    pytest.param('[[stages]]\nkey = "curing"\nafter = "press"\n',
                 "config: stages: stage 'curing': after = 'press' is not a stage key", id="stage-after-unknown"),
    pytest.param('[[stages]]\nkey = "qc"\nafter = "production"\n',
                 "only new stages take 'after'", id="default-stage-after"),
    pytest.param('[[stages]]\nkey = "cancelled"\nafter = "production"\n',
                 "config: stages: stage 'cancelled': the name is reserved", id="stage-cancelled"),
    pytest.param('[[stages]]\nkey = "qc"\n[[stages]]\nkey = "qc"\n',
                 "config: stages[1].key: stage 'qc' is listed twice", id="duplicate-stage"),
    pytest.param('[[stages]]\nkey = "Curing"\nafter = "production"\n', "config: stages[0].key: 'Curing' is not valid",
                 id="stage-key-case"),
    pytest.param('[[stages]]\nlabel = "X"\n', "config: stages[0].key: is required", id="stage-no-key"),
    pytest.param('[[stages]]\nkey = "qc"\ncolour = "red"\n', "config: stages[0].colour: unknown key",
                 id="stage-unknown-key"),
    pytest.param('[[stages]]\nkey = "qc"\nlabel = ""\n', "config: stages[0].label: must be a non-empty string",
                 id="stage-empty-label"),
    pytest.param('[[stages]]\nkey = "qc"\nsla_hours = -1\n', "config: stages[0].sla_hours: must be between 0.1 and",
                 id="sla-negative"),
    pytest.param('[[stages]]\nkey = "qc"\nsla_hours = "8"\n', "config: stages[0].sla_hours: must be a number",
                 id="sla-text"),
    pytest.param('[[stages]]\nkey = "qc"\nsla_hours = true\n', "config: stages[0].sla_hours: must be a number",
                 id="sla-bool"),
    pytest.param('[[stages]]\nkey = "qc"\nsla_hours = nan\n', "config: stages[0].sla_hours: must be a number",
                 id="sla-nan"),
    pytest.param('[[stages]]\nkey = "qc"\nsla_hours = inf\n', "config: stages[0].sla_hours:", id="sla-inf"),
    pytest.param('stages = {key = "qc"}\n', "config: stages: must be a list", id="stages-not-list"),
    pytest.param('[providers.dhlx]\napi_key = "k"\n', "config: providers.dhlx: unknown provider (known: easypost,",
                 id="unknown-provider"),
    pytest.param('[providers.easypost]\nbase_url = "ftp://x"\n',
                 "config: providers.easypost.base_url: 'ftp://x' must start with http:// or https://",
                 id="provider-base-url"),
    pytest.param('[providers.fedex]\nclient_id = "id"\nwebhook_secret = "s"\n',
                 "config: providers.fedex.webhook_secret: unknown key (allowed: base_url, client_id, client_secret)",
                 id="provider-key-it-does-not-read"),
    pytest.param('[providers.easypost]\napi_key = 12345\n',
                 "config: providers.easypost.api_key: must be text, got 12345",
                 id="provider-key-not-text"),
    pytest.param('[providers.shippo]\nrequire_signature = "yes"\n',
                 "config: providers.shippo.require_signature: must be true or false", id="provider-flag"),
    pytest.param('[providers.easypost]\ntimeout = 0\n',
                 "config: providers.easypost.timeout: must be between 0.5 and 120",
                 id="provider-timeout"),
    pytest.param('[providers.ups]\nwebhook_url = "shop.example/webhooks/ups"\n',
                 "config: providers.ups.webhook_url: 'shop.example/webhooks/ups' must start with http:// or https://",
                 id="provider-webhook-url"),
    pytest.param('[marketplaces.ebay]\n', "config: marketplaces.ebay: unknown marketplace", id="unknown-marketplace"),
    pytest.param('[marketplaces.shopify]\nbase_url = 5\n', "config: marketplaces.shopify.base_url:",
                 id="marketplace-base-url"),
    pytest.param('[notifications.email]\nsmtp_port = 0\n', "config: notifications.email.smtp_port: must be between",
                 id="smtp-port"),
    pytest.param('[intake]\nmax_items = 0\n', "config: intake.max_items: must be between 1 and 10000",
                 id="intake-max-items"),
    pytest.param('[intake]\nmax_quantity = 1.5\n', "config: intake.max_quantity: must be a whole number",
                 id="intake-max-quantity"),
    pytest.param('[intake]\nmax_orders = 5\n', "config: intake.max_orders: unknown key", id="intake-unknown-key"),
    pytest.param('[database]\nurl = 5\n', "config: database.url: must be a non-empty string", id="database-url-int"),
    pytest.param('[database]\npool = 5\n', "config: database.pool: unknown key", id="database-unknown-key"),
    pytest.param('[shop]\nname = "env:1BAD"\n',
                 "config: shop.name: 'env:1BAD': after env: comes an environment variable name", id="env-bad-name"),
    pytest.param('[[stations]]\nkey = "s"\nmoves_to = "qc"\nname = "env:"\n', "config: stations[0].name:",
                 id="env-empty-name"),
    pytest.param('[shop\nname = "x"\n', "is not valid TOML", id="invalid-toml"),
    pytest.param('[shop]\nname = "x"\nname = "y"\n', "is not valid TOML", id="toml-duplicate-key"),
]


@pytest.mark.parametrize("text,phrase", BAD)
def test_bad_config_names_the_key(load, text, phrase):
    assert phrase in config_error(load, text)


def test_invalid_toml_names_the_file(load, tmp_path):
    assert str(tmp_path / "config.toml") in config_error(load, "[shop\n")


def test_missing_config_file(instance, tmp_path):
    with pytest.raises(ConfigError, match="config: cannot read"):
        load_settings(instance, tmp_path / "nope.toml")


def test_tracker_config_names_the_file(instance, tmp_path, monkeypatch):
    path = tmp_path / "shop.toml"
    path.write_text('[shop]\nname = "Env Shop"\n')
    monkeypatch.setenv("TRACKER_CONFIG", str(path))
    s = load_settings(instance)
    assert s.shop.name == "Env Shop" and s.config_path == path


def test_tracker_config_that_does_not_exist(instance, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKER_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="TRACKER_CONFIG names .*missing.toml, which does not exist"):
        load_settings(instance)


# -- [calendar]: the shop's opening hours --------------------------------------------------------

def test_no_calendar_means_wall_clock_slas_and_weekday_estimates(load):
    import datetime as dt

    from tracker.domain.calendar import BusinessCalendar

    s = load('[shop]\ntimezone = "America/Denver"\n')
    assert s.calendar is None
    assert s.sla_calendar == BusinessCalendar.always_open(s.shop.tz)
    assert s.work_calendar == BusinessCalendar.weekdays(s.shop.tz)
    assert s.sla_calendar.tz == s.shop.tz and not s.work_calendar.is_open_day(dt.date(2026, 3, 7))


def test_empty_calendar_table_is_monday_to_friday_eight_to_five(load):
    import datetime as dt

    s = load('[shop]\ntimezone = "America/Denver"\n[calendar]\n')
    cal = s.calendar
    assert str(cal.tz) == "America/Denver" and cal.holidays == frozenset()
    assert dict(cal.hours) == {d: (dt.time(8), dt.time(17)) for d in range(5)}
    assert s.sla_calendar is cal and s.work_calendar is cal


def test_full_calendar(load):
    import datetime as dt

    s = load("""
        [shop]
        timezone = "America/Denver"

        [calendar]
        open_days = ["mon", "Tue", "wednesday", "thu"]
        opens = "07:30"
        closes = "24:00"
        holidays = ["2026-12-25", 2027-01-01]

        [calendar.hours]
        fri = "08:00-12:00"
        sat = "09:00-13:00"
    """)
    cal = s.calendar
    assert dict(cal.hours) == {**{d: (dt.time(7, 30), dt.time.max) for d in range(4)},
                               4: (dt.time(8), dt.time(12)), 5: (dt.time(9), dt.time(13))}
    assert cal.holidays == {dt.date(2026, 12, 25), dt.date(2027, 1, 1)}
    assert not cal.is_open_day(dt.date(2026, 12, 25)) and cal.is_open_day(dt.date(2026, 12, 26))  # a Saturday


def test_a_day_in_calendar_hours_is_open_even_with_no_open_days(load):
    import datetime as dt

    s = load('[calendar]\nopen_days = []\n[calendar.hours]\nsat = "09:00-13:00"\n')
    assert dict(s.calendar.hours) == {5: (dt.time(9), dt.time(13))}


def test_the_commented_calendar_example_in_config_toml_loads(load):
    lines = (ROOT / "config.toml").read_text(encoding="utf-8").splitlines()
    start = lines.index("# [calendar]")
    example = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        example.append(line[2:])
    cal = load("\n".join(example)).calendar
    assert cal is not None and len(cal.hours) == 6 and len(cal.holidays) == 2


BAD_CALENDARS = [
    pytest.param('[calendar]\nopens = "17:00"\ncloses = "08:00"\n',
                 "config: calendar.closes: must be after opens (17:00-08:00)", id="closes-before-opens"),
    pytest.param('[calendar]\nopens = "24:00"\n', "config: calendar.closes: must be after opens (24:00-17:00)",
                 id="opens-at-midnight"),
    pytest.param('[calendar]\nopens = "8am"\n', "config: calendar.opens: must be a time like", id="opens-not-a-time"),
    pytest.param('[calendar]\ncloses = "24:30"\n', "config: calendar.closes: must be a time like", id="closes-24-30"),
    pytest.param('[calendar]\nholidays = ["2026-12-25", "2026-13-01"]\n',
                 "config: calendar.holidays[1]: '2026-13-01' is not a date (YYYY-MM-DD)", id="holiday-month-13"),
    pytest.param('[calendar]\nholidays = ["Dec 25"]\n', "config: calendar.holidays[0]: 'Dec 25' is not a date",
                 id="holiday-words"),
    pytest.param('[calendar]\nholidays = [2026-12-25T09:00:00]\n', "config: calendar.holidays[0]:",
                 id="holiday-with-time"),
    pytest.param('[calendar]\nholidays = "2026-12-25"\n', "config: calendar.holidays: must be a list of dates",
                 id="holidays-not-list"),
    pytest.param('[calendar]\nopen_days = ["mon", "funday"]\n',
                 "config: calendar.open_days[1]: 'funday' is not a day (one of: mon, tue,", id="unknown-day"),
    pytest.param('[calendar]\nopen_days = "mon-fri"\n', "config: calendar.open_days: must be a list of days",
                 id="open-days-not-list"),
    pytest.param('[calendar]\nopen_days = []\n', "config: calendar.open_days: the shop must be open on at least",
                 id="no-open-day"),
    pytest.param('[calendar.hours]\nsaturday-ish = "09:00-13:00"\n',
                 "config: calendar.hours.saturday-ish: 'saturday-ish' is not a day", id="hours-unknown-day"),
    pytest.param('[calendar.hours]\nsat = "09:00"\n',
                 "config: calendar.hours.sat: must be opening hours like \"09:00-13:00\"", id="hours-no-range"),
    pytest.param('[calendar.hours]\nsat = "9am-1pm"\n', "config: calendar.hours.sat: must be a time like",
                 id="hours-not-times"),
    pytest.param('[calendar.hours]\nsat = "13:00-09:00"\n',
                 "config: calendar.hours.sat: must close after it opens (13:00-09:00)", id="hours-backwards"),
    pytest.param('[calendar]\nhours = "09:00-17:00"\n', "config: calendar.hours: must be a table",
                 id="hours-not-table"),
    pytest.param('[calendar]\ntimezone = "UTC"\n', "config: calendar.timezone: unknown key", id="calendar-unknown-key"),
    pytest.param('calendar = "weekdays"\n', "config: calendar: must be a table", id="calendar-not-table"),
]


@pytest.mark.parametrize("text,phrase", BAD_CALENDARS)
def test_bad_calendar_names_the_key(load, text, phrase):
    assert phrase in config_error(load, text)


# -- env: values ---------------------------------------------------------------------------------

ENV_CONFIG = """
    [shop]
    name = "env:SHOP_NAME"

    [[stations]]
    key = "qc-1"
    moves_to = "qc"
    name = "env:STATION_NAME"

    [providers.easypost]
    api_key = "env:EP_API_KEY"
    webhook_secret = "env:EP_WEBHOOK_SECRET"
    base_url = "https://api.easypost.com"

    [providers.aftership]
    api_key = "env:AS_API_KEY"
    api_version = "environment: not a reference"
"""


def test_env_values_resolve(load, monkeypatch):
    monkeypatch.setenv("SHOP_NAME", "Env Print Co")
    monkeypatch.setenv("STATION_NAME", "QC table")
    monkeypatch.setenv("EP_API_KEY", "ek_test_123")
    monkeypatch.setenv("EP_WEBHOOK_SECRET", "whsec")
    s = load(ENV_CONFIG)
    assert s.shop.name == "Env Print Co"
    assert s.stations["qc-1"].name == "QC table"
    assert s.providers["easypost"] == ProviderSettings(name="easypost", api_key="ek_test_123", webhook_secret="whsec",
                                                       base_url="https://api.easypost.com")
    assert s.providers["aftership"].api_version == "environment: not a reference"  # only env:NAME is looked up


def test_unset_or_empty_env_values_become_none(load, monkeypatch):
    for name in ("SHOP_NAME", "STATION_NAME", "EP_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EP_WEBHOOK_SECRET", "")
    s = load(ENV_CONFIG)
    assert s.providers["easypost"].api_key is None
    assert s.providers["easypost"].webhook_secret is None
    assert not s.providers["easypost"].switched_on
    assert s.shop.name == "Print shop"  # unset: the default
    assert s.stations["qc-1"].name == "qc-1"


# -- [providers.NAME] ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(providers.REGISTRY))
def test_each_provider_reads_the_keys_it_takes_and_names_the_others(load, name):
    known = providers.REGISTRY[name]
    values = {"require_signature": True, "timeout": 5, "base_url": "https://sandbox.example",
              "webhook_url": "https://shop.example/webhooks/ups"}
    table = {key: values.get(key, f"{key}-value") for key in known.allowed}
    s = load(f"[providers.{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items()))
    cfg = s.providers[name]
    assert {key: getattr(cfg, key) for key in table} == table
    assert cfg.switched_on
    others = sorted({f.name for f in fields(ProviderSettings)} - set(known.allowed) - {"name"})
    for key in others:
        message = config_error(load, f"[providers.{name}]\n{key} = \"x\"\n")
        assert f"providers.{name}.{key}: unknown key (allowed: {', '.join(sorted(known.allowed))})" in message


def test_a_provider_without_all_its_credentials_is_off(load):
    s = load('[providers.ups]\nclient_id = "id"\nclient_secret = "  "\n')
    assert s.providers["ups"].client_secret is None and not s.providers["ups"].switched_on


def test_a_providers_secrets_stay_out_of_its_repr(load):
    s = load('[providers.shippo]\napi_key = "shippo_live_abc"\nwebhook_secret = "tok-xyz"\nhmac_secret = "hm-123"\n'
             '[providers.ups]\nclient_id = "ups-id"\nclient_secret = "ups-cs"\n')
    shown = repr(s.providers)
    assert "shippo" in shown and "ups-id" in shown
    for secret in ("shippo_live_abc", "tok-xyz", "hm-123", "ups-cs"):
        assert secret not in shown


def test_env_value_is_validated_after_it_resolves(load, monkeypatch):
    monkeypatch.setenv("SHOP_TZ", "Nowhere/Land")
    assert "config: shop.timezone: 'Nowhere/Land'" in config_error(load, '[shop]\ntimezone = "env:SHOP_TZ"\n')


# -- the database URL ----------------------------------------------------------------------------

def test_tracker_database_url_overrides_the_file(load, monkeypatch):
    monkeypatch.setenv("TRACKER_DATABASE_URL", "sqlite:////srv/env.db")
    assert load('[database]\nurl = "sqlite:////srv/file.db"\n').database_url == "sqlite:////srv/env.db"


def test_database_url_from_the_file_and_from_env_reference(load, monkeypatch, instance):
    assert load('[database]\nurl = "sqlite:////srv/file.db"\n').database_url == "sqlite:////srv/file.db"
    monkeypatch.delenv("DB_URL", raising=False)
    assert load('[database]\nurl = "env:DB_URL"\n').database_url == default_database_url(instance)
    monkeypatch.setenv("DB_URL", "postgres://u:p@db/ink")
    assert load('[database]\nurl = "env:DB_URL"\n').database_url == "postgresql+psycopg://u:p@db/ink"


@pytest.mark.parametrize("url,expected", [
    ("postgresql://u:p@localhost:5432/ink", "postgresql+psycopg://u:p@localhost:5432/ink"),
    ("postgres://u:p@localhost/ink", "postgresql+psycopg://u:p@localhost/ink"),
    ("postgresql+psycopg://u@h/ink", "postgresql+psycopg://u@h/ink"),
    ("postgresql+psycopg2://u@h/ink", "postgresql+psycopg2://u@h/ink"),
    ("sqlite:///instance/tracker.db", "sqlite:///instance/tracker.db"),
])
def test_normalise_database_url(url, expected):
    assert normalise_database_url(url) == expected


def test_postgres_env_url_is_normalised(load, monkeypatch):
    monkeypatch.setenv("TRACKER_DATABASE_URL", "postgresql://ink:secret@127.0.0.1/ink")
    assert load("").database_url == "postgresql+psycopg://ink:secret@127.0.0.1/ink"


# -- the secret key ------------------------------------------------------------------------------

def test_secret_key_file_is_created_once_and_reused(load, instance):
    first = load("").secret_key
    path = instance / "secret_key"
    assert path.read_text() == first
    assert len(first) == 64 and int(first, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load("").secret_key == first
    assert sorted(p.name for p in instance.iterdir()) == ["secret_key"]  # no temporary files left


def test_secret_key_from_the_environment_wins(load, instance, monkeypatch):
    monkeypatch.setenv("TRACKER_SECRET_KEY", "from-env")
    assert load("").secret_key == "from-env"
    assert not (instance / "secret_key").exists()


def test_secret_key_file_written_by_hand_is_used(load, instance):
    instance.mkdir()
    (instance / "secret_key").write_text("  hand-made-key\n")
    assert load("").secret_key == "hand-made-key"


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_empty_secret_key_file_is_replaced(load, instance, content):
    # A crash between creating and writing the file used to leave it empty: an empty key for ever after.
    instance.mkdir()
    (instance / "secret_key").write_text(content)
    key = load("").secret_key
    assert len(key) == 64
    assert (instance / "secret_key").read_text() == key
    assert load("").secret_key == key


def test_secret_key_made_by_another_process_first_is_used(instance, tmp_path, monkeypatch):
    # Two workers starting together: the one that loses the race must use the winner's key.
    import tracker.settings as settings_module

    real_link = os.link

    def link_after_the_other_worker(src, dst, *args, **kwargs):
        Path(dst).write_text("the-other-workers-key")
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(settings_module.os, "link", link_after_the_other_worker)
    path = tmp_path / "c.toml"
    path.write_text("")
    assert load_settings(instance, path).secret_key == "the-other-workers-key"
    assert sorted(p.name for p in instance.iterdir()) == ["secret_key"]


# -- [alerts] and [housekeeping] ------------------------------------------------------------------

def test_alerts_and_housekeeping_defaults_and_values(load):
    s = load("")
    assert s.alerts == Alerts(emails=(), digest_time=dt.time(7, 30), end_of_day=None, rush_stall_email=True,
                              at_risk_margin_hours=0)
    assert s.housekeeping == Housekeeping(at=dt.time(3, 0), keep_days=90, label_days=30)
    s = load('[alerts]\nemails = ["owner@shop.test", " "]\ndigest_time = "6:05"\nend_of_day = "24:00"\n'
             'rush_stall_email = false\nat_risk_margin_hours = 12\n[housekeeping]\nat = "01:30"\nkeep_days = 30\n')
    assert s.alerts == Alerts(emails=("owner@shop.test",), digest_time=dt.time(6, 5), end_of_day=dt.time.max,
                              rush_stall_email=False, at_risk_margin_hours=12)
    assert s.housekeeping.at == dt.time(1, 30) and s.housekeeping.keep_days == 30


@pytest.mark.parametrize("text,phrase", [
    ('[alerts]\nemails = "owner@shop.test"', "alerts.emails: must be a list"),
    ('[alerts]\nemails = ["not-an-address"]', "alerts.emails: 'not-an-address' is not an email address"),
    ('[alerts]\ndigest_time = "7.30"', "alerts.digest_time: must be a time like"),
    ('[alerts]\ndigest_time = "25:00"', "alerts.digest_time: must be a time like"),
    ('[alerts]\nend_of_day = 17', "alerts.end_of_day: must be a time like"),
    ('[alerts]\nrush_stall_email = "yes"', "alerts.rush_stall_email: must be true or false"),
    ('[alerts]\nat_risk_margin_hours = -1', "alerts.at_risk_margin_hours: must be between"),
    ('[alerts]\ndigest = "07:00"', "alerts.digest: unknown key"),
    ('[housekeeping]\nkeep_days = 1', "housekeeping.keep_days: must be between 7"),
    ('[housekeeping]\nkeep_days = 30.5', "housekeeping.keep_days: must be a whole number"),
    ('[housekeeping]\nat = "24:01"', "housekeeping.at: must be a time like"),
])
def test_bad_alerts_and_housekeeping_name_the_key(load, text, phrase):
    assert phrase in config_error(load, text)


@pytest.mark.parametrize("text,phrase", [
    ('[marketplaces.shopify]\nshopdomain = "x.myshopify.com"', "marketplaces.shopify.shopdomain: unknown key"),
    ('[marketplaces.shopify]\nnotify_customer = "no"', "marketplaces.shopify.notify_customer: must be true or false"),
    ('[marketplaces.etsy]\nshop_id = true', "marketplaces.etsy.shop_id: must be text or a number"),
    ('[marketplaces.etsy]\ncarrier_names = "dhl"', "marketplaces.etsy.carrier_names: must be a table"),
    ('[marketplaces.amazon]\ncarrier_names = { other = 5 }', "marketplaces.amazon.carrier_names: must map names to text"),
    ('[marketplaces.ebay]\nx = 1', "marketplaces.ebay: unknown marketplace"),
])
def test_bad_marketplace_keys_name_the_key(load, text, phrase):
    assert phrase in config_error(load, text)


def test_marketplace_values_may_come_from_unset_env_and_numbers_become_text(load, monkeypatch):
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    s = load('[marketplaces.etsy]\nshop_id = 31415926\naccess_token = "env:NO_SUCH_TOKEN"\n')
    assert s.marketplaces["etsy"]["shop_id"] == "31415926" and s.marketplaces["etsy"]["access_token"] is None


def test_method_rules(load):
    from tracker.domain.marketplace import MethodRule

    s = load('[intake]\ndefault_method = "dtf"\n[[method_rules]]\nmethod = "embroidery"\nsku = "*-EMB-*"\n'
             '[[method_rules]]\nmethod = "screen"\ntag = "screen"\nproduct_type = "Tee"\n')
    assert s.intake.default_method == "dtf"
    assert s.intake.method_rules == (MethodRule("embroidery", sku="*-EMB-*"),
                                     MethodRule("screen", product_type="Tee", tag="screen"))


@pytest.mark.parametrize("text,phrase", [
    ('[[method_rules]]\nmethod = "dtg"\n', "method_rules[0]: needs at least one of sku, product_type, tag or title"),
    ('[[method_rules]]\nmethod = "laser"\nsku = "A*"\n', "method_rules[0].method: 'laser' is not a method"),
    ('[[method_rules]]\nsku = "A*"\n', "method_rules[0].method: is required"),
    ('[[method_rules]]\nmethod = "dtg"\nskus = "A*"\n', "method_rules[0].skus: unknown key"),
    ('method_rules = "dtg"\n', "method_rules: must be a list of tables"),
    ('[intake]\ndefault_method = "laser"\n', "intake.default_method: 'laser' is not a method"),
])
def test_bad_method_rules_name_the_key(load, text, phrase):
    assert phrase in config_error(load, text)


# -- shipping labels (docs/SHIPPING.md) -------------------------------------------------------------

def test_shipping_defaults_to_the_provider_with_a_key_and_reads_presets(load):
    s = load("""
        [providers.shippo]
        api_key = "k"
        [shipping]
        choose = "cheapest_within_days:3"
        [shipping.from]
        name = "Shop"
        [[packages]]
        name = "Mailer"
        weight_oz = 10
        """)
    assert s.shipping.provider == "shippo" and s.shipping.rule.days == 3
    assert s.packages["Mailer"].weight_oz == 10 and s.packages["Mailer"].length_in is None
    assert load("").shipping.provider is None


@pytest.mark.parametrize("text,where", [
    ('[shipping]\nchoose = "cheap"', "shipping.choose"),
    ('[shipping]\nprovider = "ups"', "shipping.provider"),
    ('[shipping]\nprinter = "nope"', "shipping.printer"),
    ('[shipping.from]\ncountry = "USA"', "shipping.from.country"),
    ('[[packages]]\nname = "Box"', "packages[0].weight_oz"),
    ('[[packages]]\nname = "Box"\nweight_oz = 5\nlength_in = 3', "packages[0]"),
    ('[[packages]]\nname = "Box"\nweight_oz = 99999', "packages[0].weight_oz"),
    ('[shipping]\ndefault_package = "Crate"', "shipping.default_package"),
    ('[[stations]]\nkey = "pack"\nmoves_to = "packaging"\nbuy_labels = true', "stations[0].buy_labels"),
    ('[[stations]]\nkey = "ship"\nmoves_to = "labeled"\npackage = "Crate"', "stations[0].package"),
])
def test_shipping_mistakes_name_the_key(load, text, where):
    assert config_error(load, text).startswith(f"config: {where}")


def test_proofs_settings_default_and_refuse_bad_values(tmp_path):
    assert load_settings(tmp_path, overrides={}).proofs == Proofs(
        stage="preproduction", approval_moves_on=True, max_upload_mb=7, remind_after_hours=24)
    for proofs, message in (({"stage": "qc"}, "proofs.stage: must be a job stage before quality check"),
                            ({"stage": "packaging"}, "proofs.stage: must be a job stage before quality check"),
                            ({"stage": "nope"}, "proofs.stage: 'nope' is not a stage"),
                            ({"max_upload_mb": 9}, "proofs.max_upload_mb"),
                            ({"remind": 3}, "proofs.remind: unknown key")):
        with pytest.raises(ConfigError) as exc:
            load_settings(tmp_path, overrides={"proofs": proofs})
        assert message in str(exc.value)


@pytest.mark.parametrize("section", ["scanning", "tracking", "alerts", "housekeeping", "backup", "proofs",
                                     "security", "intake", "shipping", "notifications"])
def test_every_typed_section_refuses_an_unknown_key_by_name_and_cannot_be_changed_in_place(load, section):
    """One validator reads every fixed table: a key it does not know is named, with the keys it knows."""
    message = config_error(load, f"[{section}]\nspeling_mistake = 1\n")
    assert message.startswith(f"config: {section}.speling_mistake: unknown key (allowed: ")
    s = load("")
    with pytest.raises(AttributeError):  # frozen: the running app's settings are read, never edited
        setattr(getattr(s, section), "anything", 1)


def test_nested_tables_are_read_by_the_same_validator(load):
    s = load('[shipping.from]\ncity = "Boise"\ncountry = "us"\n[notifications.webhook]\n'
             'url = "https://hooks.example/in"\nsecret = "s3"\n')
    assert (s.shipping.ship_from.city, s.shipping.ship_from.country, s.shipping.ship_from.zip) == ("Boise", "us", None)
    assert s.notifications.webhook.enabled and s.notifications.webhook.timeout == 10
    assert s.notifications.sends("delivered") and not s.notifications.email.enabled
    assert config_error(load, "[shipping.from]\ncity = 5\n").startswith("config: shipping.from.city: must be")
