"""The provider SDKs' own clients, talking to an in-process transport instead of the network.

An invocation is proved acceptable by handing it to the real SDK method
(``messages.create(**invocation)``...): the SDK checks the keyword arguments, serialises
the request, and the ``Recorder`` keeps the JSON body it would have sent and answers with
a canned reply (JSON, or server-sent events for streams).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import anthropic
import httpx2
import openai
from google import genai
from google.genai import types as genai_types


class Recorder:
    """An ``httpx2.MockTransport`` handler: records requests, replies with ``reply``.

    ``reply`` is a JSON-able dict, or with ``events`` a list of server-sent events.
    """

    def __init__(
        self,
        reply: dict[str, Any] | None = None,
        *,
        events: Sequence[dict[str, Any]] = (),
        named_events: bool = True,
        done_marker: bool = False,
    ) -> None:
        self.reply = reply or {}
        self.events = list(events)
        self.named_events = named_events
        self.done_marker = done_marker
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if not self.events:
            return httpx2.Response(200, json=self.reply)
        body = ""
        for event in self.events:
            if self.named_events:
                body += f"event: {event['type']}\n"
            body += f"data: {json.dumps(event)}\n\n"
        if self.done_marker:
            body += "data: [DONE]\n\n"
        return httpx2.Response(
            200, content=body.encode(), headers={"content-type": "text/event-stream"}
        )

    @property
    def body(self) -> dict[str, Any]:
        """The JSON body of the last request."""
        assert self.requests, "the SDK sent no request"
        data = json.loads(self.requests[-1].content)
        assert isinstance(data, dict)
        return data

    @property
    def url(self) -> str:
        return str(self.requests[-1].url)

    def http_client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self))


def anthropic_client(recorder: Recorder) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test", http_client=recorder.http_client(), max_retries=0)


def openai_client(recorder: Recorder) -> openai.OpenAI:
    return openai.OpenAI(api_key="test", http_client=recorder.http_client(), max_retries=0)


def google_client(recorder: Recorder, *, vertexai: bool = False) -> genai.Client:
    return genai.Client(
        api_key="test",
        vertexai=vertexai,
        http_options=genai_types.HttpOptions(httpx_client=recorder.http_client()),
    )
