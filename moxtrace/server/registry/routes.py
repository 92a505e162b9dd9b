"""The registry's HTTP routes (docs/registry-api.md).

Every route authenticates (``x-api-key``), counts against the tenant's rate limit (429 with
``Retry-After``) and answers with the ``{success, data, error}`` envelope and an
``x-request-id``. Writes read their body within the server's body limit, validate it whole
(400 naming the field), run in one transaction, and honour ``X-Moxn-Idempotency-Key``.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from uuid import UUID

import anyio.to_thread
from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from moxtrace._version import __version__
from moxtrace.codegen import CodegenUnavailableError
from moxtrace.codegen import generate_models as generate_code
from moxtrace.server.apikeys import parse_api_key
from moxtrace.server.auth import api_key_from
from moxtrace.server.body import read_body
from moxtrace.server.envelope import failure, success
from moxtrace.server.errors import ApiError, invalid_payload, not_found
from moxtrace.server.registry import tables
from moxtrace.server.registry.payloads import (
    CommitBody,
    CreateBranchBody,
    CreateMessageBody,
    CreatePromptBody,
    CreatePropertyBody,
    CreateTaskBody,
    CreateWebhookBody,
    GenerateModelsBody,
    MessageRef,
    RotateSecretBody,
    UpdateMessageBody,
    UpdatePromptBody,
    UpdatePropertyBody,
    check_branch_name,
    parse_body,
)
from moxtrace.server.registry.service import Registry, registry_of
from moxtrace.server.registry.state import (
    TaskState,
    Version,
    message_json,
    property_json,
    task_json,
)
from moxtrace.server.registry.store import IdempotencyKey, Reply, iso, now_us, read_prompt
from moxtrace.server.services import Services, services_of
from moxtrace.types.task import Task

__all__ = ["router"]

IDEMPOTENCY_HEADER = "x-moxn-idempotency-key"
M = TypeVar("M", bound=BaseModel)


class _RegistryRoute(APIRoute):
    """Adds ``x-request-id`` to every reply, errors included."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
            try:
                response = await handler(request)
            except ApiError as exc:
                response = failure(exc)
            response.headers["x-request-id"] = request_id[:64]
            return response

        return run


router = APIRouter(tags=["registry"], route_class=_RegistryRoute)


# -- plumbing -------------------------------------------------------------------------------------
async def _begin(request: Request) -> tuple[Services, Registry, str]:
    services = services_of(request)
    tenant = await services.auth.authenticate(request)
    services.check_rate(tenant)
    return services, registry_of(request), tenant


async def _read(request: Request, services: Services, model: type[M]) -> tuple[M, bytes]:
    raw = await read_body(request, services.settings.max_body_bytes)
    return parse_body(model, raw), raw


def _idempotency(request: Request, raw: bytes) -> IdempotencyKey | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key:
        return None
    if len(key) > 200:
        raise invalid_payload("X-Moxn-Idempotency-Key: at most 200 characters")
    return IdempotencyKey.of(key, request.method, request.url.path, request.url.query, raw)


def _respond(reply: Reply) -> Response:
    headers = {"x-moxn-idempotent-replay": "true"} if reply.replayed_body is not None else None
    return Response(
        reply.envelope(), reply.status_code, headers=headers, media_type="application/json"
    )


def _uuid(kind: str, value: str) -> str:
    """A path id as a canonical UUID; 404 when it cannot be one."""
    try:
        return str(UUID(value))
    except ValueError:
        raise not_found(f"no {kind} {value}") from None


def _selector(branch_name: str | None, commit_id: str | None) -> None:
    if branch_name is not None and commit_id is not None:
        raise ApiError(
            422,
            "invalid_version_selector",
            "give exactly one of branch_name or commit_id (got both)",
        )
    if branch_name is None and commit_id is None:
        raise ApiError(
            422,
            "invalid_version_selector",
            "give exactly one of branch_name or commit_id (got neither)",
        )


