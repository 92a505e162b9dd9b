"""``RegistryStore``: the registry's reads and writes, each write one transaction.

Editing a branch reads its state under a row lock (``SELECT ... FOR UPDATE`` on PostgreSQL;
SQLite has one writer at a time anyway), applies a pure edit (``state.TaskState``) and
writes it back with a compare-and-set on the branch's ``version``. A commit does the same
and also inserts the snapshot and one webhook delivery per matching webhook, so a commit is
never stored without its deliveries. Writes that carry an idempotency key store their reply
in the same transaction; a repeat of the key replays it.

Database trouble becomes ``503 unavailable`` with ``Retry-After``; nothing here answers 500
for a driver error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

import pydantic_core
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from moxtrace.server.errors import ApiError, not_found, unavailable
from moxtrace.server.registry import tables
from moxtrace.server.registry.state import EditError, TaskState, Version, prompt_json
from moxtrace.server.store import Store
from moxtrace.webhooks import COMMIT_CREATED

__all__ = [
    "BranchRow",
    "CommitRow",
    "IdempotencyKey",
    "RegistryStore",
    "Reply",
    "WebhookRow",
    "now_us",
]

_log = logging.getLogger("moxtrace.server.registry")
T = TypeVar("T")

IDEMPOTENCY_TTL_US = 24 * 3600 * 1_000_000


def now_us() -> int:
    """Microseconds since the Unix epoch."""
    return int(time.time() * 1e6)


def iso(us: int | None) -> str | None:
    """An ``*_us`` time as ISO 8601 (UTC), or ``None``."""
    if us is None:
        return None
    seconds, micros = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def conflict(code: str, message: str, details: Any = None) -> ApiError:
    """409 with a specific code (``head_moved``, ``nothing_to_commit``...)."""
    return ApiError(409, code, message, details=details)


def edit_error(exc: EditError) -> ApiError:
    """The ``ApiError`` of an edit that could not be applied."""
    if exc.status == 404:
        return not_found(exc.message)
    return ApiError(exc.status, "invalid_payload", exc.message)


@dataclass(frozen=True)
class BranchRow:
    """A branch, without its state."""

    id: str
    task_id: str
    name: str
    head_commit_id: str | None
    created_from_commit_id: str | None
    version: int
    dirty: bool
    created_us: int
    last_committed_us: int | None

    def json(self) -> dict[str, Any]:
        """The ``Branch`` shape of the API."""
        return {
            "id": self.id,
            "name": self.name,
            "task_id": self.task_id,
            "head_commit_id": self.head_commit_id,
            "created_from_commit_id": self.created_from_commit_id,
            "created_at": iso(self.created_us),
        }

    @property
    def version_stamp(self) -> Version:
        """What a read of this branch is stamped with."""
        return Version(branch_id=UUID(self.id), branch_name=self.name)


@dataclass(frozen=True)
class CommitRow:
    """A commit, without its snapshot."""

    id: str
    task_id: str
    branch_id: str
    branch_name: str
    parent_commit_id: str | None
    message: str | None
    created_us: int

    def json(self) -> dict[str, Any]:
        """The ``Commit`` shape of the API."""
        return {
            "id": self.id,
            "task_id": self.task_id,
            "message": self.message,
            "parent_commit_id": self.parent_commit_id,
            "created_at": iso(self.created_us),
            "branch_id": self.branch_id,
            "branch_name": self.branch_name,
        }


@dataclass(frozen=True)
class WebhookRow:
    """A registered webhook and its secrets."""

    id: str
    url: str
    task_id: str | None
    events: list[str]
    secret: str
    previous_secret: str | None
    previous_until_us: int | None
    created_us: int
    deleted_us: int | None

    def json(self, *, with_secret: bool = False) -> dict[str, Any]:
        """The ``Webhook`` shape of the API (the secret only when asked)."""
        data: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "task_id": self.task_id,
            "events": self.events,
            "created_at": iso(self.created_us),
        }
        if with_secret:
            data["secret"] = self.secret
        return data

    def secrets(self, at_us: int) -> list[str]:
        """The secrets that sign a delivery now: the current one, and the previous one
        during its grace period."""
        found = [self.secret]
        if self.previous_secret and (self.previous_until_us or 0) > at_us:
            found.append(self.previous_secret)
        return found


@dataclass(frozen=True)
class IdempotencyKey:
    """A request's ``X-Moxn-Idempotency-Key`` and the fingerprint of what it asked."""

    key: str
    fingerprint: str

    @classmethod
    def of(cls, key: str, method: str, path: str, query: str, body: bytes) -> IdempotencyKey:
        """The key with a fingerprint of method, path, query and body."""
        digest = hashlib.sha256()
        for part in (method.encode(), path.encode(), query.encode(), body):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return cls(key, digest.hexdigest())


