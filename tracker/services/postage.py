"""Shipping labels bought in Inktrail: rates, the purchase, the label printed, the tracking number linked,
voids and return labels (docs/SHIPPING.md).

A purchase talks to the provider between database transactions, so these functions own their commits
(as the print queue does): read and claim, commit; call the provider; store what it answered, commit.
Nothing is sent from inside an open transaction, and what was bought is stored the moment it is known.

Never two labels for one purchase: each purchase has an idempotency key (the caller's, a scan's ID, or
the provider's shipment id), stored with status "buying" before the provider is asked. A double click
finds the claim and is told to wait; a retry after a lost answer finds the claim unresolved and first
asks the provider whether that purchase went through (find_purchase), adopting the label if it did.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import dataclasses
from dataclasses import dataclass

from sqlalchemy import select, update

from ..domain import postage as rules
from ..domain.carriers import CARRIER_NAMES
from ..domain.lifecycle import CANCELLED, LAST_PEOPLE_STAGE, PACK_STAGE, MoveRefused
from ..domain.refusals import (BadGateway, Conflict, GatewayTimeout, Invalid, NotFound, Refused, Unavailable,
                               Unprocessable)
from ..extensions import db
from ..integrations.http import ProviderError
from ..integrations.postage import PROVIDERS, download_label
from ..integrations.postage.common import BUY_TIMEOUT
from ..models import LabelPurchase, Order, StationState, utcnow
from ..settings import ProviderSettings, current_settings
from .orders import Actor, move_order, record_note
from .outbox import RetryLater, enqueue

log = logging.getLogger("tracker.postage")
PROVIDER_NAMES = {"easypost": "EasyPost", "shippo": "Shippo"}
# A claim older than this is a purchase whose process died mid-call: resolved like a lost answer.
STALE_CLAIM_SECONDS = BUY_TIMEOUT + 30
NOTE_KIND = "postage"


class PostageProblem(Refused):
    """Why a label was not bought, in words for the shop; its kind (below) gives the status every surface
    answers (domain/refusals.py)."""


class PostageInvalid(PostageProblem, Invalid):
    pass


class PostageNotFound(PostageProblem, NotFound):
    pass


class PostageConflict(PostageProblem, Conflict):
    pass


class PostageUnprocessable(PostageProblem, Unprocessable):
    """The provider refused, or the order lacks what it needs (an address it can deliver to)."""


class ProviderBusy(PostageProblem, Unavailable):
    pass


class ProviderFailed(PostageProblem, BadGateway):
    pass


class ProviderTimedOut(PostageProblem, GatewayTimeout):
    pass


@dataclass(frozen=True)
class Bought:
    purchase: LabelPurchase
    created: bool          # False: an earlier purchase answered (a replay, a double click, a lost answer)
    message: str


# -- settings and inputs ----------------------------------------------------------------------------

def label_provider() -> tuple[str, ProviderSettings]:
    settings = current_settings()
    name = settings.shipping.provider
    if name is None:
        raise PostageConflict("no label provider is set up: set [providers.easypost] api_key (or "
                                  "[providers.shippo] api_key) in config.toml, e.g. api_key = \"env:EASYPOST_API_KEY\"")
    cfg = settings.providers.get(name)
    if cfg is None or not cfg.api_key:
        raise PostageConflict(f"[shipping] provider is {name}, but [providers.{name}] api_key is not set "
                                  f"(or its environment variable is empty)")
    return name, cfg


def provider_label(name: str) -> str:
    return PROVIDER_NAMES.get(name, name)


def package_for(data: dict, *, station: str | None = None) -> rules.Package:
    """The package a request names or types; else the station's last one, else [shipping] default_package."""
    settings = current_settings()
    default_name = station_package(station) if station else None
    default_name = default_name or settings.shipping.default_package
    default = settings.packages.get(default_name) if default_name else None
    try:
        return rules.package_from(data, settings.packages, default=default)
    except rules.PostageRefused as exc:
        raise PostageInvalid(exc.message, exc.field) from None


