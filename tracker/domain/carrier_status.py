"""Carrier tracking words in our words, and a shipment's status derived from all of its events. Pure.

Two halves:

1. `normalise(provider, code, sub, description)` turns one provider event into a `Normalized` status plus
   an optional exception overlay. Each provider has one `Vocabulary`: tables, read the same way for all:

   - `statuses`: the provider's status word -> ours. A word not in the table is `unknown` (never an error).
   - `refine`: (status word, sub-code) -> ours, where the sub-code says more than the word (Shippo TRANSIT +
     out_for_delivery is out for delivery; UPS type D + code KB is delivered).
   - `text_statuses`: status word -> (pattern, status) rows read in the description, first match wins, for
     the words that are ambiguous on their own (UPS type D is out-for-delivery as well as delivered).
   - `exceptions`: sub-code (or, failing that, status word) -> exception; None in the table means "says
     explicitly: no exception".
   - `alerts`: status words or sub-codes that flag an exception without naming it. The description is read
     against TEXT_EXCEPTIONS; when it names nothing, the alert's default applies (to a non-final status
     only: a default "delayed" on a returned parcel says nothing).

   The precedence is refine, then text, then the status word; exceptions from the exceptions table, then
   (for alerts) the text, then the alert's default. An `unknown` result never carries an exception.

   What each provider's `code`, `sub` and `description` are:

   | provider  | code                        | sub                   | description                    |
   |-----------|-----------------------------|-----------------------|--------------------------------|
   | easypost  | status                      | status_detail         | message                        |
   | shippo    | tracking_status.status      | substatus.code        | status_details                 |
   | aftership | tag                         | subtag                | message (or subtag_message)    |
   | ups       | activity status.type        | activity status.code  | activity status.description    |
   | fedex     | event code (OC, PU, DL ...) | exception code        | event / exception description  |
   | usps      | statusCategory or eventCode | eventCode (or None)   | eventType (the event's text)   |

   Words are matched case-insensitively, with spaces and hyphens read as underscores ("Pre-Shipment",
   "pre_shipment" and "PRE SHIPMENT" are one word).

2. `derive_state(events)` computes a shipment's state from all its normalised events. The state is never
   a running value: it is a function of the *set* of events (see its docstring), so a late, repeated or
   out-of-order event can never move a parcel backwards. `order_carrier_stage(states)` turns the states of
   an order's parcels into the order's carrier stage in the lifecycle.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from tracker.domain.carriers import normalise_tracking

STATUSES = ("unknown", "pre_transit", "picked_up", "in_transit", "out_for_delivery", "available_for_pickup",
            "delivered", "returned", "failure", "cancelled")
EXCEPTIONS = ("delayed", "delivery_attempted", "held", "address_problem", "weather", "damaged", "lost")
FINAL = frozenset({"delivered", "returned", "failure"})
# Statuses that prove the carrier has the parcel in hand: the first of them activates a shipment.
PHYSICAL = frozenset({"picked_up", "in_transit", "out_for_delivery", "available_for_pickup", "delivered",
                      "returned", "failure"})

UNKNOWN = "unknown"
CANCELLED = "cancelled"
LABEL_CREATED = "label_created"  # a shipment's status before any event

# How far along a parcel is. The status never goes down this table. Finals share the top rank: the first
# one the carrier reports holds. Available-for-pickup sits above out-for-delivery because a parcel goes to
# a pickup point after a failed attempt, not the other way round. `unknown` never counts, and `cancelled`
# has its own rule (see derive_state), so both sit outside the ranking at 0.
RANK: dict[str, int] = {
    "unknown": 0,
    "cancelled": 0,
    "pre_transit": 1,
    "picked_up": 2,
    "in_transit": 3,
    "out_for_delivery": 4,
    "available_for_pickup": 5,
    "delivered": 6,
    "returned": 6,
    "failure": 6,
}

# The lifecycle's carrier stages an order can be in (lifecycle.py: labeled, then the carrier stages).
CARRIER_STAGES = ("labeled", "picked_up", "in_transit", "out_for_delivery", "delivered")

# An active parcel's stage by its status. A parcel that is active but whose status is still pre-transit-ish
# (a scan arrived, then an unrelated pre-transit or cancel word) is with the carrier: picked_up.
# Returned and failed parcels stay "in_transit": the order is not delivered, and an alert says why.
PARCEL_STAGE: dict[str, str] = {
    LABEL_CREATED: "picked_up",
    "unknown": "picked_up",
    "pre_transit": "picked_up",
    "cancelled": "picked_up",
    "picked_up": "picked_up",
    "in_transit": "in_transit",
    "available_for_pickup": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "returned": "in_transit",
    "failure": "in_transit",
}


@dataclass(frozen=True)
class Normalized:
    status: str              # one of STATUSES
    exception: str | None    # one of EXCEPTIONS, an overlay that rides on the status


UNKNOWN_EVENT = Normalized(UNKNOWN, None)


# -- free text -------------------------------------------------------------------------------------------

def _rows(*rows: tuple[str, str]) -> tuple[tuple[re.Pattern, str], ...]:
    return tuple((re.compile(pattern, re.IGNORECASE), value) for pattern, value in rows)


# What an exception's text is about, most specific cause first: "weather delay" is weather, "address
# correction, delivery attempted" is the address (the attempt failed because of it).
TEXT_EXCEPTIONS = _rows(
    (r"weather|natural disaster|\bstorm|\bflood|\bsnow", "weather"),
    (r"damage", "damaged"),
    (r"\blost\b|missing (package|parcel|item|shipment)", "lost"),
    # "Addressee not available" is an attempt; "addressee unknown", "insufficient address" are the address.
    (r"address(?!ee)|addressee unknown|no such (number|street)", "address_problem"),
    (r"attempt|notice left|not available|unavailable|no access|inaccessible|refus|\bclosed\b|"
     r"no authori[sz]ed recipient|receiver was not in", "delivery_attempted"),
    (r"\bheld\b|\bhold\b|customs|clearance", "held"),
    (r"delay|\blate\b|mis-?sent|mis-?sort|mis-?rout|reschedul", "delayed"),
)

# "Returned to sender", "returning to shipper", "Delivered, To Original Sender": the parcel goes back.
RETURN_TEXT = (r"\breturn(ed|ing)?( back)? to (the )?(sender|shipper|origin)|\bto original sender", "returned")


def _first_match(rows: Sequence[tuple[re.Pattern, str]], text: str) -> str | None:
    for pattern, value in rows:
        if pattern.search(text):
            return value
    return None


# -- the providers' vocabularies -------------------------------------------------------------------------

def _key(word) -> str:
    """A provider word as a table key: case-insensitive, spaces and hyphens read as underscores."""
    if word is None:
        return ""
    return re.sub(r"[\s\-]+", "_", str(word).strip()).casefold()


@dataclass(frozen=True)
class Vocabulary:
    """One provider's words (see the module docstring for how the tables are read)."""

    statuses: Mapping[str, str]
    refine: Mapping[tuple[str, str], str] = field(default_factory=dict)
    text_statuses: Mapping[str, Sequence[tuple[str, str]]] = field(default_factory=dict)
    exceptions: Mapping[str, str | None] = field(default_factory=dict)
    alerts: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        # Written in the providers' own spelling, looked up by _key.
        object.__setattr__(self, "statuses", {_key(k): v for k, v in self.statuses.items()})
        object.__setattr__(self, "refine", {(_key(a), _key(b)): v for (a, b), v in self.refine.items()})
        object.__setattr__(self, "text_statuses", {_key(k): _rows(*rows) for k, rows in self.text_statuses.items()})
        object.__setattr__(self, "exceptions", {_key(k): v for k, v in self.exceptions.items()})
        object.__setattr__(self, "alerts", {_key(k): v for k, v in self.alerts.items()})
        results = (set(self.statuses.values()) | set(self.refine.values())
                   | {v for rows in self.text_statuses.values() for _, v in rows})
        if results - set(STATUSES):
            raise ValueError(f"not our statuses: {sorted(results - set(STATUSES))}")
        overlays = set(self.exceptions.values()) | set(self.alerts.values())
        if overlays - set(EXCEPTIONS) - {None}:
            raise ValueError(f"not our exceptions: {sorted(overlays - set(EXCEPTIONS) - {None})}")


