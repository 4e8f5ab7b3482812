"""One list of providers (tracker/domain/providers.py): every one has its API module, its status words,
and its place in the settings; the label providers have their purchase module."""
from __future__ import annotations

from tracker import settings
from tracker.domain import carrier_status, providers
from tracker.integrations import carriers, postage
from tracker.services import tracking


def test_every_provider_has_its_module_and_its_vocabulary():
    assert set(carriers.PROVIDERS) == set(providers.NAMES)
    assert set(carrier_status.VOCABULARIES) == set(providers.NAMES)
    assert set(postage.PROVIDERS) == set(providers.LABEL_PROVIDERS)
    for name in providers.NAMES:
        module = carriers.PROVIDERS[name]
        assert module.NAME == name and callable(module.verify) and callable(module.fetch), name
        assert callable(module.register) and (not module.WEBHOOKS or callable(module.parse_webhook)), name


def test_the_lists_everyone_reads_come_from_the_registry():
    assert settings.PROVIDERS == providers.NAMES == ("easypost", "shippo", "aftership", "ups", "fedex", "usps")
    assert settings.SHIPPING_PROVIDERS == providers.LABEL_PROVIDERS == ("easypost", "shippo")
    assert tracking.AGGREGATORS == ("easypost", "aftership", "shippo")  # the order a new parcel tries them
    assert tracking.OWN_CARRIER == {"ups": "ups", "fedex": "fedex", "usps": "usps"}
    assert all(providers.REGISTRY[p].credentials == ("client_id", "client_secret") for p in tracking.OWN_CARRIER)
