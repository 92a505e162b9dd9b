"""The registry's tables, on the store's ``MetaData`` (created by migration 100).

=========================  ===================================================================
``registry_tasks``         one row per task (name for listing; content lives in states)
``registry_anchors``       every anchor id (prompt, message, property, schema) → its task
``registry_branches``      a branch: head commit, working state (JSON), version, dirty flag
``registry_commits``       a commit: parent, message, immutable snapshot (JSON)
``registry_webhooks``      registered URLs and their signing secrets
``registry_deliveries``    the webhook outbox: one row per (event, webhook), with retry state
``registry_idempotency``   replies to POST/PATCH requests, by ``X-Moxn-Idempotency-Key``
=========================  ===================================================================

Times are integer microseconds since the epoch (``*_us``), ids are strings, as in the rest
of the store. Every table is keyed by ``tenant`` first.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from moxtrace.server.store.schema import metadata

__all__ = [
    "anchors",
    "branches",
    "commits",
    "create_tables",
    "deliveries",
    "idempotency",
    "tasks",
    "webhooks",
]

_ID = BigInteger().with_variant(Integer, "sqlite")

tasks = Table(
    "registry_tasks",
    metadata,
    Column("tenant", String(64), nullable=False),
    Column("id", String(36), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant", "id", name="pk_registry_tasks"),
)

anchors = Table(
    "registry_anchors",
    metadata,
    Column("tenant", String(64), nullable=False),
    Column("id", String(36), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("task_id", String(36), nullable=False),
    PrimaryKeyConstraint("tenant", "id", name="pk_registry_anchors"),
)

branches = Table(
    "registry_branches",
    metadata,
    Column("tenant", String(64), nullable=False),
    Column("id", String(36), nullable=False),
    Column("task_id", String(36), nullable=False),
    Column("name", String(100), nullable=False),
    Column("head_commit_id", String(32), nullable=True),
    Column("created_from_commit_id", String(32), nullable=True),
    Column("state", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("dirty", Integer, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Column("last_committed_us", BigInteger, nullable=True),
    PrimaryKeyConstraint("tenant", "id", name="pk_registry_branches"),
    UniqueConstraint("tenant", "task_id", "name", name="uq_registry_branches_name"),
)

commits = Table(
    "registry_commits",
    metadata,
    Column("tenant", String(64), nullable=False),
    Column("id", String(32), nullable=False),
    Column("task_id", String(36), nullable=False),
    Column("branch_id", String(36), nullable=False),
    Column("branch_name", String(100), nullable=False),
    Column("parent_commit_id", String(32), nullable=True),
    Column("message", Text, nullable=True),
    Column("snapshot", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant", "id", name="pk_registry_commits"),
    Index("ix_registry_commits_task", "tenant", "task_id", "created_us"),
)

webhooks = Table(
    "registry_webhooks",
    metadata,
    Column("tenant", String(64), nullable=False),
    Column("id", String(36), nullable=False),
    Column("url", Text, nullable=False),
    Column("task_id", String(36), nullable=True),
    Column("events", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("previous_secret", Text, nullable=True),
    Column("previous_until_us", BigInteger, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("deleted_us", BigInteger, nullable=True),
    PrimaryKeyConstraint("tenant", "id", name="pk_registry_webhooks"),
)

deliveries = Table(
    "registry_deliveries",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("webhook_id", String(36), nullable=False),
    Column("event_id", String(40), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_us", BigInteger, nullable=False),
    Column("lease_until_us", BigInteger, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("delivered_us", BigInteger, nullable=True),
    Index("ix_registry_deliveries_due", "status", "next_attempt_us"),
    Index("ix_registry_deliveries_webhook", "tenant", "webhook_id", "id"),
)

idempotency = Table(
    "registry_idempotency",
    metadata,
    Column("tenant", String(64), nullable=False),
    Column("key", String(200), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant", "key", name="pk_registry_idempotency"),
    Index("ix_registry_idempotency_created", "created_us"),
)


async def create_tables(conn: AsyncConnection) -> None:
    """The registry's migration step: create its tables."""
    registry_tables = [tasks, anchors, branches, commits, webhooks, deliveries, idempotency]
    await conn.run_sync(lambda sync: metadata.create_all(sync, tables=registry_tables))