EASYPOST = Vocabulary(
    statuses={
        "unknown": "unknown",
        "pre_transit": "pre_transit",
        "in_transit": "in_transit",
        "out_for_delivery": "out_for_delivery",
        "delivered": "delivered",
        "available_for_pickup": "available_for_pickup",
        "return_to_sender": "returned",
        "failure": "failure",
        "cancelled": "cancelled",
        "error": "unknown",  # EasyPost could not track it: says nothing about the parcel
    },
    # in_transit stays in_transit whatever the detail (picked_up, received_at_origin_facility: physical
    # either way); a detail proves more only where it proves possession or the last leg.
    refine={
        ("pre_transit", "picked_up"): "picked_up",
        ("pre_transit", "received_at_origin_facility"): "in_transit",
        ("in_transit", "out_for_delivery"): "out_for_delivery",
        ("in_transit", "arrived_at_pickup_location"): "available_for_pickup",
        ("in_transit", "return_to_sender"): "returned",
        ("in_transit", "return"): "returned",
    },
    exceptions={
        "delayed": "delayed",
        "weather_delay": "weather",
        "held": "held",
        "held_at_facility": "held",
        "address_correction": "address_problem",
        "incorrect_address": "address_problem",
        "delivery_attempted": "delivery_attempted",
        "attempted_delivery": "delivery_attempted",
        "not_delivered": "delivery_attempted",
        "refused": "delivery_attempted",
        "damaged": "damaged",
        "lost": "lost",
        "missing": "lost",
        "return_to_sender": None,
    },
    alerts={"delivery_exception": "delayed", "transit_exception": "delayed"},
)

