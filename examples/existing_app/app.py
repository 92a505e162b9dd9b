"""An existing web application that calls LLMs: no moxtrace, no OpenTelemetry in its code.

Two routes, one calling OpenAI, one calling Anthropic, through their official async SDKs
(which read ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` and the API keys from the
environment). Traced without changing a line (see README.md)::

    OTEL_SERVICE_NAME=support-app \\
    OTEL_TRACES_EXPORTER=moxn,otlp OTEL_PROPAGATORS=tracecontext,baggage,moxn \\
    MOXN_API_KEY=... opentelemetry-instrument python app.py
"""

from __future__ import annotations

import os

import anthropic
import openai
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

OPENAI_MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
ANTHROPIC_MODEL = os.environ.get("ANTHROPIC_MODEL", "claude-sonnet-4-6")
SYSTEM = "You are a support agent for an online shop. Answer in one sentence."

app = FastAPI(title="support-app")
openai_client = openai.AsyncOpenAI(max_retries=0)
anthropic_client = anthropic.AsyncAnthropic(max_retries=0)


class Question(BaseModel):
    question: str


class Answer(BaseModel):
    answer: str


@app.post("/ask/openai")
async def ask_openai(body: Question) -> Answer:
    completion = await openai_client.chat.completions.create(
        model=OPENAI_MODEL,
        messages=[
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": body.question},
        ],
        max_completion_tokens=256,
    )
    return Answer(answer=completion.choices[0].message.content or "")


@app.post("/ask/anthropic")
async def ask_anthropic(body: Question) -> Answer:
    message = await anthropic_client.messages.create(
        model=ANTHROPIC_MODEL,
        system=SYSTEM,
        messages=[{"role": "user", "content": body.question}],
        max_tokens=256,
    )
    return Answer(answer="".join(b.text for b in message.content if b.type == "text"))


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
