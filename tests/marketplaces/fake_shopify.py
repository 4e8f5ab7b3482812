"""A fake Shopify GraphQL Admin API: a real HTTP server on 127.0.0.1 (tests/integrations/fakes.FakeServer).

It knows orders and their fulfillment orders, answers the three operations Inktrail sends (the order's
fulfillment orders and fulfillments, fulfillmentCreate, fulfillmentTrackingInfoUpdate) the way Shopify
does (HTTP 200 with `data`, `errors` or `userErrors`), checks the access token, and records every call.

    shop = FakeShopify().start()
    shop.add_order("6120139491234", "#1042")
    shop.refuse_next("Fulfillment order 1 has an unfulfillable status= closed.")   # userErrors once
    shop.server.fail_next(500)                                                    # an HTTP error once
    shop.operations()  -> [("fulfillmentCreate", variables), ...]
"""
from __future__ import annotations

import itertools
import threading

from tests.integrations.fakes import FakeServer, Reply

API_VERSION = "2025-01"
TOKEN = "shpat_fake_0123456789"
COST = {"requestedQueryCost": 10, "actualQueryCost": 10,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0}}


class FakeShopify:
    def __init__(self, token: str = TOKEN, version: str = API_VERSION):
        self.server = FakeServer("shopify")
        self.token = token
        self.orders: dict[str, dict] = {}        # order gid -> {"name", "fulfillment_orders": [...], "fulfillments": [...]}
        self.fulfillments: dict[str, dict] = {}  # fulfillment gid -> {"id", "status", "trackingInfo": [...], "order"}
        self._refusals: list[str] = []
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self.path = f"/admin/api/{version}/graphql.json"
        self.server.route("POST", self.path)(self._graphql)

    # --- set-up ---
    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> "FakeShopify":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def add_order(self, order_id: str, name: str = "#1042", *, status: str = "OPEN") -> str:
        gid = f"gid://shopify/Order/{order_id}"
        fo = {"id": f"gid://shopify/FulfillmentOrder/{next(self._ids)}", "status": status}
        self.orders[gid] = {"name": name, "fulfillment_orders": [fo], "fulfillments": []}
        return gid

    def refuse_next(self, message: str) -> None:
        """The next mutation answers userErrors with this message (as Shopify does for a bad request)."""
        with self._lock:
            self._refusals.append(message)

    # --- inspection ---
    def operations(self) -> list[tuple[str, dict]]:
        """(operation, variables) of every GraphQL call that reached the routes, in order."""
        out = []
        for req in self.server.calls("POST", self.path):
            body = req.json() or {}
            out.append((_operation(body.get("query") or ""), body.get("variables") or {}))
        return out

    # --- serving ---
    def _graphql(self, req, match) -> Reply:
        if req.headers.get("x-shopify-access-token") != self.token:
            return Reply(401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
        body = req.json() or {}
        query, variables = body.get("query") or "", body.get("variables") or {}
        op = _operation(query)
        with self._lock:
            if op == "order":
                return self._order(variables)
            refusal = self._refusals.pop(0) if self._refusals else None
            if op == "fulfillmentCreate":
                return self._create(variables, refusal)
            if op == "fulfillmentTrackingInfoUpdate":
                return self._update(variables, refusal)
        return Reply(200, {"errors": [{"message": "Parse error on query", "extensions": {"code": "parseError"}}]})

    def _order(self, variables: dict) -> Reply:
        order = self.orders.get(variables.get("id"))
        if order is None:
            return _data({"order": None})
        return _data({"order": {
            "id": variables["id"], "name": order["name"],
            "fulfillmentOrders": {"nodes": [dict(fo) for fo in order["fulfillment_orders"]]},
            "fulfillments": [_public(self.fulfillments[f]) for f in order["fulfillments"]]}})

    def _create(self, variables: dict, refusal: str | None) -> Reply:
        if refusal:
            return _data({"fulfillmentCreate": {"fulfillment": None,
                                                "userErrors": [{"field": ["fulfillment"], "message": refusal}]}})
        fulfillment = variables.get("fulfillment") or {}
        wanted = [x.get("fulfillmentOrderId") for x in fulfillment.get("lineItemsByFulfillmentOrder") or []]
        found = [(gid, fo) for gid, o in self.orders.items() for fo in o["fulfillment_orders"] if fo["id"] in wanted]
        if not wanted or len(found) != len(wanted):
            return _data({"fulfillmentCreate": {"fulfillment": None, "userErrors": [
                {"field": ["fulfillment", "lineItemsByFulfillmentOrder"], "message": "Fulfillment order does not exist."}]}})
        for _, fo in found:
            if fo["status"] not in ("OPEN", "IN_PROGRESS"):
                return _data({"fulfillmentCreate": {"fulfillment": None, "userErrors": [
                    {"field": ["fulfillment"],
                     "message": f"Fulfillment order {fo['id']} has an unfulfillable status= {fo['status'].lower()}."}]}})
        for _, fo in found:
            fo["status"] = "CLOSED"
        gid = f"gid://shopify/Fulfillment/{next(self._ids)}"
        order_gid = found[0][0]
        record = {"id": gid, "status": "SUCCESS", "trackingInfo": [_tracking(fulfillment.get("trackingInfo") or {})],
                  "order": order_gid, "notifyCustomer": fulfillment.get("notifyCustomer")}
        self.fulfillments[gid] = record
        self.orders[order_gid]["fulfillments"].append(gid)
        return _data({"fulfillmentCreate": {"fulfillment": _public(record), "userErrors": []}})

    def _update(self, variables: dict, refusal: str | None) -> Reply:
        if refusal:
            return _data({"fulfillmentTrackingInfoUpdate": {"fulfillment": None,
                                                            "userErrors": [{"field": ["fulfillmentId"], "message": refusal}]}})
        record = self.fulfillments.get(variables.get("fulfillmentId"))
        if record is None:
            return _data({"fulfillmentTrackingInfoUpdate": {"fulfillment": None, "userErrors": [
                {"field": ["fulfillmentId"], "message": "Fulfillment does not exist."}]}})
        record["trackingInfo"] = [_tracking(variables.get("trackingInfoInput") or {})]
        return _data({"fulfillmentTrackingInfoUpdate": {"fulfillment": _public(record), "userErrors": []}})


def _operation(query: str) -> str:
    for op in ("fulfillmentCreate", "fulfillmentTrackingInfoUpdate"):
        if f"{op}(" in query:
            return op
    return "order" if "fulfillmentOrders" in query else "unknown"


def _tracking(info: dict) -> dict:
    return {"company": info.get("company"), "number": info.get("number"), "url": info.get("url")}


def _public(record: dict) -> dict:
    return {"id": record["id"], "status": record["status"], "trackingInfo": [dict(t) for t in record["trackingInfo"]]}


def _data(data: dict) -> Reply:
    return Reply(200, {"data": data, "extensions": {"cost": COST}})
