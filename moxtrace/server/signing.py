"""Signed content-upload URLs: HMAC-SHA256 over tenant, storage key and expiry (no I/O).

``POST /telemetry/log-event-and-get-signed-url`` answers with a URL of the form
``<base>/telemetry/content/<storage_key>?tenant=..&expires=<unix>&signature=<hex>``; a PUT
to it stores the content without an API key, until ``expires``. The signing key is per
server data set (kept in the store), so URLs survive a restart and work on every server
sharing a PostgreSQL database.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

__all__ = [
    "CONTENT_PATH",
    "STORAGE_KEY_PATTERN",
    "SignedUrl",
    "UrlSigner",
    "default_storage_key",
    "valid_storage_key",
]

CONTENT_PATH = "/telemetry/content/"
STORAGE_KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,255}")
"""What a content storage key may look like (no ``..`` segments either)."""
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class SignedUrl:
    """A URL to PUT content to, and when it stops working (unix seconds)."""

    url: str
    storage_key: str
    expires: int


def default_storage_key(trace_id: str, span_id: str, event_type: str, sequence: int) -> str:
    """The key content of an event is stored under when the sender did not choose one.

    Derived from the event's identity, so a retried request gets the same key.
    """
    return f"{trace_id}/{span_id}/{event_type}-{sequence}"


def valid_storage_key(key: str) -> bool:
    """Whether ``key`` is acceptable as a storage key."""
    return bool(STORAGE_KEY_PATTERN.fullmatch(key)) and ".." not in key.split("/")


class UrlSigner:
    """Signs and verifies upload URLs with one secret key."""

    def __init__(self, key: bytes, ttl: int) -> None:
        self._key = key
        self._ttl = ttl

    def _signature(self, tenant: str, storage_key: str, expires: int) -> str:
        message = f"PUT\n{tenant}\n{storage_key}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(self, base_url: str, tenant: str, storage_key: str, now: float) -> SignedUrl:
        """A URL under ``base_url`` allowing one tenant to PUT ``storage_key`` for ``ttl`` s."""
        expires = int(now) + self._ttl
        query = urlencode(
            {
                "tenant": tenant,
                "expires": expires,
                "signature": self._signature(tenant, storage_key, expires),
            }
        )
        path = CONTENT_PATH + quote(storage_key, safe="/")
        return SignedUrl(f"{base_url.rstrip('/')}{path}?{query}", storage_key, expires)

    def verify(
        self, tenant: str, storage_key: str, expires: int, signature: str, now: float
    ) -> str | None:
        """``None`` when the URL is valid now, else why it is not."""
        if not _HEX64.fullmatch(signature):
            return "invalid signature"
        expected = self._signature(tenant, storage_key, expires)
        if not hmac.compare_digest(expected, signature.lower()):
            return "invalid signature"
        if now > expires:
            return "signed URL expired"
        return None
