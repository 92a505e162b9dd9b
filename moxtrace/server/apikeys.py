"""API keys: the ``moxn_<tenant>.<secret>`` format, generation and hashing (no I/O).

The secret's first eight characters are the key's public id (shown by ``moxtrace keys
list``, used to revoke it and to find its row); the server stores only a salted SHA-256
of the whole secret and compares digests in constant time. Secrets are 200+ bits of
randomness, so a fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

__all__ = [
    "KEY_PREFIX",
    "TENANT_PATTERN",
    "GeneratedKey",
    "ParsedKey",
    "generate_key",
    "hash_secret",
    "parse_api_key",
    "secret_matches",
    "validate_tenant",
]

KEY_PREFIX = "moxn_"
TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
"""A tenant name: 1-63 letters, digits, ``_`` or ``-``, starting with a letter or digit."""
_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,128}")
_KEY_ID_LENGTH = 8


@dataclass(frozen=True)
class ParsedKey:
    """A key split into its parts."""

    tenant: str
    secret: str

    @property
    def key_id(self) -> str:
        """The public id: the secret's first eight characters."""
        return self.secret[:_KEY_ID_LENGTH]


@dataclass(frozen=True)
class GeneratedKey:
    """A new key: give ``api_key`` to the user once, store ``salt`` and ``secret_hash``."""

    tenant: str
    key_id: str
    api_key: str
    salt: str
    secret_hash: str


def validate_tenant(tenant: str) -> str:
    """``tenant`` if it is a valid tenant name, else ``ValueError`` saying what is allowed."""
    if not TENANT_PATTERN.fullmatch(tenant):
        raise ValueError(
            f"invalid tenant {tenant!r}: use 1-63 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return tenant


def parse_api_key(raw: str | None) -> ParsedKey | None:
    """Split ``moxn_<tenant>.<secret>``; ``None`` for anything else.

    >>> parse_api_key("moxn_acme.0123abcdXXXXXXXXXXXXXXXX")
    ParsedKey(tenant='acme', secret='0123abcdXXXXXXXXXXXXXXXX')
    """
    if not raw or not raw.startswith(KEY_PREFIX):
        return None
    tenant, dot, secret = raw[len(KEY_PREFIX) :].partition(".")
    if not dot or not TENANT_PATTERN.fullmatch(tenant) or not _SECRET_PATTERN.fullmatch(secret):
        return None
    return ParsedKey(tenant, secret)


def hash_secret(secret: str, salt: str) -> str:
    """The stored digest of ``secret``: HMAC-SHA256 keyed by the key's own salt, in hex."""
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def secret_matches(secret: str, salt: str, secret_hash: str) -> bool:
    """Whether ``secret`` hashes to ``secret_hash`` (constant-time comparison)."""
    return hmac.compare_digest(hash_secret(secret, salt), secret_hash)


def generate_key(tenant: str) -> GeneratedKey:
    """A fresh random key for ``tenant``."""
    validate_tenant(tenant)
    key_id = secrets.token_hex(_KEY_ID_LENGTH // 2)
    secret = key_id + secrets.token_urlsafe(30)
    salt = secrets.token_hex(16)
    return GeneratedKey(
        tenant=tenant,
        key_id=key_id,
        api_key=f"{KEY_PREFIX}{tenant}.{secret}",
        salt=salt,
        secret_hash=hash_secret(secret, salt),
    )
