"""What happens to an order that other services react to, said in one place. orders.py announces them;
services/handlers.py says who listens (the print queue, the customer's notices). So orders.py imports
neither printing nor notifications, and a reader finds every reaction to an order's life in handlers.py.

A listener runs in the announcing transaction (it queues, it does not send: no I/O here), in the order
it was registered. The events:

- order_received(order, actor, source): a new order is stored, with its jobs;
- job_added(order, job, actor, source): a job joined an existing order.
"""
from __future__ import annotations

from typing import Callable

EVENTS = ("order_received", "job_added")
LISTENERS: dict[str, list[Callable]] = {name: [] for name in EVENTS}


def listen(event: str, fn: Callable) -> None:
    if event not in LISTENERS:
        raise ValueError(f"no order event {event!r} (known: {', '.join(EVENTS)})")
    if fn not in LISTENERS[event]:
        LISTENERS[event].append(fn)


def announce(event: str, **what) -> None:
    for fn in LISTENERS[event]:
        fn(**what)
