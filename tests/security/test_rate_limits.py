"""Rate limits per client address on the webhooks and the public tracking page: a 429 with a sentence and
Retry-After, nothing stored for the refused request, and the provider's later redelivery stored once."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from tests.conftest import build_app
from tests.factories import make_order
from tracker.extensions import db, limiter
from tracker.models import WebhookDelivery

FIXTURE = Path(__file__).resolve().parent.parent / "integrations" / "fixtures" / "easypost_tracker_updated.json"
SECRET = "ep-secret"
PROVIDERS = {"easypost": {"api_key": "ep-key", "webhook_secret": SECRET, "base_url": "http://127.0.0.1:9"}}
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)


def delivery(n: int) -> tuple[bytes, dict]:
    event = json.loads(FIXTURE.read_bytes())
    event["id"] = f"evt_burst_{n:04d}"
    body = json.dumps(event).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hmac-Signature": f"hmac-sha256-hex={digest}", "Content-Type": "application/json"}


@pytest.fixture
def limited(tmp_path):
    app = build_app(tmp_path, config={"providers": PROVIDERS,
                                      "security": {"webhook_rate": "5/minute", "public_rate": "4/minute"}},
                    RATELIMIT_ENABLED=True, WEBHOOK_PROCESSING="inline")
    limiter.reset()
    yield app
    limiter.reset()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def stored(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(WebhookDelivery.dedupe_key)))


def test_a_webhook_burst_past_the_limit_gets_429_and_the_redelivery_is_stored_once(limited):
    carrier = limited.test_client()
    carrier.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    with time_machine.travel(T0, tick=False) as clock:
        answers = [carrier.post("/webhooks/easypost", data=b, headers=h) for b, h in map(delivery, range(7))]
        assert [r.status_code for r in answers] == [202] * 5 + [429] * 2
        refused = answers[5]
        assert refused.is_json and "Too many requests" in refused.get_json()["error"]
        assert 0 < int(refused.headers["Retry-After"]) <= 61  # when to send it again (the window plus rounding)
        assert len(stored(limited)) == 5  # a refused delivery is not half-stored
        # Another sender (another carrier's address) has its own budget.
        other = limited.test_client()
        other.environ_base["REMOTE_ADDR"] = "198.51.100.21"
        body, headers = delivery(100)
        assert other.post("/webhooks/easypost", data=body, headers=headers).status_code == 202
        # The provider redelivers the refused ones after Retry-After; a repeat of a stored one is a duplicate.
        clock.shift(dt.timedelta(seconds=61))
        again = [carrier.post("/webhooks/easypost", data=b, headers=h).status_code for b, h in map(delivery, (5, 6, 0))]
        assert again == [202, 202, 200]
    keys = stored(limited)
    assert len(keys) == len(set(keys)) == 8  # 0..6 and 100: every delivery once, none lost
    with limited.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)
                                 .where(WebhookDelivery.processed_at.is_(None))) == 0  # and processed


def test_the_default_webhook_limit_takes_a_carrier_burst(tmp_path):
    """1,200 a minute from one address by default: a carrier's catch-up burst of 300 goes through."""
    app = build_app(tmp_path, config={"providers": PROVIDERS}, RATELIMIT_ENABLED=True)
    limiter.reset()
    client = app.test_client()
    with time_machine.travel(T0, tick=False):
        codes = {client.post("/webhooks/easypost", data=b, headers=h).status_code for b, h in map(delivery, range(300))}
    assert codes == {202}
    limiter.reset()
    with app.app_context():
        db.engine.dispose()


def test_the_public_page_limit_is_configurable_and_answers_a_sentence(limited):
    with limited.app_context():
        token = make_order().public_token
    client = limited.test_client()
    with time_machine.travel(T0, tick=False) as clock:
        codes = [client.get(f"/t/{token}").status_code for _ in range(4)]
        assert codes == [200] * 4
        page = client.get(f"/t/{token}")
        assert page.status_code == 429 and "Too many requests" in page.get_data(as_text=True)
        assert "Rosa" not in page.get_data(as_text=True)
        data = client.get(f"/t/{token}.json")
        assert data.status_code == 429 and "Too many requests" in data.get_json()["error"]
        assert "Retry-After" in page.headers
        clock.shift(dt.timedelta(seconds=61))
        assert client.get(f"/t/{token}").status_code == 200


def test_the_views_without_a_rate_limit_are_the_scans_and_in_no_limited_blueprint(limited):
    """The scans skip the limiter's check (tracker/extensions.no_rate_limit): a hot path no limit applies to.
    A view marked so must not sit in a blueprint with a shared limit, which the skip would bypass."""
    from tracker.extensions import NO_RATE_LIMIT

    marked = sorted(e for e, view in limited.view_functions.items() if getattr(view, NO_RATE_LIMIT, False))
    assert marked == ["api.create_scan", "scan.submit"]
    limited_blueprints = {"public"}  # limiter.shared_limit(..., scope="public-tracking")(bp) in views/public.py
    assert not {e.split(".")[0] for e in marked} & limited_blueprints


def test_a_marked_view_is_still_checked_by_its_own_route_limit():
    """The skip is only for the check before the request: a limit the view itself carried would still be
    checked by its decorator, so marking a view is never how a limit is silently lost."""
    from flask import Flask

    from tracker.extensions import RouteLimiter, no_rate_limit

    app = Flask("probe")
    probe = RouteLimiter(key_func=lambda: "one", storage_uri="memory://", default_limits=[])
    probe.init_app(app)

    @app.post("/hit")
    @probe.limit("2/minute")
    @no_rate_limit
    def hit():
        return "ok"

    client = app.test_client()
    assert [client.post("/hit").status_code for _ in range(3)] == [200, 200, 429]
