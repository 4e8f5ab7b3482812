"""The outside services Inktrail talks to about parcels, listed once: what each one does and what it
needs. Settings, tracking, the API and the label purchase read their lists from here; the modules that
speak each one's API are in integrations/carriers/ and integrations/postage/ (a test checks that every
provider here has its module there, and its status vocabulary in domain/carrier_status.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    name: str
    carrier: str | None  # the carrier it is (UPS's own API), or None: it tracks any carrier (an aggregator)
    credentials: tuple[str, ...]  # the settings that switch it on, all of them set
    keys: tuple[str, ...] = ()  # the other keys its [providers.NAME] table may have (base_url always)
    buys_labels: bool = False  # rates, label purchases, refunds (integrations/postage)
    choice: int = 0  # among aggregators set up together, the lowest tracks a new parcel

    @property
    def allowed(self) -> tuple[str, ...]:
        return (*self.credentials, *self.keys, "base_url")


REGISTRY: dict[str, Provider] = {p.name: p for p in (
    Provider("easypost", None, ("api_key",), ("webhook_secret", "timeout"), buys_labels=True, choice=1),
    Provider("shippo", None, ("api_key",), ("webhook_secret", "hmac_secret", "require_signature", "timeout"),
             buys_labels=True, choice=3),
    Provider("aftership", None, ("api_key",), ("webhook_secret", "api_version"), choice=2),
    Provider("ups", "ups", ("client_id", "client_secret"), ("webhook_secret", "webhook_url")),
    Provider("fedex", "fedex", ("client_id", "client_secret")),  # polled only: no webhook keys
    Provider("usps", "usps", ("client_id", "client_secret")),
)}

NAMES = tuple(REGISTRY)  # the [providers.NAME] tables config.toml may have
AGGREGATORS = tuple(p.name for p in sorted(REGISTRY.values(), key=lambda p: p.choice)
                    if p.carrier is None)  # tried first, in this order, when set up
OWN_CARRIER = {p.carrier: p.name for p in REGISTRY.values() if p.carrier is not None}  # carrier -> its own API
LABEL_PROVIDERS = tuple(p.name for p in REGISTRY.values() if p.buys_labels)
