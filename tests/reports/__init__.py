"""A small hand-made history whose report figures are worked out by hand in test_production.py.

Shop time is America/Denver (UTC-7 in January). The week of Mon 2026-01-05 to Sun 2026-01-11 is ISO
week 2026-W02. L(day, hour) is a shop-local time in January 2026.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tracker.extensions import db

TZ = ZoneInfo("America/Denver")
NOW = dt.datetime(2026, 1, 20, 12, 0, tzinfo=TZ)  # the frozen "now" of the tests


def L(day: int, hour: int, month: int = 1, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, 0, tzinfo=TZ)


def build_history() -> dict[str, str]:
    """Orders (variable name -> order code):
    F: made Dec 29, never moved (in received all week).       E: made Dec 30, moved on Jan 12 (after the week).
    B: shopify, due Jan 7, made Jan 4 16:00, hoodie (screen); handed over Jan 8, delivered Jan 10 (late).
    A: manual, due Jan 9, made Jan 5 08:00, tee (dtg) + cap (embroidery); handed over Jan 7, delivered Jan 9.
    C: made Jan 6 09:00, poster (dtg); to pre-production, then cancelled Jan 10.   D: made Jan 11 20:00.
    """
    from tests.factories import MANAGER, make_order
    from tracker.services.orders import Actor, cancel_order, move_job, move_order

    carrier = Actor("carrier")

    def job(order, i):
        return order.jobs[i]

    F = make_order([("Flag", "dtg", 1)], at=L(29, 9, month=12, year=2025))
    E = make_order([("Mug", "other", 2)], at=L(30, 9, month=12, year=2025))
    B = make_order([("Hoodie", "screen", 5)], at=L(4, 16), channel="shopify", external_ref="SH-1",
                   due_date=dt.date(2026, 1, 7))
    A = make_order([("Tee", "dtg", 12), ("Cap", "embroidery", 6)], at=L(5, 8), due_date=dt.date(2026, 1, 9))
    C = make_order([("Poster", "dtg", 3)], at=L(6, 9))
    D = make_order([("Banner", "dtg", 1)], at=L(11, 20))

    steps = [
        (L(5, 8), lambda: move_job(job(B, 0), "preproduction", actor=MANAGER, source="web", at=L(5, 8))),
        (L(5, 10), lambda: move_job(job(A, 0), "preproduction", actor=MANAGER, source="web", at=L(5, 10))),
        (L(5, 12), lambda: move_job(job(A, 1), "preproduction", actor=MANAGER, source="web", at=L(5, 12))),
        (L(5, 14), lambda: move_job(job(B, 0), "production", actor=MANAGER, source="web", at=L(5, 14))),
        (L(6, 8), lambda: move_job(job(A, 0), "production", actor=MANAGER, source="web", at=L(6, 8))),
        (L(6, 10), lambda: move_job(job(B, 0), "qc", actor=MANAGER, source="web", at=L(6, 10))),
        (L(6, 11), lambda: move_job(job(C, 0), "preproduction", actor=MANAGER, source="web", at=L(6, 11))),
        (L(6, 12), lambda: move_job(job(A, 1), "production", actor=MANAGER, source="web", at=L(6, 12))),
        (L(6, 12), lambda: move_order(B, "packaging", actor=MANAGER, source="web", at=L(6, 12))),
        (L(6, 13), lambda: move_order(B, "labeled", actor=MANAGER, source="web", at=L(6, 13))),
        (L(6, 14), lambda: move_job(job(A, 0), "qc", actor=MANAGER, source="web", at=L(6, 14))),
        (L(7, 8), lambda: move_job(job(A, 1), "qc", actor=MANAGER, source="web", at=L(7, 8))),
        (L(7, 10), lambda: move_order(A, "packaging", actor=MANAGER, source="web", at=L(7, 10))),
        (L(7, 12), lambda: move_order(A, "labeled", actor=MANAGER, source="web", at=L(7, 12))),
        (L(7, 17), lambda: move_order(A, "picked_up", actor=carrier, source="carrier", at=L(7, 17))),
        (L(8, 9), lambda: move_order(A, "in_transit", actor=carrier, source="carrier", at=L(8, 9))),
        (L(8, 13), lambda: move_order(B, "picked_up", actor=carrier, source="carrier", at=L(8, 13))),
        (L(9, 8), lambda: move_order(A, "out_for_delivery", actor=carrier, source="carrier", at=L(9, 8))),
        (L(9, 13), lambda: move_order(A, "delivered", actor=carrier, source="carrier", at=L(9, 13))),
        (L(10, 9), lambda: cancel_order(C, actor=MANAGER, source="web", reason="Customer cancelled", at=L(10, 9))),
        (L(10, 10), lambda: move_order(B, "delivered", actor=carrier, source="carrier", at=L(10, 10))),
        (L(12, 9), lambda: move_job(job(E, 0), "preproduction", actor=MANAGER, source="web", at=L(12, 9))),
    ]
    for _, step in steps:
        step()
    db.session.commit()
    return {k: o.code for k, o in dict(A=A, B=B, C=C, D=D, E=E, F=F).items()}
