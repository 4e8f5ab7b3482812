"""Fake provider APIs: real HTTP servers on 127.0.0.1 (a random free port), one thread each.

Each fake implements the few endpoints the provider modules call, checks the auth they send, records
every request, and can be told to answer an error for the next N requests:

    server.fail_next(429, times=1, retry_after="7")

Payloads are shaped like the providers' documented answers; values are made up.
"""
from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import sys
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    client: tuple = ()  # the client's (address, port): one port per connection

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode()))


@dataclass
class Reply:
    status: int
    body: Any = None  # dict/list -> JSON, bytes -> as is
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Recorded, re.Match], Reply]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A client that gave up (the timeout test) leaves a broken pipe behind: expected, not news.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class FakeServer:
    def __init__(self, name: str):
        self.name = name
        self.routes: list[tuple[str, re.Pattern, Handler]] = []
        self.requests: list[Recorded] = []
        self._failures: list[Reply] = []
        self._lose: list[tuple[str, re.Pattern]] = []   # answers to drop (the request is still served)
        self._hold: list[tuple[str, re.Pattern]] = []   # answers to hold until release() (a timeout)
        self._released = threading.Event()
        self._lock = threading.Lock()
        fake = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args):  # keep test output quiet
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), RequestHandler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    # --- set-up ---
    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, pattern: str):
        def decorate(handler: Handler) -> Handler:
            self.routes.append((method, re.compile(pattern + r"\Z"), handler))
            return handler
        return decorate

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None, body: Any = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        reply = Reply(status, body if body is not None else {"error": f"fake {status}"}, headers)
        with self._lock:
            self._failures.extend(reply for _ in range(times))

    def lose_next_answer(self, method: str, pattern: str) -> None:
        """The next matching request is served (its effect happens) but the connection closes with no
        answer: a lost answer, as a dropped connection or a crash mid-reply gives."""
        with self._lock:
            self._lose.append((method, re.compile(pattern + r"\Z")))

    def hold_next_answer(self, method: str, pattern: str) -> None:
        """The next matching request is served, then its answer waits until release() (or stop()): the
        client's timeout runs out first."""
        with self._lock:
            self._hold.append((method, re.compile(pattern + r"\Z")))

    def release(self) -> None:
        self._released.set()

    def _take(self, queue: list, recorded) -> bool:
        for i, (method, pattern) in enumerate(queue):
            if method == recorded.method and pattern.match(recorded.path):
                del queue[i]
                return True
        return False

    def start(self) -> "FakeServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    # --- inspection ---
    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self._lock:
            found = list(self.requests)
        return [r for r in found if (method is None or r.method == method) and (path is None or re.fullmatch(path, r.path))]

    # --- serving ---
    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        recorded = Recorded(handler.command, parts.path, dict(urllib.parse.parse_qsl(parts.query)),
                            {k.lower(): v for k, v in handler.headers.items()}, body, tuple(handler.client_address))
        with self._lock:
            self.requests.append(recorded)
            reply = self._failures.pop(0) if self._failures else None
        if reply is None:
            reply = self._route(recorded)
        with self._lock:
            lose, hold = self._take(self._lose, recorded), self._take(self._hold, recorded)
        if lose:
            handler.close_connection = True
            return
        if hold:
            self._released.wait(timeout=30)
        self._send(handler, reply)

    def _route(self, recorded: Recorded) -> Reply:
        for method, pattern, route_handler in self.routes:
            match = pattern.match(recorded.path)
            if method == recorded.method and match:
                return route_handler(recorded, match)
        return Reply(404, {"error": "no such route"})

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if isinstance(reply.body, (bytes, bytearray)):
            payload, content_type = bytes(reply.body), "application/octet-stream"
        elif reply.body is None:
            payload, content_type = b"", "application/json"
        else:
            payload, content_type = json.dumps(reply.body).encode(), "application/json"
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.headers.get("Content-Type", content_type))
        for name, value in reply.headers.items():
            if name != "Content-Type":
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- the providers -----------------------------------------------------------------------------------
# Each builder returns (server, config, known tracking number, carrier).