SHIPPO = Vocabulary(
    statuses={
        "PRE_TRANSIT": "pre_transit",
        "TRANSIT": "in_transit",
        "DELIVERED": "delivered",
        "RETURNED": "returned",
        "FAILURE": "failure",
        "UNKNOWN": "unknown",
    },
    refine={
        ("TRANSIT", "out_for_delivery"): "out_for_delivery",
        ("TRANSIT", "pickup_available"): "available_for_pickup",
        ("TRANSIT", "return_to_sender"): "returned",
        ("TRANSIT", "returned_to_sender"): "returned",
        ("TRANSIT", "returned"): "returned",
        ("TRANSIT", "package_returned"): "returned",
        ("PRE_TRANSIT", "package_accepted"): "picked_up",  # accepted into the network: the carrier has it
    },
    exceptions={
        "address_issue": "address_problem",
        "contact_carrier": "held",          # stuck until someone calls the carrier
        "delayed": "delayed",
        "delivery_attempted": "delivery_attempted",
        "delivery_rescheduled": "delayed",
        "rescheduled": "delayed",
        "reschedule_delivery": "delivery_attempted",  # "contact carrier to reschedule": after an attempt
        "location_inaccessible": "delivery_attempted",
        "notice_left": "delivery_attempted",
        "package_damaged": "damaged",
        "package_held": "held",
        "package_unclaimed": "held",        # waiting at a counter, not collected
        "package_undeliverable": "delivery_attempted",
        "package_lost": "lost",
        "lost": "lost",
        "package_disposed": "lost",         # gone for good
    },
)