async def _state_at(
    registry: Registry,
    conn: AsyncConnection,
    tenant: str,
    task_id: str,
    branch_name: str | None,
    commit_id: str | None,
) -> tuple[TaskState, Version, dict[str, Any] | None]:
    """The task's state at a branch or a commit, its stamp, and its last commit (JSON)."""
    store = registry.store
    if commit_id is not None:
        commit = await store.commit(conn, tenant, commit_id)
        if commit.task_id != task_id:
            raise not_found(f"task {task_id} has no commit {commit_id}")
        return (
            await store.snapshot(conn, tenant, commit_id),
            Version(commit_id=commit_id),
            (commit.json()),
        )
    assert branch_name is not None
    branch, text = await store.branch(conn, tenant, task_id, branch_name, with_state=True)
    assert text is not None
    head = None
    if branch.head_commit_id is not None:
        head = (await store.commit(conn, tenant, branch.head_commit_id)).json()
    return TaskState.model_validate_json(text), branch.version_stamp, head


# -- reading --------------------------------------------------------------------------------------
@router.get("/prompts/{prompt_id}", summary="A prompt at a branch or a commit")
async def get_prompt(
    request: Request,
    prompt_id: str,
    branch_name: str | None = None,
    commit_id: str | None = None,
) -> Response:
    """The ``PromptTemplate`` (exactly one of ``branch_name`` / ``commit_id``)."""
    _, registry, tenant = await _begin(request)
    _selector(branch_name, commit_id)
    prompt_id = _uuid("prompt", prompt_id)
    async with registry.store.read() as conn:
        if branch_name is not None:  # the hot path: one query
            task_id, branch, text = await registry.store.anchor_on_branch(
                conn, tenant, prompt_id, "prompt", branch_name
            )
            state, version = TaskState.model_validate_json(text), branch.version_stamp
        else:
            task_id = await registry.store.task_of(conn, tenant, prompt_id, "prompt")
            state, version, _ = await _state_at(
                registry, conn, tenant, task_id, branch_name, commit_id
            )
    return success(read_prompt(state, prompt_id, task_id, version))


@router.get("/tasks/{task_id}", summary="A task at a branch or a commit")
async def get_task(
    request: Request,
    task_id: str,
    branch_name: str | None = None,
    commit_id: str | None = None,
) -> Response:
    """The ``Task``: prompts, schema definitions, branches, last commit."""
    _, registry, tenant = await _begin(request)
    _selector(branch_name, commit_id)
    task_id = _uuid("task", task_id)
    async with registry.store.read() as conn:
        await registry.store.require_task(conn, tenant, task_id)
        state, version, last = await _state_at(
            registry, conn, tenant, task_id, branch_name, commit_id
        )
        branches = await registry.store.task_json_parts(conn, tenant, task_id)
    return success(task_json(state, UUID(task_id), version, branches, last))


@router.get("/branches/{branch_name:path}/head", summary="Where a branch stands")
async def branch_head(request: Request, branch_name: str, task_id: str | None = None) -> Response:
    """``BranchHeadResponse``: effective commit, uncommitted changes, last commit time."""
    _, registry, tenant = await _begin(request)
    if not task_id:
        raise invalid_payload("task_id: required (GET /branches/{name}/head?task_id=...)")
    task_id = _uuid("task", task_id)
    async with registry.store.read() as conn:
        await registry.store.require_task(conn, tenant, task_id)
        branch, _ = await registry.store.branch(conn, tenant, task_id, branch_name)
    return success(
        {
            "task_id": task_id,
            "branch_id": branch.id,
            "branch_name": branch.name,
            "head_commit_id": branch.head_commit_id,
            "effective_commit_id": branch.head_commit_id or branch.created_from_commit_id,
            "has_uncommitted_changes": branch.dirty,
            "last_committed_at": iso(branch.last_committed_us),
        }
    )


@router.get("/debug/whoami", summary="The identity of the API key")
async def whoami(request: Request) -> Response:
    """``{"tenant_id", "key_id", "server_version"}``."""
    _, _, tenant = await _begin(request)
    raw = api_key_from(request)
    parsed = parse_api_key(raw) if raw else None
    return success(
        {
            "tenant_id": tenant,
            "key_id": parsed.key_id if parsed else None,
            "server_version": __version__,
        }
    )


