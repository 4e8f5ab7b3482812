"""The carrier poller (the scheduler's poll-carriers job): the fallback for parcels whose provider has not
reported for a while. It commits before each call to a provider, so no transaction is open during the
network call, and after storing each answer; what each step changes is services/tracking.py's."""
from __future__ import annotations

from ..extensions import db
from ..integrations.http import ProviderError
from ..models import utcnow
from ..services import tracking


def poll_carriers(limit: int = 200, run_seconds: int = 60) -> dict:
    """Polls the shipments that are due, within each provider's rate limit; returns counts."""
    due = tracking.due_for_poll(limit, utcnow())
    db.session.commit()
    budget = tracking.poll_budget(run_seconds)
    summary = {"polled": 0, "errors": 0, "skipped": 0}
    for shipment_id, provider, number, carrier in due:
        cfg = tracking.provider_config(provider)
        if cfg is None or budget.get(provider, 0) <= 0:
            summary["skipped"] += 1
            continue
        budget[provider] -= 1
        try:
            update_ = tracking.fetch_update(provider, cfg, number, carrier)
        except ProviderError as exc:
            tracking.poll_failed(shipment_id, exc)
            if exc.status == 429:
                budget[provider] = 0  # the provider asked us to slow down: no more calls to it this run
            db.session.commit()
            summary["errors"] += 1
            continue
        tracking.poll_answered(update_, shipment_id)
        db.session.commit()
        summary["polled"] += 1
    return summary
