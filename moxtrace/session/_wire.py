"""Reading provider SDK objects as plain data, and writing compact JSON.

Kept apart from the provider modules so the stream base class can use it without
importing them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum
from typing import Any

import orjson
from pydantic import BaseModel

__all__ = ["Fields", "as_dict", "as_int", "dumps", "parse_arguments", "pick", "read_response"]


def as_dict(response: Any) -> dict[str, Any]:
    """A provider response (or stream event) as a plain dict: SDK objects are dumped."""
    if isinstance(response, Mapping):
        return dict(response)
    dump = getattr(response, "model_dump", None)
    if callable(dump):
        data = dump(mode="json", exclude_none=False)
        if isinstance(data, dict):
            return data
    to_dict = getattr(response, "to_dict", None)
    if callable(to_dict):
        data = to_dict()
        if isinstance(data, dict):
            return data
    raise TypeError(
        f"cannot read a {type(response).__name__} as a provider response: "
        "pass the SDK's response object or its dict"
    )


_MISSING: Any = object()
_AS_IS = frozenset({str, int, float, bool, dict, type(None)})


class Fields(dict[str, Any]):
    """An SDK object's fields, read the way its JSON dump reads, without making the dump.

    Holds the object's own field values (and pydantic extras); ``get`` converts what it
    hands out as ``model_dump(mode="json")`` would have: a nested SDK object becomes
    ``Fields`` in turn, a list of them a list of ``Fields``, an enum its value. Reading
    three fields of a response this way costs a fraction of dumping all of it, which is
    what the provider SDK instrumentation does on every call.
    """

    __slots__ = ()

    @classmethod
    def of(cls, model: BaseModel) -> Fields:
        fields = cls(model.__dict__)
        extra = model.__pydantic_extra__
        if extra:
            fields.update(extra)
        return fields

    def get(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key, _MISSING)
        if value is _MISSING:
            return default
        return value if value.__class__ in _AS_IS else _json_like(value)


def _json_like(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return Fields.of(value)
    if isinstance(value, list | tuple):
        return [v if v.__class__ in _AS_IS else _json_like(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def read_response(response: Any, raw: bool) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A provider response to parse, and its dump for ``raw_response`` when ``raw``.

    Without ``raw``, an SDK object (a pydantic model) is read through ``Fields``, not dumped.
    """
    if not raw and isinstance(response, BaseModel):
        return Fields.of(response), None
    data = as_dict(response)
    return data, data if raw else None


def pick(data: Mapping[str, Any] | None, *keys: str) -> Any:
    """The first of ``keys`` present with a non-None value (snake_case or camelCase)."""
    if not data:
        return None
    for key in keys:
        value = data.get(key)
        if value is not None:
            return value
    return None


def as_int(value: Any) -> int | None:
    """``value`` if it is an int (not a bool), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_arguments(raw: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict: JSON strings are parsed, empty input is ``{}``."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            return {"_raw": raw}
        return parsed if isinstance(parsed, dict) else {"_value": parsed}
    return {"_value": raw}


def dumps(value: Any) -> str:
    """Compact JSON (tool-call arguments, tool results)."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