# -- creating -------------------------------------------------------------------------------------
@router.post("/tasks", summary="Create a task and its first branch", status_code=201)
async def create_task(request: Request) -> Response:
    """The new ``Task``, read from its branch."""
    services, registry, tenant = await _begin(request)
    body, raw = await _read(request, services, CreateTaskBody)
    check_branch_name(body.branch_name)

    async def op(conn: AsyncConnection) -> Reply:
        task_id = str(uuid.uuid4())
        await conn.execute(
            tables.tasks.insert().values(
                tenant=tenant, id=task_id, name=body.name, created_us=now_us()
            )
        )
        state = TaskState(name=body.name, description=body.description)
        branch = await registry.store.insert_branch(
            conn, tenant, task_id, body.branch_name, state, created_from=None, dirty=True
        )
        data = task_json(state, UUID(task_id), branch.version_stamp, [branch.json()], None)
        return Reply(201, data)

    return _respond(await registry.store.write(tenant, _idempotency(request, raw), op))


@router.post("/prompts", summary="Create a prompt on a branch", status_code=201)
async def create_prompt(request: Request) -> Response:
    """The new ``PromptTemplate``; new messages are created, references shared."""
    services, registry, tenant = await _begin(request)
    body, raw = await _read(request, services, CreatePromptBody)
    task_id = str(body.task_id)

    async def op(conn: AsyncConnection) -> Reply:
        await registry.store.require_task(conn, tenant, task_id)
        created: list[UUID] = []

        def apply(state: TaskState) -> Any:
            message_ids: list[UUID] = []
            for item in body.messages:
                if isinstance(item, MessageRef):
                    state.message(item.message_id)
                    message_ids.append(item.message_id)
                else:
                    message = state.add_message(
                        name=item.name,
                        role=item.role,
                        blocks=item.stored_blocks(),
                        description=item.description,
                        author=item.author,
                    )
                    created.append(message.id)
                    message_ids.append(message.id)
            return state.add_prompt(
                name=body.name,
                message_ids=message_ids,
                description=body.description,
                tools=[t.model_dump(mode="json", by_alias=True) for t in body.tools],
                completion_config=(
                    body.completion_config.model_dump(mode="json")
                    if body.completion_config
                    else None
                ),
            )

        prompt, branch, state = await registry.store.edit(
            conn, tenant, task_id, body.branch_name, apply
        )
        await registry.store.add_anchors(conn, tenant, task_id, "message", created)
        await registry.store.add_anchors(conn, tenant, task_id, "prompt", [prompt.id])
        await registry.store.add_anchors(conn, tenant, task_id, "schema", [prompt.schema_id])
        data = read_prompt(state, str(prompt.id), task_id, branch.version_stamp)
        return Reply(201, data)

    return _respond(await registry.store.write(tenant, _idempotency(request, raw), op))


# -- editing a branch -----------------------------------------------------------------------------
@router.post("/messages", summary="Create a message on a branch", status_code=201)
async def create_message(request: Request) -> Response:
    """The new ``Message`` (to share between prompts)."""
    services, registry, tenant = await _begin(request)
    body, raw = await _read(request, services, CreateMessageBody)
    task_id = str(body.task_id)

    async def op(conn: AsyncConnection) -> Reply:
        await registry.store.require_task(conn, tenant, task_id)
        message, _, _ = await registry.store.edit(
            conn,
            tenant,
            task_id,
            body.branch_name,
            lambda state: state.add_message(
                name=body.name,
                role=body.role,
                blocks=body.stored_blocks(),
                description=body.description,
                author=body.author,
            ),
        )
        await registry.store.add_anchors(conn, tenant, task_id, "message", [message.id])
        return Reply(201, message_json(message, UUID(task_id)))

    return _respond(await registry.store.write(tenant, _idempotency(request, raw), op))


def _branch_param(branch_name: str | None) -> str:
    if not branch_name:
        raise invalid_payload("branch_name: required (the branch to edit)")
    return branch_name


@router.patch("/messages/{message_id}", summary="Change a message on a branch")
async def update_message(
    request: Request, message_id: str, branch_name: str | None = None
) -> Response:
    """The changed ``Message``; every prompt of the branch using it follows."""
    services, registry, tenant = await _begin(request)
    branch = _branch_param(branch_name)
    message_id = _uuid("message", message_id)
    body, raw = await _read(request, services, UpdateMessageBody)
    changes = body.changes()

    async def op(conn: AsyncConnection) -> Reply:
        task_id = await registry.store.task_of(conn, tenant, message_id, "message")
        message, _, _ = await registry.store.edit(
            conn, tenant, task_id, branch, lambda s: s.update_message(UUID(message_id), changes)
        )
        return Reply(200, message_json(message, UUID(task_id)))

    return _respond(await registry.store.write(tenant, _idempotency(request, raw), op))


