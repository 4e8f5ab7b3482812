"""Staff pages for orders: the list with search and filters, the intake form, the order page and its
moves. Moves go through services/orders.py; a refused move comes back as a red flash."""
from __future__ import annotations

import itertools
import re

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..auth import page_actor, role_required
from ..domain.intake import METHODS, InvalidInput, validate_order
from ..domain.lifecycle import MoveRefused
from ..domain.refusals import Invalid, NotFound, Refused
from ..domain.proofs import STATE_WORDS as PROOF_WORDS
from ..extensions import csrf, db
from ..htmx import page_or_fragment
from ..forms import CancelForm, MoveForm, OrderForm
from ..models import utcnow
from ..queries import order_alerts, order_events, order_notifications, search_orders, stage_counts, tracking_url
from ..services import orders as order_service
from ..settings import current_settings
from . import job_or_404, order_or_404, refusals_flashed, sentence

bp = Blueprint("orders", __name__)


@bp.get("/orders")
@role_required("operator")
def index():
    q = request.args.get("q", "").strip()[:100]
    stage = request.args.get("stage", "")
    if stage and stage not in current_settings().lifecycle and stage not in ("open", "cancelled"):
        stage = ""
    try:
        page = max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        page = 1
    rows, total = search_orders(q, stage, page)
    return page_or_fragment("orders/index.html", "orders/_results.html", target="order-results", orders=rows,
                            total=total, q=q, stage=stage, page=page, counts=stage_counts(), page_size=50)


def _item_rows(form, limit: int) -> list[dict]:
    """Item rows from items-N-description / -method / -quantity; entirely blank rows are ignored. Reads
    at most `limit` rows: pass one more than the shop takes, so the rules refuse a long order rather
    than the form silently dropping its last items."""
    rows = []
    for i in itertools.count():
        if len(rows) >= limit:
            break
        desc = form.get(f"items-{i}-description")
        if desc is None:
            if f"items-{i}-method" not in form:
                break
            desc = ""
        method = form.get(f"items-{i}-method", "")
        qty = form.get(f"items-{i}-quantity", "").strip()
        if not desc.strip() and not qty:
            continue
        quantity: object = qty
        # ASCII digits only: "²" passes str.isdigit() but not int(), and int() of thousands of digits
        # raises; anything else goes to the rules as text and is refused there with a message.
        if re.fullmatch(r"-?[0-9]{1,18}", qty):
            quantity = int(qty)
        elif not qty:
            quantity = None
        rows.append({"description": desc, "method": method or None, "quantity": quantity, "_row": i})
    return rows


@bp.route("/orders/new", methods=["GET", "POST"])
@role_required("operator")
def new():
    form = OrderForm()
    rows = [{"description": "", "method": "dtg", "quantity": ""}] * 3
    error = None
    if request.method == "POST":
        raw_rows = _item_rows(request.form, current_settings().intake.max_items + 1)
        rows = raw_rows + [{"description": "", "method": "dtg", "quantity": ""}] * max(0, 2 - len(raw_rows))
        if form.validate_on_submit():
            data = {
                "customer": {"name": form.customer_name.data, "email": form.customer_email.data or None,
                             "phone": form.customer_phone.data or None},
                "items": [{k: v for k, v in r.items() if k != "_row" and v is not None} for r in raw_rows],
                "rush": bool(form.rush.data),
                "notes": form.notes.data or None,
                "channel": "manual",
            }
            if form.due_date.data:
                data["due_date"] = form.due_date.data.isoformat()
            settings = current_settings()
            try:
                draft = validate_order(data, today=utcnow().astimezone(settings.shop.tz).date(),
                                       max_quantity=settings.intake.max_quantity,
                                       max_items=settings.intake.max_items, default_channel="manual")
                order, _ = order_service.create_order(draft, actor=page_actor(), source="web")
                db.session.commit()
                flash(f"Order {order.code} created with {len(order.jobs)} job(s).", "success")
                return redirect(url_for("orders.show", code=order.code))
            except InvalidInput as exc:
                db.session.rollback()
                error = _form_message(exc, raw_rows)
        else:
            # Name every field at fault: notes, email and phone have no message of their own on the form.
            error = "Check these fields: " + " ".join(
                f"{form[name].label.text}: {messages[0]}" for name, messages in form.errors.items() if name in form)
    return render_template("orders/new.html", form=form, rows=rows, methods=METHODS, error=error), \
        (400 if error else 200)


