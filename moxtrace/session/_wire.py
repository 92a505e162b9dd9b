"""Reading provider SDK objects as plain data, and writing compact JSON.

Kept apart from the provider modules so the stream base class can use it without
importing them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["as_dict", "as_int", "dumps", "parse_arguments", "pick"]


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
