"""The tables, as SQLAlchemy Core ``Table`` objects (one ``MetaData``).

Times are integer microseconds since the Unix epoch (``*_us``): exact, portable between
SQLite and PostgreSQL, and cheap to compare. JSON documents are stored as text, encoded
once by the ingest path.

Random ids make random keys: every row keyed by a trace id lands on its own page of its
index, and a batch of spans dirtied thousands of pages (written to the WAL, then again by
the checkpoint). So ``traces`` gives each trace a number in arrival order (``trace_seq``),
looked up by ``(tenant, trace_id)`` once per trace, and ``spans``, ``llm_calls`` and
``span_metadata`` are keyed by that number (SQLite: ``WITHOUT ROWID``, the key is the
table): new traces' rows go to the end of those keys, on a few pages. A trace gets its
number when its first events are stored (its row then covers their timestamps; the
indexer fills in the rest), and the events' identity is keyed by it too.

=================  ==========================================================================
``events``         every stored ``TelemetryLogRequest`` (raw JSON), unique per
                   (trace_seq, span_id, event_type, sequence_number): idempotency
``spans``          one row per span, assembled from ``span_start`` / ``span_end`` /
                   ``span_error``: the columns to filter and draw trees by (attributes,
                   resource, scope, links and span events are read from the events,
                   where they are stored once)
``llm_calls``      one row per ``llm_call`` event: provider, model, tokens
``traces``         one row per trace: its ``trace_seq``, time range and root span, for
                   listing
``span_metadata``  ``user_metadata`` key/value pairs, for ``metadata.<key>=<value>`` filters
``pending_batches`` batches whose events are stored but whose spans, LLM calls, traces and
                   metadata are not yet: the indexer's to-do list, replayed after a crash
``contents``       content uploaded through signed URLs
``api_keys``       hashed API keys
``server_state``   server-wide values (the URL signing key)
=================  ==========================================================================
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "api_keys",
    "contents",
    "events",
    "llm_calls",
    "metadata",
    "pending_batches",
    "schema_migrations",
    "server_state",
    "span_metadata",
    "spans",
    "traces",
]

metadata = MetaData()

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_us", BigInteger, nullable=False),
)

server_state = Table(
    "server_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("salt", String(64), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("label", Text, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger, nullable=True),
    UniqueConstraint("tenant", "key_id", name="uq_api_keys_tenant_key"),
)

events = Table(
    "events",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("trace_seq", BigInteger, nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("event_type", String(16), nullable=False),
    Column("sequence_number", BigInteger, nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Column("parent_span_id", String(16), nullable=True),
    Column("content_storage_key", Text, nullable=True),
    Column("body", Text, nullable=False),
    Column("received_us", BigInteger, nullable=False),
    UniqueConstraint("trace_seq", "span_id", "event_type", "sequence_number", name="uq_events_key"),
)

spans = Table(
    "spans",
    metadata,
    Column("trace_seq", BigInteger, nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("parent_span_id", String(16), nullable=True),
    Column("name", Text, nullable=True),
    Column("kind", String(16), nullable=True),
    Column("start_us", BigInteger, nullable=True),
    Column("end_us", BigInteger, nullable=True),
    Column("duration_ms", Float, nullable=True),
    Column("status_code", String(8), nullable=True),
    Column("status_message", Text, nullable=True),
    Column("service_name", Text, nullable=True),
    Column("prompt_id", String(36), nullable=True),
    Column("prompt_name", Text, nullable=True),
    Column("task_id", String(36), nullable=True),
    Column("commit_id", Text, nullable=True),
    Column("branch_id", String(36), nullable=True),
    Column("branch_name", Text, nullable=True),
    Column("session_id", Text, nullable=True),
    Column("user_metadata", Text, nullable=True),
    Column("updated_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("trace_seq", "span_id", name="pk_spans"),
    # Partial: most spans have no prompt or task, and pay nothing for these.
    Index(
        "ix_spans_prompt_seq",
        "tenant",
        "prompt_id",
        "trace_seq",
        sqlite_where=text("prompt_id IS NOT NULL"),
        postgresql_where=text("prompt_id IS NOT NULL"),
    ),
    Index(
        "ix_spans_task_seq",
        "tenant",
        "task_id",
        "trace_seq",
        sqlite_where=text("task_id IS NOT NULL"),
        postgresql_where=text("task_id IS NOT NULL"),
    ),
    sqlite_with_rowid=False,
)

llm_calls = Table(
    "llm_calls",
    metadata,
    Column("trace_seq", BigInteger, nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("sequence_number", BigInteger, nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Column("provider", Text, nullable=True),
    Column("operation", Text, nullable=True),
    Column("request_model", Text, nullable=True),
    Column("response_model", Text, nullable=True),
    Column("response_id", Text, nullable=True),
    Column("finish_reasons", Text, nullable=True),
    Column("input_tokens", BigInteger, nullable=True),
    Column("output_tokens", BigInteger, nullable=True),
    Column("reasoning_tokens", BigInteger, nullable=True),
    Column("cache_read_input_tokens", BigInteger, nullable=True),
    Column("cache_creation_input_tokens", BigInteger, nullable=True),
    Column("tool_call_count", BigInteger, nullable=True),
    Column("content_storage_key", Text, nullable=True),
    PrimaryKeyConstraint("trace_seq", "span_id", "sequence_number", name="pk_llm_calls"),
    sqlite_with_rowid=False,
)

traces = Table(
    "traces",
    metadata,
    Column("trace_seq", _ID, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("trace_id", String(32), nullable=False),
    Column("start_us", BigInteger, nullable=False),
    Column("end_us", BigInteger, nullable=False),
    Column("root_span_id", String(16), nullable=True),
    Column("root_name", Text, nullable=True),
    Column("service_name", Text, nullable=True),
    Column("updated_us", BigInteger, nullable=False),
    UniqueConstraint("tenant", "trace_id", name="uq_traces_trace"),
    Index("ix_traces_start", "tenant", "start_us", "trace_id"),
)

span_metadata = Table(
    "span_metadata",
    metadata,
    Column("trace_seq", BigInteger, nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("key", String(128), nullable=False),
    Column("value", String(256), nullable=False),
    # One B-tree, in the order the metadata.<key>=<value> filter reads it.
    PrimaryKeyConstraint(
        "tenant", "key", "value", "trace_seq", "span_id", name="pk_span_metadata_kv"
    ),
    sqlite_with_rowid=False,
)

pending_batches = Table(
    "pending_batches",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("first_event_id", BigInteger, nullable=False),
    Column("last_event_id", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

contents = Table(
    "contents",
    metadata,
    Column("tenant", String(64), nullable=False),
    Column("storage_key", String(256), nullable=False),
    Column("content", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("stored_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant", "storage_key", name="pk_contents"),
)