AFTERSHIP = Vocabulary(
    statuses={
        "Pending": "unknown",       # AfterShip has no information yet
        "InfoReceived": "pre_transit",
        "InTransit": "in_transit",
        "OutForDelivery": "out_for_delivery",
        "AttemptFail": "out_for_delivery",  # on the last leg; the overlay says the attempt failed
        "Delivered": "delivered",
        "AvailableForPickup": "available_for_pickup",
        "Exception": "in_transit",  # keeps moving unless the subtag says it goes back
        "Expired": "unknown",       # AfterShip stopped looking: says nothing about the parcel
    },
    refine={
        ("Exception", "Exception_010"): "returned",  # returning to sender
        ("Exception", "Exception_011"): "returned",  # returned to sender
    },
    exceptions={
        "Exception_002": "address_problem",     # customer moved
        "Exception_003": "delivery_attempted",  # customer refused delivery
        "Exception_004": "held",                # delayed in customs clearance: held by an authority
        "Exception_005": "delayed",             # delayed (external factors)
        "Exception_006": "held",                # held for payment
        "Exception_007": "address_problem",     # incorrect address
        "Exception_008": "held",                # pickup missed: waiting at the pickup point
        "Exception_009": "held",                # rejected by carrier
        "Exception_010": None,                  # returning to sender: the status says it
        "Exception_011": None,                  # returned to sender
        "Exception_012": "damaged",
        "Exception_013": "lost",
        "Exception_016": "delayed",             # processing issue
        "Exception_017": "weather",             # extreme weather
        "Exception_018": "held",                # incorrect or missing documents
    },
    # Exception_001 and subtags we do not know: read the message, else "delayed".
    alerts={"Exception": "delayed", "AttemptFail": "delivery_attempted"},
)

UPS = Vocabulary(
    statuses={
        "M": "pre_transit",          # manifest / billing information received
        "MV": "cancelled",           # billing information voided
        "P": "picked_up",
        "I": "in_transit",
        "X": "in_transit",           # exception: keeps its rank, the overlay says what
        "O": "out_for_delivery",
        # "Delivery information": UPS uses D for out-for-delivery as well as delivered. Without a code or
        # description that says delivered, out_for_delivery: a false "delivered" would be final, a false
        # "out for delivery" is overtaken by the real delivery.
        "D": "out_for_delivery",
        "RS": "returned",            # returned to shipper
        "DO": "in_transit",          # delivered to origin CFS (freight): not the customer
        "DD": "in_transit",          # delivered to destination CFS (freight): not the customer
        "W": "in_transit",           # warehousing (freight)
        "NA": "unknown",
    },
    refine={
        ("D", "OT"): "out_for_delivery",
        ("D", "OF"): "out_for_delivery",
        ("D", "KB"): "delivered",
        ("D", "FS"): "delivered",
        ("D", "KM"): "delivered",
        ("D", "9E"): "delivered",
    },
    text_statuses={
        "D": (RETURN_TEXT,
              (r"out for delivery|on (the )?vehicle for delivery", "out_for_delivery"),
              (r"not (be )?delivered|undeliver", "out_for_delivery"),
              (r"\bdelivered\b", "delivered")),
        "I": (RETURN_TEXT,
              (r"out for delivery|on (the )?vehicle for delivery", "out_for_delivery"),
              (r"pickup scan|picked up", "picked_up"),
              (r"origin scan", "in_transit")),
        "X": (RETURN_TEXT,),
    },
    alerts={"X": "delayed"},
)

FEDEX = Vocabulary(
    statuses={
        "OC": "pre_transit",         # order (label) created
        "PD": "pre_transit",         # pickup delay: not picked up yet
        "PU": "picked_up",
        "PX": "picked_up",
        "IT": "in_transit",
        "AR": "in_transit",
        "DP": "in_transit",
        "AF": "in_transit",          # at FedEx facility
        "FD": "in_transit",          # at FedEx destination
        "OF": "in_transit",          # at FedEx origin facility
        "LO": "in_transit",          # left origin
        "SF": "in_transit",          # at sort facility
        "TR": "in_transit",          # transfer
        "AA": "in_transit",          # at airport
        "PL": "in_transit",          # plane landed
        "PF": "in_transit",          # plane in flight
        "CC": "in_transit",          # cleared customs
        "CP": "in_transit",          # clearance in progress
        "CD": "in_transit",          # clearance delay
        "OD": "out_for_delivery",
        "DL": "delivered",
        "DE": "in_transit",          # delivery exception
        "SE": "in_transit",          # shipment exception
        "DY": "in_transit",          # delay
        "HL": "available_for_pickup",  # held at a FedEx location for the customer
        "HP": "available_for_pickup",  # ready for pickup
        "RS": "returned",            # return to shipper
        "CA": "cancelled",
    },
    alerts={"DE": "delivery_attempted", "SE": "delayed", "DY": "delayed", "CD": "held", "PD": "delayed"},
)