def _form_message(exc: InvalidInput, rows: list[dict]) -> str:
    """Turns an API-style field path (items[1].quantity) into words for the form."""
    field = exc.field or ""
    if field.startswith("items[") and "]" in field:
        idx = int(field[6:field.index("]")])
        what = field[field.index("]") + 2:] or "item"
        line = idx + 1
        message = exc.message.split("' ", 1)[-1] if "' " in exc.message else exc.message
        return f"Item {line}, {what}: {message}"
    if field == "items":
        if not rows:
            return "Add at least one item (a description, a method and a quantity)."
        return "Too many items: " + exc.message.replace("'items' has", "the order has") + "."
    return exc.message.replace("'customer.", "'").replace("'due_date'", "Due date")


@bp.get("/orders/<code>")
@role_required("operator")
def show(code):
    order = order_or_404(code, parcel_events=True)
    lc = current_settings().lifecycle
    return render_template("orders/show.html", order=order, events=order_events(order),
                           tracking_url=tracking_url(order), move_form=MoveForm(), cancel_form=CancelForm(),
                           people_stages=lc.people_stages(), job_stages=lc.job_stages(),
                           shop_printers=list(current_settings().printers), alerts=order_alerts(order),
                           notifications=order_notifications(order), shipping=_shipping_panel(order),
                           proofs=_proofs_panel(order), proof_words=PROOF_WORDS)


def _proofs_panel(order) -> dict:
    """The order page's proofs: every version posted, and the jobs a proof may still be posted for."""
    from ..domain.proofs import postable_refusal
    from ..services.proofs import proofs_of

    settings = current_settings()
    stage, lc = settings.proofs.stage, settings.lifecycle
    if stage is None:
        return {"stage": None}
    open_jobs = [j for j in order.jobs if postable_refusal(lc, job_code=j.code, job_stage=j.stage,
                                                           order_stage=order.stage, proof_stage=stage) is None]
    return {"stage": stage, "rows": proofs_of(order), "jobs": open_jobs, "max_mb": settings.proofs.max_upload_mb}


def _shipping_panel(order) -> dict | None:
    """What the order page's label form needs; None when no label provider is set up."""
    import uuid

    from ..domain.postage import address_missing
    from ..services.postage import PostageProblem, label_provider, provider_label, purchases_of, ship_to

    try:
        provider, _ = label_provider()
    except PostageProblem:
        return None
    settings = current_settings()
    return {"provider": provider_label(provider), "packages": list(settings.packages),
            "default_package": settings.shipping.default_package, "rule": settings.shipping.rule.text,
            "purchases": purchases_of(order), "key": uuid.uuid4().hex,
            "address_missing": address_missing(ship_to(order), who="The address")}


@bp.get("/jobs/<code>")
@role_required("operator")
def job(code):
    """A job's staff URL (its label's QR code): the order page, scrolled to the job."""
    found = job_or_404(code)
    return redirect(url_for("orders.show", code=found.order.code, _anchor=f"job-{found.code}"))


def _back(order_code: str):
    return redirect(request.form.get("next") if (request.form.get("next") or "").startswith("/") and
                    not request.form.get("next", "").startswith("//") else url_for("orders.show", code=order_code))


@bp.post("/orders/<code>/advance")
@role_required("operator")
def advance(code):
    order = order_or_404(code)
    form = MoveForm()
    if not form.validate_on_submit():
        flash("The move could not be read; try again.", "error")
        return _back(order.code)
    to = form.to.data or None
    with refusals_flashed(capitalise=False):
        if to is not None and to not in current_settings().lifecycle:
            raise Invalid(f"'{to}' is not a stage", field="to")
        before = order.stage
        order_service.move_order(order, to, actor=page_actor(), source="web", note=form.note.data)
        lc = current_settings().lifecycle
        flash(f"{order.code}: {lc.label(before)} → {lc.label(order.stage)}", "success")
    return _back(order.code)


@bp.post("/jobs/<code>/move")
@role_required("operator")
def move_job(code):
    found = job_or_404(code)
    form = MoveForm()
    order_code = found.order.code
    if not form.validate_on_submit():
        flash("The move could not be read; try again.", "error")
        return _back(order_code)
    lc = current_settings().lifecycle
    to = form.to.data or (lc.next_key(found.stage) if found.stage in lc else None)
    with refusals_flashed(capitalise=False):
        if to and to not in lc:
            raise Invalid(f"{found.code} has no stage to move to", field="to")
        if not to:  # at its last stage: the rules have nowhere to take it
            raise MoveRefused(f"{found.code} has no stage to move to")
        before = found.stage
        order_service.move_job(found, to, actor=page_actor(), source="web", note=form.note.data)
        flash(f"{found.code}: {lc.label(before)} → {lc.label(to)}", "success")
    return _back(order_code)


