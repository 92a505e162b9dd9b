"""Webhooks from the registry: sign, verify and parse.

When a branch gets a new commit, ``moxtrace serve`` POSTs a ``commit.created`` event to
every registered URL (see docs/webhooks.md). Each request carries::

    X-Moxn-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]

where each hex value is ``HMAC-SHA256(secret, f"{t}." + raw_body)``; several ``v1`` values
appear while a secret is being rotated. A receiver checks the signature on the raw body,
before parsing it:

>>> from moxtrace import webhooks
>>> async def handle(request):                      # e.g. a Starlette/FastAPI route
...     payload = await request.body()
...     header = request.headers.get("X-Moxn-Signature")
...     if not webhooks.verify_signature(payload, header, WEBHOOK_SECRET):
...         return Response(status_code=401)
...     event = webhooks.parse(payload)
...     if event.type == "commit.created":
...         prompt_cache.drop_branch(event.commit.task_id, event.commit.branch_name)
...     return Response(status_code=204)
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

__all__ = [
    "COMMIT_CREATED",
    "DEFAULT_TOLERANCE",
    "SIGNATURE_HEADER",
    "CommitCreated",
    "Webhook",
    "WebhookDelivery",
    "WebhookEvent",
    "parse",
    "sign",
    "signature",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Moxn-Signature"
"""The request header that carries the signature."""
DEFAULT_TOLERANCE = 300
"""Seconds a signature's timestamp may be away from now (replay protection)."""
COMMIT_CREATED = "commit.created"
"""The event sent when a branch gets a new commit."""

Secret = str | bytes
"""A webhook secret (``whsec_...``) as text or bytes."""


def _key(secret: Secret) -> bytes:
    return secret.encode() if isinstance(secret, str) else bytes(secret)


def _body(payload: bytes | bytearray | memoryview | str) -> bytes:
    return payload.encode() if isinstance(payload, str) else bytes(payload)


def signature(payload: bytes | str, secret: Secret, timestamp: int) -> str:
    """The hex ``v1`` signature of ``payload`` signed at ``timestamp`` with ``secret``.

    >>> signature(b'{"id": "evt_1"}', "whsec_test", 1714000000)[:16]
    '88fe60dd04b7c004'
    """
    message = str(int(timestamp)).encode() + b"." + _body(payload)
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def sign(
    payload: bytes | str,
    secret: Secret | Sequence[Secret],
    timestamp: int | None = None,
) -> str:
    """The ``X-Moxn-Signature`` value for ``payload``: one ``v1`` per secret.

    >>> sign(b"{}", "whsec_test", timestamp=1714000000).startswith("t=1714000000,v1=")
    True
    """
    t = int(time.time()) if timestamp is None else int(timestamp)
    secrets = [secret] if isinstance(secret, str | bytes) else list(secret)
    if not secrets:
        raise ValueError("sign() needs at least one secret")
    return ",".join([f"t={t}"] + [f"v1={signature(payload, s, t)}" for s in secrets])


def _parse_header(header: str) -> tuple[int, list[str]] | None:
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "t" and timestamp is None:
            if not (value.isascii() and value.isdigit()) or len(value) > 12:
                return None
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value.lower())
    if timestamp is None or not candidates:
        return None
    return timestamp, candidates


def verify_signature(
    payload: bytes | str,
    header: str | None,
    secret: Secret | Sequence[Secret],
    tolerance: float | None = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (``X-Moxn-Signature``) is a valid signature of ``payload``.

    ``payload`` must be the raw request body, byte for byte. ``secret`` may be a list
    (while rotating: any of them may match). False when the header is missing or
    malformed, when no signature matches, or when its timestamp is more than
    ``tolerance`` seconds from ``now`` (``None``: no time check). The comparison takes the
    same time wherever the signatures differ.

    >>> header = sign(b'{"id": "evt_1"}', "whsec_a")
    >>> verify_signature(b'{"id": "evt_1"}', header, ["whsec_old", "whsec_a"])
    True
    >>> verify_signature(b'{"id": "evt_2"}', header, "whsec_a")
    False
    """
    if not header:
        return False
    parsed = _parse_header(header)
    if parsed is None:
        return False
    timestamp, candidates = parsed
    if tolerance is not None:
        current = time.time() if now is None else now
        if abs(current - timestamp) > tolerance:
            return False
    secrets = [secret] if isinstance(secret, str | bytes) else list(secret)
    body = _body(payload)
    matched = False
    for s in secrets:
        expected = signature(body, s, timestamp).encode()
        for candidate in candidates:
            # No early exit: every pair is compared, in constant time.
            matched |= hmac.compare_digest(expected, candidate.encode())
    return matched


class CommitCreated(BaseModel):
    """The ``data`` of a ``commit.created`` event: which branch got which commit."""

    model_config = ConfigDict(extra="ignore")

    task_id: UUID
    branch_id: UUID
    branch_name: str
    commit_id: str
    parent_commit_id: str | None = None
    message: str | None = None
    committed_at: datetime | None = None
    prompt_ids: list[UUID] = Field(default_factory=list)


class WebhookEvent(BaseModel):
    """A webhook event: ``id`` (the same on every delivery attempt), ``type``, ``data``.

    ``commit`` is ``data`` read as ``CommitCreated`` for ``commit.created`` events (else
    ``None``); ``raw`` is the whole payload as a dict, for fields of newer servers.
    """

    model_config = ConfigDict(extra="ignore")

    id: str
    type: str
    created_at: int
    tenant_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    commit: CommitCreated | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


def parse(payload: bytes | str | Mapping[str, Any]) -> WebhookEvent:
    """Read a webhook payload (the raw body, or its parsed JSON) into a ``WebhookEvent``.

    Raises ``ValueError`` saying what is wrong when it is not a Moxn webhook payload.

    >>> event = parse(b'{"id": "evt_1", "type": "ping", "created_at": 1714000000, "data": {}}')
    >>> event.type, event.commit
    ('ping', None)
    """
    if isinstance(payload, Mapping):
        raw: Any = dict(payload)
    else:
        try:
            raw = orjson.loads(_body(payload))
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"webhook payload is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError("webhook payload is not a JSON object")
    try:
        event = WebhookEvent.model_validate({**raw, "commit": None, "raw": raw})
        if event.type == COMMIT_CREATED:
            event.commit = CommitCreated.model_validate(event.data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
        raise ValueError(f"not a Moxn webhook payload: {where}: {first.get('msg')}") from None
    return event


class Webhook(BaseModel):
    """A registered webhook. ``secret`` is only present when created or rotated."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    url: str
    task_id: UUID | None = None
    events: list[str] = Field(default_factory=lambda: [COMMIT_CREATED])
    secret: str | None = None
    created_at: datetime | None = None


class WebhookDelivery(BaseModel):
    """One event's delivery to one webhook, and how it went."""

    model_config = ConfigDict(extra="ignore")

    id: str
    event_id: str
    event_type: str
    status: str
    """``pending``, ``delivered`` or ``failed`` (attempts exhausted)."""
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    delivered_at: datetime | None = None