def station_package(station: str) -> str | None:
    state = db.session.get(StationState, station)
    packages = current_settings().packages
    if state is not None and state.package in packages:
        return state.package
    configured = current_settings().stations.get(station)
    return configured.package if configured is not None else None


def remember_station_package(station: str, name: str) -> None:
    if name not in current_settings().packages:
        raise PostageInvalid(f"there is no package preset {name[:40]!r}", "package")
    state = db.session.get(StationState, station) or StationState(station=station)
    state.package = name
    db.session.add(state)
    db.session.flush()


def ship_to(order: Order) -> rules.Address:
    return rules.Address(name=order.ship_name or order.customer_name, company=order.ship_company,
                         street1=order.ship_street1, street2=order.ship_street2, city=order.ship_city,
                         state=order.ship_region, zip=order.ship_postal, country=(order.ship_country or "US"),
                         phone=order.customer_phone)


def ship_from() -> rules.Address:
    cfg = current_settings().shipping.ship_from
    address = rules.Address(**{**dataclasses.asdict(cfg), "country": (cfg.country or "US").upper()})
    missing = rules.address_missing(address, who="the ship-from address ([shipping.from] in config.toml)")
    if missing:
        raise PostageConflict(missing, "shipping.from")
    return address


def printer_for(printer: str | None, station: str | None) -> str | None:
    settings = current_settings()
    if printer is not None:
        if printer not in settings.printers:
            raise PostageInvalid(f"there is no printer {printer!r} (printers: "
                                      f"{', '.join(settings.printers) or 'none'})", "printer")
        return printer
    st = settings.stations.get(station) if station else None
    return ((st.printer if st else None) or settings.shipping.printer or settings.intake.label_printer
            or next(iter(settings.printers), None))


def _label_format(printer: str | None) -> str:
    from ..labels import drivers

    cfg = current_settings().printers.get(printer) if printer else None
    return rules.label_format_for(drivers.payload_format(cfg) if cfg else None)


def _order(code: str) -> Order:
    from ..queries import get_order

    order = get_order(code)
    if order is None:
        raise PostageNotFound(f"no order {code!r}")
    if order.stage == CANCELLED:
        raise PostageConflict(f"{order.code} is cancelled")
    return order


def _provider_problem(provider: str, exc: ProviderError, *, doing: str) -> PostageProblem:
    who = provider_label(provider)
    detail = exc.message.split(": ", 1)[-1] if exc.status else exc.message
    if exc.status in (401, 403):
        return PostageConflict(f"{who} refused the API key while {doing}: check [providers.{provider}] api_key")
    if exc.status == 429:
        return ProviderBusy(f"{who} asked us to slow down while {doing}; try again in a minute")
    if exc.status is not None and exc.status >= 500 or (exc.status is None and exc.retryable):
        return (ProviderTimedOut if exc.timed_out else ProviderFailed)(
            f"{who} {'did not answer in time' if exc.timed_out else 'could not be reached'} while "
            f"{doing} ({detail[:120]}); try again")
    return PostageUnprocessable(f"{who} refused {doing}: {detail}")


# -- rates ------------------------------------------------------------------------------------------

