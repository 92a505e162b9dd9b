"""Schema migrations on SQLite and PostgreSQL: a database of an older version is brought up
to date, keeping its data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from moxtrace.server.store import Store
from moxtrace.server.store.engine import create_engine
from moxtrace.server.store.migrations import MIGRATIONS, migrate
from tests.support.server import fresh_postgres_database

pytestmark = pytest.mark.integration

# The tables as migrations 1-3 made them before version 4 (keyed by trace id).
VERSION_3 = (
    """CREATE TABLE span_metadata (
    tenant VARCHAR(64) NOT NULL, trace_id VARCHAR(32) NOT NULL, span_id VARCHAR(16) NOT NULL,
    key VARCHAR(128) NOT NULL, value VARCHAR(256) NOT NULL,
    CONSTRAINT pk_span_metadata PRIMARY KEY (tenant, trace_id, span_id, key))""",
    "CREATE INDEX ix_span_metadata_kv ON span_metadata (tenant, key, value)",
    """CREATE TABLE spans (
    tenant VARCHAR(64) NOT NULL, trace_id VARCHAR(32) NOT NULL, span_id VARCHAR(16) NOT NULL,
    parent_span_id VARCHAR(16), name TEXT, kind VARCHAR(16), start_us BIGINT, end_us BIGINT,
    duration_ms FLOAT, status_code VARCHAR(8), status_message TEXT, service_name TEXT,
    prompt_id VARCHAR(36), prompt_name TEXT, task_id VARCHAR(36), commit_id TEXT,
    branch_id VARCHAR(36), branch_name TEXT, session_id TEXT, user_metadata TEXT,
    updated_us BIGINT NOT NULL,
    CONSTRAINT pk_spans PRIMARY KEY (tenant, trace_id, span_id))""",
    "CREATE INDEX ix_spans_prompt ON spans (tenant, prompt_id)",
    "CREATE INDEX ix_spans_task ON spans (tenant, task_id)",
    """CREATE TABLE llm_calls (
    tenant VARCHAR(64) NOT NULL, trace_id VARCHAR(32) NOT NULL, span_id VARCHAR(16) NOT NULL,
    sequence_number BIGINT NOT NULL, ts_us BIGINT NOT NULL, provider TEXT, operation TEXT,
    request_model TEXT, response_model TEXT, response_id TEXT, finish_reasons TEXT,
    input_tokens BIGINT, output_tokens BIGINT, reasoning_tokens BIGINT,
    cache_read_input_tokens BIGINT, cache_creation_input_tokens BIGINT,
    tool_call_count BIGINT, content_storage_key TEXT,
    CONSTRAINT pk_llm_calls PRIMARY KEY (tenant, trace_id, span_id, sequence_number))""",
    """CREATE TABLE traces (
    tenant VARCHAR(64) NOT NULL, trace_id VARCHAR(32) NOT NULL, start_us BIGINT NOT NULL,
    end_us BIGINT NOT NULL, root_span_id VARCHAR(16), root_name TEXT, service_name TEXT,
    updated_us BIGINT NOT NULL, CONSTRAINT pk_traces PRIMARY KEY (tenant, trace_id))""",
    "CREATE INDEX ix_traces_start ON traces (tenant, start_us, trace_id)",
)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    else:
        with fresh_postgres_database(request.getfixturevalue("postgres_url")) as database:
            yield database


async def test_version_3_databases_get_the_filter_indexes_and_trace_numbers(url: str) -> None:
    engine = create_engine(url)
    try:
        assert await migrate(engine, MIGRATIONS[:3]) == 3
        async with engine.begin() as conn:  # what migrations 1-3 made before version 4
            for table in ("span_metadata", "spans", "llm_calls", "traces"):
                await conn.execute(text(f"DROP TABLE {table}"))
            for statement in VERSION_3:
                await conn.execute(text(statement))
            await conn.execute(
                text(
                    "INSERT INTO span_metadata VALUES ('t', :trace, 'bbbbbbbbbbbbbbbb', 'k', 'v')"
                ),
                {"trace": "a" * 32},
            )
            # A span whose trace row is missing, and a trace with a span and an LLM call.
            await conn.execute(
                text(
                    "INSERT INTO spans (tenant, trace_id, span_id, start_us, end_us, updated_us)"
                    " VALUES ('t', :a, 'bbbbbbbbbbbbbbbb', 5, 9, 1),"
                    " ('t', :c, 'dddddddddddddddd', 2, 3, 1)"
                ),
                {"a": "a" * 32, "c": "c" * 32},
            )
            await conn.execute(
                text(
                    "INSERT INTO traces (tenant, trace_id, start_us, end_us, root_span_id,"
                    " updated_us) VALUES ('t', :c, 2, 3, 'dddddddddddddddd', 1)"
                ),
                {"c": "c" * 32},
            )
            await conn.execute(
                text(
                    "INSERT INTO llm_calls (tenant, trace_id, span_id, sequence_number, ts_us,"
                    " input_tokens) VALUES ('t', :c, 'dddddddddddddddd', 1, 2, 7)"
                ),
                {"c": "c" * 32},
            )

        assert await migrate(engine) == MIGRATIONS[-1].version

        async with engine.connect() as conn:

            def shape(sync: object) -> tuple[list[str], set[str], set[str]]:
                inspector = inspect(sync)
                return (
                    inspector.get_pk_constraint("span_metadata")["constrained_columns"],
                    {i["name"] for i in inspector.get_indexes("spans")},
                    {i["name"] for i in inspector.get_indexes("span_metadata")},
                )

            key, span_indexes, metadata_indexes = await conn.run_sync(shape)
            rows = (await conn.execute(text("SELECT tenant, key, value FROM span_metadata"))).all()
            traces = (
                await conn.execute(
                    text("SELECT trace_id, trace_seq, start_us, end_us FROM traces ORDER BY 2")
                )
            ).all()
            spans = (
                await conn.execute(text("SELECT trace_id, trace_seq FROM spans ORDER BY 2"))
            ).all()
            calls = (
                await conn.execute(text("SELECT trace_id, trace_seq, input_tokens FROM llm_calls"))
            ).all()
        assert key == ["tenant", "key", "value", "trace_seq", "span_id"]
        assert span_indexes == {"ix_spans_prompt_seq", "ix_spans_task_seq"}
        assert metadata_indexes == set()
        assert [tuple(r) for r in rows] == [("t", "k", "v")]
        # Traces numbered (the one made for the orphan span after those that existed).
        numbers = {r.trace_id: r.trace_seq for r in traces}
        assert [(r.trace_id, r.start_us, r.end_us) for r in traces] == [
            ("c" * 32, 2, 3),
            ("a" * 32, 5, 9),
        ]
        assert [tuple(r) for r in spans] == [(t, numbers[t]) for t in ("c" * 32, "a" * 32)]
        assert [tuple(r) for r in calls] == [("c" * 32, numbers["c" * 32], 7)]
    finally:
        await engine.dispose()

    store = await Store.open(url)  # and a store opens it as it is
    try:
        assert store.schema_version == MIGRATIONS[-1].version
    finally:
        await store.close()


def version_5_events(postgresql: bool) -> str:
    """The events table as migrations 1-5 made it (keyed by tenant and trace id)."""
    key = "BIGSERIAL" if postgresql else "INTEGER"
    return f"""CREATE TABLE events (
    id {key} NOT NULL PRIMARY KEY, tenant VARCHAR(64) NOT NULL, trace_id VARCHAR(32) NOT NULL,
    span_id VARCHAR(16) NOT NULL, event_type VARCHAR(16) NOT NULL,
    sequence_number BIGINT NOT NULL, event_id VARCHAR(36) NOT NULL, ts_us BIGINT NOT NULL,
    parent_span_id VARCHAR(16), content_storage_key TEXT, body TEXT NOT NULL,
    received_us BIGINT NOT NULL,
    CONSTRAINT uq_events_identity
        UNIQUE (tenant, trace_id, span_id, event_type, sequence_number))"""


NEW_EVENT = text(
    "INSERT INTO events (trace_seq, tenant, trace_id, span_id, event_type, sequence_number,"
    " event_id, ts_us, body, received_us)"
    " VALUES (:seq, 't', :trace, :span, :type, :number, :id, 1, '{}', 1)"
)


def new_event(seq: int, trace: str, span: str, kind: str, number: int, id_: str) -> dict[str, Any]:
    """Parameters of ``NEW_EVENT``: trace and span ids repeat one hex digit."""
    return {
        "seq": seq,
        "trace": trace * 32,
        "span": span * 16,
        "type": kind,
        "number": number,
        "id": id_,
    }


async def test_version_5_events_get_their_trace_numbers_and_keep_their_ids(url: str) -> None:
    engine = create_engine(url)
    postgresql = url.startswith("postgresql")
    try:
        assert await migrate(engine, MIGRATIONS[:5]) == 5
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE events"))
            await conn.execute(text(version_5_events(postgresql)))
            await conn.execute(
                text(
                    "INSERT INTO traces (tenant, trace_id, start_us, end_us, updated_us)"
                    " VALUES ('t', :a, 10, 20, 1)"
                ),
                {"a": "a" * 32},
            )
            # Two events of an indexed trace, two of one whose batch is still pending.
            await conn.execute(
                text(
                    "INSERT INTO events (id, tenant, trace_id, span_id, event_type,"
                    " sequence_number, event_id, ts_us, body, received_us) VALUES"
                    " (3, 't', :a, 'bbbbbbbbbbbbbbbb', 'span_start', 0, 'e3', 10, '{}', 1),"
                    " (4, 't', :a, 'bbbbbbbbbbbbbbbb', 'span_end', 2, 'e4', 20, '{}', 1),"
                    " (7, 't', :c, 'dddddddddddddddd', 'span_start', 0, 'e7', 30, '{}', 5),"
                    " (8, 't', :c, 'dddddddddddddddd', 'span_end', 2, 'e8', 45, '{}', 6)"
                ),
                {"a": "a" * 32, "c": "c" * 32},
            )
            if postgresql:
                await conn.execute(text("SELECT setval('events_id_seq', 8)"))

        assert await migrate(engine) == MIGRATIONS[-1].version

        async with engine.begin() as conn:
            traces = (
                await conn.execute(
                    text("SELECT trace_id, trace_seq, start_us, end_us, updated_us FROM traces")
                )
            ).all()
            numbers = {r.trace_id: r.trace_seq for r in traces}
            events = (
                await conn.execute(text("SELECT id, trace_seq, event_id FROM events ORDER BY id"))
            ).all()
            # New events continue after the old ids; the key is the trace number's.
            await conn.execute(
                NEW_EVENT, new_event(numbers["c" * 32], "c", "d", "llm_call", 1, "e9")
            )
            new_id = (await conn.execute(text("SELECT max(id) FROM events"))).scalar_one()
        assert sorted((r.trace_id, r.start_us, r.end_us, r.updated_us) for r in traces) == [
            ("a" * 32, 10, 20, 1),
            ("c" * 32, 30, 45, 6),  # made from its events' times
        ]
        assert [tuple(r) for r in events] == [
            (3, numbers["a" * 32], "e3"),
            (4, numbers["a" * 32], "e4"),
            (7, numbers["c" * 32], "e7"),
            (8, numbers["c" * 32], "e8"),
        ]
        assert new_id == 9
        with pytest.raises(IntegrityError):  # the same event again
            async with engine.begin() as conn:
                await conn.execute(
                    NEW_EVENT, new_event(numbers["a" * 32], "a", "b", "span_end", 2, "x")
                )
    finally:
        await engine.dispose()
