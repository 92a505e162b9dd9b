"""``MoxnTraceCarrier``: W3C trace context plus the Moxn identity, for any transport.

A carrier is what crosses a process boundary: it is dumped into a JSON message body
(``model_dump(mode="json")`` / ``model_validate``), written as HTTP headers
(``to_headers`` / ``from_headers``) or as Kafka record headers (``to_kafka_headers`` /
``from_kafka_headers``). On the wire the Moxn identity rides in a ``moxn`` entry of the
W3C ``tracestate`` header, so proxies and OpenTelemetry propagators that know nothing of
moxtrace pass it along untouched.

Parsing never raises on bad input: a field of the wrong type, an oversized value or a
malformed header is dropped and described in ``problems``; the carrier is then simply
not ``valid`` and a span continued from it starts a new trace.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "IDENTITY_FIELDS",
    "MOXN_TRACESTATE_KEY",
    "MoxnTraceCarrier",
    "decode_identity",
    "encode_identity",
    "parse_traceparent",
    "split_tracestate",
]

MOXN_TRACESTATE_KEY = "moxn"
IDENTITY_FIELDS = (
    "prompt_id",
    "task_id",
    "commit_id",
    "branch_id",
    "session_id",
    "prompt_name",
    "branch_name",
)
# One letter per identity field inside the tracestate entry, in priority order: when the
# entry would pass W3C's 256-character limit, the fields at the end are left out.
_CODES = dict(zip(IDENTITY_FIELDS, "ptcbsnr", strict=True))
_FIELDS_BY_CODE = {code: name for name, code in _CODES.items()}

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_TRACESTATE_KEY = re.compile(
    r"^(?:[a-z][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})$"
)
_TRACESTATE_VALUE = re.compile(
    r"^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$"
)
_MAX_TRACESTATE_ENTRIES = 32
_MAX_LEN = {
    "traceparent": 256,
    "tracestate": 4096,
    "baggage": 8192,
    "prompt_id": 256,
    "task_id": 256,
    "commit_id": 256,
    "branch_id": 256,
    "session_id": 256,
    "prompt_name": 1024,
    "branch_name": 1024,
}
_HEADER_KEYS = ("traceparent", "tracestate", "baggage")


def parse_traceparent(value: str | None) -> tuple[str, str, int] | None:
    """``(trace_id, span_id, flags)`` from a W3C ``traceparent``, or ``None`` if invalid."""
    if not value:
        return None
    m = _TRACEPARENT.match(value.strip())
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest) or not trace_id.strip("0"):
        return None
    if not span_id.strip("0"):
        return None
    return trace_id, span_id, int(flags, 16)


def split_tracestate(header: str | None) -> tuple[str | None, str | None]:
    """Split a ``tracestate`` header into the ``moxn`` entry's value and the other entries.

    Entries that are not valid W3C list members are dropped; so is everything past
    the 32-entry limit.
    """
    if not header:
        return None, None
    moxn: str | None = None
    others: list[str] = []
    for raw in header.split(","):
        member = raw.strip(" \t")
        if not member:
            continue
        key, sep, value = member.partition("=")
        if not sep or not _TRACESTATE_KEY.match(key) or not _TRACESTATE_VALUE.match(value):
            continue
        if key == MOXN_TRACESTATE_KEY:
            moxn = moxn or value
        elif len(others) < _MAX_TRACESTATE_ENTRIES - 1:
            others.append(member)
    return moxn, (",".join(others) or None)


def encode_identity(identity: Mapping[str, str | None]) -> str | None:
    """The ``moxn`` tracestate value for an identity, within W3C's 256-character limit."""
    parts: list[str] = []
    size = -1
    for name in IDENTITY_FIELDS:
        value = identity.get(name)
        if not value:
            continue
        part = f"{_CODES[name]}:{quote(value, safe='-._~@/')}"
        if size + 1 + len(part) > 256:
            continue
        parts.append(part)
        size += 1 + len(part)
    return ";".join(parts) or None


def decode_identity(value: str | None) -> dict[str, str]:
    """The identity fields held in a ``moxn`` tracestate value; unknown codes are ignored."""
    out: dict[str, str] = {}
    if not value:
        return out
    for part in value.split(";"):
        code, sep, encoded = part.partition(":")
        name = _FIELDS_BY_CODE.get(code)
        if sep and name and encoded:
            out[name] = unquote(encoded)
    return out


