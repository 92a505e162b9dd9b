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
    stream is a generator that sends its request on first iteration. ``manager``: the
    method returns a context manager that sends the request when entered and gives a
    stream with a ``current_message_snapshot`` (Anthropic's ``messages.stream()``).
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
    manager: bool = False

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
    manager: bool = False,
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
            manager=manager,
        )
        for owner, is_async in zip(owners, (False, True), strict=True)
    )


def _methods(methods: tuple[str, ...], *args: Any, **flags: bool) -> tuple[Endpoint, ...]:
    sdk, module, owners, provider, conversation, read_request, read_content = args
    return tuple(
        endpoint
        for method in methods
        for endpoint in _both(
            sdk,
            module,
            owners,
            method,
            provider,
            conversation,
            read_request,
            read_content,
            **flags,
        )
    )


SDKS: dict[str, tuple[Endpoint, ...]] = {
    "anthropic": (
        *_methods(
            ("create", "parse"),
            "anthropic",
            "anthropic.resources.messages.messages",
            ("Messages", "AsyncMessages"),
            Provider.ANTHROPIC,
            "messages",
            _anthropic.read_request,
            _anthropic.read_content,
        ),
        *_methods(
            ("stream",),
            "anthropic",
            "anthropic.resources.messages.messages",
            ("Messages", "AsyncMessages"),
            Provider.ANTHROPIC,
            "messages",
            _anthropic.read_request,
            _anthropic.read_content,
            streams=True,
            manager=True,
        ),
    ),
    "openai": (
        # stream() of both calls create(stream=True): recorded through it.
        *_methods(
            ("create", "parse"),
            "openai",
            "openai.resources.chat.completions.completions",
            ("Completions", "AsyncCompletions"),
            Provider.OPENAI_CHAT,
            "messages",
            _openai.read_chat_request,
            _openai.read_chat_content,
        ),
        *_methods(
            ("create", "parse"),
            "openai",
            "openai.resources.responses.responses",
            ("Responses", "AsyncResponses"),
            Provider.OPENAI_RESPONSES,
            "input",
            _openai.read_responses_request,
            _openai.read_responses_content,
        ),
    ),
    "google_genai": (
        *_methods(
            ("generate_content",),
            "google_genai",
            "google.genai.models",
            ("Models", "AsyncModels"),
            Provider.GOOGLE_GEMINI,
            "contents",
            _google.read_request,
            _google.read_content,
        ),
        *_methods(
            ("generate_content_stream",),
            "google_genai",
            "google.genai.models",
            ("Models", "AsyncModels"),
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
