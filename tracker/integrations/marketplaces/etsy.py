"""Etsy Open API v3: paid, unshipped receipts in; tracking numbers out (https://developers.etsy.com).

Config ([marketplaces.etsy]; secrets as "env:NAME"):
    api_key        the app's keystring (Your Apps on etsy.com/developers); "keystring:shared_secret" also works
    shared_secret  the app's shared secret. Since 9 February 2026 Etsy refuses every request whose
                   x-api-key header is not "keystring:shared_secret"; without it only older setups work.
    access_token   an OAuth 2 bearer token the shop owner granted (scopes transactions_r transactions_w)
    refresh_token  optional: renews the access token (it lives one hour) when Etsy answers 401
    shop_id        the shop's numeric id
    base_url       default https://openapi.etsy.com (tests point it at a local fake)
    token_url      default {base_url}/v3/public/oauth/token
    carrier_names  optional table: our carrier key -> Etsy's carrier_name (default ups, usps, fedex, dhl, other)
    send_bcc       optional, default false: Etsy also mails the shipping notice to the seller

Calls:
- Receipts: GET {base}/v3/application/shops/{shop_id}/receipts?was_paid=true&was_shipped=false
  &was_canceled=false&sort_on=created&sort_order=asc&limit=100&offset=N, headers x-api-key and
  Authorization: Bearer. The answer is {"count": total, "results": [ShopReceipt...]}; pages follow by
  offset until count is reached. Oldest first, so a receipt paid while we page lands at the end instead of
  shifting the pages we have not read yet.
- Refresh: POST {token_url} form grant_type=refresh_token, client_id=keystring, refresh_token. The answer
  has a new access_token and (Etsy rotates them) a new refresh_token.
- Tracking: POST {base}/v3/application/shops/{shop_id}/receipts/{receipt_id}/tracking form tracking_code,
  carrier_name, send_bcc. Etsy has no call to change a number it was given: sending again with the new
  number adds it to the receipt (the buyer sees the newest).

Tokens. Etsy's access tokens are user-granted (no client-credentials grant), live one hour, and each
refresh hands out a new refresh token. TokenStore keeps the pair in use in memory and, when given a path,
in a small JSON file (instance/etsy_tokens.json, mode 0600) so a restart does not fall back to a refresh
token Etsy has already replaced. The file remembers which configured grant it came from (a hash of the
configured refresh token): put a new grant in the environment and the file is ignored.

Receipt fields read: receipt_id, name, buyer_email, city, state, country_iso, message_from_buyer, is_gift,
gift_message, status, updated_timestamp, transactions[] (transaction_id, title, quantity, sku,
variations[] formatted_name/formatted_value, is_digital, expected_ship_date). Etsy sends titles with HTML
entities (&quot;, &#39;): they are unescaped here.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ...domain.intake import EMAIL_RE, ItemDraft, OrderDraft
from ...domain.marketplace import pick_method
from ..carriers.common import text
from ..http import ProviderError, Response, request
from ..oauth import with_bearer

NAME = "etsy"
DEFAULT_BASE_URL = "https://openapi.etsy.com"
PAGE_SIZE = 100  # Etsy's largest page
MAX_PAGES = 50   # 5,000 open receipts in one round; the rest come next round
CARRIER_NAMES = {"ups": "ups", "usps": "usps", "fedex": "fedex", "dhl": "dhl", "other": "other"}
REQUIRED = ("api_key", "access_token", "shop_id")


class Ignored(ValueError):
    """A valid receipt with nothing for the shop to make (cancelled, only digital downloads)."""


@dataclass(frozen=True)
class EtsyConfig:
    keystring: str
    api_key_header: str  # the x-api-key value: "keystring:shared_secret" (or the keystring alone)
    has_shared_secret: bool
    access_token: str
    refresh_token: str | None
    shop_id: str
    base_url: str
    token_url: str
    carrier_names: dict[str, str]
    send_bcc: bool = False

    def __repr__(self) -> str:  # never the tokens or the secret
        return f"EtsyConfig(keystring={self.keystring!r}, shop_id={self.shop_id!r}, base_url={self.base_url!r})"


_text = text  # a trimmed non-empty string, else None: the carriers' reader (integrations/carriers/common.py)


def missing_settings(raw: Mapping | None) -> list[str]:
    """What [marketplaces.etsy] still needs, in words; empty when Etsy can be polled."""
    raw = raw or {}
    missing = [k for k in REQUIRED if not _text(raw.get(k))]
    shop_id = _text(raw.get("shop_id"))
    if shop_id and not shop_id.isdigit():
        missing.append("shop_id (Etsy's numeric shop id)")
    return missing


def load_config(raw: Mapping | None) -> EtsyConfig | None:
    """The usable settings, or None when Etsy is not set up (a key is unset: env: variables resolve to None)."""
    if not raw or missing_settings(raw):
        return None
    api_key = _text(raw.get("api_key"))
    keystring, _, embedded_secret = api_key.partition(":")
    secret = _text(raw.get("shared_secret")) or _text(embedded_secret)
    base = (_text(raw.get("base_url")) or DEFAULT_BASE_URL).rstrip("/")
    names = dict(CARRIER_NAMES)
    extra = raw.get("carrier_names")
    if isinstance(extra, Mapping):
        names.update({str(k).lower(): str(v) for k, v in extra.items() if _text(v)})
    return EtsyConfig(
        keystring=keystring, api_key_header=f"{keystring}:{secret}" if secret else keystring,
        has_shared_secret=bool(secret), access_token=_text(raw.get("access_token")),
        refresh_token=_text(raw.get("refresh_token")), shop_id=_text(raw.get("shop_id")), base_url=base,
        token_url=(_text(raw.get("token_url")) or f"{base}/v3/public/oauth/token"), carrier_names=names,
        send_bcc=raw.get("send_bcc") is True)


# -- tokens ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None = None

    def __repr__(self) -> str:
        return "Tokens(...)"


_LOCK = threading.Lock()
_MEMORY: dict[tuple, Tokens] = {}


def _grant(cfg: EtsyConfig) -> str:
    """Which configured grant a stored pair descends from, as a hash (the file does not repeat the config's
    secrets)."""
    seed = f"{cfg.keystring}\n{cfg.refresh_token or cfg.access_token}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


class TokenStore:
    """The access token in use and the refresh token that renews it (see the module's docstring)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else None

    def _key(self, cfg: EtsyConfig) -> tuple:
        return (str(self.path), cfg.base_url, _grant(cfg))

    def current(self, cfg: EtsyConfig) -> Tokens:
        stored = self._read(cfg)
        if stored is not None:
            return stored
        with _LOCK:
            return _MEMORY.get(self._key(cfg)) or Tokens(cfg.access_token, cfg.refresh_token)

    def refresh(self, cfg: EtsyConfig, failed_access_token: str) -> str:
        """A new access token after `failed_access_token` was refused; another thread's fresh one if it
        already renewed it. Raises ProviderError when there is no refresh token or Etsy refuses it."""
        with _LOCK:
            now = self._read(cfg) or _MEMORY.get(self._key(cfg)) or Tokens(cfg.access_token, cfg.refresh_token)
            if now.access_token != failed_access_token:
                return now.access_token
            if not now.refresh_token:
                raise ProviderError("etsy: the access token was refused and there is no refresh_token to renew "
                                    "it; grant access again and update access_token", status=401)
            try:
                resp = request("POST", cfg.token_url, headers={"x-api-key": cfg.api_key_header},
                               form={"grant_type": "refresh_token", "client_id": cfg.keystring,
                                     "refresh_token": now.refresh_token})
            except ProviderError as exc:
                if exc.retryable:
                    raise
                raise ProviderError(f"etsy: renewing the access token was refused ({exc.status}): {exc.message}; "
                                    "grant access again and update access_token and refresh_token",
                                    status=exc.status, response=exc.response) from None
            doc = _json(resp)
            access = _text(doc.get("access_token")) if isinstance(doc, dict) else None
            if access is None:
                raise ProviderError("etsy: the token answer has no access_token", status=resp.status,
                                    retryable=True, response=resp)
            fresh = Tokens(access, _text(doc.get("refresh_token")) or now.refresh_token)
            _MEMORY[self._key(cfg)] = fresh
            self._write(cfg, fresh)
            return fresh.access_token

    def _read(self, cfg: EtsyConfig) -> Tokens | None:
        if self.path is None:
            return None
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("grant") != _grant(cfg) or not _text(doc.get("access_token")):
            return None  # another shop's tokens, or from a grant the config no longer names
        return Tokens(doc["access_token"], _text(doc.get("refresh_token")))

    def _write(self, cfg: EtsyConfig, tokens: Tokens) -> None:
        if self.path is None:
            return
        doc = {"grant": _grant(cfg), "access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
               "renewed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        os.replace(tmp, self.path)


# -- calls -------------------------------------------------------------------------------------------

def _json(resp: Response) -> Any:
    try:
        return resp.json()
    except ValueError as exc:
        raise ProviderError(f"etsy: {exc}", status=resp.status, retryable=True, response=resp) from None


def _about_the_key(exc: ProviderError) -> bool:
    text = exc.message.lower()
    return "api key" in text or "x-api-key" in text or "shared secret" in text or "keystring" in text


def _authed(cfg: EtsyConfig, store: TokenStore, method: str, url: str, **kwargs) -> Response:
    """One call with the bearer token; a 401 about the token (expired, revoked) renews it once and tries again."""
    def call(token: str) -> Response:
        return request(method, url, headers={"x-api-key": cfg.api_key_header, "Authorization": f"Bearer {token}"},
                       **kwargs)

    return with_bearer(lambda: store.current(cfg).access_token, lambda refused: store.refresh(cfg, refused), call,
                       renews_on=lambda exc: exc.status == 401 and not _about_the_key(exc),
                       explain=lambda exc: _explained(exc, cfg))


def _explained(exc: ProviderError, cfg: EtsyConfig) -> ProviderError:
    if exc.status in (401, 403):
        hint = "check api_key and shared_secret" if _about_the_key(exc) or exc.status == 403 else \
            "check access_token (and refresh_token)"
        if not cfg.has_shared_secret:
            hint += "; Etsy wants x-api-key as keystring:shared_secret: set shared_secret"
        return ProviderError(f"{exc.message} ({hint})", status=exc.status, retryable=False, response=exc.response)
    return exc


def receipts_url(cfg: EtsyConfig) -> str:
    return f"{cfg.base_url}/v3/application/shops/{cfg.shop_id}/receipts"


def fetch_receipts(cfg: EtsyConfig, store: TokenStore, offset: int = 0) -> tuple[list, int]:
    """One page of paid, unshipped receipts: (receipts as Etsy sent them, Etsy's total count)."""
    resp = _authed(cfg, store, "GET", receipts_url(cfg),
                   params={"was_paid": "true", "was_shipped": "false", "was_canceled": "false",
                           "sort_on": "created", "sort_order": "asc", "limit": PAGE_SIZE, "offset": offset})
    doc = _json(resp)
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ProviderError("etsy: the receipts answer has no results list", status=resp.status, retryable=True,
                            response=resp)
    count = doc.get("count")
    if isinstance(count, bool) or not isinstance(count, int):
        count = offset + len(doc["results"])
    return doc["results"], count


def push_tracking(cfg: EtsyConfig, store: TokenStore, *, receipt_id: str, tracking_code: str,
                  carrier_name: str) -> dict:
    """Tells Etsy a receipt's tracking number (Etsy marks it shipped and mails the buyer)."""
    url = f"{receipts_url(cfg)}/{receipt_id}/tracking"
    resp = _authed(cfg, store, "POST", url, form={"tracking_code": tracking_code, "carrier_name": carrier_name,
                                                  "send_bcc": "true" if cfg.send_bcc else "false"})
    doc = _json(resp)
    return doc if isinstance(doc, dict) else {}


def carrier_name(cfg: EtsyConfig | None, carrier: str | None) -> str:
    names = cfg.carrier_names if cfg else CARRIER_NAMES
    return names.get((carrier or "other").lower(), names.get("other", "other"))


# -- reading a receipt -------------------------------------------------------------------------------

def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def receipt_key(doc: Any, body: bytes) -> str:
    """The receipt's dedupe key: etsy:receipt:<receipt_id>:<updated_timestamp>; a receipt too broken to
    name is keyed by a hash of what Etsy sent."""
    if isinstance(doc, dict):
        rid = _whole(doc.get("receipt_id"))
        updated = _whole(doc.get("updated_timestamp") or doc.get("update_timestamp"))
        if rid is not None and updated is not None:
            return f"etsy:receipt:{rid}:{updated}"
        if rid is not None:
            return f"etsy:receipt:{rid}:sha256-{hashlib.sha256(body).hexdigest()[:40]}"
    return f"etsy:receipt:unknown:sha256-{hashlib.sha256(body).hexdigest()[:64]}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _clean(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    text = html.unescape(text)
    return "".join(c if c in "\n\t" or ord(c) >= 32 else " " for c in text).strip() or None


def _variations(tx: dict) -> list[tuple[str, str]]:
    out = []
    for v in tx.get("variations") or []:
        if isinstance(v, dict):
            name, value = _clean(v.get("formatted_name")), _clean(v.get("formatted_value"))
            if name and value:
                out.append((name, value))
    return out


def parse_receipt(doc: Any, *, rules: Sequence, default_method: str, tz: dt.tzinfo, max_quantity: int = 100_000,
                  max_items: int = 200) -> OrderDraft:
    """A receipt as an order draft (channel etsy). ValueError says what is wrong with a malformed one;
    Ignored, when there is nothing to make."""
    if not isinstance(doc, dict):
        raise ValueError("the receipt is not a JSON object")
    rid = _whole(doc.get("receipt_id"))
    if rid is None or rid <= 0:
        raise ValueError("the receipt has no receipt_id")
    if (_text(doc.get("status")) or "").lower() in ("canceled", "cancelled", "fully refunded"):
        raise Ignored(f"receipt {rid} is {doc['status']}")
    transactions = doc.get("transactions")
    if not isinstance(transactions, list) or not transactions:
        raise ValueError(f"receipt {rid} has no transactions")
    items: list[ItemDraft] = []
    ship_by: list[dt.date] = []
    personal: list[str] = []
    digital = 0
    for i, tx in enumerate(transactions):
        where = f"receipt {rid} transaction {i + 1}"
        if not isinstance(tx, dict):
            raise ValueError(f"{where} is not an object")
        if tx.get("is_digital") is True:
            digital += 1
            continue
        tid = _whole(tx.get("transaction_id"))
        if tid is None:
            raise ValueError(f"{where} has no transaction_id")
        title = _clean(tx.get("title")) or _clean(tx.get("sku"))
        if title is None:
            raise ValueError(f"{where} ({tid}) has no title")
        quantity = _whole(tx.get("quantity"))
        if quantity is None or quantity < 1:
            raise ValueError(f"{where} ({tid}): quantity {tx.get('quantity')!r} is not a whole number of at least 1")
        if quantity > max_quantity:
            raise ValueError(f"{where} ({tid}): quantity {quantity} is more than this shop takes in one item "
                             f"({max_quantity})")
        options = _variations(tx)
        for name, value in options:
            if "personali" in name.lower():
                personal.append(f"{name} ({_clip(title, 60)}): {value}")
        shown = ", ".join(f"{n}: {v}" for n, v in options if "personali" not in n.lower())
        description = _clip(title, 200) if not shown else f"{_clip(title, max(40, 196 - len(shown)))} ({shown})"
        sku = _clean(tx.get("sku"))
        method = pick_method(rules, default_method, sku=sku, title=title)
        items.append(ItemDraft(_clip(description, 200), method, quantity, external_ref=str(tid)))
        expected = _whole(tx.get("expected_ship_date"))
        if expected:
            ship_by.append(dt.datetime.fromtimestamp(expected, dt.timezone.utc).astimezone(tz).date())
    if not items:
        raise Ignored(f"receipt {rid} has only digital items ({digital})")
    if len(items) > max_items:
        raise ValueError(f"receipt {rid} has {len(items)} items; this shop takes at most {max_items} per order")

    name = _clean(doc.get("name"))
    if name is None:
        buyer = _whole(doc.get("buyer_user_id"))
        if buyer is None:
            raise ValueError(f"receipt {rid} has no name to ship to")
        name = f"Etsy buyer {buyer}"
    email = _clean(doc.get("buyer_email"))
    if email and (len(email) > 254 or not EMAIL_RE.match(email)):
        email = None  # Etsy hides some buyers' addresses; a bad one is left out, not a reason to refuse
    country = (_text(doc.get("country_iso")) or "").upper()
    notes = []
    message = _clean(doc.get("message_from_buyer"))
    if message:
        notes.append(f"Buyer's note: {message}")
    notes.extend(personal)
    if doc.get("is_gift") is True:
        gift = _clean(doc.get("gift_message"))
        notes.append(f"Gift{': ' + gift if gift else ''}")
    return OrderDraft(
        customer_name=_clip(name, 200), customer_email=email, customer_phone=None, items=tuple(items),
        due_date=min(ship_by) if ship_by else None, rush=False,
        notes=_clip("\n".join(notes), 2000) if notes else None, channel="etsy", external_ref=str(rid),
        ship_city=_clip(_clean(doc.get("city")) or "", 100) or None,
        ship_region=_clip(_clean(doc.get("state")) or "", 100) or None,
        ship_country=country if len(country) == 2 and country.isalpha() else None,
        ship_name=_clip(_clean(doc.get("name")) or "", 200) or None,
        ship_street1=_clip(_clean(doc.get("first_line")) or "", 200) or None,
        ship_street2=_clip(_clean(doc.get("second_line")) or "", 200) or None,
        ship_postal=_clip(_clean(doc.get("zip")) or "", 20) or None,
        external_name=f"#{rid}")