def easypost(api_key: str = "EZTK_test_key"):
    server = FakeServer("easypost")
    tracker_template = fixture("easypost_tracker_updated.json")["result"]
    trackers: dict[str, dict] = {}
    ids = itertools.count(1)

    def add(code: str, carrier: str = "UPS", details: bool = True) -> dict:
        tracker = copy.deepcopy(tracker_template)
        tracker.update(id=f"trk_fake{next(ids):04d}", tracking_code=code, carrier=carrier)
        if not details:
            tracker.update(tracking_details=[], status="unknown", status_detail="unknown", est_delivery_date=None)
        trackers[code] = tracker
        return tracker

    add("1Z999AA10123456784")

    def authorised(req: Recorded) -> bool:
        return req.headers.get("authorization") == basic(api_key, "")

    denied = Reply(401, {"error": {"code": "APIKEY.UNAUTHORIZED", "message": "The API key is invalid.", "errors": []}})

    @server.route("GET", "/v2/trackers")
    def list_trackers(req, match):
        if not authorised(req):
            return denied
        code = req.query.get("tracking_code")
        found = [t for c, t in trackers.items() if code is None or c == code]
        return Reply(200, {"trackers": found, "has_more": False})

    @server.route("POST", "/v2/trackers")
    def create_tracker(req, match):
        if not authorised(req):
            return denied
        wanted = (req.json() or {}).get("tracker") or {}
        code = wanted.get("tracking_code")
        if not code:
            return Reply(422, {"error": {"code": "TRACKER.TRACKING_CODE.INVALID", "message": "Invalid tracking code."}})
        if code in trackers:
            return Reply(200, trackers[code])
        return Reply(201, add(code, wanted.get("carrier") or "USPS", details=False))

    from .fake_shipping import easypost_shipping

    easypost_shipping(server, authorised, denied)
    config = {"api_key": api_key, "webhook_secret": "ep-secret", "base_url": server.url}
    return server, config, "1Z999AA10123456784", "ups"


def shippo(api_key: str = "shippo_test_key"):
    server = FakeServer("shippo")
    template = fixture("shippo_track_updated.json")["data"]
    known = {("usps", "9400111899223197428490")}

    def track(carrier: str, number: str) -> dict:
        doc = copy.deepcopy(template)
        doc.update(carrier=carrier, tracking_number=number)
        if (carrier, number) not in known:
            doc.update(tracking_status=None, tracking_history=[], eta=None)
        return doc

    def authorised(req: Recorded) -> bool:
        return req.headers.get("authorization") == f"ShippoToken {api_key}"

    denied = Reply(401, {"detail": "Invalid token."})

    @server.route("GET", r"/tracks/(?P<carrier>[^/]+)/(?P<number>[^/]+)")
    def get_track(req, match):
        if not authorised(req):
            return denied
        number = urllib.parse.unquote(match["number"])
        if number == "NOSUCHNUMBER":
            return Reply(404, {"detail": "Not found."})
        return Reply(200, track(match["carrier"], number))

    @server.route("POST", r"/tracks/")
    def register_track(req, match):
        if not authorised(req):
            return denied
        body = req.json() or {}
        if not body.get("carrier") or not body.get("tracking_number"):
            return Reply(400, {"carrier": ["This field is required."]})
        return Reply(201, track(body["carrier"], body["tracking_number"]))

    from .fake_shipping import shippo_shipping

    shippo_shipping(server, authorised, denied)
    config = {"api_key": api_key, "webhook_secret": "shippo-token", "base_url": server.url}
    return server, config, "9400111899223197428490", "usps"


