"""Stand-in LLM provider APIs on 127.0.0.1: OpenAI, Anthropic and Google Gemini.

One small HTTP server answering the providers' own routes with payloads shaped exactly
like theirs (the official SDKs parse them), so the example application and the tests run
without a network or an API key:

- ``POST /v1/chat/completions`` and ``POST /v1/responses`` (OpenAI; JSON, or server-sent
  events with ``"stream": true``);
- ``POST /v1/messages`` (Anthropic; JSON or events);
- ``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``
  (Google Gemini).

The answer is always ``TEXT``, streamed as the pieces of ``CHUNKS``, with the token counts
of ``USAGE``. A model whose name starts with ``error`` gets the provider's 400 error body.
Point the SDKs at it with their own environment variables (``env()``)::

    python examples/existing_app/standins.py      # prints the variables, serves until ^C

    OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 ANTHROPIC_BASE_URL=http://127.0.0.1:PORT ...
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["CHUNKS", "TEXT", "USAGE", "Received", "StandIn", "reply"]

CHUNKS = ("Your order ", "ships ", "tomorrow", ".")
"""The pieces the answer is streamed in, in order."""
TEXT = "".join(CHUNKS)
"""The answer to every request."""
USAGE = {"input_tokens": 21, "output_tokens": 9}
"""Token counts reported for every answer."""
CREATED = 1767225600


@dataclass
class Received:
    """One request the stand-in answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _dated(model: str) -> str:
    """The response model: providers answer with a dated version of the requested one."""
    return f"{model}-2026-01-15" if not model.startswith("gemini") else model


# -- OpenAI Chat Completions ---------------------------------------------------------
def _chat_usage() -> dict[str, Any]:
    i, o = USAGE["input_tokens"], USAGE["output_tokens"]
    return {
        "prompt_tokens": i,
        "completion_tokens": o,
        "total_tokens": i + o,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_completion(model: str, n: int) -> dict[str, Any]:
    """A ``ChatCompletion`` body."""
    return {
        "id": f"chatcmpl-standin{n}",
        "object": "chat.completion",
        "created": CREATED,
        "model": _dated(model),
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": TEXT,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _chat_usage(),
        "service_tier": "default",
        "system_fingerprint": "fp_standin",
    }


def chat_chunks(model: str, n: int, include_usage: bool) -> Iterator[str]:
    """``ChatCompletionChunk`` events, then ``[DONE]``."""
    head = {
        "id": f"chatcmpl-standin{n}",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": _dated(model),
        "service_tier": "default",
        "system_fingerprint": "fp_standin",
    }
    usage: dict[str, Any] = {"usage": None} if include_usage else {}
    deltas: list[tuple[dict[str, Any], str | None]] = [
        ({"role": "assistant", "content": "", "refusal": None}, None)
    ]
    deltas += [({"content": piece}, None) for piece in CHUNKS]
    deltas.append(({}, "stop"))
    for delta, finish in deltas:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        yield f"data: {json.dumps({**head, 'choices': [choice], **usage})}\n\n"
    if include_usage:
        yield f"data: {json.dumps({**head, 'choices': [], 'usage': _chat_usage()})}\n\n"
    yield "data: [DONE]\n\n"


# -- OpenAI Responses -------------------------------------------------------------------
def _response(model: str, n: int, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    i, o = USAGE["input_tokens"], USAGE["output_tokens"]
    return {
        "id": f"resp_standin{n}",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": _dated(model),
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": i,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": o,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": i + o,
        }
        if status == "completed"
        else None,
        "user": None,
        "metadata": {},
    }


def _output_message(n: int, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "id": f"msg_standin{n}",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content if text or status == "completed" else [],
    }


def response(model: str, n: int) -> dict[str, Any]:
    """A ``Response`` body."""
    return _response(model, n, "completed", [_output_message(n, TEXT, "completed")])


def response_events(model: str, n: int) -> Iterator[str]:
    """``ResponseStreamEvent`` events, ``response.created`` to ``response.completed``."""
    item_id = f"msg_standin{n}"
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response(model, n, "in_progress", [])},
        {"type": "response.in_progress", "response": _response(model, n, "in_progress", [])},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": _output_message(n, "", "in_progress"),
        },
        {
            "type": "response.content_part.added",
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "part": part,
        },
    ]
    events += [
        {
            "type": "response.output_text.delta",
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "delta": piece,
            "logprobs": [],
        }
        for piece in CHUNKS
    ]
    done_part = {**part, "text": TEXT}
    events += [
        {
            "type": "response.output_text.done",
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "text": TEXT,
            "logprobs": [],
        },
        {
            "type": "response.content_part.done",
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "part": done_part,
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": _output_message(n, TEXT, "completed"),
        },
        {"type": "response.completed", "response": response(model, n)},
    ]
    for sequence, event in enumerate(events):
        event["sequence_number"] = sequence
        yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"