class MoxnTraceCarrier(BaseModel):
    """Trace context and Moxn identity of a span, ready to cross a process boundary.

    Get one from ``client.extract_context()`` inside a span; continue the trace on the
    other side with ``client.span_from_carrier(carrier)``.

    >>> carrier = MoxnTraceCarrier(traceparent="00-" + "ab" * 16 + "-" + "cd" * 8 + "-01")
    >>> carrier.trace_id
    'abababababababababababababababab'
    >>> MoxnTraceCarrier.from_headers(carrier.to_headers()) == carrier
    True
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    traceparent: str | None = None
    tracestate: str | None = None
    baggage: str | None = None
    prompt_id: str | None = None
    prompt_name: str | None = None
    task_id: str | None = None
    commit_id: str | None = None
    branch_id: str | None = None
    branch_name: str | None = None
    session_id: str | None = None
    problems: tuple[str, ...] = Field(default=(), exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _lenient(cls, data: Any) -> Any:
        if isinstance(data, MoxnTraceCarrier):
            return data
        if not isinstance(data, Mapping):
            return {"problems": (f"carrier is a {type(data).__name__}, not a mapping",)}
        clean: dict[str, Any] = {}
        problems: list[str] = []
        for name, limit in _MAX_LEN.items():
            value = data.get(name)
            if value is None:
                continue
            if isinstance(value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    problems.append(f"{name}: bytes that are not UTF-8")
                    continue
            elif isinstance(value, UUID):
                value = str(value)
            if not isinstance(value, str):
                problems.append(f"{name}: expected a string, got {type(value).__name__}")
                continue
            if len(value) > limit:
                problems.append(f"{name}: {len(value)} characters, over the {limit} limit")
                continue
            clean[name] = value
        if "tracestate" in clean:
            moxn, others = split_tracestate(clean["tracestate"])
            for field, val in decode_identity(moxn).items():
                clean.setdefault(field, val)
            if others is None:
                del clean["tracestate"]
            else:
                clean["tracestate"] = others
        if "traceparent" in clean and parse_traceparent(clean["traceparent"]) is None:
            shown = clean["traceparent"][:80]
            problems.append(f"traceparent: not a valid W3C traceparent: {shown!r}")
        clean["problems"] = tuple(problems)
        return clean

    @property
    def valid(self) -> bool:
        """Whether the carrier holds a usable W3C ``traceparent``."""
        return parse_traceparent(self.traceparent) is not None

    @property
    def trace_id(self) -> str | None:
        """The trace id (32 hex digits), or ``None`` if ``traceparent`` is missing or bad."""
        parsed = parse_traceparent(self.traceparent)
        return parsed[0] if parsed else None

    @property
    def span_id(self) -> str | None:
        """The id of the span the carrier was taken in: the parent on the other side."""
        parsed = parse_traceparent(self.traceparent)
        return parsed[1] if parsed else None

    def identity(self) -> dict[str, str]:
        """The Moxn identity fields that are set."""
        return {name: v for name in IDENTITY_FIELDS if (v := getattr(self, name))}

    def wire_tracestate(self) -> str | None:
        """The ``tracestate`` header value: the ``moxn`` entry first, then the others."""
        moxn = encode_identity(self.identity())
        entries = [f"{MOXN_TRACESTATE_KEY}={moxn}"] if moxn else []
        if self.tracestate:
            entries.append(self.tracestate)
        return ",".join(entries) or None

    def to_headers(self) -> dict[str, str]:
        """HTTP (or any text map) headers: ``traceparent``, ``tracestate``, ``baggage``."""
        headers: dict[str, str] = {}
        if self.traceparent:
            headers["traceparent"] = self.traceparent
        tracestate = self.wire_tracestate()
        if tracestate:
            headers["tracestate"] = tracestate
        if self.baggage:
            headers["baggage"] = self.baggage
        return headers

    @classmethod
    def from_headers(cls, headers: Mapping[str, str | bytes] | Any) -> MoxnTraceCarrier:
        """Read a carrier from headers; keys are matched case-insensitively."""
        if not isinstance(headers, Mapping):
            return cls.model_validate(headers)
        found: dict[str, Any] = {}
        for key, value in headers.items():
            if isinstance(key, str) and key.lower() in _HEADER_KEYS:
                found[key.lower()] = value
        return cls.model_validate(found)

    def to_kafka_headers(self) -> list[tuple[str, bytes]]:
        """Kafka record headers: the same keys as ``to_headers``, values as UTF-8 bytes."""
        return [(k, v.encode("utf-8")) for k, v in self.to_headers().items()]

    @classmethod
    def from_kafka_headers(
        cls, headers: Iterable[tuple[str, bytes | str | None]] | None
    ) -> MoxnTraceCarrier:
        """Read a carrier from Kafka record headers (the first value of each key wins)."""
        found: dict[str, Any] = {}
        try:
            for key, value in headers or ():
                lower = key.lower() if isinstance(key, str) else None
                if lower in _HEADER_KEYS and lower not in found:
                    found[lower] = value
        except (TypeError, ValueError):
            return cls.model_validate({"problems": ("kafka headers are not (key, value) pairs",)})
        return cls.model_validate(found)
