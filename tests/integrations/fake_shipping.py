"""The label half of the fake EasyPost and Shippo servers (routes added to the tracking fakes in fakes.py):
addresses, shipments with rates, purchases, label files, refunds, shaped like the providers' documented
answers. Each fake keeps what was bought in `server.bought` (one entry per label it sold), so a test can
count labels, and serves the label files it made under /files/ (with no API key, like a storage link).

Address rules: a street containing "NOWHERE" fails verification; a parcel over 70 lb gets no USPS rates.
"""
from __future__ import annotations

import itertools
import re

from .fakes import FakeServer, Recorded, Reply

PNG_1PX = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00:~\x9bU"
           b"\x00\x00\x00\nIDATx\x9cc\xf8\x0f\x00\x01\x01\x01\x00\x1b\xb6\xee\x9f\x00\x00\x00\x00IEND\xaeB`\x82")
PDF_MIN = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

# carrier, service, price, days: what every fake account offers (USPS only up to 70 lb).
SERVICES = [("USPS", "GroundAdvantage", "5.10", 5), ("USPS", "Priority", "8.45", 2),
            ("UPS", "Ground", "9.80", 4), ("UPS", "NextDayAir", "31.20", 1)]


def zpl_label(number: str, carrier: str) -> bytes:
    return (f"^XA^CI28^FO40,40^A0N,50,50^FD{carrier}^FS^FO40,120^BY3^BCN,160,Y,N,N^FD{number}^FS"
            f"^FO40,330^A0N,30,30^FDTRACKING {number}^FS^XZ").encode()


def _numbers():
    counter = itertools.count(1)

    def number(carrier: str) -> str:
        n = next(counter)
        if carrier.upper() == "UPS":
            return f"1ZFAKE{n:012d}"
        return f"9400111899560{n:09d}"
    return number


def _address_ok(address: dict) -> bool:
    return "NOWHERE" not in (address.get("street1") or "").upper()


def _files(server: FakeServer) -> dict[str, bytes]:
    files: dict[str, bytes] = {}

    @server.route("GET", r"/files/(?P<name>[A-Za-z0-9_.-]+)")
    def get_file(req, match):
        if match["name"] not in files:
            return Reply(404, {"error": "no such file"})
        return Reply(200, files[match["name"]])

    return files


