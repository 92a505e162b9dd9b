"""The demo's stand-in model: a deterministic LLM behind SDK-shaped clients.

``StandInModel`` answers the invocations a ``PromptSession`` builds
(``to_anthropic_invocation``, ``to_openai_chat_invocation``) the way the providers'
SDKs do: ``model.anthropic.messages.create(**invocation)`` returns an
``anthropic.types.Message`` and ``model.openai.chat.completions.create(**invocation)``
an ``openai.types.chat.ChatCompletion`` when those SDKs are installed, else dicts of
exactly the same shape (``model_dump()`` of those objects). Failures are raised as the
SDK's own exceptions (``anthropic.OverloadedError``, status 529), or ``StandInAPIError``
carrying the same ``status_code`` and ``body`` without the SDK.

The answers are scripted from what the request says (a support ticket): a triage call
returns a JSON classification; an answer call asks for the ``lookup_order`` tool when the
ticket names an order (with a thinking block), answers from the tool result once it has
one, answers directly otherwise, and is overloaded when the customer was charged twice.
Token counts are estimated from the text (about four characters a token), and each call
takes a short, deterministic time, so a trace's waterfall has a shape.

>>> model = StandInModel(latency=0)
>>> session = PromptSession(answer_prompt, AnswerInput(ticket=TICKETS[0], category="shipping"))
>>> response = await model.anthropic.messages.create(**session.to_anthropic_invocation())
>>> [block.type for block in response.content], response.stop_reason
(['thinking', 'text', 'tool_use'], 'tool_use')
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "ORDER_STATUS",
    "StandInAPIError",
    "StandInModel",
    "estimate_tokens",
    "lookup_order",
]

_SDK_TYPES = (("anthropic.types", "Message"), ("openai.types.chat", "ChatCompletion"))
_ORDER = re.compile(r"\b[A-Z]-\d{4}\b")

ORDER_STATUS: dict[str, dict[str, Any]] = {
    "A-1042": {
        "order_id": "A-1042",
        "status": "in_transit",
        "carrier": "UPS",
        "eta": "Thursday",
        "delay_reason": "weather at the Memphis hub",
    },
}
"""The orders the demo's ``lookup_order`` tool knows."""


def lookup_order(order_id: str) -> dict[str, Any]:
    """The demo's tool: an order's shipping status (``not_found`` for unknown orders)."""
    return ORDER_STATUS.get(order_id, {"order_id": order_id, "status": "not_found"})