def quote_rates(code: str, package: rules.Package, *, actor: Actor, is_return: bool = False,
                printer: str | None = None, station: str | None = None) -> LabelPurchase:
    """Asks the provider for rates (after checking both addresses) and keeps them as a quote. Commits."""
    name, cfg = label_provider()
    module = PROVIDERS[name]
    order = _order(code)
    to = ship_to(order)
    missing = rules.address_missing(to, who=f"{order.code}'s ship-to address")
    if missing:
        raise PostageUnprocessable(f"{missing}: add it on the order page; nothing was bought", "ship_to")
    origin = ship_from()
    printer = printer_for(printer, station)
    fmt = _label_format(printer)
    order_id, order_code = order.id, order.code
    db.session.commit()  # no transaction stays open while the provider is asked
    if current_settings().shipping.verify_addresses:
        for address, whose in ((to, f"{order_code}'s ship-to address"), (origin, "the ship-from address")):
            try:
                refusal = _verified(name, cfg, address)
            except ProviderError as exc:
                raise _provider_problem(name, exc, doing=f"checking {whose}") from None
            if refusal:
                raise PostageUnprocessable(f"{provider_label(name)} cannot deliver to {whose}: {refusal}. "
                                          "Correct it and try again; nothing was bought", "ship_to")
    try:
        quote = module.quote(cfg, ship_from=origin, ship_to=to, package=package,
                             is_return=is_return, label_format=fmt, reference=order_code)
    except ProviderError as exc:
        raise _provider_problem(name, exc, doing="quoting rates") from None
    if not quote.rates:
        why = "; ".join(quote.messages) or "none of the account's carriers serves this package"
        raise PostageUnprocessable(f"{provider_label(name)} offered no rate for this package ({why})")
    row = LabelPurchase(order_id=order_id, provider=name, is_return=is_return, package=json.dumps(package.as_dict()),
                        quote_ref=quote.ref, rates=json.dumps([r.as_json() for r in quote.rates]), label_format=fmt,
                        printer=printer, station=station, requested_by=actor.name, status="quoted", attempts=0)
    db.session.add(row)
    db.session.commit()
    return row


_VERIFIED: dict[tuple, None] = {}


def _verified(name: str, cfg: ProviderSettings, address: rules.Address) -> str | None:
    """The provider's refusal of an address, None when accepted (an accepted address is not asked again
    in this process: the ship-from address would otherwise cost a call per label)."""
    key = (name, tuple(sorted(address.as_dict().items())))
    if key in _VERIFIED:
        return None
    refusal = PROVIDERS[name].verify_address(cfg, address)
    if refusal is None:
        if len(_VERIFIED) > 1000:
            _VERIFIED.clear()
        _VERIFIED[key] = None
    return refusal


def rates_of(row: LabelPurchase) -> list[rules.Rate]:
    return [rules.rate_from_json(r) for r in json.loads(row.rates or "[]")]


def picked_rate(row: LabelPurchase) -> rules.Rate:
    return rules.choose_rate(rates_of(row), current_settings().shipping.rule)


# -- buying -----------------------------------------------------------------------------------------

def buy_label(code: str, *, actor: Actor, source: str, rate_id: str | None = None,
              package: rules.Package | None = None, key: str | None = None, another_parcel: bool = False,
              is_return: bool = False, printer: str | None = None, station: str | None = None) -> Bought:
    """Buys one label for the order (the rate given, else the shop's rule's pick of fresh rates), links
    its tracking number, prints it, and moves a packed order to Label. Commits as it goes."""
    name, cfg = label_provider()
    order = _order(code)
    if key is not None:
        row = db.session.scalar(select(LabelPurchase).where(LabelPurchase.key == key))
        if row is not None:
            if row.order_id != order.id:
                raise PostageConflict("that idempotency key was used for another order's label")
            return _answer_existing(row, cfg)
    for row in _unresolved(order.id):
        if _resolve(row, cfg, actor=actor, source=source):
            return Bought(row, False, f"{order.code}: the earlier purchase went through: "
                                      f"{_words(row)} (no second label bought)")
    if rate_id is not None:
        row = _quote_with_rate(order.id, rate_id)
        if row.status != "quoted":
            return _answer_existing(row, cfg)
        rate = next(r for r in rates_of(row) if r.rate_id == rate_id)
    else:
        if not is_return and not another_parcel:
            live = [s for s in order.live_shipments]
            if live:
                numbers = ", ".join(f"{CARRIER_NAMES.get(s.carrier, s.carrier)} {s.tracking_number}" for s in live)
                raise PostageConflict(f"{order.code} already has a label ({numbers}): to ship another parcel, "
                                          "ask for another parcel's label", "another_parcel")
        if package is None:
            package = package_for({}, station=station)
        row = quote_rates(order.code, package, actor=actor, is_return=is_return, printer=printer, station=station)
        try:
            rate = picked_rate(row)
        except rules.PostageRefused as exc:
            raise PostageUnprocessable(exc.message) from None
    _claim(row, rate, key=key or f"{row.provider}:{row.quote_ref}", actor=actor, printer=printer, station=station)
    return _buy_claimed(row, cfg, actor=actor, source=source)


