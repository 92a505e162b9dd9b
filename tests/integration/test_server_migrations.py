"""Schema migrations on SQLite and PostgreSQL: a database of an older version is brought up
to date, keeping its data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from moxtrace.server.store import Store
from moxtrace.server.store.engine import create_engine
from moxtrace.server.store.migrations import MIGRATIONS, migrate
from tests.support.server import fresh_postgres_database

pytestmark = pytest.mark.integration

OLD_METADATA = """CREATE TABLE span_metadata (
    tenant VARCHAR(64) NOT NULL, trace_id VARCHAR(32) NOT NULL, span_id VARCHAR(16) NOT NULL,
    key VARCHAR(128) NOT NULL, value VARCHAR(256) NOT NULL,
    CONSTRAINT pk_span_metadata PRIMARY KEY (tenant, trace_id, span_id, key))"""


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    else:
        with fresh_postgres_database(request.getfixturevalue("postgres_url")) as database:
            yield database


async def test_version_3_databases_get_the_filter_indexes(url: str) -> None:
    engine = create_engine(url)
    try:
        assert await migrate(engine, MIGRATIONS[:3]) == 3
        async with engine.begin() as conn:  # what migrations 1-3 made before version 4
            await conn.execute(text("DROP TABLE span_metadata"))
            await conn.execute(text(OLD_METADATA))
            await conn.execute(
                text("CREATE INDEX ix_span_metadata_kv ON span_metadata (tenant, key, value)")
            )
            await conn.execute(text("DROP INDEX ix_spans_prompt_trace"))
            await conn.execute(text("DROP INDEX ix_spans_task_trace"))
            await conn.execute(text("CREATE INDEX ix_spans_prompt ON spans (tenant, prompt_id)"))
            await conn.execute(text("CREATE INDEX ix_spans_task ON spans (tenant, task_id)"))
            await conn.execute(
                text(
                    "INSERT INTO span_metadata VALUES ('t', :trace, 'bbbbbbbbbbbbbbbb', 'k', 'v')"
                ),
                {"trace": "a" * 32},
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
        assert key == ["tenant", "key", "value", "trace_id", "span_id"]
        assert span_indexes == {"ix_spans_prompt_trace", "ix_spans_task_trace"}
        assert metadata_indexes == set()
        assert [tuple(r) for r in rows] == [("t", "k", "v")]
    finally:
        await engine.dispose()

    store = await Store.open(url)  # and a store opens it as it is
    try:
        assert store.schema_version == MIGRATIONS[-1].version
    finally:
        await store.close()