def estimate_tokens(text: str) -> int:
    """About four characters a token, at least one: a stand-in for a real tokenizer."""
    return max(1, (len(text) + 3) // 4)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _request_text(invocation: Mapping[str, Any]) -> str:
    parts = [invocation.get("system"), invocation.get("messages"), invocation.get("tools")]
    return "\n".join(text for part in parts for text in _strings(part))


def _ident(prefix: str, *seed: Any) -> str:
    digest = hashlib.sha256(json.dumps(seed, sort_keys=True, default=str).encode()).hexdigest()
    return prefix + digest[:24]


def _classify(ticket: str) -> dict[str, str]:
    lowered = ticket.lower()
    if any(word in lowered for word in ("charged", "refund", "invoice", "billing")):
        category = "billing"
    elif any(word in lowered for word in ("order", "package", "ship", "deliver")):
        category = "shipping"
    elif any(word in lowered for word in ("email", "password", "login", "account")):
        category = "account"
    else:
        category = "other"
    urgent = "!" in ticket or any(w in lowered for w in ("twice", "late", "due", "urgent"))
    return {"category": category, "urgency": "high" if urgent else "low"}


class StandInAPIError(Exception):
    """An API error of the stand-in model when the provider's SDK is not installed:
    ``status_code`` and ``body`` as the SDK's ``APIStatusError`` has them."""

    def __init__(self, message: str, *, status_code: int, body: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = dict(body)


def _overloaded() -> Exception:
    body = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_011CStandInOverloaded",
    }
    message = f"Error code: 529 - {body}"
    try:
        import anthropic

        try:
            import httpx2 as transport  # what anthropic >= 1.0 is built on
        except ImportError:  # pragma: no cover - older SDKs use httpx
            import httpx as transport  # type: ignore[no-redef]
        request = transport.Request("POST", "https://api.anthropic.com/v1/messages")
        response = transport.Response(529, request=request, json=body)
        return anthropic.OverloadedError(message, response=response, body=body)
    except Exception:
        return StandInAPIError(message, status_code=529, body=body)


class StandInModel:
    """A deterministic LLM with the call surface of the Anthropic and OpenAI SDKs.

    ``latency`` scales the simulated time of each call (0: answer at once).
    ``sdk_types=False`` returns dicts even when the SDKs are installed.

    >>> model = StandInModel()
    >>> completion = await model.openai.chat.completions.create(**invocation)
    >>> completion.choices[0].message.content
    '{"category": "shipping", "urgency": "high"}'
    """

    def __init__(self, *, latency: float = 1.0, sdk_types: bool = True) -> None:
        self.latency = latency
        self.sdk_types = sdk_types
        self.calls = 0
        """Calls answered (or failed) so far."""
        if sdk_types:  # import the SDKs' types now, not inside the first traced call
            for module, name in _SDK_TYPES:
                self._sdk_type(module, name)
        self.anthropic = _AnthropicClient(self)
        """``anthropic.AsyncAnthropic()``'s surface: ``.messages.create(**invocation)``."""
        self.openai = _OpenAIClient(self)
        """``openai.AsyncOpenAI()``'s surface: ``.chat.completions.create(**invocation)``."""

    async def _think(self, input_tokens: int, output_tokens: int) -> None:
        # Time to first token plus generation: the shape of a real call, a few times faster.
        seconds = (0.04 + input_tokens / 40_000 + output_tokens / 2_000) * self.latency
        if seconds > 0:
            await asyncio.sleep(seconds)

    # -- Anthropic Messages -------------------------------------------------------------
    async def anthropic_message(self, invocation: Mapping[str, Any]) -> Any:
        """The ``messages.create`` response to ``invocation`` (a Message or its dict)."""
        self.calls += 1
        model = str(invocation.get("model") or "claude-sonnet-4-6")
        request = _request_text(invocation)
        input_tokens = estimate_tokens(request)
        messages = list(invocation.get("messages") or [])
        last = messages[-1] if messages else {}
        last_content = last.get("content") if isinstance(last, Mapping) else None
        blocks = last_content if isinstance(last_content, list) else []
        tool_result = next(
            (b for b in blocks if isinstance(b, Mapping) and b.get("type") == "tool_result"),
            None,
        )
        question = "\n".join(_strings(messages[:1]))
        content: list[dict[str, Any]]
        if tool_result is not None:
            status = json.loads(str(tool_result.get("content") or "{}"))
            content = [
                {
                    "type": "text",
                    "text": (
                        f"Thanks for your patience! Order {status.get('order_id')} is on its "
                        f"way with {status.get('carrier')}, delayed by "
                        f"{status.get('delay_reason')}. It should arrive {status.get('eta')}; "
                        "I've added a shipping credit to your account for the wait."
                    ),
                }
            ]
            stop_reason = "end_turn"
        elif "charged twice" in question.lower():
            await self._think(input_tokens, 0)
            raise _overloaded()
        elif (order := _ORDER.search(question)) and invocation.get("tools"):
            content = [
                {
                    "type": "thinking",
                    "thinking": (
                        f"The customer asks about order {order.group()}. I should not guess "
                        "its status: look it up first, then explain any delay and offer a "
                        "goodwill credit if it is late."
                    ),
                    "signature": _ident("sig_", question),
                },
                {"type": "text", "text": "Let me check that order for you."},
                {
                    "type": "tool_use",
                    "id": _ident("toolu_", question),
                    "name": "lookup_order",
                    "input": {"order_id": order.group()},
                },
            ]
            stop_reason = "tool_use"
        else:
            content = [
                {
                    "type": "text",
                    "text": (
                        "You can change the email on your account under Settings → Profile "
                        "→ Email. We'll send a confirmation link to the new address; the "
                        "change takes effect once you click it."
                    ),
                }
            ]
            stop_reason = "end_turn"
        output_tokens = sum(estimate_tokens(json.dumps(block)) for block in content)
        await self._think(input_tokens, output_tokens)
        message = {
            "id": _ident("msg_", request),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return self._typed(message, "anthropic.types", "Message")

    # -- OpenAI Chat Completions ---------------------------------------------------------
    async def openai_chat_completion(self, invocation: Mapping[str, Any]) -> Any:
        """The ``chat.completions.create`` response to ``invocation``."""
        self.calls += 1
        model = str(invocation.get("model") or "gpt-4o-mini")
        request = _request_text(invocation)
        user = [m for m in invocation.get("messages") or [] if m.get("role") == "user"]
        answer = json.dumps(_classify("\n".join(_strings(user[-1:]))))
        input_tokens = estimate_tokens(request)
        output_tokens = estimate_tokens(answer)
        await self._think(input_tokens, output_tokens)
        completion = {
            "id": _ident("chatcmpl-", request),
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": f"{model}-2024-07-18" if model == "gpt-4o-mini" else model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "logprobs": None,
                    "message": {"role": "assistant", "content": answer, "refusal": None},
                }
            ],
            "usage": {
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
            "system_fingerprint": "fp_standin",
        }
        return self._typed(completion, "openai.types.chat", "ChatCompletion")

    @staticmethod
    def _sdk_type(module: str, name: str) -> Any:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            return None

    def _typed(self, payload: dict[str, Any], module: str, name: str) -> Any:
        cls = self._sdk_type(module, name) if self.sdk_types else None
        return payload if cls is None else cls.model_validate(payload)


class _Messages:
    def __init__(self, model: StandInModel) -> None:
        self._model = model

    async def create(self, **invocation: Any) -> Any:
        """Like ``AsyncAnthropic().messages.create``."""
        return await self._model.anthropic_message(invocation)


class _AnthropicClient:
    def __init__(self, model: StandInModel) -> None:
        self.messages = _Messages(model)


class _Completions:
    def __init__(self, model: StandInModel) -> None:
        self._model = model

    async def create(self, **invocation: Any) -> Any:
        """Like ``AsyncOpenAI().chat.completions.create``."""
        return await self._model.openai_chat_completion(invocation)


class _Chat:
    def __init__(self, model: StandInModel) -> None:
        self.completions = _Completions(model)


class _OpenAIClient:
    def __init__(self, model: StandInModel) -> None:
        self.chat = _Chat(model)
