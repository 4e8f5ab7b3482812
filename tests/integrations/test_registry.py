"""Every provider module offers the same small surface, so the poller and the webhook view need no ifs."""
from __future__ import annotations

import inspect

import pytest

from tracker.integrations.carriers import PROVIDERS
from tracker.settings import PROVIDERS as CONFIGURABLE


def test_registry_covers_every_configurable_provider():
    assert set(PROVIDERS) == set(CONFIGURABLE) == {"easypost", "shippo", "aftership", "ups", "fedex", "usps"}


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_module_surface(name):
    module = PROVIDERS[name]
    assert module.NAME == name
    assert isinstance(module.RATE_LIMIT_PER_MINUTE, int) and module.RATE_LIMIT_PER_MINUTE > 0
    assert list(inspect.signature(module.verify).parameters) == ["headers", "body", "query", "config"]
    assert list(inspect.signature(module.fetch).parameters) == ["config", "tracking_number", "carrier"]
    assert list(inspect.signature(module.register).parameters) == ["config", "tracking_number", "carrier"]
    assert module.DEFAULT_BASE_URL.startswith("https://")
    assert module.__doc__ and len(module.__doc__) > 200  # what the provider needs is written down
    if module.WEBHOOKS:
        assert list(inspect.signature(module.parse_webhook).parameters) == ["body"]
    else:
        assert "polling only" in module.__doc__.lower() or "polled" in module.__doc__.lower()
        assert not hasattr(module, "parse_webhook")


def test_which_providers_push():
    assert {n for n, m in PROVIDERS.items() if m.WEBHOOKS} == {"easypost", "shippo", "aftership", "ups"}


def test_tracking_update_extra_fields_are_optional():
    from tracker.integrations.carriers import TrackingUpdate

    update = TrackingUpdate(provider="ups", delivery_id=None, carrier="ups", tracking_number="1Z", events=(),
                            est_delivery=None, public_url=None)
    assert update.status is None and update.status_detail is None
