"""config.toml + environment -> validated Settings. A bad file stops start-up with a message that names the
key and what is wrong with it (ConfigError)."""
from __future__ import annotations

import datetime as dt
import math
import os
import re
import secrets
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .domain.calendar import BusinessCalendar
from .domain import providers
from .domain.codes import PREFIX_RE
from .domain.lifecycle import QC_STAGE, Lifecycle, build_lifecycle

KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}\Z")
PRINTER_DRIVERS = ("zpl", "escpos-network", "escpos-usb", "escpos-file", "file", "cups")
PRINTER_KEYS = {
    "zpl": {"host", "port", "timeout"},
    "escpos-network": {"host", "port", "timeout", "width_mm", "barcode"},
    "escpos-usb": {"vendor_id", "product_id", "timeout", "width_mm", "barcode"},
    "escpos-file": {"device", "width_mm", "barcode"},
    "file": {"format", "width_mm", "path"},
    "cups": {"queue", "timeout"},
}
PROVIDERS = providers.NAMES
MARKETPLACES = ("shopify", "etsy", "amazon")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


@dataclass(frozen=True)
class Station:
    key: str
    name: str
    moves_to: str
    printer: str | None = None
    buy_labels: bool = False       # at the ship-out check: scanning a packed order buys and prints its label
    package: str | None = None     # the package preset it starts with (then the last one picked there)


@dataclass(frozen=True)
class Printer:
    """[printers.NAME]: the driver and the keys that driver reads (PRINTER_KEYS); None where unset, and the
    driver's own default applies (labels/drivers.py)."""
    driver: str = "file"
    host: str | None = None            # zpl, escpos-network
    port: int = 9100
    timeout: float | None = None
    width_mm: int | None = None        # ESC/POS paper: 58 or 80
    barcode: str = "hardware"          # ESC/POS: the printer's own barcodes, or drawn as an "image"
    vendor_id: str | int | None = None  # escpos-usb
    product_id: str | int | None = None
    device: str | None = None          # escpos-file
    format: str = "zpl"                # the file printer imitates zpl or escpos
    path: str | None = None            # the file printer's folder
    queue: str | None = None           # cups


@dataclass(frozen=True)
class Shop:
    name: str = "Print shop"
    public_url: str = "http://127.0.0.1:5000"
    timezone: str = "UTC"
    order_prefix: str = "A"
    first_order_number: int = 1001
    logo_url: str | None = None
    brand_color: str | None = None
    support_email: str | None = None
    support_phone: str | None = None
    support_url: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass
class Settings:
    shop: Shop
    lifecycle: Lifecycle
    stations: dict[str, Station]
    printers: dict[str, Printer]
    providers: dict[str, ProviderSettings]
    marketplaces: dict[str, dict]
    notifications: Notifications
    intake: Intake
    scanning: Scanning
    tracking: Tracking
    alerts: Alerts
    housekeeping: Housekeeping
    database_url: str
    secret_key: str
    config_path: Path | None
    raw: dict = field(default_factory=dict, repr=False)
    # The shop's opening hours ([calendar]); None when the shop has not set one.
    calendar: Any = None
    # [security]: trusted proxies, cookies over TLS, login lockout and rate limits (tracker/security.py).
    security: Security = field(default_factory=lambda: Security.read({}, "security"))
    # [backup]: the nightly backup's folder (None: instance/backups), time and retention.
    backup: Backup = field(default_factory=lambda: Backup.read({}, "backup"))
    # [[packages]] by name (domain.postage.Package) and [shipping] (label buying).
    packages: dict[str, Any] = field(default_factory=dict)
    shipping: Shipping = field(default_factory=lambda: Shipping.read({}, "shipping"))
    # [proofs]: artwork proofs the customer approves through the tracking link (services/proofs.py).
    proofs: Proofs = field(default_factory=lambda: Proofs.read({}, "proofs"))

    @property
    def sla_calendar(self) -> BusinessCalendar:
        """What stage SLAs count: the shop's open hours, or plain wall-clock hours without a [calendar]."""
        return self.calendar or BusinessCalendar.always_open(self.shop.tz)

    @property
    def work_calendar(self) -> BusinessCalendar:
        """What estimates and "working days" count: the shop's open hours, or Monday-Friday without one."""
        return self.calendar or BusinessCalendar.weekdays(self.shop.tz)


# -- small typed readers that name the key on failure ---------------------------------------------

def _fail(where: str, what: str):
    raise ConfigError(f"config: {where}: {what}")


