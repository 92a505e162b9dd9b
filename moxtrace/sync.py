"""``SyncMoxnClient``: the same surface as ``MoxnClient`` for code without an event loop."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel

from moxtrace._core import ClientCore
from moxtrace._registry import Call, MessageInput, session_target
from moxtrace.codegen import DatamodelCodegenResponse
from moxtrace.http import send_sync
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

__all__ = ["SyncMoxnClient"]


class SyncMoxnClient(ClientCore):
    """The blocking twin of ``MoxnClient``: the same methods, without ``await``.

    >>> with SyncMoxnClient() as client:
    ...     session = client.create_prompt_session("prompt-id", branch_name="main")
    ...     with client.span(session):
    ...         ...

    Safe to share between threads (one connection pool, recreated in a forked child).
    """

    _http_client: httpx.Client | None = None
    _http_pid = 0
    _http_lock = threading.Lock()

    def _http(self) -> httpx.Client:
        client = self._http_client
        if client is None or client.is_closed or self._http_pid != os.getpid():
            with self._http_lock:
                client = self._http_client
                # A forked child must not use its parent's pooled connections.
                if client is None or client.is_closed or self._http_pid != os.getpid():
                    client = self._http_client = httpx.Client(follow_redirects=False)
                    self._http_pid = os.getpid()
        return client

    def _send(self, call: Call[T]) -> T:
        assert call.request is not None
        data = send_sync(self._http(), self._registry.transport.exchange(call.request))
        return call.result(data)

    # -- content: prompts and tasks (docs/prompts.md) ------------------------------------
    def get_prompt(
        self,
        prompt_id: UUID | str,
        branch_name: str | None = None,
        commit_id: str | None = None,
    ) -> PromptTemplate:
        """A prompt template, by its anchor id, from a branch or a commit (exactly one).

        A commit never changes, so what was read at a commit is cached for good (a bounded
        LRU, ``MOXN_PROMPT_CACHE_SIZE``); a branch is read afresh every time. Each call
        returns a copy of its own: changing it changes nothing for the next caller.

        >>> prompt = client.get_prompt("prompt-id", branch_name="main")  # latest
        >>> prompt = client.get_prompt("prompt-id", commit_id="abc123")  # pinned
        """
        call = self._registry.get_prompt(prompt_id, branch_name, commit_id)
        if call.request is None:
            return call.value  # type: ignore[return-value]
        return self._send(call)

    def get_task(
        self,
        task_id: UUID | str,
        branch_name: str | None = None,
        commit_id: str | None = None,
    ) -> Task:
        """A whole task (prompts, schema definitions, branches) from a branch or a commit.

        Cached like ``get_prompt``; a task read at a commit also caches its prompts.

        >>> task = client.get_task("task-id", branch_name="main")
        >>> [prompt.name for prompt in task.prompts]
        ['Product help']
        """
        call = self._registry.get_task(task_id, branch_name, commit_id)
        if call.request is None:
            return call.value  # type: ignore[return-value]
        return self._send(call)

    def get_branch_head(self, task_id: UUID | str, branch_name: str = "main") -> BranchHeadResponse:
        """Where a branch stands: the commit to deploy and whether edits are uncommitted.

        >>> head = client.get_branch_head("task-id", "main")
        >>> prompt = client.get_prompt("prompt-id", commit_id=head.effective_commit_id)
        """
        return self._send(self._registry.get_branch_head(task_id, branch_name))

    def create_task(
        self,
        name: str,
        description: str | None = None,
        branch_name: str = "main",
        *,
        idempotency_key: str | None = None,
    ) -> Task:
        """Create a task, with its first branch (no commit yet).

        >>> task = client.create_task("Customer Support Bot", "Handles inquiries")
        """
        return self._send(
            self._registry.create_task(name, description, branch_name, idempotency_key)
        )

    def create_prompt(
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

        >>> prompt = client.create_prompt(
        ...     task.id, "Q&A", [MessageData(name="System", role=MessageRole.SYSTEM,
        ...                                  blocks=[[TextContent(text="Be brief.")]])])
        """
        return self._send(
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

    def verify_access(self) -> dict[str, Any]:
        """Check the API key; the identity it stands for (``tenant_id``, ``key_id``).

        >>> (client.verify_access())["tenant_id"]
        'dev'
        """
        return self._send(self._registry.verify_access())

    # -- sessions --------------------------------------------------------------------------
    def create_prompt_session(
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

        >>> session = client.create_prompt_session(
        ...     "prompt-id", branch_name="main", session_data=QueryInput(query="Hello"))
        """
        prompt = self.get_prompt(prompt_id, branch_name, commit_id)
        return PromptSession(
            prompt, session_data, session_id=session_id, render_kwargs=render_kwargs
        )

    def prompt_session_from_session_data(
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

        >>> session = client.prompt_session_from_session_data(
        ...     QueryInput(query="Hello"), branch_name="main")
        """
        prompt_id, branch_name, commit_id = session_target(session_data, branch_name, commit_id)
        return self.create_prompt_session(
            prompt_id,
            branch_name,
            commit_id,
            session_data,
            session_id=session_id,
            render_kwargs=render_kwargs,
        )

    # -- code generation -------------------------------------------------------------------
    def generate_task_models(
        self,
        task_id: UUID | str,
        branch_name: str | None = None,
        commit_id: str | None = None,
        output_dir: Path | str | None = None,
    ) -> DatamodelCodegenResponse:
        """Pydantic models of the task's schemas (branch ``main`` unless told otherwise),
        written to ``output_dir/<filename>`` when ``output_dir`` is given.

        >>> response = client.generate_task_models("task-id", output_dir="./models")
        >>> print(f"Generated: {response.filename}")
        Generated: support_bot_models.py
        """
        response = self._send(self._registry.generate_task_models(task_id, branch_name, commit_id))
        if output_dir is not None:
            response.write(output_dir)
        return response

    # -- editing a branch (docs/prompts.md#editing) ---------------------------------------
    def create_message(
        self,
        task_id: UUID | str,
        message: MessageData | Mapping[str, Any],
        branch_name: str = "main",
        *,
        idempotency_key: str | None = None,
    ) -> Message:
        """Create a message on a branch, to share between prompts (``update_prompt``)."""
        return self._send(
            self._registry.create_message(task_id, message, branch_name, idempotency_key)
        )

    def update_message(
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

        >>> client.update_message(msg.id, "main", blocks=[[TextContent(text="Hi")]])
        """
        return self._send(
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

    def create_property(
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
        return self._send(
            self._registry.create_property(
                task_id, name, definition, description, branch_name, idempotency_key
            )
        )

    def update_property(
        self,
        property_id: UUID | str,
        branch_name: str = "main",
        *,
        name: str | None = None,
        description: str | None = None,
        definition: Mapping[str, Any] | None = None,
    ) -> Property:
        """Change a property on a branch; the input schemas using it follow."""
        return self._send(
            self._registry.update_property(
                property_id, branch_name, name=name, description=description, definition=definition
            )
        )

    def update_prompt(
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
        return self._send(
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

    def delete_prompt(self, prompt_id: UUID | str, branch_name: str = "main") -> None:
        """Remove a prompt from a branch (commits keep it)."""
        self._send(self._registry.delete_prompt(prompt_id, branch_name))

    # -- versioning --------------------------------------------------------------------------
    def commit(
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

        >>> commit = client.commit(task.id, "main", "tone down the greeting")
        """
        return self._send(
            self._registry.commit(
                task_id, branch_name, message, expected_head_commit_id, idempotency_key
            )
        )

    def create_branch(
        self,
        task_id: UUID | str,
        name: str,
        from_commit_id: str,
        *,
        idempotency_key: str | None = None,
    ) -> Branch:
        """Start a branch from a commit.

        >>> branch = client.create_branch(task.id, "experiment", commit.id)
        """
        return self._send(
            self._registry.create_branch(task_id, name, from_commit_id, idempotency_key)
        )

    def list_branches(self, task_id: UUID | str) -> list[Branch]:
        """The task's branches."""
        return self._send(self._registry.list_branches(task_id))

    def list_commits(
        self, task_id: UUID | str, branch_name: str = "main", limit: int = 50
    ) -> list[Commit]:
        """A branch's commits, newest first."""
        return self._send(self._registry.list_commits(task_id, branch_name, limit))

    def get_commit(self, commit_id: str) -> Commit:
        """One commit (cached: commits never change)."""
        call = self._registry.get_commit(commit_id)
        if call.request is None:
            return call.value  # type: ignore[return-value]
        return self._send(call)

    # -- webhooks (docs/webhooks.md) -------------------------------------------------------
    def create_webhook(
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

        >>> hook = client.create_webhook("https://app.example/hooks/moxn")
        >>> WEBHOOK_SECRET = hook.secret
        """
        return self._send(
            self._registry.create_webhook(url, task_id, events, secret, idempotency_key)
        )

    def list_webhooks(self) -> list[Webhook]:
        """The tenant's webhooks (without secrets)."""
        return self._send(self._registry.list_webhooks())

    def delete_webhook(self, webhook_id: UUID | str) -> None:
        """Stop sending events to a webhook."""
        self._send(self._registry.delete_webhook(webhook_id))

    def rotate_webhook_secret(self, webhook_id: UUID | str, grace_seconds: int = 86400) -> Webhook:
        """A new signing secret; the old one also signs for ``grace_seconds`` more."""
        return self._send(self._registry.rotate_webhook_secret(webhook_id, grace_seconds))

    def list_webhook_deliveries(
        self, webhook_id: UUID | str, limit: int = 50
    ) -> list[WebhookDelivery]:
        """Recent deliveries to a webhook and how they went, newest first."""
        return self._send(self._registry.list_webhook_deliveries(webhook_id, limit))

    def log_telemetry_event(self, event: LLMEvent) -> None:
        """Record an LLM call on the active span (or on a short span of its own)."""
        self._record(event)

    def log_telemetry_event_from_response(
        self, prompt_session: PromptSession, response: Any, provider: Provider
    ) -> None:
        """Parse a provider response (SDK object or dict) and record it in one call."""
        self._record_response(prompt_session, response, provider)

    def flush(self, timeout: float | None = None) -> FlushResult:
        """Wait for spans handed over so far to be exported, at most ``timeout`` seconds."""
        return self.tracing.flush(timeout)

    def close(self) -> None:
        """Flush and release everything the client holds (spans, connections). Idempotent."""
        client, self._http_client = self._http_client, None
        if client is not None:
            client.close()
        self.tracing.shutdown(None)

    def __enter__(self) -> SyncMoxnClient:
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.close()
