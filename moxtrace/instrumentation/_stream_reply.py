"""What the span of a streamed call records, read off the SDK's chunks as they pass.

The provider stream accumulators (``moxtrace.session.providers``) dump each chunk to a
dict, rebuild the whole response from them and parse it: right for sessions, which want
the ``ParsedResponse``, but most of an instrumented stream's cost. A ``StreamReply`` keeps
only what the span needs (the text pieces, tool-call fragments, the finish reason, the
usage, model and id), read straight off each chunk's fields the way ``read_reply`` reads a
whole response, and gives the ``Reply`` when the stream ends: no dump, no rebuilt
response, no parse.

Whatever it does not expect (a dict, an object of another class, a field of another
type) hands over to the provider's accumulator: ``_events`` gives what was read so far as
events in the provider's own wire shape, the accumulator is fed those, then this chunk
and every later one, and the stream is recorded from its ``ParsedResponse``. A chunk is
read into locals first and kept only once all of it has been read, so nothing is counted
twice when a chunk hands over halfway. tests/unit/instrumentation/test_stream_reply.py
holds both paths to the same span attributes, for real SDK chunk objects.

OpenAI Responses streams end with an event carrying the whole ``Response``: that is read
by ``read_reply``. Until it arrives, the output items' events are kept (their fields, as
the SDK's objects hold them, read per item and part only every few hundred events), and
replayed to the accumulator only for a stream cut short before its final event.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from enum import Enum
from typing import Any

from moxtrace.instrumentation._reply import (
    ANTHROPIC,
    OPENAI_CHAT,
    OPENAI_RESPONSES,
    Reply,
    _count,
    _reasoning_part,
    _text,
    _text_part,
    _tool_call,
    _Unread,
    chat_reply,
    google_part,
    google_reply,
    is_model,
    new_reply,
    new_usage,
    read_reply,
    timed,
)
from moxtrace.session._wire import as_dict, as_int
from moxtrace.session.providers import (
    anthropic,
    parse_response,
    stream_accumulator,
)
from moxtrace.session.providers._common import parse_arguments
from moxtrace.session.stream import StreamAccumulator
from moxtrace.types.content import Provider
from moxtrace.types.telemetry import ParsedResponse

__all__ = ["StreamReply", "stream_reply"]


class StreamReply:
    """Base of the per-provider chunk readers: counting, and the hand-over to the
    provider's accumulator."""

    __slots__ = ("_accumulator", "chunks", "provider", "started")

    def __init__(self, provider: Provider, started: float) -> None:
        self.provider = provider
        self.started = started
        self.chunks = 0
        self._accumulator: StreamAccumulator | None = None

    def add(self, chunk: Any) -> None:
        """Read one chunk (raises only if the accumulator cannot read it either)."""
        self.chunks += 1
        accumulator = self._accumulator
        if accumulator is None:
            try:
                self._read(chunk)
            except Exception:  # _Unread, or a shape the attribute reads did not expect
                self.hand_over(chunk)
            return
        accumulator.add(chunk)

    @property
    def read(self) -> Callable[[Any], None]:
        """What reads each chunk off its fields, uncounted (a traced stream calls it on
        every chunk, and ``reply`` once one has passed); it raises on a chunk it does not
        expect: then ``hand_over``."""
        return self._read

    @property
    def handed_over(self) -> bool:
        """Whether the provider's accumulator reads the chunks now."""
        return self._accumulator is not None

    def hand_over(self, chunk: Any) -> Callable[[Any], None]:
        """Give what was read, and ``chunk``, to the provider's accumulator; what reads the
        chunks after (raises if the accumulator cannot read ``chunk`` either)."""
        accumulator = self._hand_over()
        accumulator.add(chunk)
        return accumulator.add

    def result(self) -> Reply | ParsedResponse | None:
        """What the stream gave so far (None before any chunk)."""
        if not self.chunks:
            return None
        return self.reply()

    def reply(self, waited: float | None = None) -> Reply | ParsedResponse:
        """What the chunks read so far gave (at least one); ``waited``: the time to the
        first chunk (ms), as the stream's reader saw it."""
        if self._accumulator is None:
            try:
                return self._reply(waited)
            except Exception:  # a value the reading did not expect: the parser judges it
                self._hand_over()
        parsed = self._accumulator.result()  # type: ignore[union-attr]
        return parsed if waited is None else timed(parsed, waited)

    def _hand_over(self) -> StreamAccumulator:
        accumulator = stream_accumulator(self.provider, started_at=self.started)
        for event in self._events():
            accumulator.add(event)
        self._accumulator = accumulator
        return accumulator

    def _read(self, chunk: Any) -> None:
        raise NotImplementedError

    def _reply(self, waited: float | None) -> Reply | ParsedResponse:
        raise NotImplementedError

    def _events(self) -> list[dict[str, Any]]:
        """What was read so far, as the events an accumulator reads."""
        raise NotImplementedError