def easypost_shipping(server: FakeServer, authorised, denied: Reply) -> None:
    shipments: dict[str, dict] = {}
    ids = itertools.count(1)
    number_for = _numbers()
    files = _files(server)
    server.bought = []
    server.refunds = []
    server.refuse_refunds = set()

    def error(status: int, code: str, message: str, errors=None) -> Reply:
        return Reply(status, {"error": {"code": code, "message": message, "errors": errors or []}})

    @server.route("POST", "/v2/addresses")
    def create_address(req: Recorded, match):
        if not authorised(req):
            return denied
        body = req.json() or {}
        address = dict(body.get("address") or {})
        address.update(id=f"adr_fake{next(ids):04d}", object="Address")
        if body.get("verify"):
            ok = _address_ok(address)
            address["verifications"] = {"delivery": {
                "success": ok, "details": None,
                "errors": [] if ok else [{"code": "E.ADDRESS.NOT_FOUND", "field": "address",
                                          "message": "Address not found", "suggestion": None}]}}
        return Reply(201, address)

    @server.route("POST", "/v2/shipments")
    def create_shipment(req: Recorded, match):
        if not authorised(req):
            return denied
        body = (req.json() or {}).get("shipment") or {}
        parcel = body.get("parcel") or {}
        if not isinstance(parcel.get("weight"), (int, float)) or parcel["weight"] <= 0:
            return error(422, "PARCEL.WEIGHT.INVALID", "Parcel weight is required.",
                         [{"field": "weight", "message": "must be greater than 0"}])
        for side in ("to_address", "from_address"):
            address = body.get(side) or {}
            if not address.get("street1") or not address.get("zip"):
                return error(422, "ADDRESS.VERIFY.FAILURE", f"Unable to verify {side}.")
        sid = f"shp_fake{next(ids):04d}"
        rates, messages = [], []
        for carrier, service, price, days in SERVICES:
            if carrier == "USPS" and parcel["weight"] > 70 * 16:
                if not any(m["carrier"] == "USPS" for m in messages):
                    messages.append({"carrier": "USPS", "type": "rate_error",
                                     "message": "Weight exceeds the maximum for USPS (70 lb)."})
                continue
            rates.append({"id": f"rate_fake{next(ids):04d}", "object": "Rate", "shipment_id": sid, "carrier": carrier,
                          "service": service, "rate": price, "currency": "USD", "delivery_days": days,
                          "est_delivery_days": days, "mode": "test"})
        shipment = {"id": sid, "object": "Shipment", "mode": "test", "is_return": bool(body.get("is_return")),
                    "reference": body.get("reference"), "to_address": body.get("to_address"),
                    "from_address": body.get("from_address"), "parcel": parcel, "options": body.get("options") or {},
                    "rates": rates, "messages": messages, "selected_rate": None, "postage_label": None,
                    "tracking_code": None, "tracker": None, "refund_status": None}
        shipments[sid] = shipment
        return Reply(201, shipment)

    @server.route("GET", r"/v2/shipments/(?P<sid>[^/]+)")
    def get_shipment(req, match):
        if not authorised(req):
            return denied
        if match["sid"] not in shipments:
            return error(404, "NOT_FOUND", "The requested resource could not be found.")
        return Reply(200, shipments[match["sid"]])

    @server.route("POST", r"/v2/shipments/(?P<sid>[^/]+)/buy")
    def buy(req, match):
        if not authorised(req):
            return denied
        shipment = shipments.get(match["sid"])
        if shipment is None:
            return error(404, "NOT_FOUND", "The requested resource could not be found.")
        if shipment["postage_label"] is not None:
            return error(422, "SHIPMENT.POSTAGE.EXISTS", "Postage already exists for this shipment.")
        wanted = ((req.json() or {}).get("rate") or {}).get("id")
        rate = next((r for r in shipment["rates"] if r["id"] == wanted), None)
        if rate is None:
            return error(422, "SHIPMENT.RATE.INVALID", "The rate is not valid for this shipment.")
        number = number_for(rate["carrier"])
        fmt = (shipment["options"].get("label_format") or "PNG").upper()
        files[f"{sid_safe(shipment['id'])}.png"] = PNG_1PX
        label = {"object": "PostageLabel", "label_url": f"{server.url}/files/{sid_safe(shipment['id'])}.png",
                 "label_file_type": "image/png", "label_size": "4x6", "label_zpl_url": None, "label_pdf_url": None}
        if fmt == "ZPL":
            files[f"{sid_safe(shipment['id'])}.zpl"] = zpl_label(number, rate["carrier"])
            label["label_zpl_url"] = f"{server.url}/files/{sid_safe(shipment['id'])}.zpl"
        if fmt == "PDF":
            files[f"{sid_safe(shipment['id'])}.pdf"] = PDF_MIN
            label["label_pdf_url"] = f"{server.url}/files/{sid_safe(shipment['id'])}.pdf"
        shipment.update(selected_rate=rate, postage_label=label, tracking_code=number,
                        tracker={"id": f"trk_fake{next(ids):04d}", "object": "Tracker", "tracking_code": number,
                                 "public_url": f"https://track.easypost.test/{number}"})
        server.bought.append({"shipment": shipment["id"], "rate": rate["id"], "tracking_code": number})
        return Reply(200, shipment)

    @server.route("POST", r"/v2/shipments/(?P<sid>[^/]+)/refund")
    def refund(req, match):
        if not authorised(req):
            return denied
        shipment = shipments.get(match["sid"])
        if shipment is None or shipment["postage_label"] is None:
            return error(422, "SHIPMENT.REFUND.INVALID", "The shipment has no postage to refund.")
        status = "rejected" if shipment["tracking_code"] in server.refuse_refunds else "submitted"
        shipment["refund_status"] = status
        server.refunds.append(shipment["id"])
        return Reply(200, shipment)


