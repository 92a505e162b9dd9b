"""Turning user values into OpenTelemetry attribute values, within size limits."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.util.types import AttributeValue

from moxtrace.tracing import semconv

__all__ = ["clip", "metadata_attributes", "to_attribute_value"]

_PRIMITIVES = (str, bool, int, float)


def clip(value: str, max_length: int) -> tuple[str, bool]:
    """``value`` cut to ``max_length`` characters, and whether it was cut."""
    if len(value) <= max_length:
        return value, False
    return value[:max_length], True


def to_attribute_value(value: Any) -> AttributeValue:
    """An attribute value for ``value``: primitives and homogeneous lists of them are kept,
    anything else is recorded as JSON (``str()`` for what JSON cannot encode)."""
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = list(value)
        if items and all(isinstance(v, str) for v in items):
            return tuple(items)
        if items and all(isinstance(v, bool) for v in items):
            return tuple(items)
        if items and all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            return tuple(items)
        if items and all(isinstance(v, float) for v in items):
            return tuple(items)
    return json.dumps(value, default=str, separators=(",", ":"))


_METADATA_NAMES: dict[str, str] = {}  # metadata key -> attribute name, built once


def metadata_attributes(
    metadata: Mapping[str, Any] | None, max_length: int
) -> tuple[dict[str, AttributeValue], bool]:
    """``moxn.metadata.<key>`` attributes for user metadata, and whether any was clipped.

    ``None`` values are left out (OpenTelemetry has no null attribute).
    """
    if not metadata:
        return {}, False
    out: dict[str, AttributeValue] = {}
    truncated = False
    for key, raw in metadata.items():
        if raw is None:
            continue
        value = raw if raw.__class__ is str else to_attribute_value(raw)
        if isinstance(value, str) and len(value) > max_length:
            value = value[:max_length]
            truncated = True
        name = _METADATA_NAMES.get(key) if key.__class__ is str else None
        if name is None:
            name = semconv.MOXN_METADATA_PREFIX + str(key)
            if key.__class__ is str and len(_METADATA_NAMES) < 1024:  # keys are few
                _METADATA_NAMES[key] = name
        out[name] = value
    return out, truncated
