"""Shared pieces of the property and fuzz tests (issue 10, "Bad input").

Each test builds one app and runs many generated examples against it: the examples share the database,
so every check is written to hold whatever earlier examples wrote (state is compared before and after
each refused request, never against a fixed starting point).

FUZZ_SCALE multiplies every test's number of examples (FUZZ_SCALE=10 for a long soak run).
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tracker.extensions import db
from tracker.models import (Alert, Event, ImportRun, Job, Order, OutboxMessage, PrintJob, Scan, Shipment,
                            StageStay, TrackingEvent, WebhookDelivery)

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
WRITTEN = (Order, Job, Event, Scan, Shipment, PrintJob, TrackingEvent, WebhookDelivery, OutboxMessage, Alert,
           StageStay, ImportRun)


def fuzz(examples: int, **kw):
    """@settings for one fuzz test: `examples` generated cases (times FUZZ_SCALE), no deadline (a first
    request compiles templates), and the app fixture shared by every example on purpose."""
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much], **kw)


def state(app) -> tuple:
    """Row counts of every table a request can write, and every order's and job's stage: equal before and
    after a refused request means nothing was half-written."""
    with app.app_context():
        counts = tuple(db.session.scalar(select(func.count()).select_from(m)) for m in WRITTEN)
        stages = tuple(db.session.execute(select(Order.code, Order.stage).order_by(Order.id)).all()) + \
            tuple(db.session.execute(select(Job.code, Job.stage).order_by(Job.id)).all())
        db.session.remove()
    return counts, stages


def assert_clear_refusal(resp, *, allowed=None):
    """Never a 5xx; a 4xx answers JSON with a non-empty "error" sentence."""
    body = resp.get_data(as_text=True)
    assert resp.status_code < 500, f"{resp.status_code}: {body[:500]}"
    if allowed is not None:
        assert resp.status_code in allowed, f"{resp.status_code}: {body[:500]}"
    if resp.status_code >= 400:
        data = resp.get_json(silent=True)
        assert isinstance(data, dict), f"{resp.status_code} is not JSON: {body[:300]}"
        assert isinstance(data.get("error"), str) and len(data["error"].strip()) >= 5, data
        assert "Traceback" not in data["error"]


# -- strategies -------------------------------------------------------------------------------------------

# Text with everything a scanner, a spreadsheet or an attacker might send: control characters, NUL, lone
# surrogates (which JSON can carry as \ud800), right-to-left marks, full-width digits.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=80)
odd_text = st.one_of(
    any_text,
    st.text(alphabet=st.sampled_from(list("A1042BZaz09 \t\r\n\x00/-_#?:.%\u200f\uff11\u0661\ufeff\ud800")),
            max_size=40),
    st.sampled_from(["", " ", "\x00", "A1042", "a1042b", "A1042\n", "A1042\x00", "A 1042", "A1042B\r\n",
                     "https://x.test/orders/A1042", "/jobs/a1042b?x=1", "BADGE-ROSA", "BATCH12", "BATCH",
                     "1Z999AA10123456784", "\u0661\u0660\u0664\u0662", "A\uff11\uff10\uff14\uff12",
                     "A99999999999", "ZZZ999999999ZZZ", "%s%n", "{{7*7}}", "<script>", "'; DROP TABLE orders; --",
                     "A1042" * 50, "x" * 201, "\ud800", "A1042\ud800"]),
)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**40), max_value=10**40),
                         st.floats(allow_nan=False), any_text, odd_text)
json_junk = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                               st.dictionaries(any_text, inner, max_size=4)),
                         max_leaves=12)


def bend_document(draw, doc, *, rounds: int, junk, descend, drop, add_keys=()):
    """Changes `doc` (a JSON-like document, in place) `rounds` times: each time it walks down from the top
    (going deeper while `descend` draws true), then drops the key it reached (when `drop` draws true, in
    a table), adds one of `add_keys` with junk beside it, or swaps its value for junk. Returns `doc`."""
    for _ in range(rounds):
        target = doc
        while True:
            keys = list(target) if isinstance(target, dict) else list(range(len(target)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            if isinstance(target[key], (dict, list)) and draw(descend):
                target = target[key]
                continue
            if isinstance(target, dict) and draw(drop):
                del target[key]
            elif isinstance(target, dict) and add_keys and draw(st.integers(0, 4)) == 0:
                target[draw(st.sampled_from(list(add_keys)))] = draw(junk)
            else:
                target[key] = draw(junk)
            break
    return doc