@dataclass
class Reply:
    """What a write answers: status and ``data`` (or a stored envelope, when replayed)."""

    status_code: int
    data: Any = None
    replayed_body: bytes | None = None
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def envelope(self) -> bytes:
        """The reply's envelope as JSON bytes."""
        if self.replayed_body is not None:
            return self.replayed_body
        return pydantic_core.to_json({"success": True, "data": self.data, "error": None})


def _branch(row: Row[Any]) -> BranchRow:
    m = row._mapping
    return BranchRow(
        id=m["id"],
        task_id=m["task_id"],
        name=m["name"],
        head_commit_id=m["head_commit_id"],
        created_from_commit_id=m["created_from_commit_id"],
        version=int(m["version"]),
        dirty=bool(m["dirty"]),
        created_us=int(m["created_us"]),
        last_committed_us=m["last_committed_us"],
    )


def _commit(row: Row[Any]) -> CommitRow:
    m = row._mapping
    return CommitRow(
        id=m["id"],
        task_id=m["task_id"],
        branch_id=m["branch_id"],
        branch_name=m["branch_name"],
        parent_commit_id=m["parent_commit_id"],
        message=m["message"],
        created_us=int(m["created_us"]),
    )


def _webhook(row: Row[Any]) -> WebhookRow:
    m = row._mapping
    return WebhookRow(
        id=m["id"],
        url=m["url"],
        task_id=m["task_id"],
        events=json.loads(m["events"]),
        secret=m["secret"],
        previous_secret=m["previous_secret"],
        previous_until_us=m["previous_until_us"],
        created_us=int(m["created_us"]),
        deleted_us=m["deleted_us"],
    )


_BRANCH_COLUMNS = [c for c in tables.branches.c if c.name != "state"]
_COMMIT_COLUMNS = [c for c in tables.commits.c if c.name != "snapshot"]