# USPS v3 gives a statusCategory for the package and an eventCode with an eventType text for each event:
# either can be the code. Event codes whose meaning is not settled (17 and 43, "picked up" by whom?) are
# left out: a guessed "delivered" would be final.
_USPS_EVENT_CODES = {
    "GX": "pre_transit",          # shipping label created
    "MA": "pre_transit",          # manifest acknowledgement (pre-shipment information)
    "TM": "pre_transit",          # shipment received, acceptance pending
    "03": "picked_up",            # accepted or picked up by the carrier
    "OA": "picked_up",            # origin acceptance
    "PA": "picked_up",            # passive acceptance
    "10": "in_transit",           # processed
    "07": "in_transit",           # arrival at unit
    "PC": "in_transit",           # sorting / processing complete
    "EF": "in_transit",           # departed sort facility
    "SF": "in_transit",           # departed post office
    "06": "in_transit",           # forwarded
    "14": "in_transit",           # arrival at pickup point (16 says when it can be collected)
    "42": "in_transit",           # handed to a shipping partner
    "80": "in_transit",
    "81": "in_transit",
    "82": "in_transit",
    "05": "in_transit",           # undeliverable as addressed
    "08": "in_transit",           # missent
    "15": "in_transit",           # mis-shipped
    "71": "in_transit",           # rescheduled to the next delivery day
    "OF": "out_for_delivery",
    "02": "out_for_delivery",     # attempted, notice left
    "04": "out_for_delivery",     # refused
    "30": "out_for_delivery",     # delivery attempted, no access to the delivery location
    "51": "out_for_delivery",     # business closed
    "52": "out_for_delivery",     # notice left
    "53": "out_for_delivery",     # receptacle blocked
    "54": "out_for_delivery",     # receptacle full / item oversized
    "55": "out_for_delivery",     # no secure location available
    "56": "out_for_delivery",     # no authorised recipient available
    "16": "available_for_pickup",
    "01": "delivered",
    "09": "returned",             # return to sender; 21-31 are its reasons
    "21": "returned",             # no such number
    "22": "returned",             # insufficient address
    "23": "returned",             # moved, left no address
    "24": "returned",             # forward expired
    "25": "returned",             # addressee unknown
    "26": "returned",             # vacant
    "27": "returned",             # unclaimed
    "28": "returned",             # deceased
    "29": "returned",             # other
    "31": "returned",             # not picked up
    "44": "returned",             # recalled by the sender
    "11": "failure",              # dead letter
    "DX": "unknown",              # delivery status not updated
}
_USPS_CATEGORIES = {
    "Pre-Shipment": "pre_transit",
    "Accepted": "picked_up",
    "In Transit": "in_transit",
    "Out for Delivery": "out_for_delivery",
    "Delivery Attempt": "out_for_delivery",
    "Available for Pickup": "available_for_pickup",
    "Delivered": "delivered",
    "Alert": "in_transit",
    "Return to Sender": "returned",
    "Returned to Sender": "returned",
}
USPS = Vocabulary(
    statuses={**_USPS_CATEGORIES, **_USPS_EVENT_CODES},
    # "Return to Sender" can come under any category; "Delivered, To Original Sender" is a return too.
    text_statuses={word: (RETURN_TEXT,) for word, status in {**_USPS_CATEGORIES, **_USPS_EVENT_CODES}.items()
                   if status not in ("pre_transit", "returned", "unknown")},
    exceptions={
        **{code: "delivery_attempted" for code in ("02", "04", "30", "51", "52", "53", "54", "55", "56")},
        **{code: "address_problem" for code in ("05", "21", "22", "23", "24", "25", "26")},
        "08": "delayed", "15": "delayed", "71": "delayed",
    },
    alerts={"Alert": "delayed", "Delivery Attempt": "delivery_attempted"},
)