def _quote_with_rate(order_id: int, rate_id: str) -> LabelPurchase:
    for row in db.session.scalars(select(LabelPurchase).where(LabelPurchase.order_id == order_id)
                                  .order_by(LabelPurchase.id.desc())):
        if row.rate_id == rate_id or any(r.rate_id == rate_id for r in rates_of(row)):
            return row
    raise PostageNotFound(f"no rate {rate_id[:100]!r} was quoted for this order: ask for rates again", "rate_id")


def _unresolved(order_id: int) -> list[LabelPurchase]:
    stale = utcnow() - dt.timedelta(seconds=STALE_CLAIM_SECONDS)
    return [r for r in db.session.scalars(select(LabelPurchase).where(LabelPurchase.order_id == order_id,
                                                                      LabelPurchase.status == "buying"))
            if r.claimed_at is None or r.claimed_at < stale]


def _answer_existing(row: LabelPurchase, cfg: ProviderSettings) -> Bought:
    order_code = row.order.code
    if row.status in ("bought", "voided"):
        return Bought(row, False, f"{order_code}: already bought: {_words(row)}")
    if row.status == "buying":
        if row.claimed_at is not None and row.claimed_at >= utcnow() - dt.timedelta(seconds=STALE_CLAIM_SECONDS):
            raise PostageConflict(f"{order_code}'s label is being bought right now; wait a moment")
        if _resolve(row, cfg, actor=Actor(row.requested_by, None), source="web"):
            return Bought(row, False, f"{order_code}: the earlier purchase went through: {_words(row)}")
    raise PostageConflict(f"{order_code}: that purchase did not go through ({row.last_error or 'no answer'}); "
                              "pick a rate again")


def _claim(row: LabelPurchase, rate: rules.Rate, *, key: str, actor: Actor, printer: str | None,
           station: str | None) -> None:
    """Marks the quote as being bought under `key`, in one statement that only one request can win."""
    now = utcnow()
    values = dict(status="buying", key=key, rate_id=rate.rate_id, carrier=rate.carrier, service=rate.service,
                  amount=rate.amount, currency=rate.currency[:3], delivery_days=rate.delivery_days, claimed_at=now,
                  attempts=(row.attempts or 0) + 1, requested_by=actor.name)
    if printer is not None:
        values["printer"] = printer
    if station is not None:
        values["station"] = station
    won = db.session.execute(update(LabelPurchase).where(LabelPurchase.id == row.id, LabelPurchase.status == "quoted")
                             .values(**values).execution_options(synchronize_session=False)).rowcount
    if not won:
        db.session.rollback()
        raise PostageConflict("this label is being bought right now; wait a moment")
    db.session.commit()
    db.session.refresh(row)


def _buy_claimed(row: LabelPurchase, cfg: ProviderSettings, *, actor: Actor, source: str) -> Bought:
    module = PROVIDERS[row.provider]
    quote_ref, rate_id, fmt, key, provider = row.quote_ref, row.rate_id, row.label_format, row.key, row.provider
    try:
        purchase = module.buy(cfg, quote_ref, rate_id, label_format=fmt, key=key)
    except ProviderError as exc:
        row = db.session.get(LabelPurchase, row.id)
        row.last_error = str(exc)[:500]
        lost = exc.status is None or exc.status >= 500
        if lost and exc.status != 503:
            # No answer, or a server error mid-purchase: it may have gone through. Left unresolved; the
            # next try on this order asks the provider before buying anything.
            row.claimed_at = None
            db.session.commit()
            problem = _provider_problem(provider, exc, doing="buying the label")
            raise type(problem)(problem.message + ": nothing is lost; press Buy again and "
                                 "Inktrail asks the provider first, so a label is never bought twice") from None
        row.status, row.key, row.claimed_at = "quoted", None, None
        db.session.commit()
        raise _provider_problem(provider, exc, doing="buying the label") from None
    _record_purchase(row.id, purchase, actor=actor, source=source)
    row = db.session.get(LabelPurchase, row.id)
    _fetch_and_print(row.id, actor=actor, source=source)
    row = db.session.get(LabelPurchase, row.id)
    return Bought(row, True, f"{row.order.code}: {_words(row)}")