class RegistryStore:
    """Tasks, branches, commits, webhooks and idempotent replies of every tenant.

    Args:
        store: the server's store (engine, write lock).
        retry_after: ``Retry-After`` seconds of a 503.
        snapshot_cache: commit snapshots kept parsed in memory (they never change).
    """

    def __init__(self, store: Store, retry_after: int = 1, snapshot_cache: int = 256) -> None:
        self._store = store
        self._retry_after = retry_after
        self._snapshots: OrderedDict[tuple[str, str], TaskState] = OrderedDict()
        self._snapshot_cache = snapshot_cache
        self.dialect = store.dialect

    # -- plumbing -------------------------------------------------------------------------------
    @asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        try:
            yield
        except ApiError:
            raise
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
            _log.warning("registry: store unavailable: %s", exc)
            raise unavailable(
                f"store unavailable: {type(exc).__name__}; retry later", self._retry_after
            ) from None
        except (OSError, TimeoutError) as exc:
            _log.warning("registry: store unreachable: %r", exc)
            raise unavailable("store unavailable; retry later", self._retry_after) from None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction of its own (no idempotency); database errors become 503."""
        async with self._errors(), self._store.write() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read connection; database errors become 503."""
        async with self._errors(), self._store.read() as conn:
            yield conn

    async def write(
        self,
        tenant: str,
        idem: IdempotencyKey | None,
        op: Callable[[AsyncConnection], Awaitable[Reply]],
    ) -> Reply:
        """Run ``op`` in one write transaction; with a key, store or replay its reply."""
        if idem is not None:
            stored = await self._replay(tenant, idem)
            if stored is not None:
                return stored
        try:
            async with self._errors(), self._store.write() as conn:
                reply = await op(conn)
                if idem is not None:
                    await conn.execute(
                        insert(tables.idempotency).values(
                            tenant=tenant,
                            key=idem.key,
                            fingerprint=idem.fingerprint,
                            status_code=reply.status_code,
                            body=reply.envelope().decode(),
                            created_us=now_us(),
                        )
                    )
        except sa_exc.IntegrityError:
            # A concurrent request with the same key won, or a unique name was taken.
            if idem is not None:
                stored = await self._replay(tenant, idem)
                if stored is not None:
                    return stored
            raise conflict(
                "concurrent_write", "a concurrent request changed the same data; retry"
            ) from None
        for hook in reply.after_commit:
            hook()
        return reply

    async def _replay(self, tenant: str, idem: IdempotencyKey) -> Reply | None:
        t = tables.idempotency
        async with self.read() as conn:
            row = (
                await conn.execute(
                    select(t.c.fingerprint, t.c.status_code, t.c.body, t.c.created_us).where(
                        t.c.tenant == tenant, t.c.key == idem.key
                    )
                )
            ).first()
        if row is None or row[3] < now_us() - IDEMPOTENCY_TTL_US:
            return None
        if row[0] != idem.fingerprint:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "X-Moxn-Idempotency-Key was already used for another request; use a new key "
                "for each call",
            )
        return Reply(int(row[1]), replayed_body=row[2].encode())

    async def purge_idempotency(self, older_than_us: int) -> int:
        """Forget replies stored before ``older_than_us``; how many."""
        t = tables.idempotency
        async with self._errors(), self._store.write() as conn:
            result = await conn.execute(delete(t).where(t.c.created_us < older_than_us))
            return int(result.rowcount)

    # -- reads ----------------------------------------------------------------------------------
    async def task_of(self, conn: AsyncConnection, tenant: str, anchor_id: str, kind: str) -> str:
        """The task an anchor id belongs to; 404 when the tenant has no such thing."""
        t = tables.anchors
        task_id = (
            await conn.execute(
                select(t.c.task_id).where(
                    t.c.tenant == tenant, t.c.id == anchor_id, t.c.kind == kind
                )
            )
        ).scalar()
        if task_id is None:
            raise not_found(f"no {kind} {anchor_id}")
        return str(task_id)

    async def anchor_on_branch(
        self, conn: AsyncConnection, tenant: str, anchor_id: str, kind: str, branch_name: str
    ) -> tuple[str, BranchRow, str]:
        """The task of an anchor id and that task's branch (with its state), in one query.

        404 when the tenant has no such thing, or its task no such branch.
        """
        a, b = tables.anchors, tables.branches
        row = (
            await conn.execute(
                select(a.c.task_id, b)
                .select_from(a)
                .outerjoin(
                    b,
                    (b.c.tenant == a.c.tenant)
                    & (b.c.task_id == a.c.task_id)
                    & (b.c.name == branch_name),
                )
                .where(a.c.tenant == tenant, a.c.id == anchor_id, a.c.kind == kind)
            )
        ).first()
        if row is None:
            raise not_found(f"no {kind} {anchor_id}")
        task_id = str(row._mapping["task_id"])
        if row._mapping["id"] is None:
            raise not_found(f"task {task_id} has no branch {branch_name!r}")
        return task_id, _branch(row), row._mapping["state"]

    async def require_task(self, conn: AsyncConnection, tenant: str, task_id: str) -> None:
        """404 unless the tenant has the task."""
        t = tables.tasks
        found = (
            await conn.execute(select(t.c.id).where(t.c.tenant == tenant, t.c.id == task_id))
        ).scalar()
        if found is None:
            raise not_found(f"no task {task_id}")

    async def branch(
        self,
        conn: AsyncConnection,
        tenant: str,
        task_id: str,
        name: str,
        *,
        with_state: bool = False,
        for_update: bool = False,
    ) -> tuple[BranchRow, str | None]:
        """A branch (and its state JSON); 404 when the task has no such branch."""
        t = tables.branches
        columns = [*_BRANCH_COLUMNS, t.c.state] if with_state else _BRANCH_COLUMNS
        query = select(*columns).where(
            t.c.tenant == tenant, t.c.task_id == task_id, t.c.name == name
        )
        if for_update:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            raise not_found(f"task {task_id} has no branch {name!r}")
        return _branch(row), (row._mapping["state"] if with_state else None)

    async def branches(self, conn: AsyncConnection, tenant: str, task_id: str) -> list[BranchRow]:
        """The task's branches, oldest first."""
        t = tables.branches
        rows = await conn.execute(
            select(*_BRANCH_COLUMNS)
            .where(t.c.tenant == tenant, t.c.task_id == task_id)
            .order_by(t.c.created_us, t.c.name)
        )
        return [_branch(r) for r in rows]

    async def commit(self, conn: AsyncConnection, tenant: str, commit_id: str) -> CommitRow:
        """A commit; 404 when the tenant has none with that id."""
        t = tables.commits
        row = (
            await conn.execute(
                select(*_COMMIT_COLUMNS).where(t.c.tenant == tenant, t.c.id == commit_id)
            )
        ).first()
        if row is None:
            raise not_found(f"no commit {commit_id}")
        return _commit(row)

    async def snapshot(self, conn: AsyncConnection, tenant: str, commit_id: str) -> TaskState:
        """A commit's snapshot, parsed (kept in a bounded cache: it never changes).

        Callers must not change the state they get.
        """
        key = (tenant, commit_id)
        cached = self._snapshots.get(key)
        if cached is not None:
            self._snapshots.move_to_end(key)
            return cached
        t = tables.commits
        text = (
            await conn.execute(
                select(t.c.snapshot).where(t.c.tenant == tenant, t.c.id == commit_id)
            )
        ).scalar()
        if text is None:
            raise not_found(f"no commit {commit_id}")
        state = TaskState.model_validate_json(text)
        if self._snapshot_cache:
            self._snapshots[key] = state
            while len(self._snapshots) > self._snapshot_cache:
                self._snapshots.popitem(last=False)
        return state

    async def commits(
        self, conn: AsyncConnection, tenant: str, task_id: str, branch: BranchRow, limit: int
    ) -> list[CommitRow]:
        """A branch's history from its head, newest first, following parents."""
        out: list[CommitRow] = []
        next_id = branch.head_commit_id or branch.created_from_commit_id
        while next_id is not None and len(out) < limit:
            found = await self.commit(conn, tenant, next_id)
            if found.task_id != task_id:
                break
            out.append(found)
            next_id = found.parent_commit_id
        return out

    async def webhooks(self, conn: AsyncConnection, tenant: str) -> list[WebhookRow]:
        """The tenant's live webhooks, oldest first."""
        t = tables.webhooks
        rows = await conn.execute(
            select(t)
            .where(t.c.tenant == tenant, t.c.deleted_us.is_(None))
            .order_by(t.c.created_us, t.c.id)
        )
        return [_webhook(r) for r in rows]

    async def webhook(self, conn: AsyncConnection, tenant: str, webhook_id: str) -> WebhookRow:
        """A live webhook; 404 otherwise."""
        t = tables.webhooks
        row = (
            await conn.execute(
                select(t).where(
                    t.c.tenant == tenant, t.c.id == webhook_id, t.c.deleted_us.is_(None)
                )
            )
        ).first()
        if row is None:
            raise not_found(f"no webhook {webhook_id}")
        return _webhook(row)

    # -- writes (inside ``write``) -----------------------------------------------------------
    async def add_anchors(
        self, conn: AsyncConnection, tenant: str, task_id: str, kind: str, ids: list[UUID]
    ) -> None:
        """Record new anchor ids of ``kind`` for ``task_id``."""
        if ids:
            await conn.execute(
                insert(tables.anchors),
                [{"tenant": tenant, "id": str(i), "kind": kind, "task_id": task_id} for i in ids],
            )

    async def insert_branch(
        self,
        conn: AsyncConnection,
        tenant: str,
        task_id: str,
        name: str,
        state: TaskState,
        *,
        created_from: str | None,
        dirty: bool,
    ) -> BranchRow:
        """A new branch; 409 ``branch_exists`` when the name is taken."""
        t = tables.branches
        taken = (
            await conn.execute(
                select(t.c.id).where(t.c.tenant == tenant, t.c.task_id == task_id, t.c.name == name)
            )
        ).scalar()
        if taken is not None:
            raise conflict("branch_exists", f"task {task_id} already has a branch {name!r}")
        stamp = now_us()
        row = BranchRow(
            id=str(uuid.uuid4()),
            task_id=task_id,
            name=name,
            head_commit_id=None,
            created_from_commit_id=created_from,
            version=1,
            dirty=dirty,
            created_us=stamp,
            last_committed_us=None,
        )
        await conn.execute(
            insert(t).values(
                tenant=tenant,
                id=row.id,
                task_id=task_id,
                name=name,
                head_commit_id=None,
                created_from_commit_id=created_from,
                state=state.model_dump_json(),
                version=row.version,
                dirty=int(dirty),
                created_us=stamp,
                updated_us=stamp,
                last_committed_us=None,
            )
        )
        return row

    async def edit(
        self,
        conn: AsyncConnection,
        tenant: str,
        task_id: str,
        branch_name: str,
        apply: Callable[[TaskState], T],
    ) -> tuple[T, BranchRow, TaskState]:
        """Apply ``apply`` to a branch's state and save it (the branch becomes dirty)."""
        branch, text = await self.branch(
            conn, tenant, task_id, branch_name, with_state=True, for_update=True
        )
        assert text is not None
        state = TaskState.model_validate_json(text)
        try:
            result = apply(state)
        except EditError as exc:
            raise edit_error(exc) from None
        t = tables.branches
        saved = await conn.execute(
            update(t)
            .where(t.c.tenant == tenant, t.c.id == branch.id, t.c.version == branch.version)
            .values(
                state=state.model_dump_json(),
                version=branch.version + 1,
                dirty=1,
                updated_us=now_us(),
            )
        )
        if saved.rowcount != 1:
            raise conflict("concurrent_write", f"branch {branch_name!r} changed meanwhile; retry")
        return result, branch, state

    async def commit_branch(
        self,
        conn: AsyncConnection,
        tenant: str,
        task_id: str,
        branch_name: str,
        message: str | None,
        expected_head: str | None,
        check_head: bool,
    ) -> tuple[CommitRow, TaskState]:
        """Snapshot a branch as a new commit, with its webhook deliveries.

        409 ``head_moved`` when ``check_head`` and the head is not ``expected_head``;
        409 ``nothing_to_commit`` when the branch has no uncommitted changes.
        """
        branch, text = await self.branch(
            conn, tenant, task_id, branch_name, with_state=True, for_update=True
        )
        assert text is not None
        if check_head and branch.head_commit_id != expected_head:
            raise conflict(
                "head_moved",
                f"branch {branch_name!r} is at commit {branch.head_commit_id}, not "
                f"{expected_head}: another commit won; read the branch again",
                {"head_commit_id": branch.head_commit_id},
            )
        if not branch.dirty:
            raise conflict(
                "nothing_to_commit",
                f"branch {branch_name!r} has no uncommitted changes"
                + (f" since commit {branch.head_commit_id}" if branch.head_commit_id else ""),
                {"head_commit_id": branch.head_commit_id},
            )
        stamp = now_us()
        commit = CommitRow(
            id=uuid.uuid4().hex,
            task_id=task_id,
            branch_id=branch.id,
            branch_name=branch.name,
            parent_commit_id=branch.head_commit_id or branch.created_from_commit_id,
            message=message,
            created_us=stamp,
        )
        await conn.execute(
            insert(tables.commits).values(
                tenant=tenant,
                id=commit.id,
                task_id=task_id,
                branch_id=branch.id,
                branch_name=branch.name,
                parent_commit_id=commit.parent_commit_id,
                message=message,
                snapshot=text,
                created_us=stamp,
            )
        )
        t = tables.branches
        moved = await conn.execute(
            update(t)
            .where(t.c.tenant == tenant, t.c.id == branch.id, t.c.version == branch.version)
            .values(
                head_commit_id=commit.id,
                version=branch.version + 1,
                dirty=0,
                updated_us=stamp,
                last_committed_us=stamp,
            )
        )
        if moved.rowcount != 1:
            raise conflict("head_moved", f"branch {branch_name!r} moved meanwhile; read it again")
        state = TaskState.model_validate_json(text)
        await self._enqueue_commit_event(conn, tenant, commit, state)
        return commit, state

    async def _enqueue_commit_event(
        self, conn: AsyncConnection, tenant: str, commit: CommitRow, state: TaskState
    ) -> None:
        t = tables.webhooks
        rows = await conn.execute(
            select(t.c.id, t.c.task_id, t.c.events).where(
                t.c.tenant == tenant, t.c.deleted_us.is_(None)
            )
        )
        targets = [
            r[0]
            for r in rows
            if (r[1] is None or r[1] == commit.task_id) and COMMIT_CREATED in json.loads(r[2])
        ]
        if not targets:
            return
        stamp = now_us()
        body = json.dumps(
            {
                "id": "evt_" + uuid.uuid4().hex,
                "type": COMMIT_CREATED,
                "created_at": stamp // 1_000_000,
                "tenant_id": tenant,
                "data": {
                    "task_id": commit.task_id,
                    "branch_id": commit.branch_id,
                    "branch_name": commit.branch_name,
                    "commit_id": commit.id,
                    "parent_commit_id": commit.parent_commit_id,
                    "message": commit.message,
                    "committed_at": iso(commit.created_us),
                    "prompt_ids": list(state.prompts),
                },
            },
            separators=(",", ":"),
        )
        event_id = json.loads(body)["id"]
        await conn.execute(
            insert(tables.deliveries),
            [
                {
                    "tenant": tenant,
                    "webhook_id": webhook_id,
                    "event_id": event_id,
                    "event_type": COMMIT_CREATED,
                    "body": body,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_us": stamp,
                    "lease_until_us": None,
                    "last_status_code": None,
                    "last_error": None,
                    "created_us": stamp,
                    "delivered_us": None,
                }
                for webhook_id in targets
            ],
        )

    async def task_json_parts(
        self, conn: AsyncConnection, tenant: str, task_id: str
    ) -> list[dict[str, Any]]:
        """The ``branches`` member of a ``Task``."""
        return [b.json() for b in await self.branches(conn, tenant, task_id)]

    async def count_deliveries(self, conn: AsyncConnection, status: str) -> int:
        """Deliveries in ``status`` (all tenants)."""
        t = tables.deliveries
        result = await conn.execute(select(func.count()).select_from(t).where(t.c.status == status))
        return int(result.scalar_one())


def read_prompt(state: TaskState, prompt_id: str, task_id: str, version: Version) -> dict[str, Any]:
    """A prompt of ``state`` in the API shape; 404 when this version does not have it."""
    try:
        prompt = state.prompt(UUID(prompt_id))
    except EditError as exc:
        raise edit_error(exc) from None
    return prompt_json(state, prompt, UUID(task_id), version)