_SDK_CLASSES: dict[tuple[str, ...], tuple[Any, ...]] = {}


def _sdk_classes(key: tuple[str, ...]) -> tuple[Any, ...]:
    """The SDK classes ``key`` names (a module, then the classes), imported the first time a
    stream needs them (the SDK is installed: it made the stream). One constant tuple, not
    arguments packed into a new one, per stream."""
    kinds = _SDK_CLASSES.get(key)
    if kinds is None:
        module, *names = key
        imported = importlib.import_module(module)
        kinds = _SDK_CLASSES[key] = tuple(getattr(imported, name) for name in names)
    return kinds


def _dump(value: Any) -> Any:
    return as_dict(value) if is_model(value) else value


# -- OpenAI Chat Completions ------------------------------------------------------------
_CHAT_CLASSES = ("openai.types.chat", "ChatCompletionChunk")


class ChatChunks(StreamReply):
    """``ChatCompletionChunk`` objects, as ``OpenAIChatStreamAccumulator`` reads them."""

    __slots__ = (
        "_calls",
        "_content",
        "_finish",
        "_head",
        "_kind",
        "_ready",
        "_reasoning",
        "_refusal",
        "_usage",
    )

    def __init__(self, provider: Provider, started: float) -> None:
        super().__init__(provider, started)
        (self._kind,) = _sdk_classes(_CHAT_CLASSES)
        self._head: dict[str, Any] = {}
        self._ready = False  # the head read: id, model, created
        self._content: list[str] = []
        self._refusal: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, list[Any]] = {}  # index: [id, name, argument pieces]
        self._finish: str | None = None
        self._usage: Any = None

    def _read(self, chunk: Any) -> None:
        if type(chunk) is not self._kind:
            raise _Unread
        fields = chunk.__dict__
        # Once the head is read, most chunks carry a piece of text (or the finish reason,
        # or only the usage) and nothing else: read with the fewest lookups (each
        # attribute of a pydantic model goes through its __getattr__ hook).
        if self._ready:
            choices = fields["choices"]
            if not choices:
                usage = fields["usage"]
                if usage:
                    self._usage = usage
                return
            if len(choices) == 1 and fields["usage"] is None:
                choice = choices[0].__dict__
                delta = choice["delta"]
                if choice["index"] == 0 and delta is not None:
                    values = delta.__dict__
                    content = values["content"]
                    if (
                        (content is None or content.__class__ is str)
                        and not values["refusal"]
                        and not values["tool_calls"]
                        and not delta.__pydantic_extra__
                    ):
                        if content:
                            self._content.append(content)
                        finish = choice["finish_reason"]
                        if finish:
                            self._finish = finish
                        return
        self._read_whole(fields)

    def _read_whole(self, fields: dict[str, Any]) -> None:
        content = refusal = reasoning = finish = None
        calls: list[tuple[int, Any, Any, Any]] | None = None
        for choice in fields["choices"]:
            values = choice.__dict__
            if values["index"] != 0:
                continue
            delta = values["delta"]
            if delta is not None:
                entries = delta.__dict__
                content = entries["content"]
                if content and content.__class__ is not str:
                    raise _Unread
                refusal = entries["refusal"]
                if refusal and refusal.__class__ is not str:
                    raise _Unread
                # Not in OpenAI's API; OpenAI-compatible servers (vLLM, DeepSeek) send it.
                extra = delta.__pydantic_extra__
                if extra:
                    reasoning = extra.get("reasoning_content") or extra.get("reasoning")
                    if not isinstance(reasoning, str):
                        reasoning = None
                tool_calls = entries["tool_calls"]
                if tool_calls:
                    calls = []
                    for call in tool_calls:
                        function = call.function
                        name = arguments = None
                        if function is not None:
                            name, arguments = function.name, function.arguments
                            if arguments and arguments.__class__ is not str:
                                raise _Unread
                        calls.append((call.index, call.id, name, arguments))
            if values["finish_reason"]:
                finish = values["finish_reason"]
        # Read; now kept.
        head = self._head
        if len(head) < 3:
            for key in ("id", "model", "created"):
                if key not in head and fields[key] is not None:
                    head[key] = fields[key]
            self._ready = len(head) == 3
        usage = fields["usage"]
        if usage:
            self._usage = usage
        if content:
            self._content.append(content)
        if refusal:
            self._refusal.append(refusal)
        if reasoning is not None:
            self._reasoning.append(reasoning)
        if calls:
            slots = self._calls
            for index, call_id, name, arguments in calls:
                slot = slots.get(index)
                if slot is None:
                    slot = slots[index] = [None, None, []]
                slot[0] = slot[0] or call_id
                slot[1] = slot[1] or name
                if arguments:
                    slot[2].append(arguments)
        if finish:
            self._finish = finish

    def _reply(self, waited: float | None) -> Reply:
        parts: list[dict[str, Any]] = []
        reasoning = "".join(self._reasoning)
        if reasoning:
            parts.append(_reasoning_part(reasoning))
        content = "".join(self._content)
        if content:
            parts.append(_text_part(content))
        refusal = "".join(self._refusal)
        if refusal:
            parts.append(_text_part(refusal))
        calls = self._calls
        for index in sorted(calls):
            call_id, name, arguments = calls[index]
            parts.append(_tool_call(call_id, name, "".join(arguments)))
        head = self._head
        return chat_reply(
            head.get("model"),
            head.get("id"),
            self._finish,
            self._usage,
            (parts, len(calls)),
            waited,
        )

    def _events(self) -> list[dict[str, Any]]:
        delta: dict[str, Any] = {
            "content": "".join(self._content) or None,
            "refusal": "".join(self._refusal) or None,
            "tool_calls": [
                {"index": i, "id": s[0], "function": {"name": s[1], "arguments": "".join(s[2])}}
                for i, s in self._calls.items()
            ],
        }
        if self._reasoning:
            delta["reasoning_content"] = "".join(self._reasoning)
        choice = {"index": 0, "delta": delta, "finish_reason": self._finish}
        return [{**self._head, "choices": [choice], "usage": _dump(self._usage)}]


