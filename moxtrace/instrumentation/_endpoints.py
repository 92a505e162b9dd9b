"""The SDK methods moxtrace instruments, and how to read each one's calls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from moxtrace.instrumentation import _anthropic, _google, _openai
from moxtrace.instrumentation._request import Content, Request
from moxtrace.types.content import Provider

__all__ = ["SDKS", "Endpoint"]


@dataclass(frozen=True)
class Endpoint:
    """One SDK method: where it lives, the API it calls, how to read its keyword arguments.

    ``streams``: the method always returns a stream (Google's ``generate_content_stream``);
    otherwise a call streams when ``read_request`` says so (``stream=True``). ``lazy``: the
    stream is a generator that sends its request on first iteration.
    """

    sdk: str
    module: str
    owner: str
    method: str
    provider: Provider
    is_async: bool
    conversation: str
    read_request: Callable[[Mapping[str, Any]], Request]
    read_content: Callable[[Mapping[str, Any]], Content]
    streams: bool = False
    lazy: bool = False

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.owner}.{self.method}"

    def provider_of(self, instance: Any) -> Provider:
        """The provider of a call on ``instance`` (a Google client may be Vertex AI)."""
        if self.sdk == "google_genai":
            api_client = getattr(instance, "_api_client", None)
            if getattr(api_client, "vertexai", False) is True:
                return Provider.GOOGLE_VERTEX
        return self.provider


def _both(
    sdk: str,
    module: str,
    owners: tuple[str, str],
    method: str,
    provider: Provider,
    conversation: str,
    read_request: Callable[[Mapping[str, Any]], Request],
    read_content: Callable[[Mapping[str, Any]], Content],
    *,
    streams: bool = False,
    lazy: bool = False,
) -> tuple[Endpoint, Endpoint]:
    """The sync and async twins of one method."""
    return tuple(  # type: ignore[return-value]
        Endpoint(
            sdk=sdk,
            module=module,
            owner=owner,
            method=method,
            provider=provider,
            is_async=is_async,
            conversation=conversation,
            read_request=read_request,
            read_content=read_content,
            streams=streams,
            lazy=lazy,
        )
        for owner, is_async in zip(owners, (False, True), strict=True)
    )


SDKS: dict[str, tuple[Endpoint, ...]] = {
    "anthropic": _both(
        "anthropic",
        "anthropic.resources.messages.messages",
        ("Messages", "AsyncMessages"),
        "create",
        Provider.ANTHROPIC,
        "messages",
        _anthropic.read_request,
        _anthropic.read_content,
    ),
    "openai": (
        *_both(
            "openai",
            "openai.resources.chat.completions.completions",
            ("Completions", "AsyncCompletions"),
            "create",
            Provider.OPENAI_CHAT,
            "messages",
            _openai.read_chat_request,
            _openai.read_chat_content,
        ),
        *_both(
            "openai",
            "openai.resources.responses.responses",
            ("Responses", "AsyncResponses"),
            "create",
            Provider.OPENAI_RESPONSES,
            "input",
            _openai.read_responses_request,
            _openai.read_responses_content,
        ),
    ),
    "google_genai": (
        *_both(
            "google_genai",
            "google.genai.models",
            ("Models", "AsyncModels"),
            "generate_content",
            Provider.GOOGLE_GEMINI,
            "contents",
            _google.read_request,
            _google.read_content,
        ),
        *_both(
            "google_genai",
            "google.genai.models",
            ("Models", "AsyncModels"),
            "generate_content_stream",
            Provider.GOOGLE_GEMINI,
            "contents",
            _google.read_request,
            _google.read_content,
            streams=True,
            lazy=True,
        ),
    ),
}
"""Every instrumented method, by SDK (the names ``instrument(sdks=...)`` takes)."""
