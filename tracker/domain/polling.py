"""When to ask a carrier again (the polling fallback). Pure."""
from __future__ import annotations

import datetime as dt

MINUTE = 60
HOUR = 3600
# How often a shipment is polled, by its status: faster on the last mile, never once final.
CADENCE_SECONDS = {
    "label_created": 2 * HOUR,
    "unknown": 2 * HOUR,
    "pre_transit": 2 * HOUR,
    "cancelled": 6 * HOUR,
    "picked_up": 3 * HOUR,
    "in_transit": 3 * HOUR,
    "available_for_pickup": 6 * HOUR,
    "out_for_delivery": 30 * MINUTE,
}
FINAL = frozenset({"delivered", "returned", "failure"})
WEBHOOK_QUIET_SECONDS = 12 * HOUR  # after a webhook, polling waits this long: webhooks that work mean few polls
ERROR_FIRST_SECONDS = 5 * MINUTE
ERROR_MAX_SECONDS = 6 * HOUR


def spread(shipment_id: int, seconds: float) -> float:
    """Up to 10% more, different per shipment, so shipments added together are not all polled together."""
    return seconds * (1 + ((shipment_id * 2654435761) % 1000) / 10000)


def next_poll(status: str, *, now: dt.datetime, shipment_id: int, after_webhook: bool = False) -> dt.datetime | None:
    if status in FINAL:
        return None
    seconds = CADENCE_SECONDS.get(status, 2 * HOUR)
    if after_webhook:
        seconds = max(seconds, WEBHOOK_QUIET_SECONDS)
    return now + dt.timedelta(seconds=spread(shipment_id, seconds))


def after_error(failures: int, *, now: dt.datetime, retry_after: float | None = None) -> dt.datetime:
    """Backs off on errors (and on 429, at least as long as the provider asked)."""
    seconds = min(ERROR_MAX_SECONDS, ERROR_FIRST_SECONDS * 2 ** max(0, failures - 1))
    if retry_after:
        seconds = max(seconds, retry_after)
    return now + dt.timedelta(seconds=seconds)