def aftership(api_key: str = "asat_test_key", version: str = "2026-01"):
    server = FakeServer("aftership")
    template = fixture("aftership_tracking_update.json")["msg"]
    trackings: dict[str, dict] = {}
    ids = itertools.count(1)

    def add(number: str, slug: str | None, pending: bool = False) -> dict:
        doc = copy.deepcopy(template)
        doc.update(id=f"as{next(ids):030d}", tracking_number=number, slug=slug or "fedex")
        if pending:
            doc.update(tag="Pending", subtag="Pending_001", checkpoints=[], expected_delivery=None)
        trackings[number] = doc
        return doc

    add("794644790132", "fedex")
    prefix = f"/tracking/{version}"

    def authorised(req: Recorded) -> bool:
        return req.headers.get("as-api-key") == api_key

    denied = Reply(401, {"meta": {"code": 401, "message": "Invalid API key.", "type": "Unauthorized"}, "data": {}})

    @server.route("GET", prefix + "/trackings")
    def get_trackings(req, match):
        if not authorised(req):
            return denied
        numbers = set((req.query.get("tracking_numbers") or "").split(",")) - {""}
        found = [t for n, t in trackings.items() if not numbers or n in numbers]
        return Reply(200, {"meta": {"code": 200, "message": "OK", "type": "OK"},
                           "data": {"pagination": {"total": len(found), "has_next_page": False}, "trackings": found}})

    @server.route("POST", prefix + "/trackings")
    def create_tracking(req, match):
        if not authorised(req):
            return denied
        body = req.json() or {}
        number = body.get("tracking_number")
        if not number:
            return Reply(400, {"meta": {"code": 4007, "message": "tracking_number is required.",
                                        "type": "BadRequest"}, "data": {}})
        if number in trackings:
            return Reply(400, {"meta": {"code": 4003, "message": "Tracking already exists.", "type": "BadRequest"},
                               "data": {}})
        return Reply(201, {"meta": {"code": 201, "message": "Created", "type": "Created"},
                           "data": add(number, body.get("slug"), pending=True)})

    config = {"api_key": api_key, "webhook_secret": "as-secret", "base_url": server.url}
    return server, config, "794644790132", "fedex"


class OAuthState:
    """Tokens a fake has issued; revoke() makes the API refuse them (as a real provider may)."""

    def __init__(self, prefix: str, expires_in: Any):
        self.prefix = prefix
        self.expires_in = expires_in
        self.valid: set[str] = set()
        self._count = itertools.count(1)

    def issue(self) -> dict:
        token = f"{self.prefix}-token-{next(self._count)}"
        self.valid.add(token)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}

    def accepts(self, req: Recorded) -> bool:
        auth = req.headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[len("Bearer "):] in self.valid

    def revoke(self) -> None:
        self.valid.clear()


UPS_NUMBER = "1Z12345E0205271688"
UPS_PACKAGE = {
    "trackingNumber": UPS_NUMBER,
    "currentStatus": {"type": "D", "code": "FS", "description": "Delivered", "statusCode": "011"},
    "deliveryDate": [{"type": "SDD", "date": "20260302"}],
    "activity": [  # newest first, as UPS sends them
        {"date": "20260302", "time": "143000", "gmtDate": "20260302", "gmtTime": "213000", "gmtOffset": "-07:00",
         "location": {"address": {"addressLine1": "12 ELM ST", "city": "BOISE", "stateProvince": "ID",
                                  "postalCode": "83702", "countryCode": "US", "country": "US"}},
         "status": {"type": "D", "code": "FS", "description": "DELIVERED", "statusCode": "011"}},
        {"date": "20260302", "time": "80500", "gmtDate": "20260302", "gmtTime": "150500", "gmtOffset": "-07:00",
         "location": {"address": {"city": "BOISE", "stateProvince": "ID", "countryCode": "US"}},
         "status": {"type": "I", "code": "OT", "description": "Out For Delivery Today", "statusCode": "021"}},
        {"date": "20260227", "time": "142400", "gmtDate": "20260227", "gmtTime": "222400",
         "location": {"address": {"city": "PORTLAND", "stateProvince": "OR", "countryCode": "US"}},
         "status": {"type": "M", "code": "MP", "description": "Shipper created a label", "statusCode": "003"}},
    ],
}


