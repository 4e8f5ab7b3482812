"""Small factory helpers (no fixture files): make_order(**overrides) through the real service."""
from __future__ import annotations

from tracker.domain.intake import ItemDraft, OrderDraft
from tracker.extensions import db
from tracker.services.orders import Actor, create_order

MANAGER = Actor("maria", "manager")
OPERATOR = Actor("sam", "operator")


def make_order(items=None, *, commit=True, at=None, **overrides):
    """An order with one job per item; items are (description, method, quantity) tuples. Needs an app context."""
    items = items or [("Team tee", "dtg", 12)]
    fields = {"customer_name": "Rosa Diaz", "customer_email": "rosa@example.com", "customer_phone": "+1 208 555 0100",
              "items": tuple(ItemDraft(*i) for i in items), "channel": "manual"}
    fields.update(overrides)
    order, _ = create_order(OrderDraft(**fields), actor=MANAGER, source="web", at=at)
    if commit:
        db.session.commit()
    return order
