"""Carriers: transit times, exceptions and returns, labels nobody picked up, and routes (issue 9).

Two indexed range reads (shipments by delivered_at and by created_at), so the cost follows the range:

- *Transit* is carrier pickup (the first physical scan, Shipment.activated_at) to delivery
  (delivered_at), in days, for parcels delivered in the period.
- *Exceptions* and *returns* are counted on the labels created in the period: a parcel had an exception
  when it shows one now or a carrier-exception alert was ever raised for it (a later normal scan clears
  the status, not the alert); it was returned when its status is returned or a return alert was raised.
- *Label but no pickup*: a label created in the period that the carrier had not scanned a day (24 hours)
  after it was made: scanned later, or not scanned yet.
- *Route*: origin -> destination. The origin is the state or region of the parcel's first carrier event
  that has a location ("BOISE, ID 83702" -> ID); the destination is the order's ship-to region (or its
  country when no region is given).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import select

from ..domain.carriers import CARRIER_NAMES
from ..extensions import db
from ..models import Alert, Order, Shipment, TrackingEvent, utcnow
from . import Chart, Period, Report, Result, Series, Table, register
from .stats import days, rate, summary

PICKUP_WITHIN = dt.timedelta(days=1)
UNKNOWN = "?"



def _carrier(key: str) -> str:
    return CARRIER_NAMES.get(key, key)


def region_of(location: str | None) -> str | None:
    """The region of a carrier location, read as queries._public_location reads it ("BOISE, ID 83702" ->
    "ID": the first word after the first comma). That function is not reused: it hides the customer's
    own city and returns "City, ST"."""
    parts = [p.strip() for p in (location or "").split(",") if p.strip()]
    if len(parts) < 2 or not parts[1].split():
        return None
    return parts[1].split()[0].upper()


def _destination(parcel) -> str:
    """The order's ship-to region, else its country."""
    return (parcel.ship_region or "").strip().upper() or (parcel.ship_country or "").strip().upper() or UNKNOWN


def _origins(shipment_ids: list[int]) -> dict[int, str]:
    """Each parcel's origin region: that of its first carrier event with a readable location."""
    found: dict[int, str] = {}
    if not shipment_ids:
        return found
    rows = db.session.execute(select(TrackingEvent.shipment_id, TrackingEvent.location)
                              .where(TrackingEvent.shipment_id.in_(shipment_ids), TrackingEvent.location.is_not(None))
                              .order_by(TrackingEvent.occurred_at, TrackingEvent.id))
    for shipment_id, location in rows:
        if shipment_id not in found:
            region = region_of(location)
            if region:
                found[shipment_id] = region
    return found