def _resolve(row: LabelPurchase, cfg: ProviderSettings, *, actor: Actor, source: str) -> bool:
    """Asks the provider whether an unresolved purchase went through: adopts it (True) or frees the quote
    (False). A provider that cannot be asked stops everything for this order: nothing is bought blind."""
    module = PROVIDERS[row.provider]
    row_id, quote_ref, rate_id, key, provider = row.id, row.quote_ref, row.rate_id, row.key, row.provider
    db.session.commit()
    try:
        found = module.find_purchase(cfg, quote_ref, rate_id, key)
    except ProviderError as exc:
        problem = _provider_problem(provider, exc, doing="checking whether an earlier purchase went through")
        raise type(problem)(problem.message + " (nothing new is bought until it can be "
                             "checked)") from None
    if found is None:
        row = db.session.get(LabelPurchase, row_id)
        row.status, row.key, row.claimed_at = "quoted", None, None
        db.session.commit()
        return False
    _record_purchase(row_id, found, actor=actor, source=source)
    _fetch_and_print(row_id, actor=actor, source=source)
    return True


def _record_purchase(row_id: int, purchase, *, actor: Actor, source: str) -> None:
    """Stores a purchase the moment it is known: the row, the shipment with its tracking number (linked,
    tracked by the provider's webhooks), the audit note, and a packed order moved to Label. Commits."""
    from .shipments import add_shipment

    row = db.session.get(LabelPurchase, row_id)
    order = row.order
    carrier = purchase.carrier if purchase.carrier != "other" else (row.carrier or "other")
    row.status, row.purchase_ref, row.tracking_number = "bought", purchase.ref, purchase.tracking_number
    row.carrier, row.service = carrier, purchase.service or row.service
    row.amount, row.currency = purchase.amount or row.amount, (purchase.currency or row.currency or "USD")[:3]
    row.label_url = (purchase.label_url or "")[:1000] or None
    if purchase.label_format:
        row.label_format = purchase.label_format
    row.bought_at, row.claimed_at, row.last_error = utcnow(), None, None
    try:
        shipment = add_shipment(order, tracking_number=purchase.tracking_number, carrier=carrier,
                                service=(row.service or "")[:80] or None, provider=row.provider, actor=actor,
                                source=source, registered_ref=purchase.tracker_ref or purchase.tracking_number,
                                is_return=row.is_return)
    except Refused as exc:  # the provider answered a number another order has: kept, said loudly
        row.last_error = f"bought, but not linked: {exc}"
        db.session.commit()
        raise PostageConflict(f"the label was bought ({purchase.tracking_number}) but not linked: {exc}") from None
    if purchase.public_url:
        shipment.public_url = purchase.public_url[:500]
    row.shipment_id = shipment.id
    pkg = rules.Package(**json.loads(row.package or "{}"))
    record_note(order, kind=NOTE_KIND, actor=actor, source=source, station=row.station,
                note=f"{'Return label' if row.is_return else 'Label'} bought via {provider_label(row.provider)}: "
                     f"{_words(row)} · {pkg.describe()}")
    if not row.is_return and order.stage == PACK_STAGE:
        move_order(order, LAST_PEOPLE_STAGE, actor=actor, source=source, station=row.station,
                   note=f"Label bought: {CARRIER_NAMES.get(carrier, carrier)} {purchase.tracking_number}")
    db.session.commit()


