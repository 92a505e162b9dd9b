"""The Moxn identity of a span: which prompt version, task and session it belongs to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from moxtrace.tracing import semconv
from moxtrace.types.carrier import encode_identity

__all__ = ["MoxnIdentity"]


@dataclass(frozen=True)
class MoxnIdentity:
    """Prompt, task, version and session ids, as strings; ``attributes`` is precomputed."""

    prompt_id: str | None = None
    prompt_name: str | None = None
    task_id: str | None = None
    commit_id: str | None = None
    branch_id: str | None = None
    branch_name: str | None = None
    session_id: str | None = None
    attributes: dict[str, str] = field(init=False, repr=False, compare=False)
    _tracestate: str | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        attrs = {
            attribute: value
            for name, attribute in semconv.IDENTITY_ATTRIBUTES.items()
            if (value := getattr(self, name))
        }
        if self.prompt_name:
            attrs[semconv.GEN_AI_PROMPT_NAME] = self.prompt_name
        object.__setattr__(self, "attributes", attrs)

    @property
    def tracestate_value(self) -> str | None:
        """The ``moxn`` tracestate entry's value for this identity (computed once)."""
        value = self._tracestate
        if value is None and self.attributes:
            value = encode_identity(self.as_fields()) or ""
            object.__setattr__(self, "_tracestate", value)
        return value or None

    @classmethod
    def from_fields(cls, values: Mapping[str, Any]) -> MoxnIdentity:
        """Build from any mapping of identity field names; values are stringified."""
        return cls(
            **{
                name: str(values[name])
                for name in semconv.IDENTITY_ATTRIBUTES
                if values.get(name) is not None
            }
        )

    def as_fields(self) -> dict[str, str]:
        """The identity fields that are set."""
        return {
            name: value
            for name in semconv.IDENTITY_ATTRIBUTES
            if (value := getattr(self, name)) is not None
        }

    def __bool__(self) -> bool:
        return bool(self.attributes)


EMPTY_IDENTITY = MoxnIdentity()