def sid_safe(sid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", sid)


def shippo_shipping(server: FakeServer, authorised, denied: Reply) -> None:
    shipments: dict[str, dict] = {}
    rates: dict[str, dict] = {}
    transactions: list[dict] = []
    ids = itertools.count(1)
    number_for = _numbers()
    files = _files(server)
    server.bought = []
    server.refunds = []

    def oid() -> str:
        return f"{next(ids):032x}"

    @server.route("POST", "/addresses")
    def create_address(req: Recorded, match):
        if not authorised(req):
            return denied
        body = req.json() or {}
        address = {k: v for k, v in body.items() if k != "validate"}
        address.update(object_id=oid(), is_complete=True)
        if body.get("validate"):
            ok = _address_ok(body)
            address["validation_results"] = {"is_valid": ok, "messages": [] if ok else [
                {"source": "Shippo Address Validator", "code": "Unknown Street", "type": "address_error",
                 "text": "The address as submitted could not be found. Please check for excessive abbreviations "
                         "in the street address line or in the City name."}]}
        return Reply(201, address)

    @server.route("POST", "/shipments")
    def create_shipment(req: Recorded, match):
        if not authorised(req):
            return denied
        body = req.json() or {}
        parcels = body.get("parcels") or []
        if not parcels or not all(parcels[0].get(k) for k in ("length", "width", "height", "weight")):
            return Reply(400, {"parcels": ["Parcel length, width, height and weight are required."]})
        weight_oz = float(parcels[0]["weight"]) * (16 if parcels[0].get("mass_unit") == "lb" else 1)
        sid = oid()
        offered, messages = [], []
        for carrier, service, price, days in SERVICES:
            if carrier == "USPS" and weight_oz > 70 * 16:
                continue
            rate = {"object_id": oid(), "shipment": sid, "amount": price, "currency": "USD", "provider": carrier,
                    "servicelevel": {"name": service, "token": f"{carrier.lower()}_{service.lower()}"},
                    "estimated_days": days, "duration_terms": f"Delivery in {days} days."}
            rates[rate["object_id"]] = rate
            offered.append(rate)
        shipment = {"object_id": sid, "status": "SUCCESS", "address_from": body.get("address_from"),
                    "address_to": body.get("address_to"), "parcels": parcels, "extra": body.get("extra") or {},
                    "rates": offered, "messages": messages}
        shipments[sid] = shipment
        return Reply(201, shipment)

    @server.route("POST", "/transactions")
    def create_transaction(req: Recorded, match):
        if not authorised(req):
            return denied
        body = req.json() or {}
        rate = rates.get(body.get("rate"))
        if rate is None:
            return Reply(201, {"object_id": oid(), "status": "ERROR", "rate": body.get("rate"),
                               "messages": [{"source": "Shippo", "code": "", "text": "Rate not found."}]})
        number = number_for(rate["provider"])
        kind = body.get("label_file_type") or "PDF"
        ext, content = ("zpl", zpl_label(number, rate["provider"])) if kind == "ZPLII" else \
            ("png", PNG_1PX) if kind.startswith("PNG") else ("pdf", PDF_MIN)
        tid = oid()
        files[f"{tid}.{ext}"] = content
        transaction = {"object_id": tid, "object_state": "VALID", "status": "SUCCESS", "rate": rate["object_id"],
                       "tracking_number": number, "tracking_status": "UNKNOWN", "label_file_type": kind,
                       "tracking_url_provider": f"https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
                       "label_url": f"{server.url}/files/{tid}.{ext}", "metadata": body.get("metadata") or "",
                       "messages": [], "test": True}
        transactions.append(transaction)
        server.bought.append({"transaction": tid, "rate": rate["object_id"], "tracking_number": number})
        return Reply(201, transaction)

    @server.route("GET", "/transactions")
    def list_transactions(req: Recorded, match):
        if not authorised(req):
            return denied
        wanted = req.query.get("rate")
        found = [dict(t, rate={**rates[t["rate"]], "servicelevel_name": rates[t["rate"]]["servicelevel"]["name"]})
                 for t in reversed(transactions) if wanted is None or t["rate"] == wanted]
        return Reply(200, {"next": None, "previous": None, "results": found})

    @server.route("POST", "/refunds")
    def create_refund(req: Recorded, match):
        if not authorised(req):
            return denied
        body = req.json() or {}
        if not any(t["object_id"] == body.get("transaction") for t in transactions):
            return Reply(400, {"transaction": ["Transaction not found."]})
        server.refunds.append(body["transaction"])
        return Reply(201, {"object_id": oid(), "status": "QUEUED", "transaction": body["transaction"], "test": True})