@bp.post("/orders/<code>/cancel")
@role_required("manager")
def cancel(code):
    order = order_or_404(code)
    form = CancelForm()
    if not form.validate_on_submit():
        flash("Say why the order is cancelled.", "error")
        return _back(order.code)
    with refusals_flashed(capitalise=False):
        order_service.cancel_order(order, actor=page_actor(), source="web", reason=form.reason.data)
        flash(f"{order.code} is cancelled.", "success")
    return _back(order.code)


@bp.post("/orders/<code>/public-link")
@role_required("manager")
def regenerate_public_link(code):
    """A new tracking link for the order; the old one stops working (docs/SECURITY.md)."""
    from ..services.public_links import regenerate_public_link as regenerate

    order = order_or_404(code)
    regenerate(order, actor=page_actor(), source="web")
    db.session.commit()
    flash(f"{order.code} has a new tracking link; the old link no longer works.", "success")
    return redirect(url_for("orders.show", code=order.code, _anchor="public-link"))


@bp.post("/orders/<code>/shipments")
@role_required("operator")
def add_shipment(code):
    from ..domain.carriers import CARRIERS
    from ..services.shipments import add_shipment as add

    order = order_or_404(code)
    number = (request.form.get("tracking_number") or "").strip()
    carrier = request.form.get("carrier") or None
    with refusals_flashed():
        if not number:
            raise Invalid("enter the tracking number", field="tracking_number")
        if carrier is not None and carrier not in CARRIERS:
            raise Invalid(f"unknown carrier {carrier!r}", field="carrier")
        shipment = add(order, tracking_number=number, carrier=carrier, actor=page_actor(), source="web")
        flash(f"{shipment.carrier.upper()} {shipment.tracking_number} added to {order.code}.", "success")
    return redirect(url_for("orders.show", code=order.code))


def _shipment_of(order, number: str):
    found = next((s for s in order.shipments if s.tracking_number == number.strip().upper()), None)
    if found is None:
        raise NotFound(f"{order.code} has no shipment {number}")
    return found


@bp.post("/orders/<code>/shipments/<number>/label")
@role_required("operator")
def attach_carrier_label(code, number):
    from ..services.shipments import MAX_LABEL_BYTES, attach_label

    order = order_or_404(code)
    upload = request.files.get("label")
    with refusals_flashed():
        shipment = _shipment_of(order, number)
        if upload is None or not upload.filename:
            raise Invalid("choose the carrier's label file (ZPL or PDF)", field="label")
        fmt = attach_label(shipment, upload.read(MAX_LABEL_BYTES + 1), actor=page_actor(), source="web")
        flash(f"{fmt.upper()} label attached to {shipment.tracking_number}.", "success")
    return redirect(url_for("orders.show", code=order.code))


@bp.post("/orders/<code>/shipments/<number>/print")
@role_required("operator")
def print_carrier_label(code, number):
    from ..services.printing import queue_carrier_label

    order = order_or_404(code)
    with refusals_flashed():
        job = queue_carrier_label(_shipment_of(order, number), printer=request.form.get("printer") or None,
                                  actor=page_actor())
        flash(f"Carrier label queued for {job.printer}.", "success")
    return redirect(url_for("orders.show", code=order.code))


@bp.post("/orders/<code>/shipments/<number>/replace")
@role_required("operator")
def replace_number(code, number):
    """Corrects a mistyped or relabelled tracking number; the customer gets a correction if they had it."""
    from ..services.shipments import replace_tracking_number

    order = order_or_404(code)
    with refusals_flashed():
        new = (request.form.get("tracking_number") or "").strip()
        if not new:
            raise Invalid("enter the new tracking number", field="tracking_number")
        shipment = replace_tracking_number(_shipment_of(order, number), new, actor=page_actor(), source="web")
        flash(f"Tracking number changed to {shipment.tracking_number}.", "success")
    return redirect(url_for("orders.show", code=order.code))


@bp.post("/orders/<code>/ship-to")
@role_required("operator")
def edit_ship_to(code):
    """The ship-to address, corrected by staff (a label refused for a missing street, a typo)."""
    from ..domain.intake import SHIP_TO_FIELDS, parse_ship_to

    order = order_or_404(code)
    try:
        ship = parse_ship_to({k: request.form.get(k) or None for k in SHIP_TO_FIELDS}, where="")
        changed = order_service.update_ship_to(order, ship, actor=page_actor(), source="web")
    except InvalidInput as exc:
        db.session.rollback()
        flash(sentence(exc.message), "error")
    else:
        db.session.commit()
        flash(f"Ship-to address changed ({', '.join(changed)})." if changed else "The address was already that.",
              "success" if changed else "info")
    return redirect(url_for("orders.show", code=order.code, _anchor="ship-to"))


