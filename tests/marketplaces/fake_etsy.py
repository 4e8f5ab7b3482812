"""A fake Etsy Open API v3: a real HTTP server on 127.0.0.1 (tests/integrations/fakes.py's FakeServer).

It serves the three calls Inktrail makes, checks what Etsy checks (x-api-key as keystring:shared_secret, a
bearer token it issued, the query and form fields), records every request, and can be told to fail the
next N requests (server.fail_next(429, retry_after="30")) or to let its current token expire.
Receipts are shaped like Etsy's ShopReceipt; the values are made up.
"""
from __future__ import annotations

import copy
import itertools

from tests.integrations.fakes import FakeServer, Reply

KEYSTRING = "fakekeystring1234567890"
SHARED_SECRET = "fakesharedsecret"
SHOP_ID = "31415926"
FIRST_ACCESS = "12345678.first-access-token"
FIRST_REFRESH = "12345678.first-refresh-token"
# 2026-03-02 12:00 UTC and a few days on; Etsy sends epoch seconds.
CREATED = 1772452800
SHIP_BY = 1772841600  # 2026-03-07 00:00 UTC = 2026-03-06 17:00 in Denver


def receipt(receipt_id: int, *, name: str = "Rosa Diaz", transactions: list | None = None, updated: int | None = None,
            **extra) -> dict:
    """A paid, unshipped ShopReceipt with one transaction unless given others."""
    doc = {
        "receipt_id": receipt_id, "receipt_type": 0, "seller_user_id": 12345678, "seller_email": "shop@example.com",
        "buyer_user_id": 99000000 + receipt_id % 1000, "buyer_email": "rosa@example.com", "name": name,
        "first_line": "12 Elm St", "second_line": None, "city": "Boise", "state": "ID", "zip": "83702",
        "status": "Paid", "formatted_address": f"{name}\n12 Elm St\nBOISE, ID 83702\nUnited States",
        "country_iso": "US", "payment_method": "cc", "message_from_seller": None,
        "message_from_buyer": "Please use the blue ink", "message_from_payment": None, "is_paid": True,
        "is_shipped": False, "create_timestamp": CREATED, "created_timestamp": CREATED,
        "update_timestamp": updated or CREATED + 60, "updated_timestamp": updated or CREATED + 60, "is_gift": False,
        "gift_message": "", "gift_sender": "", "grandtotal": {"amount": 4200, "divisor": 100, "currency_code": "USD"},
        "shipments": [], "refunds": [],
        "transactions": transactions if transactions is not None else [transaction(receipt_id * 10 + 1)],
    }
    doc.update(extra)
    return doc


def transaction(transaction_id: int, *, title: str = "Custom &quot;Team&quot; Tee", quantity=2, sku="TEE-DTG-BLK",
                variations=None, **extra) -> dict:
    doc = {
        "transaction_id": transaction_id, "title": title, "description": "A soft tee", "seller_user_id": 12345678,
        "buyer_user_id": 99000001, "create_timestamp": CREATED, "created_timestamp": CREATED,
        "paid_timestamp": CREATED, "shipped_timestamp": None, "quantity": quantity, "listing_image_id": 1,
        "receipt_id": transaction_id // 10, "is_digital": False, "file_data": "", "listing_id": 555,
        "transaction_type": "listing", "product_id": 777, "sku": sku,
        "price": {"amount": 2100, "divisor": 100, "currency_code": "USD"},
        "shipping_cost": {"amount": 0, "divisor": 100, "currency_code": "USD"},
        "variations": variations if variations is not None else [
            {"property_id": 62809790395, "value_id": 1, "formatted_name": "Size", "formatted_value": "L"}],
        "product_data": [], "shipping_profile_id": 1, "min_processing_days": 3, "max_processing_days": 5,
        "shipping_method": None, "shipping_upgrade": None, "expected_ship_date": SHIP_BY,
        "buyer_coupon": 0, "shop_coupon": 0,
    }
    doc.update(extra)
    return doc