# -- Anthropic Messages -----------------------------------------------------------------
_ANTHROPIC_CLASSES = (
    "anthropic.types",
    "RawContentBlockDeltaEvent",
    "TextDelta",
    "RawContentBlockStopEvent",
    "RawMessageStopEvent",
)
_ANTHROPIC_BLOCK_FIELDS = frozenset(
    ("type", "text", "id", "name", "input", "thinking", "signature", "data")
)


class AnthropicEvents(StreamReply):
    """``RawMessageStreamEvent`` objects, as ``AnthropicStreamAccumulator`` reads them."""

    __slots__ = (
        "_blocks",
        "_delta_kind",
        "_json",
        "_message",
        "_pieces",
        "_stop",
        "_stop_kinds",
        "_text_kind",
        "_usage",
    )

    def __init__(self, provider: Provider, started: float) -> None:
        super().__init__(provider, started)
        self._delta_kind, self._text_kind, *self._stop_kinds = _sdk_classes(_ANTHROPIC_CLASSES)
        self._message: Any = None
        self._stop: dict[str, Any] = {}
        self._usage: dict[str, Any] = {}
        self._blocks: dict[int, dict[str, Any]] = {}
        # (index, "text" or "thinking"): the deltas after the block's start, joined at the
        # end (the accumulator adds each to the text so far: quadratic in a long stream)
        self._pieces: dict[tuple[int, str], list[str]] = {}
        self._json: dict[int, list[str]] = {}

    def _read(self, event: Any) -> None:
        # Most events carry a piece of a started text block's text, or close something:
        # read with the fewest lookups.
        kind = type(event)
        if kind is self._delta_kind:
            fields = event.__dict__
            delta = fields["delta"]
            index = fields["index"]
            if type(delta) is self._text_kind and index in self._blocks:
                text = delta.__dict__["text"]
                if text.__class__ is str:
                    pieces = self._pieces.get((index, "text"))
                    if pieces is None:
                        pieces = self._pieces[index, "text"] = []
                    pieces.append(text)
                    return
        elif kind in self._stop_kinds:
            return  # read by nothing (the accumulator ignores them too)
        if not is_model(event):
            raise _Unread
        # Fields off __dict__ (no __getattr__ hook): the SDK's event classes hold them all; a
        # model without one raises, and the accumulator reads it.
        fields = event.__dict__
        kind = fields["type"]
        if kind == "content_block_delta":
            index = fields["index"]
            delta = fields["delta"]
            dtype = delta.type
            block = self._blocks.get(index)
            if dtype == "text_delta":
                text = _text(delta.text) or ""
                self._block(index, block)
                self._pieces.setdefault((index, "text"), []).append(text)
            elif dtype == "input_json_delta":
                piece = _text(delta.partial_json) or ""
                self._block(index, block)
                self._json.setdefault(index, []).append(piece)
            elif dtype == "thinking_delta":
                text = _text(delta.thinking) or ""
                self._block(index, block)
                self._pieces.setdefault((index, "thinking"), []).append(text)
            elif dtype == "signature_delta":
                signature = _text(delta.signature)
                self._block(index, block)["signature"] = signature
            else:
                self._block(index, block)
        elif kind == "content_block_start":
            block = fields["content_block"]
            if not is_model(block):
                raise _Unread
            values = block.__dict__
            names = _ANTHROPIC_BLOCK_FIELDS.intersection(values)
            # No comprehension: its frame costs more than the C loop of zip and map.
            read = dict(zip(names, map(values.__getitem__, names), strict=True))
            extra = block.__pydantic_extra__
            if extra:
                read.update((k, v) for k, v in extra.items() if k in _ANTHROPIC_BLOCK_FIELDS)
            index = fields["index"]
            self._blocks[index] = read
            started = self._pieces
            if started:  # deltas of this index before its start are dropped
                started.pop((index, "text"), None)
                started.pop((index, "thinking"), None)
        elif kind == "message_start":
            message = fields["message"]
            if not is_model(message):
                raise _Unread
            usage = _fields(message.usage)
            self._message = message
            self._stop = {}
            self._usage = usage
        elif kind == "message_delta":
            delta = fields["delta"]
            updates = _fields(fields["usage"])
            stop_reason = getattr(delta, "stop_reason", None)
            stop_sequence = getattr(delta, "stop_sequence", None)
            # Read; now kept (a loop here, not a comprehension's frame and an update).
            usage = self._usage
            for key, value in updates.items():
                if value is not None:
                    usage[key] = value
            if stop_reason is not None:
                self._stop["stop_reason"] = stop_reason
            if stop_sequence is not None:
                self._stop["stop_sequence"] = stop_sequence

    def _block(self, index: int, block: dict[str, Any] | None) -> dict[str, Any]:
        if block is None:
            block = self._blocks[index] = {"type": "text", "text": ""}
        return block

    def _joined(self, index: int, block: dict[str, Any], field: str) -> Any:
        """The block's ``field`` with its deltas, as the accumulator adds them up."""
        pieces = self._pieces.get((index, field))
        if pieces is None:
            return block.get(field)
        return (block.get(field) or "") + "".join(pieces)

    def _reply(self, waited: float | None) -> Reply:
        parts: list[dict[str, Any]] = []
        calls = 0
        for index in sorted(self._blocks):
            block = self._blocks[index]
            kind = block.get("type")
            if kind == "text":
                parts.append(_text_part(self._joined(index, block, "text")))
            elif kind in ("tool_use", "server_tool_use"):
                pieces = self._json.get(index)
                arguments = parse_arguments("".join(pieces)) if pieces is not None else None
                if arguments is None:
                    arguments = block.get("input")
                parts.append(_tool_call(block.get("id"), block.get("name"), arguments))
                calls += 1
            elif kind == "thinking":
                _text(block.get("signature"))
                parts.append(_reasoning_part(self._joined(index, block, "thinking")))
            elif kind == "redacted_thinking":
                _text(block.get("data"))
                parts.append(_reasoning_part(""))
        message = self._message
        usage = self._usage
        cache_read = as_int(usage.get("cache_read_input_tokens"))
        cache_creation = as_int(usage.get("cache_creation_input_tokens"))
        input_tokens = as_int(usage.get("input_tokens"))
        if input_tokens is not None:  # all input, cached or not, as the parser counts it
            input_tokens += (cache_read or 0) + (cache_creation or 0)
        details = usage.get("output_tokens_details")
        if details is not None and not is_model(details):
            raise _Unread
        raw_stop = _text(
            self._stop.get("stop_reason", message.stop_reason if message is not None else None)
        )
        return new_reply(
            (
                _text(message.model) if message is not None else None,
                _text(message.id) if message is not None else None,
                anthropic.STOP_REASONS.get(raw_stop) if raw_stop else None,
                raw_stop,
                new_usage(
                    (
                        input_tokens,
                        as_int(usage.get("output_tokens")),
                        _count(details, "thinking_tokens"),
                        cache_read,
                        cache_creation,
                    )
                ),
                (parts, calls),
                waited,
            )
        )

    def _events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if self._message is not None:
            message = as_dict(self._message)
            message["usage"] = {k: _dump(v) for k, v in self._usage.items()}
            message.update(self._stop)
            events.append({"type": "message_start", "message": message})
        for index, block in self._blocks.items():
            start = {k: _dump(v) for k, v in block.items()}
            for field in ("text", "thinking"):
                if (index, field) in self._pieces:
                    start[field] = self._joined(index, block, field)
            events.append({"type": "content_block_start", "index": index, "content_block": start})
            pieces = self._json.get(index)
            if pieces is not None:
                delta = {"type": "input_json_delta", "partial_json": "".join(pieces)}
                events.append({"type": "content_block_delta", "index": index, "delta": delta})
        return events