@bp.post("/orders/<code>/postage")
@role_required("operator")
def buy_postage(code):
    """The order page's Buy label: the package picked or typed, the shop's rule picks the rate. The form's
    own key (made when the page was drawn) makes a double click one purchase."""
    from ..services.postage import PostageProblem, buy_label, package_for

    order = order_or_404(code)
    form = request.form
    key = (form.get("purchase_key") or "").strip()[:80] or None
    try:
        data = {k: form.get(k) or None for k in ("package", "weight_oz", "length_in", "width_in", "height_in")}
        bought = buy_label(order.code, actor=page_actor(), source="web", package=package_for(data),
                           key=f"web:{key}" if key else None, another_parcel=form.get("another_parcel") == "1",
                           is_return=form.get("is_return") == "1", printer=form.get("printer") or None)
        flash(sentence(bought.message), "success")
    except PostageProblem as exc:
        db.session.rollback()
        flash(sentence(exc.message), "error")
    return redirect(url_for("orders.show", code=order.code, _anchor="shipping"))


@bp.post("/orders/<code>/postage/<int:purchase_id>/void")
@role_required("operator")
def void_postage(code, purchase_id: int):
    from ..services.postage import PostageProblem, get_purchase, void_label

    order = order_or_404(code)
    try:
        row = void_label(get_purchase(order, purchase_id).id, actor=page_actor(), source="web")
        flash(f"Label {row.tracking_number} voided (refund {row.refund_status}).", "success")
    except PostageProblem as exc:
        db.session.rollback()
        flash(sentence(exc.message), "error")
    return redirect(url_for("orders.show", code=order.code, _anchor="shipping"))


# -- artwork proofs (docs/PROOFS.md) --------------------------------------------------------------------

def proof_request_limit() -> int:
    """A proof upload may be larger than the app's 1 MB request limit: the file plus the form around it."""
    from ..services.proofs import max_bytes

    return max_bytes() + 256 * 1024


@bp.post("/orders/<code>/proofs")
@role_required("operator")
def post_proof(code):
    """Staff attach a proof to one of the order's jobs; the customer is mailed a link to answer it."""
    from werkzeug.exceptions import RequestEntityTooLarge

    from ..services import proofs as service

    # Exempt from the app-wide CSRF check (it would read the body under the 1 MB limit); the same check
    # runs here once the limit is raised for this request, as for a CSV import.
    request.max_content_length = proof_request_limit()
    order = order_or_404(code)
    back = redirect(url_for("orders.show", code=order.code, _anchor="proofs"))
    try:
        csrf.protect()
        upload = request.files.get("file")
        job_code = (request.form.get("job") or "").strip()
        note = request.form.get("note")
    except RequestEntityTooLarge:
        flash(f"The file is too large: a proof may be {round(service.max_bytes() / 1024 / 1024, 1):g} MB at most.", "error")
        return back
    job = next((j for j in order.jobs if j.code == job_code), None)
    if job is None:
        flash("Choose which job the proof is for.", "error")
        return back
    if upload is None or not upload.filename:
        flash("Choose the proof's image or PDF to upload.", "error")
        return back
    try:
        proof = service.post_proof(job, filename=upload.filename, content=upload.read(service.max_bytes() + 1),
                                   note=note, actor=page_actor(), source="web")
    except Refused as exc:
        db.session.rollback()
        flash(sentence(exc.message), "error")
        return back
    db.session.commit()
    mailed = " and the customer was e-mailed a link" if order.customer_email and \
        current_settings().notifications.email.enabled else ""
    flash(f"Proof v{proof.version} for {job.code} posted{mailed}.", "success")
    return back


@bp.get("/proofs/<int:proof_id>")
@role_required("operator")
def proof_file(proof_id: int):
    from flask import abort

    from ..models import Proof
    from ..services import fits_id
    from ..services.proofs import file_path
    from .public import send_proof

    proof = db.session.get(Proof, proof_id) if fits_id(proof_id) else None
    if proof is None:
        abort(404, description=f"There is no proof #{proof_id}.")
    resp = send_proof(proof, file_path(proof))
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


csrf.exempt(f"{__name__}.post_proof")  # it checks the token itself, after raising the body limit