def _words(row: LabelPurchase) -> str:
    carrier = CARRIER_NAMES.get(row.carrier or "", row.carrier or "")
    price = rules.money(row.amount, row.currency or "USD") if row.amount else ""
    return " ".join(p for p in (carrier, row.service or "", price, row.tracking_number or "") if p)


# -- the label file ---------------------------------------------------------------------------------

def _fetch_and_print(row_id: int, *, actor: Actor, source: str) -> None:
    """Downloads the bought label and queues it on the printer. A download that fails is left to the
    outbox (retried with backoff); the tracking number is linked already either way. Commits."""
    row = db.session.get(LabelPurchase, row_id)
    url = row.label_url
    if not url:
        return
    db.session.commit()
    try:
        data, fmt = download_label(url)
    except ProviderError as exc:
        row = db.session.get(LabelPurchase, row_id)
        row.last_error = f"label file not fetched yet: {exc}"[:500]
        enqueue("postage_label", f"postage_label:{row_id}", {"purchase_id": row_id, "url": url,
                                                            "actor": actor.name, "source": source},
                order_id=row.order_id)
        db.session.commit()
        return
    _attach_and_print(row_id, data, fmt, actor=actor, source=source)


def _attach_and_print(row_id: int, data: bytes, fmt: str, *, actor: Actor, source: str) -> None:
    from .printing import queue_carrier_label

    row = db.session.get(LabelPurchase, row_id)
    shipment = row.shipment
    if shipment is None or shipment.label_data is not None:
        return
    shipment.label_data, shipment.label_format = data, fmt
    if row.printer and row.printer in current_settings().printers:
        try:
            job = queue_carrier_label(shipment, printer=row.printer, actor=actor, source=source)
            row.last_error = None
            log.info("label %s queued on %s (print job %s)", shipment.tracking_number, row.printer, job.id)
        except Refused as exc:  # the printer cannot take it (a PDF on a ZPL printer, ...)
            row.last_error = f"label kept, not printed: {exc}"[:500]
    db.session.commit()


def send_label(payload: dict):
    try:
        return download_label(payload["url"])
    except ProviderError as exc:
        if exc.retryable:
            raise RetryLater(str(exc), seconds=exc.retry_after) from None
        raise


def apply_label(payload: dict, result) -> None:
    data, fmt = result
    _attach_and_print(payload["purchase_id"], data, fmt, actor=Actor(payload.get("actor") or "system", None),
                      source=payload.get("source") or "system")




# -- voids ------------------------------------------------------------------------------------------

def void_label(purchase_id: int, *, actor: Actor, source: str) -> LabelPurchase:
    """Asks the provider to refund a bought label; on a refund submitted (or done) the shipment is voided:
    no longer tracked, not shown to the customer; an order left with no label goes back to Packaging."""
    row = db.session.get(LabelPurchase, purchase_id)
    if row is None:
        raise PostageNotFound(f"no label purchase {purchase_id}")
    if row.status == "voided":
        raise PostageConflict(f"{row.tracking_number} is voided already (refund {row.refund_status})")
    if row.status != "bought":
        raise PostageConflict("only a bought label can be voided")
    name, provider = row.provider, row.provider
    cfg = current_settings().providers.get(name) or ProviderSettings(name=name)
    ref = row.purchase_ref
    db.session.commit()
    try:
        refund = PROVIDERS[name].refund(cfg, ref)
    except ProviderError as exc:
        raise _provider_problem(provider, exc, doing="refunding the label") from None
    row = db.session.get(LabelPurchase, purchase_id)
    order = row.order
    row.refund_status = refund.status
    if refund.status == "rejected":
        record_note(order, kind=NOTE_KIND, actor=actor, source=source,
                    note=f"Refund of label {row.tracking_number} refused by {provider_label(name)}"
                         + (f": {refund.message}" if refund.message else ""))
        db.session.commit()
        raise PostageUnprocessable(f"{provider_label(name)} refused the refund of {row.tracking_number}"
                                  + (f": {refund.message}" if refund.message else "") + "; the label is still valid")
    now = utcnow()
    row.status, row.voided_at = "voided", now
    shipment = row.shipment
    if shipment is not None:
        shipment.voided_at, shipment.final, shipment.next_poll_at = now, True, None
    record_note(order, kind=NOTE_KIND, actor=actor, source=source,
                note=f"Label voided: {_words(row)} (refund {refund.status} at {provider_label(name)})")
    db.session.flush()
    db.session.expire(order, ["shipments"])
    if not row.is_return and order.stage == LAST_PEOPLE_STAGE and not order.live_shipments:
        try:
            move_order(order, PACK_STAGE, actor=actor, source=source,
                       note=f"Label {row.tracking_number} voided: the parcel needs a new label")
        except MoveRefused as exc:
            log.info("%s stays in %s after a void: %s", order.code, order.stage, exc)
    db.session.commit()
    return row


