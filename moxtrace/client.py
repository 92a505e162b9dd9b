"""``MoxnClient``: the async client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel

from moxtrace._core import ClientCore
from moxtrace._registry import Call, MessageInput, session_target
from moxtrace.codegen import DatamodelCodegenResponse
from moxtrace.http import send_async
from moxtrace.session.session import PromptSession
from moxtrace.tracing.runtime import FlushResult
from moxtrace.types.content import Author, MessageRole, Provider
from moxtrace.types.prompt import Message, PromptTemplate
from moxtrace.types.requests import MessageData
from moxtrace.types.schema import CompletionConfig, Property, SdkTool
from moxtrace.types.task import Branch, BranchHeadResponse, Commit, Task
from moxtrace.types.telemetry import LLMEvent
from moxtrace.webhooks import Webhook, WebhookDelivery

T = TypeVar("T")

__all__ = ["MoxnClient"]


class MoxnClient(ClientCore):
    """The async entry point: prompts, sessions, spans and telemetry.

    Reads ``MOXN_API_KEY`` and ``MOXN_BASE_URL`` from the environment unless given.
    Spans go to a TracerProvider moxtrace owns (or to ``tracer_provider=``); see
    docs/tracing.md.

    >>> async with MoxnClient() as client:
    ...     session = await client.create_prompt_session("prompt-id", branch_name="main")
    ...     async with client.span(session) as span:
    ...         ...

    API calls are retried as docs/errors.md says and raise ``moxtrace.errors.MoxnError``
    subclasses; each is a CLIENT span on the client's tracer.
    """

    _http_client: httpx.AsyncClient | None = None
    _http_loop: asyncio.AbstractEventLoop | None = None
    _http_guard: AsyncGenerator[None, None] | None = None

    async def _http(self) -> httpx.AsyncClient:
        client = self._http_client
        loop = asyncio.get_running_loop()
        if client is None or client.is_closed or self._http_loop is not loop:
            # Created on first use, in the caller's event loop (tracing-only users never
            # open a pool). A pool belongs to its loop: a new loop gets a new pool, and the
            # guard closes each pool when its loop shuts down (asyncio.run does that).
            client = httpx.AsyncClient(follow_redirects=False)
            guard = _close_at_loop_shutdown(client)
            await guard.__anext__()
            self._http_client, self._http_loop, self._http_guard = client, loop, guard
        return client

    async def _send(self, call: Call[T]) -> T:
        assert call.request is not None
        data = await send_async(await self._http(), self._registry.transport.exchange(call.request))
        return call.result(data)

    # -- content: prompts and tasks (docs/prompts.md) ------------------------------------
    async def get_prompt(
        self,
        prompt_id: UUID | str,
        branch_name: str | None = None,
        commit_id: str | None = None,
    ) -> PromptTemplate:
        """A prompt template, by its anchor id, from a branch or a commit (exactly one).

        A commit never changes, so what was read at a commit is cached for good (a bounded
        LRU, ``MOXN_PROMPT_CACHE_SIZE``); a branch is read afresh every time. Each call
        returns a copy of its own: changing it changes nothing for the next caller.

        >>> prompt = await client.get_prompt("prompt-id", branch_name="main")  # latest
        >>> prompt = await client.get_prompt("prompt-id", commit_id="abc123")  # pinned
        """
        call = self._registry.get_prompt(prompt_id, branch_name, commit_id)
        if call.request is None:
            return call.value  # type: ignore[return-value]
        return await self._send(call)

    async def get_task(
        self,
        task_id: UUID | str,
        branch_name: str | None = None,
        commit_id: str | None = None,
    ) -> Task:
        """A whole task (prompts, schema definitions, branches) from a branch or a commit.

        Cached like ``get_prompt``; a task read at a commit also caches its prompts.

        >>> task = await client.get_task("task-id", branch_name="main")
        >>> [prompt.name for prompt in task.prompts]
        ['Product help']
        """
        call = self._registry.get_task(task_id, branch_name, commit_id)
        if call.request is None:
            return call.value  # type: ignore[return-value]
        return await self._send(call)

    async def get_branch_head(
        self, task_id: UUID | str, branch_name: str = "main"
    ) -> BranchHeadResponse:
        """Where a branch stands: the commit to deploy and whether edits are uncommitted.

        >>> head = await client.get_branch_head("task-id", "main")
        >>> prompt = await client.get_prompt("prompt-id", commit_id=head.effective_commit_id)
        """
        return await self._send(self._registry.get_branch_head(task_id, branch_name))

    async def create_task(
        self,
        name: str,
        description: str | None = None,
        branch_name: str = "main",
        *,
        idempotency_key: str | None = None,
    ) -> Task:
        """Create a task, with its first branch (no commit yet).

        >>> task = await client.create_task("Customer Support Bot", "Handles inquiries")
        """
        return await self._send(
            self._registry.create_task(name, description, branch_name, idempotency_key)
        )

    async def create_prompt(
        self,
        task_id: UUID | str,
        name: str,
        messages: Sequence[MessageInput],
        description: str | None = None,
        branch_name: str = "main",
        *,
        completion_config: CompletionConfig | Mapping[str, Any] | None = None,
        tools: Sequence[SdkTool | Mapping[str, Any]] | None = None,
        idempotency_key: str | None = None,
    ) -> PromptTemplate:
        """Create a prompt on a branch. Each message is new (``MessageData`` or a dict of
        that shape) or an existing message of the task (a ``Message`` or its id), shared by
        reference. The input schema is generated from the messages' variables.

        >>> prompt = await client.create_prompt(
        ...     task.id, "Q&A", [MessageData(name="System", role=MessageRole.SYSTEM,
        ...                                  blocks=[[TextContent(text="Be brief.")]])])
        """
        return await self._send(
            self._registry.create_prompt(
                task_id,
                name,
                messages,
                description,
                branch_name,
                completion_config,
                tools,
                idempotency_key,
            )
        )

    async def verify_access(self) -> dict[str, Any]:
        """Check the API key; the identity it stands for (``tenant_id``, ``key_id``).

        >>> (await client.verify_access())["tenant_id"]
        'dev'
        """
        return await self._send(self._registry.verify_access())

    # -- sessions --------------------------------------------------------------------------
    async def create_prompt_session(
        self,
        prompt_id: UUID | str,
        branch_name: str | None = None,
        commit_id: str | None = None,
        session_data: BaseModel | Mapping[str, Any] | None = None,
        *,
        session_id: UUID | None = None,
        render_kwargs: Mapping[str, Any] | None = None,
    ) -> PromptSession:
        """Fetch a prompt (as ``get_prompt``) and pair it with the data it is rendered with.

        ``render_kwargs`` go to ``session_data.render()``; ``session_id`` names the session
        (``moxn.session.id``), a new one by default.

        >>> session = await client.create_prompt_session(
        ...     "prompt-id", branch_name="main", session_data=QueryInput(query="Hello"))
        """
        prompt = await self.get_prompt(prompt_id, branch_name, commit_id)
        return PromptSession(
            prompt, session_data, session_id=session_id, render_kwargs=render_kwargs
        )

    async def prompt_session_from_session_data(
        self,
        session_data: BaseModel,
        branch_name: str | None = None,
        commit_id: str | None = None,
        *,
        session_id: UUID | None = None,
        render_kwargs: Mapping[str, Any] | None = None,
    ) -> PromptSession:
        """A session for the prompt named by ``session_data.moxn_schema_metadata``.

        With neither ``branch_name`` nor ``commit_id``, the version the model was generated
        from is used.

        >>> session = await client.prompt_session_from_session_data(
        ...     QueryInput(query="Hello"), branch_name="main")
        """
        prompt_id, branch_name, commit_id = session_target(session_data, branch_name, commit_id)
        return await self.create_prompt_session(
            prompt_id,
            branch_name,
            commit_id,
            session_data,
            session_id=session_id,
            render_kwargs=render_kwargs,
        )

    # -- code generation -------------------------------------------------------------------
    async def generate_task_models(
        self,
        task_id: UUID | str,
        branch_name: str | None = None,
        commit_id: str | None = None,
        output_dir: Path | str | None = None,
    ) -> DatamodelCodegenResponse:
        """Pydantic models of the task's schemas (branch ``main`` unless told otherwise),
        written to ``output_dir/<filename>`` when ``output_dir`` is given.

        >>> response = await client.generate_task_models("task-id", output_dir="./models")
        >>> print(f"Generated: {response.filename}")
        Generated: support_bot_models.py
        """
        response = await self._send(
            self._registry.generate_task_models(task_id, branch_name, commit_id)
        )
        if output_dir is not None:
            await asyncio.to_thread(response.write, output_dir)
        return response

    # -- editing a branch (docs/prompts.md#editing) ---------------------------------------
    async def create_message(
        self,
        task_id: UUID | str,
        message: MessageData | Mapping[str, Any],
        branch_name: str = "main",
        *,
        idempotency_key: str | None = None,
    ) -> Message:
        """Create a message on a branch, to share between prompts (``update_prompt``)."""
        return await self._send(
            self._registry.create_message(task_id, message, branch_name, idempotency_key)
        )

    async def update_message(
        self,
        message_id: UUID | str,
        branch_name: str = "main",
        *,
        name: str | None = None,
        description: str | None = None,
        role: MessageRole | str | None = None,
        author: Author | str | None = None,
        blocks: Sequence[Sequence[Any]] | None = None,
    ) -> Message:
        """Change a message on a branch (``None``: unchanged). Every prompt of the branch
        that uses it changes with it, input schemas included.

        >>> await client.update_message(msg.id, "main", blocks=[[TextContent(text="Hi")]])
        """
        return await self._send(
            self._registry.update_message(
                message_id,
                branch_name,
                name=name,
                description=description,
                role=role,
                author=author,
                blocks=blocks,
            )
        )

    async def create_property(
        self,
        task_id: UUID | str,
        name: str,
        definition: Mapping[str, Any],
        description: str | None = None,
        branch_name: str = "main",
        *,
        idempotency_key: str | None = None,
    ) -> Property:
        """Define the type of the variables called ``name`` (a JSON Schema)."""
        return await self._send(
            self._registry.create_property(
                task_id, name, definition, description, branch_name, idempotency_key
            )
        )

    async def update_property(
        self,
        property_id: UUID | str,
        branch_name: str = "main",
        *,
        name: str | None = None,
        description: str | None = None,
        definition: Mapping[str, Any] | None = None,
    ) -> Property:
        """Change a property on a branch; the input schemas using it follow."""
        return await self._send(
            self._registry.update_property(
                property_id, branch_name, name=name, description=description, definition=definition
            )
        )

    async def update_prompt(
        self,
        prompt_id: UUID | str,
        branch_name: str = "main",
        *,
        name: str | None = None,
        description: str | None = None,
        messages: Sequence[Message | UUID | str] | None = None,
        completion_config: CompletionConfig | Mapping[str, Any] | None = None,
        tools: Sequence[SdkTool | Mapping[str, Any]] | None = None,
    ) -> PromptTemplate:
        """Change a prompt on a branch; ``messages`` (existing messages of the task, in
        order) replaces its message list."""
        return await self._send(
            self._registry.update_prompt(
                prompt_id,
                branch_name,
                name=name,
                description=description,
                messages=messages,
                completion_config=completion_config,
                tools=tools,
            )
        )

    async def delete_prompt(self, prompt_id: UUID | str, branch_name: str = "main") -> None:
        """Remove a prompt from a branch (commits keep it)."""
        await self._send(self._registry.delete_prompt(prompt_id, branch_name))

    # -- versioning --------------------------------------------------------------------------
    async def commit(
        self,
        task_id: UUID | str,
        branch_name: str = "main",
        message: str | None = None,
        *,
        expected_head_commit_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Commit:
        """Snapshot the branch's working state as a new commit (its new head).

        ``ConflictError`` (409) when another commit won the race: ``head_moved`` if the
        head is no longer ``expected_head_commit_id``, ``nothing_to_commit`` if the
        branch has no uncommitted changes.

        >>> commit = await client.commit(task.id, "main", "tone down the greeting")
        """
        return await self._send(
            self._registry.commit(
                task_id, branch_name, message, expected_head_commit_id, idempotency_key
            )
        )

    async def create_branch(
        self,
        task_id: UUID | str,
        name: str,
        from_commit_id: str,
        *,
        idempotency_key: str | None = None,
    ) -> Branch:
        """Start a branch from a commit.

        >>> branch = await client.create_branch(task.id, "experiment", commit.id)
        """
        return await self._send(
            self._registry.create_branch(task_id, name, from_commit_id, idempotency_key)
        )

    async def list_branches(self, task_id: UUID | str) -> list[Branch]:
        """The task's branches."""
        return await self._send(self._registry.list_branches(task_id))

    async def list_commits(
        self, task_id: UUID | str, branch_name: str = "main", limit: int = 50
    ) -> list[Commit]:
        """A branch's commits, newest first."""
        return await self._send(self._registry.list_commits(task_id, branch_name, limit))

    async def get_commit(self, commit_id: str) -> Commit:
        """One commit (cached: commits never change)."""
        call = self._registry.get_commit(commit_id)
        if call.request is None:
            return call.value  # type: ignore[return-value]
        return await self._send(call)

    # -- webhooks (docs/webhooks.md) -------------------------------------------------------
    async def create_webhook(
        self,
        url: str,
        *,
        task_id: UUID | str | None = None,
        events: Sequence[str] | None = None,
        secret: str | None = None,
        idempotency_key: str | None = None,
    ) -> Webhook:
        """Have the server POST signed events (``commit.created``) to ``url``; the result
        carries the signing ``secret`` (shown only now).

        >>> hook = await client.create_webhook("https://app.example/hooks/moxn")
        >>> WEBHOOK_SECRET = hook.secret
        """
        return await self._send(
            self._registry.create_webhook(url, task_id, events, secret, idempotency_key)
        )

    async def list_webhooks(self) -> list[Webhook]:
        """The tenant's webhooks (without secrets)."""
        return await self._send(self._registry.list_webhooks())

    async def delete_webhook(self, webhook_id: UUID | str) -> None:
        """Stop sending events to a webhook."""
        await self._send(self._registry.delete_webhook(webhook_id))

    async def rotate_webhook_secret(
        self, webhook_id: UUID | str, grace_seconds: int = 86400
    ) -> Webhook:
        """A new signing secret; the old one also signs for ``grace_seconds`` more."""
        return await self._send(self._registry.rotate_webhook_secret(webhook_id, grace_seconds))

    async def list_webhook_deliveries(
        self, webhook_id: UUID | str, limit: int = 50
    ) -> list[WebhookDelivery]:
        """Recent deliveries to a webhook and how they went, newest first."""
        return await self._send(self._registry.list_webhook_deliveries(webhook_id, limit))

    async def log_telemetry_event(self, event: LLMEvent) -> None:
        """Record an LLM call on the active span (or on a short span of its own)."""
        self._record(event)

    async def log_telemetry_event_from_response(
        self, prompt_session: PromptSession, response: Any, provider: Provider
    ) -> None:
        """Parse a provider response (SDK object or dict) and record it in one call."""
        self._record_response(prompt_session, response, provider)

    async def flush(self, timeout: float | None = None) -> FlushResult:
        """Wait for spans handed over so far to be exported, at most ``timeout`` seconds.

        Returns what was still pending; never raises for export failures.
        """
        return await asyncio.to_thread(self.tracing.flush, timeout)

    async def close(self) -> None:
        """Flush and release everything the client holds (spans, connections). Idempotent."""
        guard, loop = self._http_guard, self._http_loop
        self._http_client = self._http_guard = self._http_loop = None
        # A pool of another loop was closed when that loop shut down.
        if guard is not None and loop is asyncio.get_running_loop():
            await guard.aclose()
        await asyncio.to_thread(self.tracing.shutdown, None)

    async def __aenter__(self) -> MoxnClient:
        self._depth += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            await self.close()


async def _close_at_loop_shutdown(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    # A suspended async generator is finalized by loop.shutdown_asyncgens(), which
    # asyncio.run() calls before closing the loop: the pool closes while its loop lives.
    try:
        yield
    finally:
        await client.aclose()