def compute(period: Period) -> Result:
    start, end = period.start_utc, period.end_utc
    def parcels(*where):
        # The columns read, as plain rows (no ORM objects: a long range holds tens of thousands of parcels).
        rows = db.session.connection().execute(
            select(Shipment.id, Shipment.carrier, Shipment.service, Shipment.status, Shipment.exception,
                   Shipment.created_at, Shipment.activated_at, Shipment.delivered_at,
                   Order.ship_region, Order.ship_country)
            .join(Order, Order.id == Shipment.order_id).where(*where).order_by(Shipment.id))
        return rows.all()

    # Two indexed range reads: parcels delivered in the period (transit), labels made in it (problems).
    delivered = parcels(Shipment.delivered_at >= start, Shipment.delivered_at < end, Shipment.activated_at.is_not(None))
    labelled = parcels(Shipment.created_at >= start, Shipment.created_at < end)
    alerts: dict[int, set[str]] = defaultdict(set)
    ids = [s.id for s in labelled]
    if ids:
        for shipment_id, kind in db.session.execute(
                select(Alert.shipment_id, Alert.kind).where(Alert.shipment_id.in_(ids),
                                                            Alert.kind.in_(("carrier_exception", "carrier_return")))):
            alerts[shipment_id].add(kind)
    origins = _origins(sorted({s.id for s in delivered} | set(ids)))

    def had_exception(s) -> bool:
        return s.exception is not None or "carrier_exception" in alerts[s.id]

    def returned(s) -> bool:
        return s.status == "returned" or "carrier_return" in alerts[s.id]

    # Transit by carrier, and by carrier and service.
    by_carrier: dict[str, list[float]] = defaultdict(list)
    by_service: dict[tuple[str, str], list[float]] = defaultdict(list)
    for s in delivered:
        d = days(s.delivered_at - s.activated_at)
        by_carrier[s.carrier].append(d)
        by_service[(s.carrier, s.service or "(not given)")].append(d)
    carrier_rows = [(_carrier(c), *summary(v)) for c, v in sorted(by_carrier.items())]
    service_rows = [(_carrier(c), svc, *summary(v)) for (c, svc), v in sorted(by_service.items())]

    # Exceptions, returns and late pickups, on the labels of the period.
    now = utcnow()
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])  # labels, exc, returned, late, never
    for s in labelled:
        c = counts[s.carrier]
        c[0] += 1
        c[1] += had_exception(s)
        c[2] += returned(s)
        if s.activated_at is not None and s.activated_at - s.created_at > PICKUP_WITHIN:
            c[3] += 1
        elif s.activated_at is None and now - s.created_at > PICKUP_WITHIN:
            c[4] += 1
    problem_rows = [(_carrier(k), v[0], v[1], rate(v[1], v[0]), v[2], rate(v[2], v[0]))
                    for k, v in sorted(counts.items())]
    pickup_rows = [(_carrier(k), v[0], v[3], v[4], rate(v[3] + v[4], v[0])) for k, v in sorted(counts.items())]

    # Routes: transit of the parcels delivered in the period, exceptions of the labels of the period.
    route_transit: dict[tuple[str, str], list[float]] = defaultdict(list)
    route_labels: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for s in delivered:
        route_transit[(origins.get(s.id, UNKNOWN), _destination(s))].append(days(s.delivered_at - s.activated_at))
    for s in labelled:
        r = route_labels[(origins.get(s.id, UNKNOWN), _destination(s))]
        r[0] += 1
        r[1] += had_exception(s) or returned(s)
    route_rows = []
    for route in sorted(set(route_transit) | set(route_labels)):
        n, med, p90 = summary(route_transit.get(route, []))
        labels, problems = route_labels.get(route, (0, 0))
        route_rows.append((f"{route[0]} → {route[1]}", n, med, p90, labels, problems))

    tables = [
        Table("transit_by_carrier", "Transit time by carrier (pickup to delivery, days)",
              ("Carrier", "Parcels delivered", "Median days", "90th percentile days"), carrier_rows,
              note="Parcels delivered in the period, from the carrier's first scan to delivery (calendar days)."),
        Table("transit_by_service", "Transit time by service (days)",
              ("Carrier", "Service", "Parcels delivered", "Median days", "90th percentile days"), service_rows),
        Table("problems", "Exceptions and returns by carrier",
              ("Carrier", "Labels", "With an exception", "Exception %", "Returned", "Returned %"), problem_rows,
              note="Labels created in the period; an exception counts even if a later scan cleared it."),
        Table("no_pickup", "Labels not picked up within a day",
              ("Carrier", "Labels", "Picked up after a day", "Not picked up yet", "Late %"), pickup_rows,
              note="Labels created in the period whose first carrier scan came more than 24 hours later, "
                   "or has not come (once the label is a day old)."),
        Table("routes", "Routes (origin → destination)",
              ("Route", "Parcels delivered", "Median days", "90th percentile days", "Labels",
               "With an exception or return"), route_rows,
              note="Origin: the region of the parcel's first carrier scan; destination: the order's ship-to "
                   "region (or country). ? when unknown."),
    ]
    chart = Chart("bar", "Median transit time by carrier", [r[0] for r in carrier_rows],
                  [Series("Median days", [r[2] for r in carrier_rows])], unit="days")
    n_all, med_all, _ = summary([days(s.delivered_at - s.activated_at) for s in delivered])
    summary_rows = (("Parcels delivered", str(n_all)),
                    ("Median transit", f"{med_all} days" if med_all is not None else "–"),
                    ("Labels created", str(len(labelled))),
                    ("With an exception or return",
                     str(sum(1 for s in labelled if had_exception(s) or returned(s)))))
    return Result(tables=tables, charts=[chart], summary=summary_rows)


register(Report(
    name="carriers",
    title="Carriers",
    description="Transit times by carrier, service and route; exceptions, returns and labels the carrier "
                "did not pick up.",
    compute=compute,
    order=40,
))
