"""Public tracking tokens: 192 random bits, looked up by their SHA-256 (the database never compares the
token itself) and compared in constant time, and revocable: "Regenerate public link" (manager, CSRF,
audit event) makes the old link a 404 at once."""
from __future__ import annotations

import base64
import hashlib
import math
from collections import Counter

import pytest
from sqlalchemy import event, insert, select

from tests.conftest import TEST_CONFIG, csrf_from, login
from tests.factories import make_order
from tracker import create_app
from tracker.domain.codes import new_public_token
from tracker.extensions import db
from tracker.models import Event, Order, public_token_digest
from tracker.services.public_links import order_for_public_token


def _bits(token: str) -> int:
    return len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) * 8


def test_tokens_carry_at_least_128_random_bits():
    tokens = [new_public_token() for _ in range(2000)]
    assert len(set(tokens)) == len(tokens)
    assert {_bits(t) for t in tokens} == {192}
    # Every character of the URL-safe alphabet turns up about equally often (no fixed or biased part).
    counts = Counter("".join(tokens))
    assert len(counts) == 64
    expected = sum(counts.values()) / 64
    assert max(abs(c - expected) / expected for c in counts.values()) < 0.15
    # Shannon entropy per character close to the 6 bits of a uniform base64 character.
    total = sum(counts.values())
    assert -sum(c / total * math.log2(c / total) for c in counts.values()) > 5.95


def test_orders_store_the_digest_and_every_insert_path_fills_it(ctx):
    order = make_order()
    assert order.public_token_hash == hashlib.sha256(order.public_token.encode()).hexdigest()
    assert _bits(order.public_token) >= 128
    # A bulk insert that names only the token (the bench's seeders do this) gets its digest too.
    token = new_public_token()
    db.session.execute(insert(Order), [dict(code="B9", channel="manual", customer_name="Bulk", stage="received",
                                            public_token=token)])
    db.session.commit()
    row = db.session.scalar(select(Order).where(Order.code == "B9"))
    assert row.public_token_hash == public_token_digest(token)
    assert order_for_public_token(token) is row


def test_the_lookup_sends_the_database_the_digest_never_the_token(ctx):
    order = make_order()
    token = order.public_token
    sent = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, repr(parameters)))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        db.session.expire_all()
        assert order_for_public_token(token).id == order.id
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert sent and all(token not in params for _, params in sent)
    assert any(public_token_digest(token) in params for _, params in sent)


def test_a_digest_match_with_a_different_token_is_still_refused(ctx):
    """The constant-time comparison of the stored token is a real second check, not decoration."""
    order = make_order()
    other = new_public_token()
    order.public_token_hash = public_token_digest(other)  # a forged digest row (cannot happen via the model)
    db.session.commit()
    assert order_for_public_token(other) is None


@pytest.mark.parametrize("bad", ["", "short", "A" * 65, "../../etc/passwd", "t" * 20 + "\n", "\u0410" * 32])
def test_malformed_tokens_are_a_plain_404(app, client, bad):
    with app.app_context():
        make_order()
    resp = client.get("/t/" + bad)
    assert resp.status_code == 404 and "Rosa" not in resp.get_data(as_text=True)
    with app.app_context():
        assert order_for_public_token(bad) is None


# -- regenerate ---------------------------------------------------------------------------------

def _order(app):
    with app.app_context():
        order = make_order()
        return order.code, order.public_token


def test_a_manager_regenerates_the_link_and_the_old_one_is_gone(app):
    code, old = _order(app)
    client = login(app.test_client(), "manager", username="maria")
    assert client.get(f"/t/{old}").status_code == 200
    page = client.get(f"/orders/{code}").get_data(as_text=True)
    assert "Regenerate public link" in page
    resp = client.post(f"/orders/{code}/public-link", data={"csrf_token": csrf_from(page)}, follow_redirects=True)
    assert resp.status_code == 200 and "new tracking link; the old link no longer works" in resp.get_data(as_text=True)
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.code == code))
        new = order.public_token
        events = db.session.scalars(select(Event).where(Event.order_id == order.id, Event.kind == "public_link")).all()
    assert new != old and _bits(new) >= 128
    assert f"/t/{new}" in resp.get_data(as_text=True)  # the order page shows the new link
    anonymous = app.test_client()
    assert anonymous.get(f"/t/{old}").status_code == 404
    assert anonymous.get(f"/t/{old}.json").status_code == 404
    assert anonymous.get(f"/t/{new}").status_code == 200
    assert anonymous.get(f"/t/{new}.json").status_code == 200
    assert len(events) == 1
    ev = events[0]
    assert ev.actor == "maria" and ev.source == "web" and "regenerated" in ev.note
    assert old not in ev.note and new not in ev.note  # the audit trail never holds a token


def test_an_operator_cannot_regenerate_and_sees_no_button(app):
    code, old = _order(app)
    client = login(app.test_client(), "operator")
    page = client.get(f"/orders/{code}").get_data(as_text=True)
    assert "Regenerate public link" not in page
    resp = client.post(f"/orders/{code}/public-link", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(Order.public_token).where(Order.code == code)) == old


def test_regenerating_an_unknown_order_is_a_404(app):
    client = login(app.test_client(), "manager")
    token = csrf_from(client.get("/").get_data(as_text=True))
    assert client.post("/orders/A9999/public-link", data={"csrf_token": token}).status_code == 404


# -- the migration fills the digest of existing orders --------------------------------------------

def test_migration_0013_fills_the_digest_so_existing_links_keep_working(tmp_path):
    from flask_migrate import upgrade
    from sqlalchemy import text

    from tests.conftest import PG_URL

    if PG_URL:
        pytest.skip("the migration is run on an empty PostgreSQL database by tests/test_migrations.py")
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path / "instance", "TRACKER_CONFIG_PATH": TEST_CONFIG,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.db'}"})
    tokens = [new_public_token() for _ in range(3)]
    with app.app_context():
        upgrade(revision="0012_stage_stays")
        for i, token in enumerate(tokens):
            db.session.execute(text(
                "INSERT INTO orders (code, channel, customer_name, stage, stage_entered_at, public_token, created_at, "
                "updated_at, rush) VALUES (:code, 'manual', 'Old customer', 'received', '2026-01-05 10:00:00', :token, "
                "'2026-01-05 10:00:00', '2026-01-05 10:00:00', 0)"), {"code": f"A{100 + i}", "token": token})
        db.session.commit()
        upgrade()
        hashes = dict(db.session.execute(text("SELECT public_token, public_token_hash FROM orders")).all())
        db.session.remove()
        db.engine.dispose()
    assert hashes == {t: public_token_digest(t) for t in tokens}
    client = app.test_client()
    assert all(client.get(f"/t/{t}").status_code == 200 for t in tokens)