def _fields(model: Any) -> dict[str, Any]:
    """A model's fields and extras, as values (a nested model stays one)."""
    if model is None:
        return {}
    if not is_model(model):
        raise _Unread
    fields = dict(model.__dict__)
    extra = model.__pydantic_extra__
    if extra:
        fields.update(extra)
    return fields


# -- Google Gemini / Vertex AI ----------------------------------------------------------
_GOOGLE_CLASSES = ("google.genai.types", "GenerateContentResponse")


class GoogleChunks(StreamReply):
    """``GenerateContentResponse`` chunks, as ``GoogleStreamAccumulator`` reads them."""

    __slots__ = (
        "_calls",
        "_finish",
        "_kind",
        "_last",
        "_model",
        "_parts",
        "_response_id",
        "_tail",
        "_usage",
    )

    def __init__(self, provider: Provider, started: float) -> None:
        super().__init__(provider, started)
        (self._kind,) = _sdk_classes(_GOOGLE_CLASSES)
        self._parts: list[dict[str, Any]] = []
        self._tail: list[str] = []
        self._calls = 0
        self._last: str | None = None
        self._response_id: Any = None
        self._model: Any = None
        self._usage: Any = None
        self._finish: Any = None

    def _read(self, chunk: Any) -> None:
        if type(chunk) is not self._kind:
            raise _Unread
        fields = chunk.__dict__
        candidates = fields["candidates"]
        piece = finish = None  # piece: a chunk's only part, continuing the last one's text
        fresh: list[dict[str, Any]] | None = None  # else: the chunk's parts
        if candidates:
            candidate = candidates[0].__dict__
            content = candidate["content"]
            parts: Any = (content.__dict__["parts"] if content is not None else None) or ()
            if len(parts) == 1 and self._last is not None:
                part = parts[0].__dict__
                text = part["text"]
                if (
                    text.__class__ is str
                    and not part["function_call"]
                    and ("reasoning" if part["thought"] else "text") == self._last
                ):
                    piece = text
            if piece is None:
                fresh = []
                calls, last = self._calls, None
                for part in parts:
                    calls, last = google_part(fresh, part, calls, last)
            finish = candidate["finish_reason"]
        # Read; now kept.
        value = fields["response_id"]
        if value is not None:
            self._response_id = value
        value = fields["model_version"]
        if value is not None:
            self._model = value
        value = fields["usage_metadata"]
        if value is not None:
            self._usage = value
        if piece is not None:
            self._tail.append(piece)
        elif fresh:
            if fresh[0]["type"] == self._last:  # text continued from the last chunk
                self._tail.append(fresh.pop(0)["content"])
            if fresh:
                self._join_tail()
                self._parts.extend(fresh)
            self._calls = calls
            self._last = last
        if finish is not None:
            self._finish = finish

    def _join_tail(self) -> None:
        """The text continued over chunks, joined once (not added up: quadratic)."""
        tail = self._tail
        if tail:
            self._parts[-1]["content"] += "".join(tail)
            tail.clear()

    def _reply(self, waited: float | None) -> Reply:
        self._join_tail()
        return google_reply(
            self._model,
            self._response_id,
            self._finish,
            self._usage,
            (self._parts, self._calls),
            waited,
        )

    def _events(self) -> list[dict[str, Any]]:
        self._join_tail()
        parts: list[dict[str, Any]] = []
        for part in self._parts:
            kind = part["type"]
            if kind == "tool_call":
                call = {"id": part["id"], "name": part["name"], "args": part["arguments"]}
                parts.append({"function_call": call})
            else:
                parts.append({"text": part["content"], "thought": kind == "reasoning"})
        finish = self._finish
        finish = finish.value if isinstance(finish, Enum) else finish
        candidate = {"content": {"parts": parts}, "finish_reason": finish}
        return [
            {
                "response_id": self._response_id,
                "model_version": self._model,
                "usage_metadata": _dump(self._usage),
                "candidates": [candidate],
            }
        ]