@router.post("/properties", summary="Define a property on a branch", status_code=201)
async def create_property(request: Request) -> Response:
    """The new ``Property``; variables of that name take its definition."""
    services, registry, tenant = await _begin(request)
    body, raw = await _read(request, services, CreatePropertyBody)
    task_id = str(body.task_id)

    async def op(conn: AsyncConnection) -> Reply:
        await registry.store.require_task(conn, tenant, task_id)
        prop, _, _ = await registry.store.edit(
            conn,
            tenant,
            task_id,
            body.branch_name,
            lambda s: s.add_property(
                name=body.name, definition=body.definition, description=body.description
            ),
        )
        await registry.store.add_anchors(conn, tenant, task_id, "property", [prop.id])
        return Reply(201, property_json(prop, UUID(task_id)))

    return _respond(await registry.store.write(tenant, _idempotency(request, raw), op))


@router.patch("/properties/{property_id}", summary="Change a property on a branch")
async def update_property(
    request: Request, property_id: str, branch_name: str | None = None
) -> Response:
    """The changed ``Property``; input schemas using it follow."""
    services, registry, tenant = await _begin(request)
    branch = _branch_param(branch_name)
    property_id = _uuid("property", property_id)
    body, raw = await _read(request, services, UpdatePropertyBody)
    changes = body.changes()

    async def op(conn: AsyncConnection) -> Reply:
        task_id = await registry.store.task_of(conn, tenant, property_id, "property")
        prop, _, _ = await registry.store.edit(
            conn, tenant, task_id, branch, lambda s: s.update_property(UUID(property_id), changes)
        )
        return Reply(200, property_json(prop, UUID(task_id)))

    return _respond(await registry.store.write(tenant, _idempotency(request, raw), op))


@router.patch("/prompts/{prompt_id}", summary="Change a prompt on a branch")
async def update_prompt(
    request: Request, prompt_id: str, branch_name: str | None = None
) -> Response:
    """The changed ``PromptTemplate``."""
    services, registry, tenant = await _begin(request)
    branch = _branch_param(branch_name)
    prompt_id = _uuid("prompt", prompt_id)
    body, raw = await _read(request, services, UpdatePromptBody)
    changes = body.changes()

    async def op(conn: AsyncConnection) -> Reply:
        task_id = await registry.store.task_of(conn, tenant, prompt_id, "prompt")
        _, row, state = await registry.store.edit(
            conn, tenant, task_id, branch, lambda s: s.update_prompt(UUID(prompt_id), changes)
        )
        return Reply(200, read_prompt(state, prompt_id, task_id, row.version_stamp))

    return _respond(await registry.store.write(tenant, _idempotency(request, raw), op))


@router.delete("/prompts/{prompt_id}", summary="Remove a prompt from a branch")
async def delete_prompt(
    request: Request, prompt_id: str, branch_name: str | None = None
) -> Response:
    """``{"id", "deleted": true}``; commits keep the prompt."""
    _, registry, tenant = await _begin(request)
    branch = _branch_param(branch_name)
    prompt_id = _uuid("prompt", prompt_id)

    async def op(conn: AsyncConnection) -> Reply:
        task_id = await registry.store.task_of(conn, tenant, prompt_id, "prompt")
        await registry.store.edit(
            conn, tenant, task_id, branch, lambda s: s.delete_prompt(UUID(prompt_id))
        )
        return Reply(200, {"id": prompt_id, "deleted": True})

    return _respond(await registry.store.write(tenant, None, op))


# -- versioning -----------------------------------------------------------------------------------
@router.post("/tasks/{task_id}/commits", summary="Commit a branch", status_code=201)
async def commit(request: Request, task_id: str) -> Response:
    """The new ``Commit``; 409 ``head_moved`` / ``nothing_to_commit`` for the loser of a race."""
    services, registry, tenant = await _begin(request)
    task_id = _uuid("task", task_id)
    body, raw = await _read(request, services, CommitBody)

    async def op(conn: AsyncConnection) -> Reply:
        await registry.store.require_task(conn, tenant, task_id)
        row, _ = await registry.store.commit_branch(
            conn,
            tenant,
            task_id,
            body.branch_name,
            body.message,
            body.expected_head_commit_id,
            body.check_head,
        )
        return Reply(201, row.json(), after_commit=[registry.dispatcher.notify])

    return _respond(await registry.store.write(tenant, _idempotency(request, raw), op))


