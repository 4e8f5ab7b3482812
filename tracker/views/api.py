"""The JSON API (docs/API.md): bearer tokens, JSON in and out, 4xx with a sentence for bad input."""
from __future__ import annotations

import json

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..auth import api_role_required, load_api_token
from ..dbretry import unit_of_work
from ..domain.intake import validate_order
from ..domain.lifecycle import MoveRefused
from ..domain.refusals import Invalid, NotFound, Refused, TooLarge, WrongMediaType
from ..integrations.jsontext import storable
from ..extensions import db, no_rate_limit
from ..models import utcnow
from ..queries import get_order, order_json
from ..services import orders as order_service
from ..settings import current_settings

bp = Blueprint("api", __name__, url_prefix="/api")
bp.before_request(load_api_token)


class NotJson(WrongMediaType):
    """A body that is not JSON (415); the scan call answers it as a bad request, like the scan page."""


@bp.errorhandler(Refused)
def _refused(exc: Refused):
    """The API's one error handler: any refusal of the family (domain/refusals.py: the order rules', a
    postage problem, a proof's, an order that does not look like one, the API's own word on a request it
    cannot use) is rolled back and answered by its kind (400, 404, 409, 413, 415, 422, 502-504), with the
    field at fault."""
    db.session.rollback()
    body = {"error": exc.message}
    if exc.field:
        body["field"] = exc.field
    return jsonify(body), exc.status


