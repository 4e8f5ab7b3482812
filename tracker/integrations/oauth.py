"""OAuth 2 bearer tokens, in one place: `with_bearer` makes a call with the token in use and, when the
provider says the token is no good (401), renews it once and tries again, whoever hands tokens out: the
client-credentials cache below (UPS, FedEx, USPS) or Etsy's store of user-granted, rotating tokens
(integrations/marketplaces/etsy.py). Client-credentials tokens are cached in memory until shortly before
they expire.

UPS, FedEx and USPS hand out bearer tokens that live for hours; asking for a new one on every tracking
call would double the requests and trip their rate limits. The cache is keyed by
(provider, base_url, client_id), so a sandbox and a production account never share a token, and it is
thread-safe: the web process and the scheduler's threads may call at once, and only one of them fetches
a missing token while the others wait for it.

Tokens live only in this process's memory: never written to disk or the database, never logged.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Hashable, TypeVar

from .http import ProviderError

T = TypeVar("T")

MAX_MARGIN_SECONDS = 60.0    # refresh this long before expiry (or 10% of the lifetime, if shorter)
DEFAULT_LIFETIME = 600.0     # when a token answer has no usable expires_in


@dataclass(frozen=True)
class _Entry:
    token: str
    refresh_at: float


class TokenCache:
    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def token(self, key: Hashable, fetch: Callable[[], tuple[str, float | None]]) -> str:
        """The cached token for key, or a fresh one from fetch() -> (token, expires_in seconds)."""
        with self._key_lock(key):
            entry = self._entries.get(key)
            now = self._clock()
            if entry is not None and now < entry.refresh_at:
                return entry.token
            token, expires_in = fetch()
            lifetime = _lifetime(expires_in)
            margin = min(MAX_MARGIN_SECONDS, lifetime * 0.1)
            with self._lock:
                self._entries[key] = _Entry(token, now + lifetime - margin)
            return token

    def invalidate(self, key: Hashable, token: str | None = None) -> None:
        """Forgets key's token (only if it is still `token`, when given: another thread may have
        replaced it already)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (token is None or entry.token == token):
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _key_lock(self, key: Hashable) -> threading.Lock:
        with self._lock:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = self._key_locks[key] = threading.Lock()
            return lock


def is_401(exc: ProviderError) -> bool:
    return exc.status == 401


def with_bearer(current: Callable[[], str], renew: Callable[[str], str], call: Callable[[str], T], *,
                renews_on: Callable[[ProviderError], bool] = is_401,
                explain: Callable[[ProviderError], ProviderError] = lambda exc: exc) -> T:
    """call(token) with current(); when its refusal `renews_on` (a 401: revoked, or expired early), one
    token from renew(refused token) and one more try. A refusal of the second try, or one that renewing
    cannot help, is raised as explain(error); renew()'s own errors as they are."""
    token = current()
    try:
        return call(token)
    except ProviderError as exc:
        if not renews_on(exc):
            raise explain(exc) from None
    token = renew(token)
    try:
        return call(token)
    except ProviderError as exc:
        raise explain(exc) from None


def _lifetime(expires_in) -> float:
    # UPS sends expires_in as a string ("14399"); FedEx and USPS as a number.
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return DEFAULT_LIFETIME
    return seconds if seconds > 0 else DEFAULT_LIFETIME


TOKENS = TokenCache()