VOCABULARIES: dict[str, Vocabulary] = {
    "easypost": EASYPOST,
    "shippo": SHIPPO,
    "aftership": AFTERSHIP,
    "ups": UPS,
    "fedex": FEDEX,
    "usps": USPS,
}
PROVIDERS = tuple(VOCABULARIES)


def normalise(provider: str, code: str | None, sub: str | None = None,
              description: str | None = None) -> Normalized:
    """One provider event in our words. Unknown providers raise ValueError; unknown words are `unknown`."""
    vocab = VOCABULARIES.get(_key(provider))
    if vocab is None:
        raise ValueError(f"unknown tracking provider {provider!r} (known: {', '.join(PROVIDERS)})")
    word, detail, text = _key(code), _key(sub), str(description or "")
    if word not in vocab.statuses:
        return UNKNOWN_EVENT
    status = (vocab.refine.get((word, detail))
              or _first_match(vocab.text_statuses.get(word, ()), text)
              or vocab.statuses[word])
    if status == UNKNOWN:
        return UNKNOWN_EVENT
    if detail and detail in vocab.exceptions:
        exception = vocab.exceptions[detail]
    elif word in vocab.exceptions:
        exception = vocab.exceptions[word]
    elif word in vocab.alerts or (detail and detail in vocab.alerts):
        default = vocab.alerts.get(word) or vocab.alerts.get(detail)
        exception = _first_match(TEXT_EXCEPTIONS, text) or (None if status in FINAL else default)
    else:
        exception = None
    return Normalized(status, exception)


# -- reconciliation -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrackingEventIn:
    key: str                      # unique per event (dedupe key)
    occurred_at: dt.datetime      # carrier time, timezone-aware
    status: str                   # normalised
    exception: str | None = None


@dataclass(frozen=True)
class ShipmentState:
    status: str                   # LABEL_CREATED when there are no events at all
    exception: str | None
    active: bool                  # the carrier has physically scanned it (first PHYSICAL event)
    activated_at: dt.datetime | None  # time of the first physical event
    delivered_at: dt.datetime | None
    last_event_at: dt.datetime | None
    final: bool


NO_EVENTS = ShipmentState(LABEL_CREATED, None, False, None, None, None, False)