@router.get("/tasks/{task_id}/commits", summary="A branch's commits, newest first")
async def list_commits(
    request: Request, task_id: str, branch_name: str = "main", limit: int = 50
) -> Response:
    """``[Commit, ...]`` following parents from the head."""
    _, registry, tenant = await _begin(request)
    task_id = _uuid("task", task_id)
    if not 1 <= limit <= 500:
        raise invalid_payload("limit: must be 1-500")
    async with registry.store.read() as conn:
        await registry.store.require_task(conn, tenant, task_id)
        branch, _ = await registry.store.branch(conn, tenant, task_id, branch_name)
        rows = await registry.store.commits(conn, tenant, task_id, branch, limit)
    return success([r.json() for r in rows])


@router.get("/commits/{commit_id}", summary="One commit")
async def get_commit(request: Request, commit_id: str) -> Response:
    """The ``Commit``."""
    _, registry, tenant = await _begin(request)
    async with registry.store.read() as conn:
        row = await registry.store.commit(conn, tenant, commit_id)
    return success(row.json())


@router.post("/tasks/{task_id}/branches", summary="Create a branch from a commit", status_code=201)
async def create_branch(request: Request, task_id: str) -> Response:
    """The new ``Branch``: the commit's snapshot as its working state."""
    services, registry, tenant = await _begin(request)
    task_id = _uuid("task", task_id)
    body, raw = await _read(request, services, CreateBranchBody)
    check_branch_name(body.name)

    async def op(conn: AsyncConnection) -> Reply:
        await registry.store.require_task(conn, tenant, task_id)
        source = await registry.store.commit(conn, tenant, body.from_commit_id)
        if source.task_id != task_id:
            raise not_found(f"task {task_id} has no commit {body.from_commit_id}")
        state = await registry.store.snapshot(conn, tenant, body.from_commit_id)
        branch = await registry.store.insert_branch(
            conn, tenant, task_id, body.name, state, created_from=source.id, dirty=False
        )
        return Reply(201, branch.json())

    return _respond(await registry.store.write(tenant, _idempotency(request, raw), op))


@router.get("/tasks/{task_id}/branches", summary="The task's branches")
async def list_branches(request: Request, task_id: str) -> Response:
    """``[Branch, ...]``."""
    _, registry, tenant = await _begin(request)
    task_id = _uuid("task", task_id)
    async with registry.store.read() as conn:
        await registry.store.require_task(conn, tenant, task_id)
        branches = await registry.store.task_json_parts(conn, tenant, task_id)
    return success(branches)


# -- code generation ------------------------------------------------------------------------------
@router.post("/tasks/{task_id}/generate-models", summary="Pydantic models of the task's schemas")
async def generate_models(
    request: Request,
    task_id: str,
    branch_name: str | None = None,
    commit_id: str | None = None,
) -> Response:
    """``{filename, generated_code, models, ...}`` made by datamodel-code-generator."""
    services, registry, tenant = await _begin(request)
    raw = await read_body(request, services.settings.max_body_bytes)
    if raw.strip() and branch_name is None and commit_id is None:
        selector = parse_body(GenerateModelsBody, raw)
        branch_name, commit_id = selector.branch_name, selector.commit_id
    _selector(branch_name, commit_id)
    task_id = _uuid("task", task_id)
    async with registry.store.read() as conn:
        await registry.store.require_task(conn, tenant, task_id)
        state, version, last = await _state_at(
            registry, conn, tenant, task_id, branch_name, commit_id
        )
    task = Task.model_validate(task_json(state, UUID(task_id), version, [], last))
    try:
        response = await anyio.to_thread.run_sync(generate_code, task)
    except CodegenUnavailableError as exc:
        raise ApiError(501, "codegen_unavailable", str(exc)) from None
    return success(response.model_dump(mode="json"))


