"""Authenticating requests: ``x-api-key`` (or ``Authorization: Bearer``) to a tenant.

Verified keys are remembered for ``ttl`` seconds (a bounded LRU of key digests, never the
keys themselves), so a busy exporter does not cost a database read per request, and a
revoked key stops working within ``ttl``.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.requests import Request

from moxtrace.server.apikeys import parse_api_key
from moxtrace.server.errors import unauthorized
from moxtrace.server.store.keys import KeyStore

__all__ = ["Authenticator", "api_key_from"]


def api_key_from(request: Request) -> str | None:
    """The key a request carries: ``x-api-key``, else an ``Authorization: Bearer`` token."""
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return None


class Authenticator:
    """Resolves API keys to tenants, with a bounded, expiring cache of good keys."""

    def __init__(
        self,
        keys: KeyStore,
        *,
        ttl: float = 30.0,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._cache: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self.failures = 0
        """Requests refused with 401 so far."""

    async def tenant(self, raw_key: str | None) -> str:
        """The tenant of ``raw_key``; ``ApiError`` 401 when it is missing or unknown."""
        if not raw_key:
            self.failures += 1
            raise unauthorized()
        digest = hashlib.sha256(raw_key.encode(errors="surrogatepass")).digest()
        now = self._clock()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            self._cache.move_to_end(digest)
            return hit[0]
        parsed = parse_api_key(raw_key)
        if parsed is None or not await self._keys.verify(parsed):
            self._cache.pop(digest, None)
            self.failures += 1
            raise unauthorized("invalid API key (expected x-api-key: moxn_<tenant>.<secret>)")
        self._cache[digest] = (parsed.tenant, now + self._ttl)
        self._cache.move_to_end(digest)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return parsed.tenant

    async def authenticate(self, request: Request) -> str:
        """The tenant of the request's key (401 otherwise)."""
        return await self.tenant(api_key_from(request))

    def forget(self) -> None:
        """Drop every cached key (after revoking keys in this process)."""
        self._cache.clear()
