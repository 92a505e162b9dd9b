"""The Moxn identity of a span: which prompt version, task and session it belongs to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from moxtrace.tracing import semconv

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

    def __post_init__(self) -> None:
        attrs = {
            semconv.IDENTITY_ATTRIBUTES[f.name]: value
            for f in fields(self)
            if f.name != "attributes" and (value := getattr(self, f.name))
        }
        if self.prompt_name:
            attrs[semconv.GEN_AI_PROMPT_NAME] = self.prompt_name
        object.__setattr__(self, "attributes", attrs)

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
