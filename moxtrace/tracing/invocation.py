"""Invocations that know their prompt: the Moxn identity travelling with a request's kwargs.

``session.to_anthropic_invocation()`` and its siblings return the keyword arguments of an
SDK call. The list of messages in them (``messages``, ``input`` or ``contents``) is an
``IdentifiedList``: a plain ``list`` to the SDK and to JSON, which also carries the
session's ``MoxnIdentity``. ``**invocation`` passes that same list object on to the SDK
method, so the provider SDK instrumentation (``moxtrace.instrument()``) finds the identity
there and gives the call's span the prompt, task, branch or commit without being told.

>>> invocation = mark_invocation({"model": "m", "messages": []}, "messages", identity)
>>> invocation_identity(invocation["messages"]) is identity
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from moxtrace.tracing.identity import MoxnIdentity

__all__ = ["INVOCATION_KEYS", "IdentifiedList", "invocation_identity", "mark_invocation"]

INVOCATION_KEYS = ("messages", "input", "contents")
"""The keyword arguments that hold the conversation, by SDK: Anthropic and OpenAI Chat
``messages``, OpenAI Responses ``input``, Google GenAI ``contents``."""


class IdentifiedList(list[Any]):
    """A ``list`` that also carries the ``MoxnIdentity`` of the session that built it."""

    __slots__ = ("moxn_identity",)

    def __init__(self, items: Iterable[Any] = (), identity: MoxnIdentity | None = None) -> None:
        super().__init__(items)
        self.moxn_identity = identity


def mark_invocation(invocation: dict[str, Any], key: str, identity: MoxnIdentity) -> dict[str, Any]:
    """Make ``invocation[key]`` (a list) an ``IdentifiedList`` carrying ``identity``; returns
    ``invocation``. Anything else under ``key`` is left as it is."""
    value = invocation.get(key)
    if isinstance(value, list) and identity:
        invocation[key] = IdentifiedList(value, identity)
    return invocation


def invocation_identity(value: object) -> MoxnIdentity | None:
    """The identity ``value`` carries, if it is an ``IdentifiedList``."""
    if isinstance(value, IdentifiedList):
        return value.moxn_identity
    return None