def ups(client_id: str = "ups-client", client_secret: str = "ups-secret", expires_in: Any = "14399"):
    server = FakeServer("ups")
    oauth = OAuthState("ups", expires_in)
    server.oauth = oauth

    @server.route("POST", "/security/v1/oauth/token")
    def token(req, match):
        if req.headers.get("authorization") != basic(client_id, client_secret):
            return Reply(401, {"response": {"errors": [{"code": "10401", "message": "ClientId is Invalid"}]}})
        if req.form().get("grant_type") != "client_credentials":
            return Reply(400, {"response": {"errors": [{"code": "10400", "message": "Invalid grant_type"}]}})
        return Reply(200, {"token_type": "Bearer", "issued_at": "1772640000000", "client_id": client_id,
                           "status": "approved", **oauth.issue()})

    def checked(req) -> Reply | None:
        if not oauth.accepts(req):
            return Reply(401, {"response": {"errors": [{"code": "250002", "message": "Invalid Authentication Information."}]}})
        if not req.headers.get("transid") or not req.headers.get("transactionsrc"):
            return Reply(400, {"response": {"errors": [{"code": "VSS002", "message": "Missing transId."}]}})
        return None

    @server.route("GET", r"/api/track/v1/details/(?P<number>[^/]+)")
    def details(req, match):
        refused = checked(req)
        if refused:
            return refused
        if match["number"] != UPS_NUMBER:
            return Reply(404, {"response": {"errors": [{"code": "TW0001", "message": "Tracking Information Not Found"}]}})
        return Reply(200, {"trackResponse": {"shipment": [{"inquiryNumber": UPS_NUMBER, "package": [UPS_PACKAGE]}]}})

    @server.route("POST", "/api/track/v1/subscription/standard/package")
    def subscribe(req, match):
        refused = checked(req)
        if refused:
            return refused
        numbers = (req.json() or {}).get("trackingNumberList") or []
        valid = [n for n in numbers if re.fullmatch(r"1Z[0-9A-Z]{16}", n)]
        return Reply(200, {"validTrackingNumbers": valid, "invalidTrackingNumbers": [n for n in numbers if n not in valid]})

    config = {"client_id": client_id, "client_secret": client_secret, "webhook_secret": "ups-credential",
              "base_url": server.url}
    return server, config, UPS_NUMBER, "ups"


FEDEX_NUMBER = "794644790132"
FEDEX_RESULT = {
    "trackingNumberInfo": {"trackingNumber": FEDEX_NUMBER, "carrierCode": "FDXE"},
    "latestStatusDetail": {"code": "DL", "derivedCode": "DL", "statusByLocale": "Delivered", "description": "Delivered",
                           "date": "2026-03-04T11:42:00 -0700"},
    "dateAndTimes": [{"type": "ACTUAL_DELIVERY", "dateTime": "2026-03-04T11:42:00-07:00"},
                     {"type": "ESTIMATED_DELIVERY", "dateTime": "2026-03-04T00:00:00-07:00"},
                     {"type": "ACTUAL_PICKUP", "dateTime": "2026-03-02T09:00:00-08:00"}],
    "scanEvents": [  # newest first, as FedEx sends them
        {"date": "2026-03-04T11:42:00-07:00", "eventType": "DL", "eventDescription": "Delivered",
         "exceptionCode": "014", "exceptionDescription": "Left at front door. Signature Service not requested.",
         "scanLocation": {"streetLines": ["1 MAIN ST"], "city": "DENVER", "stateOrProvinceCode": "CO",
                          "postalCode": "80202", "countryCode": "US", "residential": False},
         "derivedStatusCode": "DL", "derivedStatus": "Delivered"},
        {"date": "2026-03-04T08:10:00-07:00", "eventType": "OD", "eventDescription": "On FedEx vehicle for delivery",
         "exceptionCode": "", "exceptionDescription": "",
         "scanLocation": {"streetLines": [""], "city": "DENVER", "stateOrProvinceCode": "CO", "postalCode": "80216",
                          "countryCode": "US"},
         "derivedStatusCode": "IT", "derivedStatus": "In transit"},
        {"date": "2026-03-03T05:00:00 -0700", "eventType": "AR", "eventDescription": "At local FedEx facility",
         "scanLocation": {"city": "DENVER", "stateOrProvinceCode": "CO", "countryCode": "US"},
         "derivedStatusCode": "IT", "derivedStatus": "In transit"},
        {"date": "2026-03-02T09:00:00-08:00", "eventType": "PU", "eventDescription": "Picked up",
         "scanLocation": {"city": "PORTLAND", "stateOrProvinceCode": "OR", "postalCode": "97201", "countryCode": "US"},
         "derivedStatusCode": "PU", "derivedStatus": "Picked up"},
    ],
}


