"""The customer's tracking link (/t/<token>): finding an order by its token, and replacing the token.

A token is 24 random bytes (192 bits, domain/codes.new_public_token). The order is looked up by the
token's SHA-256 (orders.public_token_hash, unique and indexed), so the database's index search compares
digests: how long a guess takes to refuse says nothing about how many of its characters were right. The
stored token is then compared with hmac.compare_digest, in constant time. The token itself is kept too:
the order page, the e-mails and the QR codes show the link.

Regenerating gives the order a new token at once: the old link answers 404 from then on (e-mails already
sent carry the old link; they stop working). The audit trail records who did it, never the token."""
from __future__ import annotations

import hmac

from sqlalchemy import select

from ..domain.codes import looks_like_token, new_public_token
from ..extensions import db
from ..models import Order, public_token_digest
from .orders import Actor, record_note


def order_for_public_token(token: str) -> Order | None:
    """The order a tracking link's token belongs to, or None (malformed, unknown or replaced)."""
    if not looks_like_token(token):
        return None
    order = db.session.scalar(select(Order).where(Order.public_token_hash == public_token_digest(token)))
    if order is None or not hmac.compare_digest(order.public_token.encode(), token.encode()):
        return None
    return order


def regenerate_public_link(order: Order, *, actor: Actor, source: str = "web") -> str:
    """Gives the order a new tracking token (the old link stops working) and records it in the audit
    trail. Returns the new token. Flushes; the caller commits."""
    order.public_token = new_public_token()  # the model keeps public_token_hash in step
    record_note(order, kind="public_link", actor=actor, source=source,
                note="Public tracking link regenerated: the old link no longer works")
    return order.public_token