# -- webhooks -------------------------------------------------------------------------------------
@router.post("/webhooks", summary="Register a webhook", status_code=201)
async def create_webhook(request: Request) -> Response:
    """The new webhook, with its signing ``secret`` (shown only now)."""
    services, registry, tenant = await _begin(request)
    body, raw = await _read(request, services, CreateWebhookBody)

    async def op(conn: AsyncConnection) -> Reply:
        if body.task_id is not None:
            await registry.store.require_task(conn, tenant, str(body.task_id))
        webhook_id = str(uuid.uuid4())
        secret = body.secret or "whsec_" + secrets.token_hex(32)
        stamp = now_us()
        await conn.execute(
            tables.webhooks.insert().values(
                tenant=tenant,
                id=webhook_id,
                url=body.url,
                task_id=None if body.task_id is None else str(body.task_id),
                events=json.dumps(body.events),
                secret=secret,
                previous_secret=None,
                previous_until_us=None,
                created_us=stamp,
                deleted_us=None,
            )
        )
        row = await registry.store.webhook(conn, tenant, webhook_id)
        return Reply(201, row.json(with_secret=True))

    return _respond(await registry.store.write(tenant, _idempotency(request, raw), op))


@router.get("/webhooks", summary="The tenant's webhooks")
async def list_webhooks(request: Request) -> Response:
    """``[Webhook, ...]`` without secrets."""
    _, registry, tenant = await _begin(request)
    async with registry.store.read() as conn:
        rows = await registry.store.webhooks(conn, tenant)
    return success([r.json() for r in rows])


@router.delete("/webhooks/{webhook_id}", summary="Remove a webhook")
async def delete_webhook(request: Request, webhook_id: str) -> Response:
    """``{"id", "deleted": true}``; pending deliveries to it are dropped."""
    _, registry, tenant = await _begin(request)
    webhook_id = _uuid("webhook", webhook_id)

    async def op(conn: AsyncConnection) -> Reply:
        await registry.store.webhook(conn, tenant, webhook_id)
        t = tables.webhooks
        await conn.execute(
            t.update().where(t.c.tenant == tenant, t.c.id == webhook_id).values(deleted_us=now_us())
        )
        return Reply(200, {"id": webhook_id, "deleted": True})

    return _respond(await registry.store.write(tenant, None, op))


@router.post("/webhooks/{webhook_id}/rotate-secret", summary="Rotate a webhook's secret")
async def rotate_secret(request: Request, webhook_id: str) -> Response:
    """``{"id", "secret"}``; the old secret also signs for ``grace_seconds``."""
    services, registry, tenant = await _begin(request)
    webhook_id = _uuid("webhook", webhook_id)
    body, raw = await _read(request, services, RotateSecretBody)

    async def op(conn: AsyncConnection) -> Reply:
        current = await registry.store.webhook(conn, tenant, webhook_id)
        secret = "whsec_" + secrets.token_hex(32)
        t = tables.webhooks
        await conn.execute(
            t.update()
            .where(t.c.tenant == tenant, t.c.id == webhook_id)
            .values(
                secret=secret,
                previous_secret=current.secret,
                previous_until_us=now_us() + body.grace_seconds * 1_000_000,
            )
        )
        row = await registry.store.webhook(conn, tenant, webhook_id)
        return Reply(200, row.json(with_secret=True))

    return _respond(await registry.store.write(tenant, _idempotency(request, raw), op))


@router.get("/webhooks/{webhook_id}/deliveries", summary="Recent deliveries to a webhook")
async def list_deliveries(request: Request, webhook_id: str, limit: int = 50) -> Response:
    """``[WebhookDelivery, ...]``, newest first."""
    _, registry, tenant = await _begin(request)
    webhook_id = _uuid("webhook", webhook_id)
    if not 1 <= limit <= 500:
        raise invalid_payload("limit: must be 1-500")
    t = tables.deliveries
    async with registry.store.read() as conn:
        await registry.store.webhook(conn, tenant, webhook_id)
        rows = await conn.execute(
            select(t)
            .where(t.c.tenant == tenant, t.c.webhook_id == webhook_id)
            .order_by(t.c.id.desc())
            .limit(limit)
        )
        data = [
            {
                "id": str(r.id),
                "event_id": r.event_id,
                "event_type": r.event_type,
                "status": r.status,
                "attempts": r.attempts,
                "last_status_code": r.last_status_code,
                "last_error": r.last_error,
                "created_at": iso(r.created_us),
                "delivered_at": iso(r.delivered_us),
            }
            for r in rows
        ]
    return success(data)
