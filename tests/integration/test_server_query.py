"""``GET /traces``: filters and pagination, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.server import MoxtraceServer, new_span_id, new_trace_id, span_events

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0
PROMPT_A = "11111111-2222-4333-8444-555555555555"
TASK_A = "99999999-8888-4777-8666-555555555555"


@pytest.fixture
def client(shared_moxtrace_server: MoxtraceServer) -> Iterator[httpx.Client]:
    with shared_moxtrace_server.client() as c:
        yield c


@pytest.fixture
def service() -> str:
    """A service name of this test only: every query filters by it."""
    return f"svc-{uuid.uuid4().hex[:8]}"


def ingest(client: httpx.Client, events: list[dict[str, Any]]) -> None:
    reply = client.post("/telemetry/log-events", json={"events": events})
    assert reply.status_code == 200, reply.text


def trace(
    client: httpx.Client,
    service: str,
    start: float,
    *,
    status: str = "OK",
    prompt_id: str | None = None,
    task_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> str:
    """Ingest a root span and one child; return the trace id."""
    trace_id, root = new_trace_id(), new_span_id()
    events = span_events(trace_id, root, name="root", start=start, service_name=service)
    events += span_events(
        trace_id,
        new_span_id(),
        parent_span_id=root,
        name="child",
        start=start + 0.1,
        duration=0.1,
        status=status,
        prompt_id=prompt_id,
        task_id=task_id,
        metadata=metadata,
        service_name=service,
    )
    ingest(client, events)
    return trace_id


def listed(client: httpx.Client, **params: Any) -> list[str]:
    reply = client.get("/traces", params=params)
    assert reply.status_code == 200, reply.text
    return [t["trace_id"] for t in reply.json()["data"]["traces"]]


def test_newest_first_with_summaries(client: httpx.Client, service: str) -> None:
    old = trace(client, service, T0)
    new = trace(client, service, T0 + 60, status="ERROR")

    reply = client.get("/traces", params={"service": service})

    body = reply.json()["data"]
    assert [t["trace_id"] for t in body["traces"]] == [new, old]
    newest = body["traces"][0]
    assert newest["root_name"] == "root"
    assert newest["service_name"] == service
    assert newest["span_count"] == 2
    assert newest["error_count"] == 1
    assert newest["duration_ms"] == pytest.approx(250.0)
    assert newest["start_time"] == "2023-11-14T22:14:20.000000Z"
    assert body["next_cursor"] is None


def test_time_range(client: httpx.Client, service: str) -> None:
    ids = [trace(client, service, T0 + 10 * i) for i in range(4)]

    assert listed(client, service=service, since=T0 + 10, until=T0 + 30) == [ids[2], ids[1]]
    assert listed(client, service=service, since="2023-11-14T22:13:30Z") == ids[:0:-1]
    assert listed(client, service=service, until="2023-11-14T22:13:40+00:00") == [ids[1], ids[0]]


def test_prompt_task_and_status_filters(client: httpx.Client, service: str) -> None:
    with_prompt = trace(client, service, T0, prompt_id=PROMPT_A)
    with_task = trace(client, service, T0 + 1, task_id=TASK_A)
    failed = trace(client, service, T0 + 2, status="ERROR")

    assert listed(client, service=service, prompt_id=PROMPT_A) == [with_prompt]
    assert listed(client, service=service, prompt_id=PROMPT_A.upper()) == [with_prompt]
    assert listed(client, service=service, task_id=TASK_A) == [with_task]
    assert listed(client, service=service, status="error") == [failed]
    assert listed(client, service=service, status="ok") == [with_task, with_prompt]


def test_metadata_filters(client: httpx.Client, service: str) -> None:
    acme_eu = trace(client, service, T0, metadata={"customer": "acme", "region": "eu"})
    acme_us = trace(client, service, T0 + 1, metadata={"customer": "acme", "region": "us"})
    trace(client, service, T0 + 2, metadata={"customer": "globex", "tier": 3})
    numeric = trace(client, service, T0 + 3, metadata={"tier": 2, "vip": True})

    assert listed(client, service=service, **{"metadata.customer": "acme"}) == [acme_us, acme_eu]
    assert listed(
        client, service=service, **{"metadata.customer": "acme", "metadata.region": "eu"}
    ) == [acme_eu]
    assert listed(client, service=service, **{"metadata.tier": "2"}) == [numeric]
    assert listed(client, service=service, **{"metadata.vip": "true"}) == [numeric]
    assert listed(client, service=service, **{"metadata.customer": "nobody"}) == []


def test_pagination_with_a_cursor_visits_every_trace_once(
    client: httpx.Client, service: str
) -> None:
    ids = [trace(client, service, T0 + i) for i in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"service": service, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        data = client.get("/traces", params=params).json()["data"]
        seen += [t["trace_id"] for t in data["traces"]]
        pages += 1
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    assert pages == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 5000}, "limit"),
        ({"status": "maybe"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"prompt_id": "not-a-uuid"}, "prompt_id"),
        ({"cursor": "!!!"}, "cursor"),
    ],
)
def test_bad_query_parameters_are_400_naming_them(
    client: httpx.Client, params: dict[str, Any], field: str
) -> None:
    reply = client.get("/traces", params=params)

    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["message"].startswith(f"{field}:")


def test_unknown_and_malformed_trace_ids(client: httpx.Client) -> None:
    assert client.get(f"/traces/{new_trace_id()}").status_code == 404
    bad = client.get("/traces/zzz")
    assert bad.status_code == 400
    assert bad.json()["error"]["message"].startswith("trace_id:")


def test_a_big_trace_comes_in_pages_of_spans(moxtrace_server_factory: Any) -> None:
    server = moxtrace_server_factory(max_trace_spans=10)
    trace_id, root = new_trace_id(), new_span_id()
    events = span_events(trace_id, root, name="root", start=T0, duration=30)
    children = [new_span_id() for _ in range(24)]
    for i, child in enumerate(children):
        events += span_events(
            trace_id, child, parent_span_id=root, name=f"c{i:02d}", start=T0 + i + 1, duration=0.5
        )
    seen: list[str] = []
    with server.client() as client:
        assert client.post("/telemetry/log-events", json={"events": events}).status_code == 200
        offset: int | None = 0
        pages = 0
        while offset is not None:
            data = client.get(f"/traces/{trace_id}", params={"offset": offset}).json()["data"]
            assert data["span_count"] == 25
            assert len(data["spans"]) <= 10
            seen += [s["name"] for s in data["spans"]]
            offset = data["next_offset"]
            assert data["truncated"] is (offset is not None)
            pages += 1
        too_many = client.get(f"/traces/{trace_id}", params={"limit": 11})
        first = client.get(f"/traces/{trace_id}", params={"limit": 3}).json()["data"]
    assert pages == 3
    assert seen == ["root"] + [f"c{i:02d}" for i in range(24)]
    assert too_many.status_code == 400
    assert [s["name"] for s in first["spans"]] == ["root", "c00", "c01"]
    assert first["spans"][0]["children"] == children