# -- Anthropic Messages -----------------------------------------------------------------
def _anthropic_usage(output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": USAGE["input_tokens"],
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def message(model: str, n: int) -> dict[str, Any]:
    """A ``Message`` body."""
    return {
        "id": f"msg_standin{n}",
        "type": "message",
        "role": "assistant",
        "model": _dated(model),
        "content": [{"type": "text", "text": TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(USAGE["output_tokens"]),
    }


def message_events(model: str, n: int) -> Iterator[str]:
    """``RawMessageStreamEvent`` events, ``message_start`` to ``message_stop``."""
    start = {**message(model, n), "content": [], "stop_reason": None}
    start["usage"] = _anthropic_usage(1)
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        for piece in CHUNKS
    ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": USAGE["output_tokens"]},
        },
        {"type": "message_stop"},
    ]
    for event in events:
        yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"


# -- Google Gemini ------------------------------------------------------------------------
def _gemini_usage() -> dict[str, Any]:
    i, o = USAGE["input_tokens"], USAGE["output_tokens"]
    return {
        "promptTokenCount": i,
        "candidatesTokenCount": o,
        "totalTokenCount": i + o,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": i}],
    }


def generate_content(model: str, n: int) -> dict[str, Any]:
    """A ``GenerateContentResponse`` body (REST JSON, camelCase)."""
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": TEXT}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": _gemini_usage(),
        "modelVersion": _dated(model),
        "responseId": f"standin{n}",
    }


def generate_content_chunks(model: str, n: int) -> Iterator[str]:
    """``streamGenerateContent?alt=sse`` chunks; the last has the finish reason and usage."""
    for index, piece in enumerate(CHUNKS):
        candidate: dict[str, Any] = {"content": {"parts": [{"text": piece}], "role": "model"}}
        chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": _dated(model)}
        chunk["responseId"] = f"standin{n}"
        if index == len(CHUNKS) - 1:
            candidate["finishReason"] = "STOP"
            chunk["usageMetadata"] = _gemini_usage()
        yield f"data: {json.dumps(chunk)}\r\n\r\n"