def json_body(allowed: set[str] | None = None, *, empty_ok: bool = False) -> dict:
    """The request's JSON object, or a refusal that says what is wrong with it. empty_ok: a POST with
    no body at all (`curl -X POST`) means {} for a call whose fields are all optional."""
    if empty_ok and not request.is_json and not request.content_length and not request.get_data(cache=True):
        return {}
    if not request.is_json:
        raise NotJson("send the body as JSON with Content-Type: application/json")
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise TooLarge("the body is too large (1 MB at most)") from None
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: [[[[... nested too deep
        raise Invalid(f"the body is not valid JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from None
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    if allowed is not None:
        extra = sorted(set(data) - allowed)
        if extra:
            raise Invalid(f"unknown field '{extra[0]}' (allowed: {', '.join(sorted(allowed))})", extra[0])
    return data


def _optional_text(data: dict, key: str, max_len: int = 2000) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"'{key}' must be text", key)
    if len(value) > max_len:
        raise Invalid(f"'{key}' is too long (at most {max_len} characters)", key)
    if storable(value) != value:  # a NUL or a lone surrogate: no database column holds it
        raise Invalid(f"'{key}' has characters no text can hold (a NUL or a broken character)", key)
    return value


def _order_or_404(order_id: str):
    order = get_order(order_id)
    if order is None:
        raise NotFound(f"no order {order_id!r}")
    return order


@bp.post("/orders")
@api_role_required("operator")
def create_order():
    data = json_body()
    settings = current_settings()
    today = utcnow().astimezone(settings.shop.tz).date()
    draft = validate_order(data, today=today, max_quantity=settings.intake.max_quantity,
                           max_items=settings.intake.max_items, default_channel="api")
    order, created = order_service.create_order(draft, actor=g.actor, source="api")
    db.session.commit()
    return jsonify(order_json(order)), 201 if created else 200


@bp.get("/orders/<order_id>")
@api_role_required("operator")
def show_order(order_id):
    return jsonify(order_json(_order_or_404(order_id)))


@bp.post("/orders/<order_id>/advance")
@api_role_required("operator")
def advance_order(order_id):
    data = json_body({"to", "note", "job_id"}, empty_ok=True)
    order = _order_or_404(order_id)
    to = data.get("to")
    if to is not None and (not isinstance(to, str) or to not in current_settings().lifecycle):
        raise Invalid(f"'to' {to!r} is not a stage key (stages: {', '.join(current_settings().lifecycle.keys)})", "to")
    note = _optional_text(data, "note")
    job_id = data.get("job_id")
    if job_id is not None:
        if not isinstance(job_id, str):
            raise Invalid("'job_id' must be text", "job_id")
        job = next((j for j in order.jobs if j.code == job_id.strip().upper()), None)
        if job is None:
            raise NotFound(f"order {order.code} has no job {job_id!r}", "job_id")
        if to is None:
            to = current_settings().lifecycle.next_key(job.stage) if job.stage in current_settings().lifecycle else None
            if to is None:
                raise MoveRefused(f"{job.code} has no next stage")
        order_service.move_job(job, to, actor=g.actor, source="api", note=note)
    else:
        order_service.move_order(order, to, actor=g.actor, source="api", note=note)
    db.session.commit()
    return jsonify(order_json(order))


@bp.post("/orders/<order_id>/cancel")
@api_role_required("manager")
def cancel_order(order_id):
    data = json_body({"reason"})
    order = _order_or_404(order_id)
    reason = _optional_text(data, "reason")
    if not (reason or "").strip():
        raise Invalid("say why the order is cancelled: 'reason' is required", "reason")
    order_service.cancel_order(order, actor=g.actor, source="api", reason=reason)
    db.session.commit()
    return jsonify(order_json(order))


@bp.post("/scans")
@no_rate_limit  # the hot path, as the scan page's (tracker/extensions.py)
@api_role_required("operator")
def create_scan():
    """Exactly what a scan page does: {"station", "code", "operator"?, "scan_id"?, "action"?, "reason"?,
    "scanned_at"?}. Every answer, refusals included, is {"ok": ..., ...} with "error" when not ok."""
    from ..services.scanning import record_scan
    from .scan import parse_scanned_at, scan_answer

    try:
        try:
            data = json_body({"station", "code", "operator", "scan_id", "action", "reason", "scanned_at"})
        except NotJson:  # like the scan page: anything but a JSON object is a bad request
            raise Invalid("send the scan as a JSON object with Content-Type: application/json") from None
        for key in ("station", "code"):
            if not isinstance(data.get(key), str) or not data[key].strip():
                raise Invalid(f"'{key}' is required and must be text", key)
        for key in ("operator", "scan_id", "action", "reason", "scanned_at"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise Invalid(f"'{key}' must be text", key)
        # Stored, applied and committed as one unit, tried again on a fresh connection if the database
        # dropped it (safe: a scan ID seen before is answered, not applied again).
        # The answer is read before the commit, while what the scan touched is still loaded (after the
        # commit it would be read back from the database, three more queries for the same values).
        answer, status = unit_of_work(lambda: scan_answer(*record_scan(
            data["station"], data["code"], actor=g.actor, uid=data.get("scan_id"),
            operator=data.get("operator") or None, action=data.get("action") or "move",
            reason=data.get("reason"), source="api", scanned_at=parse_scanned_at(data.get("scanned_at")))))
    except Refused as exc:  # the request's own (above) or the scan's (ScanInputError): {"ok": false, ...}
        db.session.rollback()
        body = {"ok": False, "error": exc.message}
        if exc.field:
            body["field"] = exc.field
        return jsonify(body), exc.status
    from .scan import after_scan

    answer, status = after_scan(answer, status, g.actor)
    return jsonify(answer), status


@bp.post("/orders/<order_id>/labels")
@api_role_required("operator")
def print_labels(order_id):
    """Queues job labels (kind "job", the default) or the packing slip; the print queue prints them."""
    from ..services.printing import print_job_json, queue_labels

    data = json_body({"printer", "kind"})
    for key in ("printer", "kind"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise Invalid(f"'{key}' must be text", key)
    kind = data.get("kind") or "job"
    if kind not in ("job", "packing"):
        raise Invalid(f"'kind' must be job or packing, not {kind!r}", "kind")
    printer = data.get("printer")  # a printer that is not set up: the service's Invalid, 400 naming the field
    order = _order_or_404(order_id)
    made = queue_labels(order, kind=kind, printer=printer, actor=g.actor, source="api")
    db.session.commit()
    return jsonify({"print_jobs": [print_job_json(j) for j in made]}), 202


@bp.post("/orders/<order_id>/shipments")
@api_role_required("operator")
def add_shipment(order_id):
    """{"carrier", "tracking_number", "provider"?, "service"?, "label_base64"?}: links a parcel to the
    order; label_base64 is the carrier's label file (ZPL or PDF), kept to print later."""
    import base64
    import binascii

    from ..domain.carriers import CARRIERS
    from ..queries import shipment_json
    from ..services.shipments import add_shipment as add
    from ..services.tracking import AGGREGATORS, OWN_CARRIER

    data = json_body({"carrier", "tracking_number", "provider", "service", "label_base64"})
    label = data.get("label_base64")
    if label is not None:
        try:
            label = base64.b64decode(label, validate=True) if isinstance(label, str) else None
        except (binascii.Error, ValueError):
            label = None
        if label is None:
            raise Invalid("'label_base64' must be the label file in base64", "label_base64")
    number = data.get("tracking_number")
    if not isinstance(number, str) or not number.strip():
        raise Invalid("'tracking_number' is required and must be text", "tracking_number")
    carrier = data.get("carrier")
    if carrier is not None and (not isinstance(carrier, str) or carrier not in CARRIERS):
        raise Invalid(f"'carrier' must be one of {', '.join(CARRIERS)}", "carrier")
    provider = data.get("provider")
    known = AGGREGATORS + tuple(OWN_CARRIER)
    if provider is not None and (not isinstance(provider, str) or provider not in known):
        raise Invalid(f"'provider' must be one of {', '.join(known)}", "provider")
    service = _optional_text(data, "service", 80)
    order = _order_or_404(order_id)
    shipment = add(order, tracking_number=number, carrier=carrier, service=service, provider=provider,
                   actor=g.actor, source="api")
    if label is not None:
        from ..services.shipments import attach_label

        attach_label(shipment, label, actor=g.actor, source="api")
    db.session.commit()
    return jsonify(shipment_json(shipment)), 201


@bp.get("/alerts")
@api_role_required("operator")
def alerts():
    from ..services.alerts import alert_json, open_alerts

    return jsonify({"alerts": [alert_json(a) for a in open_alerts()]})


@bp.post("/alerts/<int:alert_id>/acknowledge")
@api_role_required("operator")
def acknowledge_alert(alert_id: int):
    from ..services.alerts import acknowledge, alert_json

    alert = acknowledge(alert_id, by=g.actor.name)  # a refusal answers by its kind (_refused_by_kind)
    db.session.commit()
    return jsonify(alert_json(alert))


@bp.post("/alerts/<int:alert_id>/snooze")
@api_role_required("operator")
def snooze_alert(alert_id: int):
    from ..services.alerts import SNOOZE_CHOICES, alert_json, snooze

    data = json_body({"for"})
    choice = data.get("for")
    if not isinstance(choice, str) or choice not in SNOOZE_CHOICES:
        raise Invalid(f"'for' must be one of {', '.join(SNOOZE_CHOICES)}", "for")
    alert = snooze(alert_id, choice, by=g.actor.name)
    db.session.commit()
    return jsonify(alert_json(alert))


# -- labels bought in Inktrail (docs/SHIPPING.md) ----------------------------------------------------

POSTAGE_PACKAGE_FIELDS = {"package", "weight_oz", "length_in", "width_in", "height_in"}


def _flag(data: dict, key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise Invalid(f"'{key}' must be true or false", key)
    return value


def _postage_request(data: dict) -> dict:
    for key in ("printer", "rate_id", "idempotency_key"):
        if data.get(key) is not None and (not isinstance(data[key], str) or not data[key].strip()
                                          or len(data[key]) > 100):
            raise Invalid(f"'{key}' must be text (100 characters at most)", key)
    printer = data.get("printer")
    if printer is not None and printer not in current_settings().printers:
        raise Invalid(f"there is no printer {printer!r} (printers: "
                            f"{', '.join(current_settings().printers) or 'none'})", "printer")
    return {"printer": printer, "is_return": _flag(data, "is_return")}


@bp.post("/orders/<order_id>/rates")
@api_role_required("operator")
def postage_rates(order_id):
    """{"package"?: preset, "weight_oz"?, "length_in"?, "width_in"?, "height_in"?, "is_return"?, "printer"?}
    -> the provider's rates for the order, with the one the shop's rule picks."""
    from ..services.postage import label_provider, package_for, picked_rate, quote_rates, rates_of

    data = json_body(POSTAGE_PACKAGE_FIELDS | {"is_return", "printer"}, empty_ok=True)
    options = _postage_request(data)
    label_provider()
    order = _order_or_404(order_id)
    package = package_for(data)
    row = quote_rates(order.code, package, actor=g.actor, **options)
    try:
        chosen = picked_rate(row).rate_id
    except ValueError:
        chosen = None
    return jsonify({"order_id": order.code, "provider": row.provider, "quote_id": row.id, "package": package.as_dict(),
                    "rule": current_settings().shipping.rule.text, "chosen_rate_id": chosen,
                    "rates": [r.as_json() for r in rates_of(row)]})


@bp.post("/orders/<order_id>/postage")
@api_role_required("operator")
def buy_postage(order_id):
    """{"rate_id"?, package fields?, "printer"?, "another_parcel"?, "is_return"?, "idempotency_key"?} (or an
    Idempotency-Key header): buys the label, links its tracking number, queues it on the printer.
    201 with the shipment; 200 when the same purchase was already made (a retry, a double click)."""
    from ..queries import shipment_json
    from ..services.postage import buy_label, label_provider, package_for, purchase_json

    data = json_body(POSTAGE_PACKAGE_FIELDS | {"rate_id", "printer", "another_parcel", "is_return", "idempotency_key"},
                     empty_ok=True)
    options = _postage_request(data)
    key = request.headers.get("Idempotency-Key") or data.get("idempotency_key")
    if key is not None and (not key.strip() or len(key) > 100):
        raise Invalid("the idempotency key must be 1 to 100 characters", "idempotency_key")
    label_provider()
    order = _order_or_404(order_id)
    rate_id = data.get("rate_id")
    package = None if rate_id else package_for(data)
    bought = buy_label(order.code, actor=g.actor, source="api", rate_id=rate_id, package=package,
                       key=f"api:{key.strip()}" if key else None, another_parcel=_flag(data, "another_parcel"),
                       **options)
    row = bought.purchase
    body = {**shipment_json(row.shipment), "order_id": row.order.code, "order_stage": row.order.stage,
            "label": purchase_json(row), "message": bought.message} if row.shipment else purchase_json(row)
    return jsonify(body), 201 if bought.created else 200


@bp.get("/orders/<order_id>/postage")
@api_role_required("operator")
def list_postage(order_id):
    from ..services.postage import purchase_json, purchases_of

    order = _order_or_404(order_id)
    return jsonify({"order_id": order.code, "labels": [purchase_json(p) for p in purchases_of(order)]})


@bp.post("/orders/<order_id>/postage/<int:purchase_id>/void")
@api_role_required("operator")
def void_postage(order_id, purchase_id: int):
    """Voids a label bought by mistake: the provider's refund call, an audit event, the parcel no longer followed."""
    from ..services.postage import get_purchase, purchase_json, void_label

    json_body(set(), empty_ok=True)
    order = _order_or_404(order_id)
    row = void_label(get_purchase(order, purchase_id).id, actor=g.actor, source="api")
    return jsonify(purchase_json(row))


# -- artwork proofs (docs/PROOFS.md) ------------------------------------------------------------------

def _job_or_404(job_id: str):
    from ..queries import get_job

    job = get_job(job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}")
    return job


@bp.post("/jobs/<job_id>/proofs")
@api_role_required("operator")
def post_proof(job_id):
    """multipart/form-data with `file` (PNG, JPEG, WebP or PDF, told by its content) and an optional `note`
    -> 201 {"proof_id", "version", ...}; the customer is mailed a link to answer it."""
    from ..services.proofs import max_bytes, post_proof as post, proof_json
    from .orders import proof_request_limit

    request.max_content_length = proof_request_limit()
    job = _job_or_404(job_id)
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise NotJson("send the proof as multipart/form-data with the file in the field 'file'")
    try:
        upload = request.files.get("file")
        note = request.form.get("note")
    except RequestEntityTooLarge:
        raise TooLarge(f"the file is too large: a proof may be {round(max_bytes() / 1024 / 1024, 1):g} MB at most",
                       "file") from None
    extra = sorted((set(request.form) | set(request.files)) - {"file", "note"})
    if extra:
        raise Invalid(f"unknown field '{extra[0]}' (allowed: file, note)", extra[0])
    if upload is None:
        raise Invalid("the proof's file is missing: send it in the field 'file'", "file")
    proof = post(job, filename=upload.filename, content=upload.read(max_bytes() + 1), note=note, actor=g.actor,
                 source="api")
    db.session.commit()
    return jsonify(proof_json(proof)), 201


@bp.get("/jobs/<job_id>/proofs")
@api_role_required("operator")
def list_proofs(job_id):
    from sqlalchemy import select

    from ..models import Proof
    from ..services.proofs import proof_json

    job = _job_or_404(job_id)
    proofs = db.session.scalars(select(Proof).where(Proof.job_id == job.id).order_by(Proof.version))
    return jsonify({"job_id": job.code, "proof_state": job.proof_state, "proofs": [proof_json(p) for p in proofs]})
