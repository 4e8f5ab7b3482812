"""The carriers report on a small hand-made set of parcels, built through the real shipment and tracking
services (add_shipment, ingest_update) with explicit carrier times, every figure known in advance."""
from __future__ import annotations

import datetime as dt

import time_machine

from tests.factories import MANAGER, make_order
from tracker.extensions import db
from tracker.integrations.carriers import CarrierEvent, TrackingUpdate
from tracker.reports import REPORTS, Period
from tracker.reports import carriers as carriers_report  # registers the report
from tracker.services.shipments import add_shipment
from tracker.services.tracking import ingest_update
from tracker.settings import current_settings

UTC = dt.timezone.utc
# The period is Mon 2 - Sun 8 March 2026 in Denver: [07:00Z Mar 2, 06:00Z Mar 9) (summer time from Mar 8).
T0 = dt.datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
BOISE, SLC, LA = "BOISE, ID 83702", "SALT LAKE CITY, UT 84101", "LOS ANGELES, CA 90001"


def parcel(clock, created, number, carrier, *, service=None, region=None, country=None, events=()):
    """A label made at `created`, then its carrier events (code, time, location) fed one by one."""
    clock.move_to(created)
    order = make_order(at=created, ship_region=region, ship_country=country)
    add_shipment(order, tracking_number=number, carrier=carrier, service=service, actor=MANAGER, source="web")
    db.session.commit()
    for code, at, location in events:
        clock.move_to(at)
        ev = CarrierEvent(provider="fedex", carrier=None, tracking_number=number, code=code, sub_code=None,
                          description=code, occurred_at=at, location=location, provider_event_id=None)
        ingest_update(TrackingUpdate(provider="fedex", delivery_id=None, carrier=carrier, tracking_number=number,
                                     events=(ev,), est_delivery=None, public_url=None), via="poll")
        db.session.commit()


def build_history(clock):
    # P6: labelled before the period, delivered in it (counts for transit, not for labels).
    before = T0 - 3 * D
    parcel(clock, before, "100000000006", "fedex", service="Ground", region="CA",
           events=[("PU", before + 2 * H, BOISE), ("DL", before + 2 * H + 4 * D, LA)])
    # P1: 2.0 days. P2: picked up 25 hours after its label, 4.0 days. P3: a delivery exception, then 1.5 days.
    parcel(clock, T0, "100000000001", "fedex", service="Ground", region="CA",
           events=[("PU", T0 + 2 * H, BOISE), ("DL", T0 + 2 * H + 2 * D, LA)])
    parcel(clock, T0 + H, "100000000002", "fedex", service="Ground", region="CA",
           events=[("PU", T0 + 26 * H, BOISE), ("DL", T0 + 26 * H + 4 * D, LA)])
    parcel(clock, T0, "100000000003", "fedex", service="Express", region="WA",
           events=[("PU", T0 + H, SLC), ("DE", T0 + D, None), ("DL", T0 + H + 36 * H, "SEATTLE, WA 98101")])
    # P4: UPS, to Mexico (no region), returned. P5: UPS, never picked up.
    parcel(clock, T0, "1Z999AA10123456784", "ups", country="MX",
           events=[("PU", T0 + 3 * H, BOISE), ("RS", T0 + 2 * D, BOISE)])
    parcel(clock, T0 + 2 * H, "1Z879E930346834440", "ups", region="ID")
    # P7: labelled in the period, delivered after it. P8: labelled after the period, with an exception.
    sat = T0 + 4 * D
    parcel(clock, sat, "100000000007", "fedex", service="Ground", region="OR",
           events=[("PU", sat + H, BOISE), ("DL", sat + H + 4 * D, "PORTLAND, OR 97201")])
    late = T0 + 8 * D
    parcel(clock, late, "100000000008", "fedex", service="Ground", region="CA",
           events=[("PU", late + H, BOISE), ("DE", late + 5 * H, LA)])


def compute(clock, first=dt.date(2026, 3, 2), last=dt.date(2026, 3, 8)):
    clock.move_to(T0 + 10 * D)
    return REPORTS["carriers"].compute(Period(first, last, current_settings().shop.tz))


def test_carriers_report(ctx):
    with time_machine.travel(T0, tick=False) as clock:
        build_history(clock)
        result = compute(clock)
    t = {table.key: table for table in result.tables}
    # FedEx deliveries in the period: P3 1.5, P1 2.0, P2 4.0, P6 4.0 days.
    assert list(t["transit_by_carrier"].rows) == [("FedEx", 4, 3.0, 4.0)]
    assert list(t["transit_by_service"].rows) == [("FedEx", "Express", 1, 1.5, 1.5), ("FedEx", "Ground", 3, 4.0, 4.0)]
    # Labels of the period: FedEx P1, P2, P3, P7; UPS P4, P5. P3's exception was cleared by its delivery,
    # but it still counts (its alert stays).
    assert list(t["problems"].rows) == [("FedEx", 4, 1, 25.0, 0, 0.0), ("UPS", 2, 0, 0.0, 1, 50.0)]
    assert list(t["no_pickup"].rows) == [("FedEx", 4, 1, 0, 25.0), ("UPS", 2, 0, 1, 50.0)]
    assert list(t["routes"].rows) == [
        ("? → ID", 0, None, None, 1, 0),          # P5: no carrier scan, so no origin
        ("ID → CA", 3, 4.0, 4.0, 2, 0),           # P1, P2, P6 delivered; P1, P2 labelled in the period
        ("ID → MX", 0, None, None, 1, 1),         # P4, returned; the destination is the country
        ("ID → OR", 0, None, None, 1, 0),         # P7, delivered after the period
        ("UT → WA", 1, 1.5, 1.5, 1, 1),           # P3
    ]
    assert dict(result.summary) == {"Parcels delivered": "4", "Median transit": "3.0 days", "Labels created": "6",
                                    "With an exception or return": "2"}
    (chart,) = result.charts
    assert chart.kind == "bar" and list(chart.labels) == ["FedEx"] and list(chart.series[0].values) == [3.0]


def test_a_label_less_than_a_day_old_is_not_late_yet(ctx):
    with time_machine.travel(T0, tick=False) as clock:
        build_history(clock)
        clock.move_to(T0 + 20 * H)   # P5 is 18 hours old
        result = REPORTS["carriers"].compute(Period(dt.date(2026, 3, 2), dt.date(2026, 3, 2),
                                                    current_settings().shop.tz))
    rows = {table.key: table for table in result.tables}["no_pickup"].rows
    assert ("UPS", 2, 0, 0, 0.0) in list(rows)


def test_only_the_period_counts(ctx):
    with time_machine.travel(T0, tick=False) as clock:
        build_history(clock)
        result = compute(clock, dt.date(2026, 3, 9), dt.date(2026, 3, 15))
    t = {table.key: table for table in result.tables}
    assert list(t["transit_by_carrier"].rows) == [("FedEx", 1, 4.0, 4.0)]   # P7
    assert list(t["problems"].rows) == [("FedEx", 1, 1, 100.0, 0, 0.0)]     # P8
    assert dict(result.summary)["Labels created"] == "1"


def test_region_of():
    assert carriers_report.region_of("BOISE, ID 83702") == "ID"
    assert carriers_report.region_of("Memphis, tn, US") == "TN"
    assert carriers_report.region_of("BOISE") is None and carriers_report.region_of(None) is None