def purchase_json(row: LabelPurchase) -> dict:
    from .printing import print_job_json
    from ..models import PrintJob

    job = None
    if row.shipment_id:
        job = db.session.scalar(select(PrintJob).where(PrintJob.order_id == row.order_id, PrintJob.kind == "carrier")
                                .order_by(PrintJob.id.desc()).limit(1))
    shipment = row.shipment
    return {"purchase_id": row.id, "order_id": row.order.code, "provider": row.provider, "status": row.status,
            "is_return": row.is_return, "tracking_number": row.tracking_number, "carrier": row.carrier,
            "service": row.service, "amount": row.amount, "currency": row.currency,
            "delivery_days": row.delivery_days, "rate_id": row.rate_id, "label_format": row.label_format,
            "label_on_file": bool(shipment is not None and shipment.label_format),
            "printer": row.printer, "refund_status": row.refund_status, "last_error": row.last_error,
            "package": json.loads(row.package or "{}"),
            "bought_at": row.bought_at.isoformat() if row.bought_at else None,
            "print_job": print_job_json(job) if job is not None else None}


def purchases_of(order: Order) -> list[LabelPurchase]:
    return list(db.session.scalars(select(LabelPurchase).where(LabelPurchase.order_id == order.id,
                                                               LabelPurchase.status.in_(("bought", "voided", "buying")))
                                   .order_by(LabelPurchase.id)))


def get_purchase(order: Order, purchase_id: int) -> LabelPurchase:
    row = db.session.get(LabelPurchase, purchase_id)
    if row is None or row.order_id != order.id:
        raise PostageNotFound(f"{order.code} has no label purchase {purchase_id}")
    return row


# -- the ship-out station ---------------------------------------------------------------------------

def buy_at_ship_out(scan_uid: str, *, actor: Actor) -> tuple[object, int]:
    """After a scan of a packed order at a station with buy_labels: buys its label with the station's
    package, prints it on the station's printer, moves the order to Label, and writes the outcome on the
    scan. The scan's ID is the purchase's key, so a replayed scan never buys a second label. Commits.
    Returns (scan, HTTP status)."""
    from ..models import Scan

    scan = db.session.scalar(select(Scan).where(Scan.uid == scan_uid))
    code, station = scan.order.code, scan.station
    try:
        bought = buy_label(code, actor=actor, source="scan", key=f"scan:{scan_uid}", station=station,
                           package=package_for({}, station=station))
    except PostageProblem as exc:
        db.session.rollback()
        scan = db.session.scalar(select(Scan).where(Scan.uid == scan_uid))
        scan.ok, scan.outcome, scan.refusal = False, "refused", "rules"
        scan.message = f"{code}: no label bought: {exc.message}"[:500]
        db.session.commit()
        return scan, exc.status if exc.status < 500 else 502
    row = bought.purchase
    scan = db.session.scalar(select(Scan).where(Scan.uid == scan_uid))
    scan.ok, scan.outcome, scan.to_stage = True, "moved", row.order.stage
    printed = f" · printing on {row.printer}" if row.printer and row.shipment and row.shipment.label_format else ""
    scan.message = f"{code} → label {_words(row)}{printed}"[:500]
    db.session.commit()
    return scan, 200