# -- errors -------------------------------------------------------------------------------
def error_body(api: str, model: str) -> dict[str, Any]:
    """The provider's own 400 body for a model it does not know."""
    text = f"model {model!r} does not exist"
    if api == "anthropic":
        return {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": text},
            "request_id": "req_standin",
        }
    if api == "google":
        return {"error": {"code": 400, "message": text, "status": "INVALID_ARGUMENT"}}
    return {
        "error": {
            "message": text,
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


def reply(path: str, body: dict[str, Any], n: int) -> tuple[int, dict[str, Any] | Iterator[str]]:
    """The answer to request number ``n`` to ``path``: a status and a JSON body, or a
    status and the server-sent events of a stream."""
    path = unquote(path)
    api, model, stream = "openai", str(body.get("model") or ""), body.get("stream") is True
    if path.endswith("/chat/completions"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        answer: Any = chat_chunks(model, n, include_usage) if stream else chat_completion(model, n)
    elif path.endswith("/responses"):
        answer = response_events(model, n) if stream else response(model, n)
    elif path.endswith("/messages"):
        api = "anthropic"
        answer = message_events(model, n) if stream else message(model, n)
    elif ":generateContent" in path or ":streamGenerateContent" in path:
        api = "google"
        model = path.rsplit("/", 1)[-1].split(":", 1)[0]
        stream = ":streamGenerateContent" in path
        answer = generate_content_chunks(model, n) if stream else generate_content(model, n)
    else:
        return 404, {"error": {"message": f"no route {path}"}}
    if model.startswith("error"):
        return 400, error_body(api, model)
    return 200, answer


# -- the server -----------------------------------------------------------------------------
@dataclass
class _Shared:
    received: list[Received] = field(default_factory=list)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    hold: threading.Event | None = None
    written: int = 0  # events written of the latest stream


class _Handler(BaseHTTPRequestHandler):
    server_version = "standin/1"
    shared: _Shared

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        body = json.loads(raw or b"{}")
        url = urlsplit(self.path)
        shared = self.shared
        with shared.lock:
            shared.count += 1
            n = shared.count
            shared.received.append(
                Received("POST", url.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
        status, payload = reply(url.path, body, n)
        if isinstance(payload, dict):
            self._json(status, payload)
        else:
            self._events(payload)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_standin")
        self.end_headers()
        self.wfile.write(data)

    def _events(self, events: Iterator[str]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.end_headers()
        self.shared.written = 0
        for index, event in enumerate(events):
            self.shared.written = index + 1  # counted before the client can see it
            self.wfile.write(event.encode())
            self.wfile.flush()
            hold = self.shared.hold
            if index == 0 and hold is not None:
                # The test holds the rest back until the client has seen the first event.
                hold.wait(timeout=10)


class StandIn:
    """The stand-in provider APIs on 127.0.0.1 (a thread of the calling process).

    >>> with StandIn() as api:
    ...     client = openai.OpenAI(api_key="x", base_url=api.openai_base_url)

    ``received`` lists the requests answered; ``hold`` (a ``threading.Event``), when set
    to one, makes every stream wait after its first event until the event is set (10 s
    at most); ``written`` counts the events of the latest stream written so far.
    """

    def __init__(self, port: int = 0) -> None:
        self._shared = _Shared()
        handler = type("Handler", (_Handler,), {"shared": self._shared})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """For ``OPENAI_BASE_URL`` / ``OpenAI(base_url=...)``."""
        return f"{self.base_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """For ``ANTHROPIC_BASE_URL`` / ``Anthropic(base_url=...)``."""
        return self.base_url

    @property
    def google_base_url(self) -> str:
        """For ``GOOGLE_GEMINI_BASE_URL`` / ``HttpOptions(base_url=...)``."""
        return self.base_url

    def env(self) -> dict[str, str]:
        """The variables that point the three SDKs here (with dummy API keys)."""
        return {
            "OPENAI_BASE_URL": self.openai_base_url,
            "OPENAI_API_KEY": "sk-standin",
            "ANTHROPIC_BASE_URL": self.anthropic_base_url,
            "ANTHROPIC_API_KEY": "sk-ant-standin",
            "GOOGLE_GEMINI_BASE_URL": self.google_base_url,
            "GEMINI_API_KEY": "standin",
        }

    @property
    def received(self) -> list[Received]:
        with self._shared.lock:
            return list(self._shared.received)

    @property
    def written(self) -> int:
        """How many events of the latest stream were written so far."""
        return self._shared.written

    @property
    def hold(self) -> threading.Event | None:
        return self._shared.hold

    @hold.setter
    def hold(self, event: threading.Event | None) -> None:
        self._shared.hold = event

    def start(self) -> StandIn:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="llm-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        hold = self._shared.hold
        if hold is not None:
            hold.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    with StandIn() as api:
        for name, value in api.env().items():
            print(f"{name}={value}")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