class FakeEtsy:
    def __init__(self):
        self.server = FakeServer("etsy")
        self.receipts: list[dict] = []
        self.shipments: list[dict] = []
        self.valid_access = {FIRST_ACCESS}
        self.expired_access: set[str] = set()
        self.refresh_token = FIRST_REFRESH
        self.rate_limit_at: dict[int, str] = {}  # offset -> Retry-After of a one-time 429
        self._numbers = itertools.count(2)
        prefix = f"/v3/application/shops/{SHOP_ID}"

        @self.server.route("GET", prefix + "/receipts")
        def list_receipts(req, match):
            refused = self._check(req)
            if refused:
                return refused
            q = req.query
            if q.get("was_paid") != "true" or q.get("was_shipped") != "false":
                return Reply(400, {"error": "expected was_paid=true and was_shipped=false"})
            try:
                limit, offset = int(q.get("limit", "25")), int(q.get("offset", "0"))
            except ValueError:
                return Reply(400, {"error": "Expected int value for 'limit'"})
            if not 1 <= limit <= 100:
                return Reply(400, {"error": "limit must be between 1 and 100"})
            if offset in self.rate_limit_at:  # once: Etsy's 429 for the page at that offset
                return Reply(429, {"error": "Rate limit exceeded"}, {"Retry-After": self.rate_limit_at.pop(offset)})
            open_ = [r for r in self.receipts if not r.get("is_shipped")]
            return Reply(200, {"count": len(open_), "results": copy.deepcopy(open_[offset:offset + limit])})

        @self.server.route("POST", prefix + r"/receipts/(?P<receipt_id>\d+)/tracking")
        def create_shipment(req, match):
            refused = self._check(req)
            if refused:
                return refused
            form = req.form()
            if req.headers.get("content-type") != "application/x-www-form-urlencoded":
                return Reply(415, {"error": "form expected"})
            if not form.get("tracking_code") or not form.get("carrier_name"):
                return Reply(400, {"error": "tracking_code and carrier_name are required"})
            found = next((r for r in self.receipts if str(r["receipt_id"]) == match["receipt_id"]), None)
            if found is None:
                return Reply(404, {"error": f"Receipt {match['receipt_id']} not found"})
            self.shipments.append({"receipt_id": found["receipt_id"], **form})
            found["is_shipped"] = True
            found["shipments"].append({"receipt_shipping_id": len(self.shipments),
                                       "carrier_name": form["carrier_name"], "tracking_code": form["tracking_code"],
                                       "shipment_notification_timestamp": CREATED})
            return Reply(200, copy.deepcopy(found))

        @self.server.route("POST", "/v3/public/oauth/token")
        def token(req, match):
            form = req.form()
            if form.get("grant_type") != "refresh_token" or form.get("client_id") != KEYSTRING:
                return Reply(400, {"error": "invalid_request", "error_description": "bad grant_type or client_id"})
            if form.get("refresh_token") != self.refresh_token:
                return Reply(400, {"error": "invalid_grant", "error_description": "refresh token is invalid"})
            n = next(self._numbers)
            access, self.refresh_token = f"12345678.access-{n}", f"12345678.refresh-{n}"  # Etsy rotates both
            self.valid_access.add(access)
            return Reply(200, {"access_token": access, "token_type": "Bearer", "expires_in": 3600,
                               "refresh_token": self.refresh_token})

    def _check(self, req) -> Reply | None:
        key = req.headers.get("x-api-key", "")
        if ":" not in key:
            return Reply(403, {"error": "Shared secret is required in x-api-key header."})
        if key != f"{KEYSTRING}:{SHARED_SECRET}":
            return Reply(403, {"error": "Invalid API key"})
        auth = req.headers.get("authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if token in self.expired_access:
            return Reply(401, {"error": "invalid_token", "error_description": "access token is expired"})
        if token not in self.valid_access:
            return Reply(401, {"error": "invalid_token", "error_description": "access token is invalid"})
        return None

    # --- set-up and inspection ---
    def expire_access(self) -> None:
        """Every token issued so far is now expired (Etsy's live one hour)."""
        self.expired_access |= self.valid_access
        self.valid_access = set()

    def start(self) -> "FakeEtsy":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def fail_next(self, *args, **kwargs) -> None:
        self.server.fail_next(*args, **kwargs)

    def calls(self, method=None, path=None):
        return self.server.calls(method, path)

    def receipt_calls(self):
        return self.calls("GET", rf"/v3/application/shops/{SHOP_ID}/receipts")

    def tracking_calls(self):
        return self.calls("POST", rf"/v3/application/shops/{SHOP_ID}/receipts/\d+/tracking")

    def config(self, **overrides) -> dict:
        cfg = {"api_key": KEYSTRING, "shared_secret": SHARED_SECRET, "access_token": FIRST_ACCESS,
               "refresh_token": FIRST_REFRESH, "shop_id": SHOP_ID, "base_url": self.url}
        cfg.update(overrides)
        return {k: v for k, v in cfg.items() if v is not None}



def offsets(calls) -> list[int]:
    return [int(c.query.get("offset", "0")) for c in calls]