def fedex(client_id: str = "fedex-client", client_secret: str = "fedex-secret", expires_in: Any = 3599):
    server = FakeServer("fedex")
    oauth = OAuthState("fedex", expires_in)
    server.oauth = oauth

    @server.route("POST", "/oauth/token")
    def token(req, match):
        form = req.form()
        if req.headers.get("content-type") != "application/x-www-form-urlencoded":
            return Reply(415, {"errors": [{"code": "UNSUPPORTED.MEDIA.TYPE", "message": "form expected"}]})
        if form.get("grant_type") != "client_credentials" or (form.get("client_id"), form.get("client_secret")) != (
                client_id, client_secret):
            return Reply(401, {"errors": [{"code": "NOT.AUTHORIZED.ERROR",
                                           "message": "The given client credentials were not valid."}]})
        return Reply(200, {**oauth.issue(), "token_type": "bearer", "scope": "CXS"})

    @server.route("POST", "/track/v1/trackingnumbers")
    def track(req, match):
        if not oauth.accepts(req):
            return Reply(401, {"errors": [{"code": "NOT.AUTHORIZED.ERROR", "message": "Access token expired."}]})
        body = req.json() or {}
        number = body["trackingInfo"][0]["trackingNumberInfo"]["trackingNumber"]
        if number == FEDEX_NUMBER:
            result = FEDEX_RESULT
        else:
            result = {"trackingNumberInfo": {"trackingNumber": number},
                      "error": {"code": "TRACKING.TRACKINGNUMBER.NOTFOUND",
                                "message": "Tracking number cannot be found. Please correct the tracking number and try again."}}
        return Reply(200, {"transactionId": "fake", "output": {"completeTrackResults": [
            {"trackingNumber": number, "trackResults": [result]}]}})

    config = {"client_id": client_id, "client_secret": client_secret, "base_url": server.url}
    return server, config, FEDEX_NUMBER, "fedex"


USPS_NUMBER = "9400111899223197428490"
USPS_TRACKING = {
    "trackingNumber": USPS_NUMBER,
    "statusCategory": "Delivered",
    "status": "Delivered, In/At Mailbox",
    "statusSummary": "Your item was delivered in or at the mailbox at 1:45 pm on March 4, 2026 in RENO, NV 89501.",
    "expectedDeliveryTimeStamp": "2026-03-04T00:00:00",
    "mailClass": "USPS Ground Advantage",
    "trackingEvents": [  # newest first
        {"eventType": "Delivered, In/At Mailbox", "eventTimestamp": "2026-03-04T13:45:00",
         "GMTTimestamp": "2026-03-04T21:45:00Z", "GMTOffset": "-08:00", "eventCountry": "", "eventCity": "RENO",
         "eventState": "NV", "eventZIP": "89501", "firm": "", "name": "", "authorizedAgent": False, "eventCode": "01"},
        {"eventType": "Out for Delivery", "eventTimestamp": "2026-03-04T08:15:00", "GMTOffset": "-08:00",
         "eventCity": "RENO", "eventState": "NV", "eventZIP": "89501", "eventCode": "OF"},
        {"eventType": "USPS picked up item", "eventTimestamp": "2026-03-01T10:00:00", "eventCity": "PORTLAND",
         "eventState": "OR", "eventZIPCode": "97201", "eventCode": "03"},
    ],
}


def usps(client_id: str = "usps-client", client_secret: str = "usps-secret", expires_in: Any = 28799):
    server = FakeServer("usps")
    oauth = OAuthState("usps", expires_in)
    server.oauth = oauth

    @server.route("POST", "/oauth2/v3/token")
    def token(req, match):
        body = req.json() or {}
        if body.get("grant_type") != "client_credentials" or (body.get("client_id"), body.get("client_secret")) != (
                client_id, client_secret):
            return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed."})
        return Reply(200, {**oauth.issue(), "token_type": "Bearer", "issued_at": 1772640000000, "status": "approved"})

    @server.route("GET", r"/tracking/v3/tracking/(?P<number>[^/]+)")
    def track(req, match):
        if not oauth.accepts(req):
            return Reply(401, {"error": {"code": "401", "message": "Unauthorized"}})
        if req.query.get("expand") != "DETAIL":
            return Reply(400, {"error": {"code": "400", "message": "expand must be DETAIL"}})
        if match["number"] != USPS_NUMBER:
            return Reply(404, {"apiVersion": "v3", "error": {"code": "404",
                                                             "message": "The tracking number could not be found."}})
        return Reply(200, USPS_TRACKING)

    config = {"client_id": client_id, "client_secret": client_secret, "base_url": server.url}
    return server, config, USPS_NUMBER, "usps"


BUILDERS = {"easypost": easypost, "shippo": shippo, "aftership": aftership, "ups": ups, "fedex": fedex, "usps": usps}