def _utc(moment: dt.datetime) -> dt.datetime:
    """Carrier times compared as instants; a naive time (should not happen) is read as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def _order(event: TrackingEventIn) -> tuple[dt.datetime, str]:
    return _utc(event.occurred_at), event.key


def _dedupe(events: Iterable[TrackingEventIn]) -> list[TrackingEventIn]:
    """One event per key. Should a key come back with different content, the same one wins whatever the
    arrival order: the latest carrier time, then the highest rank, then the words themselves."""
    by_key: dict[str, TrackingEventIn] = {}
    for e in events:
        kept = by_key.get(e.key)
        if kept is None or _content(e) > _content(kept):
            by_key[e.key] = e
    return list(by_key.values())


def _content(e: TrackingEventIn) -> tuple:
    return _utc(e.occurred_at), RANK.get(e.status, -1), e.status, e.exception or ""


def _overlay(e: TrackingEventIn) -> str | None:
    return e.exception if e.exception in EXCEPTIONS else None


def derive_state(events: Iterable[TrackingEventIn]) -> ShipmentState:
    """A shipment's state from all of its events, whatever order and however often they arrived.

    The events are deduplicated by key and sorted by (carrier time, key); every rule below is a function of
    that set, so any permutation or repetition of the input gives the same state.

    - `unknown` events (and statuses outside STATUSES) are ignored altogether: they change neither the
      status nor the exception, and do not count as the last event (AfterShip's "Expired" is no news).
    - Final: the first final event (delivered, returned, failure) by carrier time decides, and nothing
      after it changes the status: a Delivered followed by an Out For Delivery stays delivered. The
      exception is the final event's own, or None.
    - Cancelled holds only if no physical event came after the latest cancel (by carrier time): a label
      voided and then scanned anyway is with the carrier after all.
    - Otherwise the status is the highest RANK any event reached: it never goes back.
    - The exception overlay (when not final) is that of the latest event by carrier time, if it carries
      one, else None: a newer normal event clears an exception, an older one arriving late does not.
    - Active from the first PHYSICAL event (not a label or "information received"), even if cancelled later.

    Times in the result are UTC.
    """
    ordered = sorted(_dedupe(events), key=_order)
    known = [e for e in ordered if e.status in STATUSES and e.status != UNKNOWN]
    if not known:
        return NO_EVENTS
    physical = [e for e in known if e.status in PHYSICAL]
    finals = [e for e in known if e.status in FINAL]
    last = known[-1]
    if finals:
        decisive = finals[0]
        status, exception = decisive.status, _overlay(decisive)
        delivered_at = _utc(decisive.occurred_at) if status == "delivered" else None
    else:
        cancels = [e for e in known if e.status == CANCELLED]
        if cancels and not any(_order(p) > _order(cancels[-1]) for p in physical):
            status = CANCELLED
        else:
            status = max((e for e in known if e.status != CANCELLED), key=lambda e: RANK[e.status]).status
        exception = _overlay(last)
        delivered_at = None
    return ShipmentState(
        status=status,
        exception=exception,
        active=bool(physical),
        activated_at=_utc(physical[0].occurred_at) if physical else None,
        delivered_at=delivered_at,
        last_event_at=_utc(last.occurred_at),
        final=status in FINAL,
    )


def event_key(carrier: str, tracking_number: str, code: str, occurred_at: dt.datetime) -> str:
    """A stable dedupe key (sha256 hex, 64 characters) for an event the provider gives no id.

    The same event polled twice, or from a webhook and a poll, gets the same key: the carrier and code are
    read case-insensitively, the number as a tracking number (no spaces or dashes), the time as a UTC
    instant (a naive time is read as UTC). Pass a code that tells a carrier's events apart: for UPS, the
    type and the code ("I:AR"), when several scans share a minute.
    """
    parts = (
        (carrier or "").strip().casefold(),
        normalise_tracking(tracking_number or ""),
        (code or "").strip().casefold(),
        _utc(occurred_at).isoformat(),
    )
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def parcel_stage(state: ShipmentState) -> str:
    """One parcel's carrier stage: labeled until active, then PARCEL_STAGE by its status."""
    if not state.active:
        return "labeled"
    return PARCEL_STAGE.get(state.status, "in_transit")


def order_carrier_stage(states: Sequence[ShipmentState]) -> str | None:
    """The order's carrier stage (one of CARRIER_STAGES) from its parcels' states, or None without parcels.

    - Cancelled parcels are ignored when the order has others (a voided label is not a parcel). When every
      parcel is cancelled they count as they are: "labeled" unless one was scanned before its cancel.
    - Delivered only when every (remaining) parcel is delivered; returned and failed parcels never count as
      delivered.
    - "labeled" while no parcel is active.
    - Otherwise the least advanced stage of the active parcels (PARCEL_STAGE: returned/failure stay
      "in_transit", an alert handles them). Parcels not scanned yet do not hold the order back, but they do
      keep it from being delivered: when every active parcel is delivered and another has not been scanned,
      the order is "in_transit".
    """
    states = list(states)
    if not states:
        return None
    live = [s for s in states if s.status != CANCELLED] or states
    if all(s.status == "delivered" for s in live):
        return "delivered"
    active = [s for s in live if s.active]
    if not active:
        return "labeled"
    stage = min((parcel_stage(s) for s in active), key=CARRIER_STAGES.index)
    if stage == "delivered":  # every active parcel delivered, but not every parcel
        return "in_transit"
    return stage
