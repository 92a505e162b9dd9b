"""Decoding a batch body straight into ``Event``s, for events shaped as the SDKs send them.

``decode_events(body)`` reads ``{"events": [...]}`` with msgspec in one pass, checking
each field as ``TelemetryLogRequest`` does, and builds the events' stored bodies from the
bytes of ``system_metadata``, ``user_metadata`` and ``content`` as they came (never decoded
and encoded again; ``content`` is not decoded at all). Decoding, validating and building
a batch's rows costs about half of what orjson plus pydantic plus re-encoding the bodies
cost, most of a batch's CPU on the server.

It takes a subset of what ``moxtrace.server.payloads`` accepts, and gives the same rows
for it (``tests/unit/server/test_decode.py`` holds the two to that): an ``id`` and a
``timestamp`` in every event, lower-case canonical ids and UUIDs, ISO 8601 timestamps
with a UTC offset, strict JSON types (no ``"1"`` for a number), no unknown field, nothing
nested deeper than both parsers allow.
For anything else, valid or not, it returns None and the caller parses the body with
``payloads``, which stores the same rows or names the problem in its 400.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson
from msgspec import UNSET, UnsetType

from moxtrace.server.assemble import Event, to_us
from moxtrace.server.signing import valid_storage_key
from moxtrace.types.telemetry import TelemetryEventType

__all__ = ["decode_events"]

# Ids are checked in _event with str methods: msgspec's patterns call re per value, which
# cost three times the rest of the decoding. \Z, not $: re's $ also matches before a final
# newline, which pydantic's patterns refuse.
_TIMESTAMP = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
        r"(Z|[+-][0-9]{2}:[0-9]{2})\Z"
    ),
]
_HEX_BYTES = b"0123456789abcdef"
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_SEQUENCE = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]
_EventType = Literal[
    "span_start", "span_end", "span_error", "llm_call", "tool_call", "validation", "custom"
]
_MAX_DEPTH = 200
"""Declined when a value may nest deeper: ``payloads`` refuses what orjson cannot encode
again (about 250 levels), and some msgspec builds decode far deeper than that."""
_SHORT = 2 * _MAX_DEPTH
"""A value this long or shorter cannot nest that deep (each level takes two bytes)."""


class _WireEvent(msgspec.Struct, forbid_unknown_fields=True):
    event_type: _EventType
    trace_id: str
    span_id: str
    # Required here (the SDKs always send them): the ones pydantic makes up for an event
    # without could not be the same as ours.
    id: str
    timestamp: _TIMESTAMP
    parent_span_id: str | None = None
    sequence_number: _SEQUENCE = 0
    prompt_id: str | None = None
    task_id: str | None = None
    commit_id: str | None = None
    branch_id: str | None = None
    system_metadata: msgspec.Raw | UnsetType = UNSET
    user_metadata: msgspec.Raw | UnsetType = UNSET
    content: msgspec.Raw | UnsetType = UNSET
    content_stored: bool | UnsetType = UNSET
    content_storage_key: str | None = None


class _Batch(msgspec.Struct):
    events: list[_WireEvent]


_batch_decoder = msgspec.json.Decoder(_Batch)
_EVENT_TYPES = {t.value: t for t in TelemetryEventType}


class _Declined(Exception):
    """The body is not for this decoder (``payloads`` takes it)."""


def _hex(text: str) -> bool:
    return not text.encode().translate(None, _HEX_BYTES)


def _uuids(values: list[str | None]) -> bool:
    """Each value None or a UUID as ``str(UUID)`` writes it (hyphens at 8, 13, 18
    and 23 of 36 lower-case hex digits)."""
    given = [v for v in values if v is not None]
    if not given:
        return True
    if set(map(len, given)) != {36}:
        return False
    joined = "".join(given)
    hyphens = "-" * len(given)
    if not (joined[8::36] == joined[13::36] == joined[18::36] == joined[23::36] == hyphens):
        return False
    digits = joined.replace("-", "")
    return len(digits) == 32 * len(given) and _hex(digits)


def _ids_valid(events: list[_WireEvent]) -> bool:
    """Whether every id is as ``TelemetryLogRequest`` would store it: hex ids of their
    width, lower case, not all zero; UUIDs as ``str(UUID)`` writes them. Checked a field
    of the whole batch at a time, in a few calls into C: a check per value cost more than
    the rest of the decoding."""
    trace_ids = [w.trace_id for w in events]
    span_ids = [w.span_id for w in events]
    parents = [w.parent_span_id for w in events if w.parent_span_id is not None]
    if set(map(len, trace_ids)) != {32} or _ZERO_TRACE in trace_ids:
        return False
    spans = span_ids + parents
    if set(map(len, spans)) != {16} or _ZERO_SPAN in spans:
        return False
    if not _hex("".join(trace_ids) + "".join(spans)):
        return False
    return (
        _uuids([w.id for w in events])
        and _uuids([w.prompt_id for w in events])
        and _uuids([w.task_id for w in events])
        and _uuids([w.branch_id for w in events])
    )


def _object(raw: msgspec.Raw) -> dict[str, Any]:
    data = bytes(raw)
    if len(data) > _SHORT:
        _shallow(data)
    value = orjson.loads(data)
    if type(value) is not dict:
        raise _Declined
    return value


def _shallow(data: bytes) -> None:
    """Decline a value that may nest deeper than ``_MAX_DEPTH``."""
    if data.count(b"[") + data.count(b"{") > _MAX_DEPTH:
        raise _Declined


def _ts_us(text: str) -> int:
    try:
        return to_us(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        raise _Declined from None


def _event(wire: _WireEvent) -> Event:
    commit_id, branch_id, key = wire.commit_id, wire.branch_id, wire.content_storage_key
    if commit_id is not None and branch_id is not None:
        raise _Declined
    if key is not None and not valid_storage_key(key):
        raise _Declined
    stored = wire.content_stored
    if stored is True and not key:
        raise _Declined
    # The stored body: what stored_body keeps (every field sent, but columns and nulls).
    body = b"{"
    prompt_id, task_id = wire.prompt_id, wire.task_id
    if prompt_id is not None:
        body += b'"prompt_id":"' + prompt_id.encode() + b'",'
    if task_id is not None:
        body += b'"task_id":"' + task_id.encode() + b'",'
    if branch_id is not None:
        body += b'"branch_id":"' + branch_id.encode() + b'",'
    if commit_id is not None:
        body += b'"commit_id":' + orjson.dumps(commit_id) + b","
    # The metadata assembly reads, decoded by orjson as validation decodes it (msgspec
    # reads an integer past 64 bits as an int, orjson as a float).
    metadata: dict[str, Any] = {}
    raw = wire.system_metadata
    if raw is not UNSET:
        metadata = _object(raw)
        body += b'"system_metadata":' + raw + b","
    user: dict[str, Any] = {}
    raw = wire.user_metadata
    if raw is not UNSET:
        user = _object(raw)
        body += b'"user_metadata":' + raw + b","
    raw = wire.content
    if raw is not UNSET and not (len(raw) == 4 and bytes(raw) == b"null"):
        if len(raw) > _SHORT:
            _shallow(bytes(raw))
        body += b'"content":' + raw + b","
    if stored is not UNSET:
        body += b'"content_stored":true,' if stored else b'"content_stored":false,'
    return Event(
        wire.trace_id,
        wire.span_id,
        _EVENT_TYPES[wire.event_type],
        wire.sequence_number,
        wire.id,
        _ts_us(wire.timestamp),
        wire.parent_span_id,
        key,
        prompt_id,
        task_id,
        commit_id,
        branch_id,
        metadata,
        user,
        (body[:-1] + b"}" if len(body) > 1 else b"{}").decode(),
    )


def decode_events(body: bytes) -> list[Event] | None:
    """The events of a ``{"events": [...]}`` body, or None if ``payloads`` must parse it
    (anything this decoder does not take, invalid bodies among them)."""
    if not body.isascii():
        try:
            body.decode()  # what msgspec skips inside raw values is not checked
        except UnicodeDecodeError:
            return None
    try:
        events = _batch_decoder.decode(body).events
        if not _ids_valid(events):
            return None
        return [_event(wire) for wire in events]
    except (
        msgspec.DecodeError,
        msgspec.ValidationError,
        orjson.JSONDecodeError,
        RecursionError,
        _Declined,
    ):
        return None