# -- OpenAI Responses -------------------------------------------------------------------
_DELTAS = (
    "response.output_text.delta",
    "response.refusal.delta",
    "response.function_call_arguments.delta",
    "response.reasoning_summary_text.delta",
    "response.reasoning_text.delta",
)
_SNAPSHOTS = ("response.created", "response.in_progress", "response.queued")
_FINAL = ("response.completed", "response.incomplete", "response.failed")
_ITEM_ADDED = "response.output_item.added"
_ITEM_DONE = "response.output_item.done"
_UNFOLDED = 256  # item and delta events kept unread, at most
# What each event read is (one lookup, not a chain of comparisons); others are ignored.
_STEPS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(_DELTAS, _DELTAS),
    **dict.fromkeys(_SNAPSHOTS, _SNAPSHOTS),
    **dict.fromkeys(_FINAL, _FINAL),
    _ITEM_ADDED: (_ITEM_ADDED,),
    _ITEM_DONE: (_ITEM_DONE,),
}


class ResponsesEvents(StreamReply):
    """``ResponseStreamEvent`` objects: the final event's ``Response``, read by
    ``read_reply``. Before it, per output item: the ``added`` item, its deltas' text by
    part and the ``done`` item, kept as the accumulator would keep them
    (an item added again starts over, a done one takes no more deltas), and replayed
    to it only for a stream cut short before its final event. A stream that ends with
    its final event never needs them: the events' fields are only put aside as they
    pass, and sorted into items when that many are kept or when they are replayed."""

    __slots__ = ("_final", "_items", "_snapshot", "_unfolded")

    def __init__(self, provider: Provider, started: float) -> None:
        super().__init__(provider, started)
        self._snapshot: Any = None
        self._final: Any = None
        # output index: [added item, {(delta type, content index, summary index): pieces},
        # done item, done (takes no more deltas)]; a part's pieces are joined when replayed
        # (the accumulator adds them up in the order each part first appeared, kept here)
        self._items: dict[int, list[Any]] = {}
        # The fields of the item and delta events not folded into _items yet: a stream
        # that reaches its final event never needs them, so they are only kept (a
        # bounded number: then folded) until a stream cut short replays them.
        self._unfolded: list[dict[str, Any]] = []

    def _read(self, event: Any) -> None:
        if not is_model(event):
            raise _Unread
        fields = event.__dict__
        step = _STEPS.get(fields["type"])
        if step is None:
            return  # read by nothing (the accumulator ignores it too)
        if step is _FINAL:
            self._final = fields["response"]
        elif step is _SNAPSHOTS:
            self._snapshot = fields["response"]
        else:
            unfolded = self._unfolded
            unfolded.append(fields)
            if len(unfolded) >= _UNFOLDED:
                self._fold()

    def _fold(self) -> None:
        """The kept item and delta events, in the order they came, into ``_items``."""
        items = self._items
        for fields in self._unfolded:
            kind = fields["type"]
            index = fields.get("output_index")
            if index.__class__ is not int:
                continue  # the accumulator ignores it too
            if kind == _ITEM_ADDED:
                item = items.get(index)
                items[index] = [fields.get("item"), {}, None, item is not None and item[3]]
            elif kind == _ITEM_DONE:
                items[index] = [None, {}, fields.get("item"), True]
            else:
                item = items.get(index)
                if item is None:
                    item = items[index] = [None, {}, None, False]
                if not item[3]:
                    part = (kind, fields.get("content_index"), fields.get("summary_index"))
                    pieces = item[1].get(part)
                    if pieces is None:
                        pieces = item[1][part] = []
                    pieces.append(fields.get("delta"))
        self._unfolded.clear()

    def _reply(self, waited: float | None) -> Reply | ParsedResponse:
        final = self._final
        if final is None:
            raise _Unread  # cut short: the accumulator rebuilds the response
        parsed = read_reply(final, self.provider) or parse_response(final, self.provider, raw=False)
        return parsed if waited is None else timed(parsed, waited)

    def _events(self) -> list[dict[str, Any]]:
        self._fold()
        events: list[dict[str, Any]] = []
        if self._snapshot is not None:
            events.append({"type": "response.created", "response": _dump(self._snapshot)})
        for index, (added, deltas, done, closed) in self._items.items():
            if done is not None:
                events.append({"type": _ITEM_DONE, "output_index": index, "item": _dump(done)})
                continue
            if closed:  # done, then added again
                events.append({"type": _ITEM_DONE, "output_index": index, "item": {}})
            if added is not None:
                events.append({"type": _ITEM_ADDED, "output_index": index, "item": _dump(added)})
            for (kind, content_index, summary_index), pieces in deltas.items():
                delta = {"type": kind, "output_index": index, "delta": "".join(pieces)}
                if content_index is not None:
                    delta["content_index"] = content_index
                if summary_index is not None:
                    delta["summary_index"] = summary_index
                events.append(delta)
        if self._final is not None:
            events.append({"type": "response.completed", "response": _dump(self._final)})
        return events


def stream_reply(provider: Provider, started: float) -> StreamReply:
    """The chunk reader of a ``provider`` stream whose call started at ``started``."""
    if provider is OPENAI_CHAT:
        return ChatChunks(provider, started)
    if provider is ANTHROPIC:
        return AnthropicEvents(provider, started)
    if provider is OPENAI_RESPONSES:
        return ResponsesEvents(provider, started)
    return GoogleChunks(provider, started)