def _table(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(where, f"must be a table, got {type(value).__name__}")
    return value


def _only(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        _fail(f"{where}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _str(table: dict, key: str, where: str, default=None, *, required=False, pattern=None):
    if key not in table or table[key] is None:
        if required:
            _fail(f"{where}.{key}", "is required")
        return default
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        _fail(f"{where}.{key}", f"must be a non-empty string, got {value!r}")
    if pattern is not None and not pattern.fullmatch(value):
        _fail(f"{where}.{key}", f"{value!r} is not valid")
    return value


def _num(table: dict, key: str, where: str, default=None, *, minimum=0, maximum=None, integer=False):
    if key not in table:
        return default
    value = table[key]
    ok_type = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type) or not math.isfinite(value):
        # TOML has nan and inf; nan compares false with every bound, so it must be refused here.
        _fail(f"{where}.{key}", f"must be a {'whole ' if integer else ''}number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        _fail(f"{where}.{key}", f"must be {bound}, got {value!r}")
    return value


def _bool(table: dict, key: str, where: str, default=False):
    if key not in table:
        return default
    if not isinstance(table[key], bool):
        _fail(f"{where}.{key}", f"must be true or false, got {table[key]!r}")
    return table[key]


_CLOCK = re.compile(r"([01]?\d|2[0-4]):([0-5]\d)")


def _clock(table: dict, key: str, where: str, default: dt.time | None = None) -> dt.time | None:
    """A time of day written "HH:MM" (24-hour clock, "24:00" is read as the end of the day)."""
    if key not in table:
        return default
    value = table[key]
    m = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    if m is None or (m.group(1) == "24" and m.group(2) != "00"):
        _fail(f"{where}.{key}", f"must be a time like \"07:30\" (24-hour clock), got {value!r}")
    if m.group(1) == "24":
        return dt.time.max
    return dt.time(int(m.group(1)), int(m.group(2)))


def resolve_env(value, where: str = "config"):
    """Replaces every "env:NAME" string with the environment variable NAME (None when it is unset,
    which leaves that provider or feature switched off)."""
    if isinstance(value, dict):
        return {k: resolve_env(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            _fail(where, f"{value!r}: after env: comes an environment variable name")
        return os.environ.get(name) or None
    return value


# -- typed sections: one validator reads every fixed table ----------------------------------------
#
# Each section below is a frozen dataclass. A field's metadata says how its key is read (one of the small
# readers above, so every message names the key as it always has) and, where the Python name differs, which
# TOML key it is; `_Section.read` reads a table with them (unknown keys refused first), then the section's
# `_checked` adds the rules that span keys or sections. Services read attributes (settings.scanning.undo_seconds),
# never string keys.

def _text(*, pattern=None, required=False):
    return {"read": lambda t, k, w, d: _str(t, k, w, d, required=required, pattern=pattern)}


def _number(*, minimum=0, maximum=None, integer=False):
    return {"read": lambda t, k, w, d: _num(t, k, w, d, minimum=minimum, maximum=maximum, integer=integer)}


def _flag():
    return {"read": _bool}


def _time_of_day():
    return {"read": _clock}


def _reader(fn, key: str | None = None):
    """A key read by a function of its own: fn(table, key, where, default)."""
    return {"read": fn, **({"key": key} if key else {})}


def _default(f):
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


class _Section:
    """A config table read by one validator (see above)."""

    @classmethod
    def read(cls, value, where: str, **context):
        table = _table(value, where)
        readable = {f.metadata.get("key", f.name): f for f in fields(cls) if "read" in f.metadata}
        _only(table, set(readable), where)
        values = {f.name: f.metadata["read"](table, key, where, _default(f)) for key, f in readable.items()}
        return cls._checked(values, table, where, **context)

    @classmethod
    def _checked(cls, values: dict, table: dict, where: str, **context):
        return cls(**values)


def _section(cls, key: str | None = None):
    """A table inside a table (shipping.from, notifications.email)."""
    return _reader(lambda t, k, w, d: cls.read(t.get(k), f"{w}.{k}"), key)


# [scanning]

DEFAULT_QC_FAIL_REASONS = ("Misprint", "Wrong colour", "Placement off", "Stain or damage", "Wrong garment",
                           "Thread break")
_LONG_PREFIX = re.compile(r"^[A-Z]{4,10}$")


def _qc_reasons(t: dict, key: str, where: str, default):
    reasons = t.get(key, default)
    if not isinstance(reasons, (list, tuple)) or not reasons or \
            not all(isinstance(r, str) and r.strip() for r in reasons):
        _fail(f"{where}.{key}", "must be a list of one or more reasons, like [\"Misprint\", \"Stain\"]")
    return tuple(r.strip() for r in reasons)


@dataclass(frozen=True)
class Scanning(_Section):
    badge_prefix: str = field(default="BADGE", metadata=_text(pattern=_LONG_PREFIX))
    batch_prefix: str = field(default="BATCH", metadata=_text(pattern=_LONG_PREFIX))
    qc_fail_reasons: tuple[str, ...] = field(default=DEFAULT_QC_FAIL_REASONS, metadata=_reader(_qc_reasons))
    duplicate_seconds: float = field(default=5, metadata=_number(minimum=0, maximum=60))
    undo_seconds: float = field(default=60, metadata=_number(minimum=0, maximum=3600))

    @classmethod
    def _checked(cls, values, table, where, **context):
        if values["badge_prefix"] == values["batch_prefix"]:
            _fail(f"{where}.batch_prefix", "must differ from badge_prefix")
        return cls(**values)


# [tracking]

@dataclass(frozen=True)
class Tracking(_Section):
    label_no_scan_days: float = field(default=1, metadata=_number(minimum=0.1, maximum=30))
    no_movement_days: float = field(default=3, metadata=_number(minimum=0.5, maximum=60))


# [alerts]: who hears about alerts by email, and when the morning digest and end-of-day checks run.

EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _emails(t: dict, key: str, where: str, default):
    emails = t.get(key, default)
    if not isinstance(emails, (list, tuple)) or not all(isinstance(e, str) for e in emails):
        _fail(f"{where}.{key}", "must be a list of email addresses, like [\"owner@myshop.com\"]")
    emails = tuple(e.strip() for e in emails if e and e.strip())
    for e in emails:
        if not EMAIL_RE.fullmatch(e):
            _fail(f"{where}.{key}", f"{e!r} is not an email address")
    return emails


@dataclass(frozen=True)
class Alerts(_Section):
    emails: tuple[str, ...] = field(default=(), metadata=_reader(_emails))
    digest_time: dt.time = field(default=dt.time(7, 30), metadata=_time_of_day())
    end_of_day: dt.time | None = field(default=None, metadata=_time_of_day())
    rush_stall_email: bool = field(default=True, metadata=_flag())
    at_risk_margin_hours: float = field(default=0, metadata=_number(minimum=0, maximum=24 * 14))


# [housekeeping]: the nightly clean-up's time and how long finished work is kept.

@dataclass(frozen=True)
class Housekeeping(_Section):
    at: dt.time = field(default=dt.time(3, 0), metadata=_time_of_day())
    keep_days: int = field(default=90, metadata=_number(minimum=7, maximum=3650, integer=True))
    label_days: int = field(default=30, metadata=_number(minimum=1, maximum=3650, integer=True))


# [backup]: where the nightly backup goes (None: instance/backups), when, and how long it is kept.

@dataclass(frozen=True)
class Backup(_Section):
    directory: str | None = field(default=None, metadata=_text())
    at: dt.time = field(default=dt.time(2, 30), metadata=_time_of_day())
    keep_days: int = field(default=14, metadata=_number(minimum=1, maximum=3650, integer=True))


# [proofs]: the stage where a job waits for the customer's approval, whether an approval moves the job on
# at once, the upload size limit and when an unanswered proof is reminded.

PROOF_MAX_MB = 7.5  # under the web server's 8 MB wall (security.SERVER_BODY_LIMIT), with room for the form


@dataclass(frozen=True)
class Proofs(_Section):
    stage: str | None = field(default=None, metadata=_text())  # None: proofs are off (no such stage)
    approval_moves_on: bool = field(default=True, metadata=_flag())
    max_upload_mb: float = field(default=7, metadata=_number(minimum=0.1, maximum=PROOF_MAX_MB))
    remind_after_hours: float = field(default=24, metadata=_number(minimum=0, maximum=24 * 30))

    @classmethod
    def _checked(cls, values, table, where, *, lifecycle: Lifecycle | None = None, **context):
        if values["stage"] is None and (lifecycle is None or "preproduction" in lifecycle):
            values["stage"] = "preproduction"
        stage = values["stage"]
        if lifecycle is not None and stage is not None:  # None: the stages have no preproduction; proofs are off
            if stage not in lifecycle:
                _fail(f"{where}.stage", f"{stage!r} is not a stage (stages: {', '.join(lifecycle.keys)})")
            if lifecycle.get(stage).scope != "job" or stage == QC_STAGE or lifecycle.next_key(stage) is None:
                _fail(f"{where}.stage", "must be a job stage before quality check (a proof is approved before printing)")
        return cls(**values)


# [security]: how many reverse proxies stand in front (their X-Forwarded-* headers are trusted), whether
# cookies are marked Secure, the login lockout, and the rate limits per client address.

RATE_RE = re.compile(r"^\s*[0-9]+\s*(/|per)\s*([0-9]+\s*)?(second|minute|hour|day)s?\s*"
                     r"(;\s*[0-9]+\s*(/|per)\s*([0-9]+\s*)?(second|minute|hour|day)s?\s*)*\Z")


def _rate(t: dict, key: str, where: str, default: str) -> str:
    value = _str(t, key, where, default)
    if not RATE_RE.match(value):
        _fail(f"{where}.{key}", f"{value!r} is not a rate such as \"60/minute\" or \"20/minute;200/hour\"")
    return value


def _secure_cookies(t: dict, key: str, where: str, default):
    secure = t.get(key, default)
    if secure not in ("auto", True, False):
        _fail(f"{where}.{key}", "must be \"auto\" (Secure when the request came over HTTPS), true or false")
    return secure


@dataclass(frozen=True)
class Security(_Section):
    trusted_proxies: int = field(default=0, metadata=_number(minimum=0, maximum=5, integer=True))
    secure_cookies: bool | str = field(default="auto", metadata=_reader(_secure_cookies))
    lockout_after: int = field(default=10, metadata=_number(minimum=3, maximum=100, integer=True))
    lockout_minutes: int = field(default=15, metadata=_number(minimum=1, maximum=24 * 60, integer=True))
    login_rate: str = field(default="20/minute;200/hour", metadata=_reader(_rate))
    public_rate: str = field(default="60/minute", metadata=_reader(_rate))
    webhook_rate: str = field(default="1200/minute", metadata=_reader(_rate))


# [intake]: limits on an order's items and quantities, job labels at intake, and the decoration method an
# item gets ([[method_rules]], read beside it).

def _method(t: dict, key: str, where: str, default):
    from .domain.intake import METHODS

    method = _str(t, key, where, default)
    if method not in METHODS:
        _fail(f"{where}.{key}", f"{method!r} is not a method (one of {', '.join(METHODS)})")
    return method


@dataclass(frozen=True)
class Intake(_Section):
    max_quantity: int = field(default=100_000, metadata=_number(minimum=1, maximum=1_000_000, integer=True))
    max_items: int = field(default=200, metadata=_number(minimum=1, maximum=10_000, integer=True))
    print_job_labels: bool = field(default=False, metadata=_flag())
    label_printer: str | None = field(default=None, metadata=_text())
    default_method: str = field(default="other", metadata=_reader(_method))
    method_rules: tuple = ()  # from [[method_rules]]

    @classmethod
    def _checked(cls, values, table, where, *, printers: dict | None = None, method_rules=(), **context):
        printers = printers or {}
        if values["label_printer"] is not None and values["label_printer"] not in printers:
            _fail(f"{where}.label_printer", f"no printer named {values['label_printer']!r} in [printers]")
        if values["print_job_labels"] and values["label_printer"] is None and not printers:
            _fail(f"{where}.print_job_labels", "needs a printer: add [printers.NAME] or set intake.label_printer")
        return cls(**values, method_rules=tuple(method_rules))


# [shipping]: buying labels (docs/SHIPPING.md): which provider, the rule that picks a rate, the ship-from
# address, the printer for labels bought away from a station, and the default package.

SHIPPING_PROVIDERS = providers.LABEL_PROVIDERS


@dataclass(frozen=True)
class ShipFrom(_Section):
    name: str | None = field(default=None, metadata=_text())
    company: str | None = field(default=None, metadata=_text())
    street1: str | None = field(default=None, metadata=_text())
    street2: str | None = field(default=None, metadata=_text())
    city: str | None = field(default=None, metadata=_text())
    state: str | None = field(default=None, metadata=_text())
    zip: str | None = field(default=None, metadata=_text())
    country: str | None = field(default=None, metadata=_text())
    phone: str | None = field(default=None, metadata=_text())
    email: str | None = field(default=None, metadata=_text())

    @classmethod
    def _checked(cls, values, table, where, **context):
        country = values["country"]
        if country is not None and not re.fullmatch(r"[A-Za-z]{2}", country):
            _fail(f"{where}.country", f"must be a two-letter country code, like \"US\", got {country!r}")
        return cls(**values)


def _choose(t: dict, key: str, where: str, default):
    from .domain.postage import parse_rule

    try:
        return parse_rule(_str(t, key, where, default))
    except ValueError as exc:
        _fail(f"{where}.{key}", f"{exc}")


@dataclass(frozen=True)
class Shipping(_Section):
    provider: str | None = field(default=None, metadata=_text())
    # domain.postage's RateRule, read from `choose` ("cheapest" when it is not written): build a Shipping
    # with Shipping.read(), which parses it, not Shipping() by hand.
    rule: Any = field(default="cheapest", metadata=_reader(_choose, "choose"))
    ship_from: ShipFrom = field(default_factory=ShipFrom, metadata=_section(ShipFrom, "from"))
    printer: str | None = field(default=None, metadata=_text())
    verify_addresses: bool = field(default=True, metadata=_flag())
    default_package: str | None = field(default=None, metadata=_text())

    @classmethod
    def _checked(cls, values, table, where, *, printers: dict | None = None, providers: dict | None = None,
                 packages: dict | None = None, **context):
        provider = values["provider"]
        if provider is not None and provider not in SHIPPING_PROVIDERS:
            _fail(f"{where}.provider", f"{provider!r} cannot buy labels (one of: {', '.join(SHIPPING_PROVIDERS)})")
        if provider is None:  # the first label provider with a key set
            found = (p for p in SHIPPING_PROVIDERS if p in (providers or {}) and providers[p].api_key)
            values["provider"] = next(found, None)
        if values["printer"] is not None and values["printer"] not in (printers or {}):
            _fail(f"{where}.printer", f"no printer named {values['printer']!r} in [printers]")
        if values["default_package"] is not None and values["default_package"] not in (packages or {}):
            _fail(f"{where}.default_package", f"no package preset named {values['default_package']!r} in [[packages]]")
        return cls(**values)


# [notifications]: e-mail to the customer, which kinds are sent, and the shop's own signed webhook. env:
# values are resolved before (an unset variable is None).

NOTIFICATION_KINDS = ("order_received", "shipped", "out_for_delivery", "delivered", "exception", "delay",
                      "tracking_changed", "proof_posted", "proof_reminder")
_SENDER = re.compile(r"[^@\s<>]+@[^@\s<>]+|[^<>]*<[^@\s<>]+@[^@\s<>]+>")


def _sender(t: dict, key: str, where: str, default):
    sender = _str(t, key, where, default)
    if sender is not None and not _SENDER.fullmatch(sender.strip()):
        _fail(f"{where}.{key}", f"{sender!r} is not an e-mail address (like \"Shop <orders@shop.example>\")")
    return sender


def _secret_text(hint: str):
    def read(t: dict, key: str, where: str, default):
        value = t.get(key)
        if value is not None and not isinstance(value, str):
            _fail(f"{where}.{key}", f"must be a string (best \"{hint}\")")
        return value or None
    return {"read": read}


def _maybe_flag(t: dict, key: str, where: str, default):
    """true or false, or None when the key is not written (then the section decides)."""
    return _bool(t, key, where, None)


@dataclass(frozen=True)
class Email(_Section):
    """enabled is true only when smtp_host and sender are set (and enabled is not false); enabled = true
    without them is a ConfigError."""
    enabled: bool = field(default=False, metadata=_reader(_maybe_flag))
    smtp_host: str | None = field(default=None, metadata=_text())
    smtp_port: int = field(default=25, metadata=_number(minimum=1, maximum=65535, integer=True))
    sender: str | None = field(default=None, metadata=_reader(_sender))
    username: str | None = field(default=None, metadata=_text())
    password: str | None = field(default=None, metadata=_secret_text("env:SMTP_PASSWORD"))
    starttls: bool = field(default=False, metadata=_flag())
    timeout: float = field(default=20, metadata=_number(minimum=1, maximum=300))

    @classmethod
    def _checked(cls, values, table, where, **context):
        host, sender, asked = values["smtp_host"], values["sender"], values["enabled"]
        if asked and host is None:
            _fail(f"{where}.smtp_host", "is required when notifications.email.enabled is true")
        if asked and sender is None:
            _fail(f"{where}.sender", "is required to send e-mail (the From address)")
        values["enabled"] = bool((host is not None if asked is None else asked) and host and sender)
        return cls(**values)


@dataclass(frozen=True)
class Webhook(_Section):
    """enabled is true only when url and secret are set (and enabled is not false)."""
    enabled: bool = field(default=False, metadata=_reader(_maybe_flag))
    url: str | None = field(default=None, metadata=_text())
    secret: str | None = field(default=None, metadata=_secret_text("env:INKTRAIL_WEBHOOK_SECRET"))
    timeout: float = field(default=10, metadata=_number(minimum=1, maximum=60))

    @classmethod
    def _checked(cls, values, table, where, **context):
        url, asked = values["url"], values["enabled"]
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            _fail(f"{where}.url", f"{url!r} must start with http:// or https://")
        enabled = url is not None if asked is None else asked
        if enabled and asked and url is None:
            _fail(f"{where}.url", "is required when notifications.webhook.enabled is true")
        if enabled and url is not None and "secret" not in table:
            _fail(f"{where}.secret", "is required: every POST is signed with it (use \"env:NAME\")")
        values["enabled"] = bool(enabled and url and values["secret"])
        return cls(**values)


def _kinds(t: dict, key: str, where: str, default):
    where = f"{where}.{key}"
    kinds = _table(t.get(key), where)
    _only(kinds, set(NOTIFICATION_KINDS), where)
    return {k: _bool(kinds, k, where, True) for k in NOTIFICATION_KINDS}


@dataclass(frozen=True)
class Notifications(_Section):
    email: Email = field(default_factory=Email, metadata=_section(Email))
    kinds: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(NOTIFICATION_KINDS, True),
                                   metadata=_reader(_kinds))
    webhook: Webhook = field(default_factory=Webhook, metadata=_section(Webhook))

    def sends(self, kind: str) -> bool:
        return self.kinds.get(kind, True)


# -- sections --------------------------------------------------------------------------------------

def _shop(raw: dict) -> Shop:
    t = _table(raw.get("shop"), "shop")
    _only(t, {"name", "public_url", "timezone", "order_prefix", "first_order_number", "logo_url", "brand_color",
              "support_email", "support_phone", "support_url"}, "shop")
    tz = _str(t, "timezone", "shop", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a directory: IsADirectoryError
        _fail("shop.timezone", f"{tz!r} is not a time zone name (like \"America/Denver\")")
    url = _str(t, "public_url", "shop", "http://127.0.0.1:5000")
    if not re.match(r"^https?://[^\s/]+", url):
        _fail("shop.public_url", f"{url!r} must start with http:// or https://")
    return Shop(
        name=_str(t, "name", "shop", "Print shop"),
        public_url=url.rstrip("/"),
        timezone=tz,
        order_prefix=_str(t, "order_prefix", "shop", "A", pattern=PREFIX_RE),
        first_order_number=_num(t, "first_order_number", "shop", 1001, minimum=1, maximum=10**8, integer=True),
        **_shop_brand(t),
    )


def _shop_brand(t: dict) -> dict:
    """The optional brand keys shown on the customer's tracking page."""
    logo = _str(t, "logo_url", "shop")
    if logo is not None and not re.match(r"^(https?://[^\s/]+|/static/)\S*$", logo):
        _fail("shop.logo_url", f"{logo!r} must start with http://, https:// or /static/")
    color = _str(t, "brand_color", "shop")
    if color is not None and not re.fullmatch(r"#[0-9a-fA-F]{6}", color):
        _fail("shop.brand_color", f"{color!r} must be a colour like \"#1d4ed8\"")
    email = _str(t, "support_email", "shop")
    if email is not None and not EMAIL_RE.fullmatch(email):
        _fail("shop.support_email", f"{email!r} is not an email address")
    phone = _str(t, "support_phone", "shop")
    if phone is not None and not re.fullmatch(r"[0-9+()./ -]{3,40}", phone):
        _fail("shop.support_phone", f"{phone!r} must be a phone number, like \"+1 208 555 0100\"")
    url = _str(t, "support_url", "shop")
    if url is not None and not re.match(r"^https?://[^\s/]+\S*$", url):
        _fail("shop.support_url", f"{url!r} must start with http:// or https://")
    return {"logo_url": logo, "brand_color": color.lower() if color else None, "support_email": email,
            "support_phone": phone, "support_url": url}


def _stages(raw: dict) -> Lifecycle:
    rows = raw.get("stages", [])
    if not isinstance(rows, list):
        _fail("stages", "must be a list of [[stages]] tables")
    overrides = []
    seen = set()
    for i, row in enumerate(rows):
        where = f"stages[{i}]"
        row = _table(row, where)
        _only(row, {"key", "label", "sla_hours", "after"}, where)
        key = _str(row, "key", where, required=True, pattern=KEY_RE)
        if key in seen:
            _fail(f"{where}.key", f"stage {key!r} is listed twice")
        seen.add(key)
        ov = {"key": key}
        if "label" in row:
            ov["label"] = _str(row, "label", where)
        if "sla_hours" in row:
            ov["sla_hours"] = _num(row, "sla_hours", where, minimum=0.1, maximum=24 * 365)
        if "after" in row:
            ov["after"] = _str(row, "after", where)
        overrides.append(ov)
    try:
        return build_lifecycle(overrides)
    except ValueError as exc:
        raise ConfigError(f"config: stages: {exc}") from None


def _stations(raw: dict, lifecycle: Lifecycle, printers: dict, packages: dict | None = None) -> dict[str, Station]:
    rows = raw.get("stations", [])
    if not isinstance(rows, list):
        _fail("stations", "must be a list of [[stations]] tables")
    stations: dict[str, Station] = {}
    people = [s.key for s in lifecycle.people_stages()]
    for i, row in enumerate(rows):
        where = f"stations[{i}]"
        row = _table(row, where)
        _only(row, {"key", "name", "moves_to", "printer", "buy_labels", "package"}, where)
        key = _str(row, "key", where, required=True, pattern=KEY_RE)
        if key in stations:
            _fail(f"{where}.key", f"station {key!r} is listed twice")
        moves_to = _str(row, "moves_to", where, required=True)
        if moves_to not in people:
            _fail(f"{where}.moves_to", f"{moves_to!r} is not a stage people move (one of: {', '.join(people)})")
        printer = _str(row, "printer", where)
        if printer is not None and printer not in printers:
            _fail(f"{where}.printer", f"no printer named {printer!r} in [printers]")
        buy_labels = _bool(row, "buy_labels", where, False)
        if buy_labels and moves_to != "labeled":
            _fail(f"{where}.buy_labels", "labels are bought at the ship-out check: a station with "
                                         "moves_to = \"labeled\"")
        package = _str(row, "package", where)
        if package is not None and package not in (packages or {}):
            _fail(f"{where}.package", f"no package preset named {package!r} in [[packages]]")
        stations[key] = Station(key, _str(row, "name", where, key), moves_to, printer, buy_labels, package)
    return stations


def _printers(raw: dict) -> dict[str, Printer]:
    t = _table(raw.get("printers"), "printers")
    out = {}
    for name, p in t.items():
        where = f"printers.{name}"
        if not KEY_RE.match(name):
            _fail(where, "a printer's name is lower-case letters, digits, - or _")
        p = _table(p, where)
        driver = _str(p, "driver", where, "file")
        if driver not in PRINTER_DRIVERS:
            _fail(f"{where}.driver", f"{driver!r} is not one of {', '.join(PRINTER_DRIVERS)}")
        _only(p, {"driver"} | PRINTER_KEYS[driver], where)
        if driver in ("zpl", "escpos-network"):
            _str(p, "host", where, required=True)
            _num(p, "port", where, 9100, minimum=1, maximum=65535, integer=True)
        if "timeout" in p:
            _num(p, "timeout", where, minimum=0.5, maximum=120)
        if "width_mm" in p and p["width_mm"] not in (58, 80):
            _fail(f"{where}.width_mm", f"must be 58 or 80 (the paper width), got {p['width_mm']!r}")
        if driver == "escpos-usb":
            for key in ("vendor_id", "product_id"):
                value = p.get(key)
                if isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]{1,4}", value):
                    continue
                if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFF:
                    continue
                _fail(f"{where}.{key}", f"must be the USB id, like \"0x04b8\" (see lsusb), got {value!r}")
        if driver == "escpos-file":
            _str(p, "device", where, required=True)
        if p.get("barcode", "hardware") not in ("hardware", "image"):
            _fail(f"{where}.barcode", f"must be \"hardware\" or \"image\", got {p.get('barcode')!r}")
        if driver == "cups":
            _str(p, "queue", where, required=True)
        if driver == "file" and p.get("format", "zpl") not in ("zpl", "escpos"):
            _fail(f"{where}.format", f"must be \"zpl\" or \"escpos\", got {p.get('format')!r}")
        if "path" in p:
            _str(p, "path", where)
        out[name] = Printer(**{**p, "driver": driver})
    return out


def _named_tables(raw: dict, section: str, known: tuple[str, ...]) -> dict[str, dict]:
    t = _table(raw.get(section), section)
    out = {}
    for name, body in t.items():
        if name not in known:
            _fail(f"{section}.{name}", f"unknown {section[:-1]} (known: {', '.join(known)})")
        body = _table(body, f"{section}.{name}")
        _base_url(body, "base_url", f"{section}.{name}", None)
        out[name] = body
    return out


def _base_url(t: dict, key: str, where: str, default):
    base = t.get(key)
    if base is not None and (not isinstance(base, str) or not re.match(r"^https?://", base)):
        _fail(f"{where}.{key}", f"{base!r} must start with http:// or https://")
    return base


def _credential(t: dict, key: str, where: str, default):
    """A key, secret, id or address: text, or None when unset (an env: variable that is empty)."""
    value = t.get(key)
    if value is not None and not isinstance(value, str):
        _fail(f"{where}.{key}", f"must be text, got {value!r}")
    return value.strip() or None if value is not None else None


# [providers.NAME]: the parcel providers (docs/CARRIERS.md, docs/SHIPPING.md); which keys each one takes is
# in domain/providers.py (its credentials switch it on).

@dataclass(frozen=True)
class ProviderSettings(_Section):
    """One provider's table. A key that is not written, or an env: variable that is empty, is None; the
    modules in integrations/carriers and integrations/postage read these attributes. Secrets are left out
    of its repr, so a log line or a traceback that shows it shows no key."""
    name: str = ""
    api_key: str | None = field(default=None, repr=False, metadata=_reader(_credential))
    client_id: str | None = field(default=None, metadata=_reader(_credential))
    client_secret: str | None = field(default=None, repr=False, metadata=_reader(_credential))
    webhook_secret: str | None = field(default=None, repr=False, metadata=_reader(_credential))
    hmac_secret: str | None = field(default=None, repr=False, metadata=_reader(_credential))  # Shippo's HMAC key
    require_signature: bool = field(default=False, metadata=_flag())  # Shippo: refuse unsigned deliveries
    webhook_url: str | None = field(default=None, metadata=_reader(_base_url))  # UPS: our public /webhooks/ups
    api_version: str | None = field(default=None, metadata=_reader(_credential))  # AfterShip's dated version
    base_url: str | None = field(default=None, metadata=_reader(_base_url))
    timeout: float | None = field(default=None, metadata=_number(minimum=0.5, maximum=120))  # label calls

    @property
    def switched_on(self) -> bool:
        """Every credential its provider needs is set."""
        known = providers.REGISTRY.get(self.name)
        return known is not None and all(getattr(self, key) for key in known.credentials)

    @classmethod
    def read(cls, value, where: str, *, name: str):
        _only(_table(value, where), set(providers.REGISTRY[name].allowed), where)  # the keys this one takes
        return super().read(value, where, name=name)

    @classmethod
    def _checked(cls, values, table, where, *, name: str):
        return cls(name=name, **values)


def _providers(raw: dict) -> dict[str, ProviderSettings]:
    return {name: ProviderSettings.read(body, f"providers.{name}", name=name)
            for name, body in _named_tables(raw, "providers", PROVIDERS).items()}


# The keys each marketplace reads, and their kind. A value may be None (an env: variable that is unset).
MARKETPLACE_KEYS: dict[str, dict[str, type | tuple]] = {
    "shopify": {"shop_domain": str, "access_token": str, "webhook_secret": str, "base_url": str, "api_version": str,
                "notify_customer": bool, "tracking_company": str},
    "etsy": {"api_key": str, "shared_secret": str, "access_token": str, "refresh_token": str, "shop_id": (str, int),
             "base_url": str, "token_url": str, "send_bcc": bool, "carrier_names": dict},
    "amazon": {"carrier_names": dict},
}
_KIND_WORDS = {str: "text", bool: "true or false", dict: "a table", (str, int): "text or a number"}


def _marketplaces(raw: dict) -> dict[str, dict]:
    tables = _named_tables(raw, "marketplaces", MARKETPLACES)
    for name, body in tables.items():
        where = f"marketplaces.{name}"
        allowed = MARKETPLACE_KEYS[name]
        _only(body, set(allowed), where)
        for key, kind in allowed.items():
            value = body.get(key)
            if value is None:
                continue
            if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
                _fail(f"{where}.{key}", f"must be {_KIND_WORDS[kind]}, got {value!r}")
            if kind == dict and not all(isinstance(v, str) for v in value.values()):
                _fail(f"{where}.{key}", "must map names to text, like { dhl = \"dhl-express\" }")
        if isinstance(body.get("shop_id"), int):
            body["shop_id"] = str(body["shop_id"])
    return tables


def _method_rules(raw: dict) -> list:
    """[[method_rules]]: which decoration method a marketplace or CSV item gets (domain/marketplace.py)."""
    from .domain.intake import METHODS
    from .domain.marketplace import MethodRule

    rows = raw.get("method_rules", [])
    if not isinstance(rows, list):
        _fail("method_rules", "must be a list of tables: write each rule as [[method_rules]]")
    rules = []
    for i, row in enumerate(rows):
        where = f"method_rules[{i}]"
        row = _table(row, where)
        _only(row, {"method", "sku", "product_type", "tag", "title"}, where)
        method = _str(row, "method", where, required=True)
        if method not in METHODS:
            _fail(f"{where}.method", f"{method!r} is not a method (one of {', '.join(METHODS)})")
        conditions = {k: _str(row, k, where) for k in ("sku", "product_type", "tag", "title")}
        if not any(conditions.values()):
            _fail(where, "needs at least one of sku, product_type, tag or title to match on")
        rules.append(MethodRule(method=method, **conditions))
    return rules


def _packages(raw: dict) -> dict:
    """[[packages]]: the boxes and mailers the shop ships in (name, weight in ounces, sides in inches)."""
    from .domain.postage import MAX_SIDE_IN, MAX_WEIGHT_OZ, Package

    rows = raw.get("packages", [])
    if not isinstance(rows, list):
        _fail("packages", "must be a list of tables: write each preset as [[packages]]")
    out: dict = {}
    for i, row in enumerate(rows):
        where = f"packages[{i}]"
        row = _table(row, where)
        _only(row, {"name", "weight_oz", "length_in", "width_in", "height_in"}, where)
        name = _str(row, "name", where, required=True)
        if len(name) > 40:
            _fail(f"{where}.name", "must be 40 characters at most")
        if name in out:
            _fail(f"{where}.name", f"package {name!r} is listed twice")
        if "weight_oz" not in row:
            _fail(f"{where}.weight_oz", "is required (the packed weight in ounces)")
        weight = _num(row, "weight_oz", where, minimum=0.1, maximum=MAX_WEIGHT_OZ)
        sides = [_num(row, k, where, minimum=0.1, maximum=MAX_SIDE_IN) for k in ("length_in", "width_in", "height_in")]
        if any(s is not None for s in sides) and any(s is None for s in sides):
            _fail(where, "give length_in, width_in and height_in together, or none of them")
        out[name] = Package(float(weight), *[float(s) if s is not None else None for s in sides], name=name)
    return out


DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekday(name, where: str) -> int:
    """"mon" or "Monday" -> 0 ... 6."""
    key = name.strip().lower() if isinstance(name, str) else None
    for names in (DAY_NAMES, _FULL_DAY_NAMES):
        if key in names:
            return names.index(key)
    _fail(where, f"{name!r} is not a day (one of: {', '.join(DAY_NAMES)})")


def _hhmm(t: dt.time) -> str:
    return "24:00" if t == dt.time.max else t.strftime("%H:%M")


def _calendar(raw: dict, shop: Shop) -> BusinessCalendar | None:
    """[calendar]: the days and hours the shop is open, and its holidays; None without the table (SLAs are
    then wall-clock hours). [calendar.hours] gives a day its own hours ("09:00-13:00") and opens it even
    when open_days leaves it out."""
    if raw.get("calendar") is None:
        return None
    t = _table(raw["calendar"], "calendar")
    _only(t, {"open_days", "opens", "closes", "holidays", "hours"}, "calendar")
    days = t.get("open_days", list(DAY_NAMES[:5]))
    if not isinstance(days, list):
        _fail("calendar.open_days", f"must be a list of days, like [\"mon\", \"tue\"], got {days!r}")
    open_days = {_weekday(name, f"calendar.open_days[{i}]") for i, name in enumerate(days)}
    opens = _clock(t, "opens", "calendar", dt.time(8, 0))
    closes = _clock(t, "closes", "calendar", dt.time(17, 0))
    if closes <= opens:
        _fail("calendar.closes", f"must be after opens ({_hhmm(opens)}-{_hhmm(closes)})")
    hours = {day: (opens, closes) for day in open_days}

    where = "calendar.hours"
    for name, value in _table(t.get("hours"), where).items():
        day = _weekday(name, f"{where}.{name}")
        parts = value.split("-") if isinstance(value, str) else []
        if len(parts) != 2:
            _fail(f"{where}.{name}", f"must be opening hours like \"09:00-13:00\", got {value!r}")
        day_opens = _clock({name: parts[0]}, name, where)
        day_closes = _clock({name: parts[1]}, name, where)
        if day_closes <= day_opens:
            _fail(f"{where}.{name}", f"must close after it opens ({_hhmm(day_opens)}-{_hhmm(day_closes)})")
        hours[day] = (day_opens, day_closes)
    if not hours:
        _fail("calendar.open_days", "the shop must be open on at least one day")

    holidays = t.get("holidays", [])
    if not isinstance(holidays, list):
        _fail("calendar.holidays", f"must be a list of dates, like [\"2026-12-25\"], got {holidays!r}")
    return BusinessCalendar(shop.tz, hours, frozenset(_holiday(v, f"calendar.holidays[{i}]")
                                                      for i, v in enumerate(holidays)))


def _holiday(value, where: str) -> dt.date:
    # TOML has dates of its own (2026-12-25 without quotes); a date with a time of day is not a holiday.
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    _fail(where, f"{value!r} is not a date (YYYY-MM-DD)")


TOP_LEVEL = {"shop", "stages", "stations", "printers", "providers", "marketplaces", "notifications",
             "intake", "scanning", "tracking", "database", "calendar", "alerts", "housekeeping", "method_rules",
             "backup", "security", "shipping", "packages", "proofs"}


def default_database_url(instance_path: Path) -> str:
    return f"sqlite:///{instance_path / 'tracker.db'}"


def normalise_database_url(url: str) -> str:
    """postgresql:// and postgres:// mean psycopg 3 here (SQLAlchemy would otherwise pick psycopg2)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def _secret_key(instance_path: Path) -> str:
    env = os.environ.get("TRACKER_SECRET_KEY")
    if env:
        return env
    # No key given: make one once and keep it in instance/, so logins survive a restart.
    path = instance_path / "secret_key"
    existing = _read_key(path)
    if existing:
        return existing
    instance_path.mkdir(parents=True, exist_ok=True)
    # Written whole to a private temporary file, then put in place in one step: a crash never leaves an
    # empty key file behind (which used to give every later start an empty key), and when two workers
    # start together the first one's key wins and the other reads it (os.link fails if the name exists).
    key = secrets.token_hex(32)
    tmp = instance_path / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            existing = _read_key(path)
            if existing:
                return existing
            os.replace(tmp, path)  # an empty or blank file left by a crash: replace it
        except OSError:
            os.replace(tmp, path)  # a file system without hard links
    finally:
        tmp.unlink(missing_ok=True)
    return key


def _read_key(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def load_settings(instance_path: Path, config_path: Path | None = None, *, overrides: dict | None = None) -> Settings:
    """Reads the TOML file (TRACKER_CONFIG, else ./config.toml when present), applies `overrides`
    (a dict merged over the file, for tests), resolves env: values and validates everything."""
    raw: dict = {}
    if config_path is None:
        env_path = os.environ.get("TRACKER_CONFIG")
        if env_path:
            config_path = Path(env_path)
            if not config_path.exists():
                raise ConfigError(f"config: TRACKER_CONFIG names {config_path}, which does not exist")
        else:
            candidate = Path(__file__).resolve().parent.parent / "config.toml"
            config_path = candidate if candidate.exists() else None
    if config_path is not None:
        try:
            raw = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config: {config_path} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"config: cannot read {config_path}: {exc}") from None
        except UnicodeDecodeError as exc:  # saved as Windows-1252 or UTF-16 by an editor
            line = exc.object[:exc.start].count(b"\n") + 1
            raise ConfigError(f"config: {config_path} is not UTF-8 text (line {line}): save it as UTF-8") from None
    for key, value in (overrides or {}).items():
        raw[key] = value
    for key in raw:
        if key not in TOP_LEVEL:
            _fail(key, f"unknown section (known: {', '.join(sorted(TOP_LEVEL))})")
    raw = resolve_env(raw, "")

    lifecycle = _stages(raw)
    printers = _printers(raw)
    db_table = _table(raw.get("database"), "database")
    _only(db_table, {"url"}, "database")
    database_url = (os.environ.get("TRACKER_DATABASE_URL") or _str(db_table, "url", "database")
                    or default_database_url(instance_path))
    shop = _shop(raw)
    providers = _providers(raw)
    packages = _packages(raw)
    return Settings(
        shop=shop,
        lifecycle=lifecycle,
        stations=_stations(raw, lifecycle, printers, packages),
        printers=printers,
        providers=providers,
        packages=packages,
        shipping=Shipping.read(raw.get("shipping"), "shipping", printers=printers, providers=providers,
                               packages=packages),
        marketplaces=_marketplaces(raw),
        notifications=Notifications.read(raw.get("notifications"), "notifications"),
        intake=Intake.read(raw.get("intake"), "intake", printers=printers, method_rules=_method_rules(raw)),
        scanning=Scanning.read(raw.get("scanning"), "scanning"),
        tracking=Tracking.read(raw.get("tracking"), "tracking"),
        alerts=Alerts.read(raw.get("alerts"), "alerts"),
        housekeeping=Housekeeping.read(raw.get("housekeeping"), "housekeeping"),
        backup=Backup.read(raw.get("backup"), "backup"),
        proofs=Proofs.read(raw.get("proofs"), "proofs", lifecycle=lifecycle),
        calendar=_calendar(raw, shop),
        security=Security.read(raw.get("security"), "security"),
        database_url=normalise_database_url(database_url),
        secret_key=_secret_key(instance_path),
        config_path=Path(config_path) if config_path else None,
        raw=raw,
    )


def current_settings() -> Settings:
    """The running app's settings (services call this rather than reading flask config keys)."""
    from flask import current_app

    return current_app.extensions["tracker_settings"]
