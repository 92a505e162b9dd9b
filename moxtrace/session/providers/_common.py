from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from moxtrace.types.blocks import ContentBlock, TextContent


def as_dict(response: Any) -> dict[str, Any]:
    """A provider response as a plain dict: SDK objects (pydantic) are dumped."""
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


def merge_text(blocks: list[ContentBlock]) -> list[ContentBlock]:
    """Adjacent text blocks joined into one."""
    out: list[ContentBlock] = []
    for block in blocks:
        if out and isinstance(block, TextContent) and isinstance(out[-1], TextContent):
            out[-1] = TextContent(text=out[-1].text + block.text)
        else:
            out.append(block)
    return out
