"""``RegistryCore``: the content API of both clients, written once and free of I/O.

Each method turns the arguments of a client method into a ``Call``: either an answer
already at hand (a commit read found in the cache) or an ``ApiRequest`` plus the function
that makes the reply's ``data`` into the result (and fills the cache). ``MoxnClient`` and
``SyncMoxnClient`` only send the request (``moxtrace.http``) and call ``parse``. The routes
are those of docs/registry-api.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

from opentelemetry import trace
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from moxtrace._cache import CommitCache
from moxtrace.codegen import DatamodelCodegenResponse
from moxtrace.errors import ValidationError
from moxtrace.http import ApiRequest, RetryPolicy, TransportCore
from moxtrace.settings import Settings
from moxtrace.tracing.semconv import MOXN_API_OPERATION
from moxtrace.types.content import Author, MessageRole
from moxtrace.types.prompt import Message, PromptTemplate
from moxtrace.types.requests import MessageData
from moxtrace.types.schema import CompletionConfig, Property, SdkTool
from moxtrace.types.task import Branch, BranchHeadResponse, Commit, Task
from moxtrace.webhooks import Webhook, WebhookDelivery

__all__ = ["Call", "RegistryCore", "session_target"]

T = TypeVar("T")
Id = UUID | str
"""An anchor id, as a UUID or its string."""
MessageInput = MessageData | Message | Mapping[str, Any] | UUID
"""A message for ``create_prompt``: a new one (``MessageData`` or a dict of that shape) or
an existing message of the task (a ``Message``, its id, or ``{"message_id": ...}``), which
is then shared by reference."""

_OPERATION = MOXN_API_OPERATION


class Call(Generic[T]):
    """What a client method does: return ``value`` now, or send ``request`` and ``parse``."""

    __slots__ = ("parse", "request", "value")

    def __init__(
        self,
        request: ApiRequest | None,
        parse: Callable[[Any], T] | None = None,
        value: T | None = None,
    ) -> None:
        self.request = request
        self.parse = parse
        self.value = value

    def result(self, data: Any) -> T:
        """The result of the call, from the reply's ``data``."""
        assert self.parse is not None
        return self.parse(data)


_ID_TEXT: dict[UUID, str] = {}


def _id(value: Id) -> str:
    if isinstance(value, str):
        return value
    # str(UUID) costs as much as the rest of a cached read: remember recent ones.
    text = _ID_TEXT.get(value)
    if text is None:
        text = str(value)
        if len(_ID_TEXT) >= 4096:
            _ID_TEXT.clear()
        _ID_TEXT[value] = text
    return text


def _selector(branch_name: str | None, commit_id: str | None) -> dict[str, str]:
    if branch_name is not None and commit_id is not None:
        raise ValidationError(
            "invalid_version_selector",
            "give exactly one of branch_name or commit_id (got both)",
        )
    if branch_name is None and commit_id is None:
        raise ValidationError(
            "invalid_version_selector",
            "give exactly one of branch_name or commit_id (got neither)",
        )
    return {"commit_id": commit_id} if commit_id is not None else {"branch_name": str(branch_name)}


def _key() -> str:
    return uuid.uuid4().hex


def _message_item(message: MessageInput) -> dict[str, Any]:
    if isinstance(message, MessageData):
        return message.model_dump(mode="json", exclude_none=True)
    if isinstance(message, Message):
        return {"message_id": str(message.id)}
    if isinstance(message, UUID):
        return {"message_id": str(message)}
    if isinstance(message, Mapping):
        item: dict[str, Any] = to_jsonable_python(dict(message))
        return item
    raise TypeError(
        f"a message must be MessageData, a dict, a Message or a message id, not "
        f"{type(message).__name__}"
    )


def _message_ids(messages: Iterable[Message | Id]) -> list[str]:
    return [str(m.id) if isinstance(m, Message) else _id(m) for m in messages]


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return to_jsonable_python(value, by_alias=True)


def _changes(**fields: Any) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in fields.items() if v is not None}


def session_target(
    session_data: Any, branch_name: str | None, commit_id: str | None
) -> tuple[str, str | None, str | None]:
    """``(prompt_id, branch_name, commit_id)`` for a session made from ``session_data``.

    The prompt id comes from ``session_data.moxn_schema_metadata``; when neither version is
    given, the metadata's commit (else its branch) is used.
    """
    meta = getattr(session_data, "moxn_schema_metadata", None)
    if meta is None:
        raise ValidationError(
            "missing_schema_metadata",
            f"{type(session_data).__name__} has no moxn_schema_metadata: pass a model made by "
            "generate_task_models(), or use create_prompt_session(prompt_id, ...)",
        )

    def read(name: str) -> Any:
        return meta.get(name) if isinstance(meta, Mapping) else getattr(meta, name, None)

    prompt_id = read("prompt_id")
    if prompt_id is None:
        raise ValidationError(
            "missing_schema_metadata",
            f"{type(session_data).__name__}.moxn_schema_metadata has no prompt_id",
        )
    if branch_name is None and commit_id is None:
        commit_id = read("commit_id")
        if commit_id is None:
            branch_name = read("branch_name")
    return str(prompt_id), branch_name, commit_id


class RegistryCore:
    """Requests, parsing and the commit cache of the content API (no I/O).

    Args:
        settings: ``base_url``, ``api_key``, ``timeout``, ``max_retries``,
            ``retry_deadline``, ``debug``, ``prompt_cache_size``.
        tracer: where the CLIENT span of each API call goes.
        client_name: the client class, for ``X-Moxn-Client``.
    """

    def __init__(self, settings: Settings, tracer: trace.Tracer, client_name: str) -> None:
        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        self.transport = TransportCore(
            settings.base_url,
            api_key,
            client_name=client_name,
            timeout=settings.timeout,
            policy=RetryPolicy(max_retries=settings.max_retries, deadline=settings.retry_deadline),
            tracer=tracer,
            debug=settings.debug,
        )
        self.cache: CommitCache[BaseModel] = CommitCache(settings.prompt_cache_size)

    # -- reading ----------------------------------------------------------------------------
    def get_prompt(
        self, prompt_id: Id, branch_name: str | None, commit_id: str | None
    ) -> Call[PromptTemplate]:
        """``GET /prompts/{id}``; a commit read is answered from the cache when it can."""
        if commit_id is not None and branch_name is None:
            key = ("prompt", _id(prompt_id), commit_id)
            hit = self.cache.get(key)
            if hit is not None:
                return Call(None, value=cast(PromptTemplate, hit))
        params = _selector(branch_name, commit_id)

        def parse(data: Any) -> PromptTemplate:
            prompt = PromptTemplate.model_validate(data)
            if commit_id is not None:
                self.cache.put(("prompt", _id(prompt_id), commit_id), prompt)
            return prompt

        return Call(
            ApiRequest(
                "GET",
                "/prompts/{prompt_id}",
                {"prompt_id": _id(prompt_id)},
                params,
                span_attributes={_OPERATION: "get_prompt"},
            ),
            parse,
        )

    def get_task(self, task_id: Id, branch_name: str | None, commit_id: str | None) -> Call[Task]:
        """``GET /tasks/{id}``; a commit read fills the cache with the task and its prompts."""
        if commit_id is not None and branch_name is None:
            hit = self.cache.get(("task", _id(task_id), commit_id))
            if hit is not None:
                return Call(None, value=cast(Task, hit))
        params = _selector(branch_name, commit_id)

        def parse(data: Any) -> Task:
            task = Task.model_validate(data)
            if commit_id is not None:
                self.cache.put(("task", _id(task_id), commit_id), task)
                for prompt in task.prompts:
                    self.cache.put(("prompt", str(prompt.id), commit_id), prompt)
            return task

        return Call(
            ApiRequest(
                "GET",
                "/tasks/{task_id}",
                {"task_id": _id(task_id)},
                params,
                span_attributes={_OPERATION: "get_task"},
            ),
            parse,
        )

    def get_branch_head(self, task_id: Id, branch_name: str) -> Call[BranchHeadResponse]:
        """``GET /branches/{name}/head?task_id=``."""
        return Call(
            ApiRequest(
                "GET",
                "/branches/{branch_name}/head",
                {"branch_name": branch_name},
                {"task_id": _id(task_id)},
                span_attributes={_OPERATION: "get_branch_head"},
            ),
            BranchHeadResponse.model_validate,
        )

    def verify_access(self) -> Call[dict[str, Any]]:
        """``GET /debug/whoami``."""
        return Call(
            ApiRequest("GET", "/debug/whoami", span_attributes={_OPERATION: "verify_access"}),
            _as_dict,
        )

    def get_commit(self, commit_id: str) -> Call[Commit]:
        """``GET /commits/{id}`` (cached: a commit never changes)."""
        hit = self.cache.get(("commit", commit_id))
        if hit is not None:
            return Call(None, value=cast(Commit, hit))

        def parse(data: Any) -> Commit:
            commit = Commit.model_validate(data)
            self.cache.put(("commit", commit_id), commit)
            return commit

        return Call(
            ApiRequest(
                "GET",
                "/commits/{commit_id}",
                {"commit_id": commit_id},
                span_attributes={_OPERATION: "get_commit"},
            ),
            parse,
        )

    def list_commits(self, task_id: Id, branch_name: str, limit: int) -> Call[list[Commit]]:
        """``GET /tasks/{id}/commits``: newest first."""
        return Call(
            ApiRequest(
                "GET",
                "/tasks/{task_id}/commits",
                {"task_id": _id(task_id)},
                {"branch_name": branch_name, "limit": str(limit)},
                span_attributes={_OPERATION: "list_commits"},
            ),
            lambda data: [Commit.model_validate(c) for c in data],
        )

    def list_branches(self, task_id: Id) -> Call[list[Branch]]:
        """``GET /tasks/{id}/branches``."""
        return Call(
            ApiRequest(
                "GET",
                "/tasks/{task_id}/branches",
                {"task_id": _id(task_id)},
                span_attributes={_OPERATION: "list_branches"},
            ),
            lambda data: [Branch.model_validate(b) for b in data],
        )

    # -- creating ---------------------------------------------------------------------------
    def create_task(
        self,
        name: str,
        description: str | None,
        branch_name: str,
        idempotency_key: str | None,
    ) -> Call[Task]:
        """``POST /tasks``."""
        body: dict[str, Any] = {"name": name, "branch_name": branch_name}
        if description is not None:
            body["description"] = description
        return Call(
            ApiRequest(
                "POST",
                "/tasks",
                json=body,
                idempotency_key=idempotency_key or _key(),
                span_attributes={_OPERATION: "create_task"},
            ),
            Task.model_validate,
        )

    def create_prompt(
        self,
        task_id: Id,
        name: str,
        messages: Sequence[MessageInput],
        description: str | None,
        branch_name: str,
        completion_config: CompletionConfig | Mapping[str, Any] | None,
        tools: Sequence[SdkTool | Mapping[str, Any]] | None,
        idempotency_key: str | None,
    ) -> Call[PromptTemplate]:
        """``POST /prompts``."""
        body: dict[str, Any] = {
            "task_id": _id(task_id),
            "name": name,
            "messages": [_message_item(m) for m in messages],
            "branch_name": branch_name,
        }
        if description is not None:
            body["description"] = description
        if completion_config is not None:
            body["completion_config"] = _jsonable(completion_config)
        if tools is not None:
            body["tools"] = [_jsonable(t) for t in tools]
        return Call(
            ApiRequest(
                "POST",
                "/prompts",
                json=body,
                idempotency_key=idempotency_key or _key(),
                span_attributes={_OPERATION: "create_prompt"},
            ),
            PromptTemplate.model_validate,
        )

    def generate_task_models(
        self, task_id: Id, branch_name: str | None, commit_id: str | None
    ) -> Call[DatamodelCodegenResponse]:
        """``POST /tasks/{id}/generate-models`` (branch ``main`` when no version is given)."""
        if branch_name is None and commit_id is None:
            branch_name = "main"
        return Call(
            ApiRequest(
                "POST",
                "/tasks/{task_id}/generate-models",
                {"task_id": _id(task_id)},
                _selector(branch_name, commit_id),
                # Generating changes nothing: safe to send again.
                idempotency_key=_key(),
                span_attributes={_OPERATION: "generate_task_models"},
            ),
            DatamodelCodegenResponse.model_validate,
        )

    # -- editing a branch -------------------------------------------------------------------
    def create_message(
        self,
        task_id: Id,
        message: MessageData | Mapping[str, Any],
        branch_name: str,
        idempotency_key: str | None,
    ) -> Call[Message]:
        """``POST /messages``."""
        body = {**_message_item(message), "task_id": _id(task_id), "branch_name": branch_name}
        return Call(
            ApiRequest(
                "POST",
                "/messages",
                json=body,
                idempotency_key=idempotency_key or _key(),
                span_attributes={_OPERATION: "create_message"},
            ),
            Message.model_validate,
        )

    def update_message(
        self,
        message_id: Id,
        branch_name: str,
        *,
        name: str | None,
        description: str | None,
        role: MessageRole | str | None,
        author: Author | str | None,
        blocks: Sequence[Sequence[Any]] | None,
    ) -> Call[Message]:
        """``PATCH /messages/{id}?branch_name=``."""
        return self._patch(
            "/messages/{message_id}",
            {"message_id": _id(message_id)},
            branch_name,
            _changes(name=name, description=description, role=role, author=author, blocks=blocks),
            "update_message",
            Message.model_validate,
        )

    def create_property(
        self,
        task_id: Id,
        name: str,
        definition: Mapping[str, Any],
        description: str | None,
        branch_name: str,
        idempotency_key: str | None,
    ) -> Call[Property]:
        """``POST /properties``."""
        body: dict[str, Any] = {
            "task_id": _id(task_id),
            "branch_name": branch_name,
            "name": name,
            "definition": _jsonable(definition),
        }
        if description is not None:
            body["description"] = description
        return Call(
            ApiRequest(
                "POST",
                "/properties",
                json=body,
                idempotency_key=idempotency_key or _key(),
                span_attributes={_OPERATION: "create_property"},
            ),
            Property.model_validate,
        )

    def update_property(
        self,
        property_id: Id,
        branch_name: str,
        *,
        name: str | None,
        description: str | None,
        definition: Mapping[str, Any] | None,
    ) -> Call[Property]:
        """``PATCH /properties/{id}?branch_name=``."""
        return self._patch(
            "/properties/{property_id}",
            {"property_id": _id(property_id)},
            branch_name,
            _changes(name=name, description=description, definition=definition),
            "update_property",
            Property.model_validate,
        )

    def update_prompt(
        self,
        prompt_id: Id,
        branch_name: str,
        *,
        name: str | None,
        description: str | None,
        messages: Sequence[Message | Id] | None,
        completion_config: CompletionConfig | Mapping[str, Any] | None,
        tools: Sequence[SdkTool | Mapping[str, Any]] | None,
    ) -> Call[PromptTemplate]:
        """``PATCH /prompts/{id}?branch_name=``."""
        changes = _changes(name=name, description=description, completion_config=completion_config)
        if messages is not None:
            changes["message_ids"] = _message_ids(messages)
        if tools is not None:
            changes["tools"] = [_jsonable(t) for t in tools]
        return self._patch(
            "/prompts/{prompt_id}",
            {"prompt_id": _id(prompt_id)},
            branch_name,
            changes,
            "update_prompt",
            PromptTemplate.model_validate,
        )

    def delete_prompt(self, prompt_id: Id, branch_name: str) -> Call[None]:
        """``DELETE /prompts/{id}?branch_name=``."""
        return Call(
            ApiRequest(
                "DELETE",
                "/prompts/{prompt_id}",
                {"prompt_id": _id(prompt_id)},
                {"branch_name": branch_name},
                span_attributes={_OPERATION: "delete_prompt"},
            ),
            _nothing,
        )

    def _patch(
        self,
        route: str,
        path_params: dict[str, str],
        branch_name: str,
        changes: dict[str, Any],
        operation: str,
        parse: Callable[[Any], T],
    ) -> Call[T]:
        return Call(
            ApiRequest(
                "PATCH",
                route,
                path_params,
                {"branch_name": branch_name},
                json=changes,
                idempotency_key=_key(),
                span_attributes={_OPERATION: operation},
            ),
            parse,
        )

    # -- versioning -------------------------------------------------------------------------
    def commit(
        self,
        task_id: Id,
        branch_name: str,
        message: str | None,
        expected_head_commit_id: str | None,
        idempotency_key: str | None,
    ) -> Call[Commit]:
        """``POST /tasks/{id}/commits``."""
        body: dict[str, Any] = {"branch_name": branch_name}
        if message is not None:
            body["message"] = message
        if expected_head_commit_id is not None:
            body["expected_head_commit_id"] = expected_head_commit_id
        return Call(
            ApiRequest(
                "POST",
                "/tasks/{task_id}/commits",
                {"task_id": _id(task_id)},
                json=body,
                idempotency_key=idempotency_key or _key(),
                span_attributes={_OPERATION: "commit"},
            ),
            Commit.model_validate,
        )

    def create_branch(
        self, task_id: Id, name: str, from_commit_id: str, idempotency_key: str | None
    ) -> Call[Branch]:
        """``POST /tasks/{id}/branches``."""
        return Call(
            ApiRequest(
                "POST",
                "/tasks/{task_id}/branches",
                {"task_id": _id(task_id)},
                json={"name": name, "from_commit_id": from_commit_id},
                idempotency_key=idempotency_key or _key(),
                span_attributes={_OPERATION: "create_branch"},
            ),
            Branch.model_validate,
        )

    # -- webhooks ---------------------------------------------------------------------------
    def create_webhook(
        self,
        url: str,
        task_id: Id | None,
        events: Sequence[str] | None,
        secret: str | None,
        idempotency_key: str | None,
    ) -> Call[Webhook]:
        """``POST /webhooks``."""
        body: dict[str, Any] = {"url": url}
        if task_id is not None:
            body["task_id"] = _id(task_id)
        if events is not None:
            body["events"] = list(events)
        if secret is not None:
            body["secret"] = secret
        return Call(
            ApiRequest(
                "POST",
                "/webhooks",
                json=body,
                idempotency_key=idempotency_key or _key(),
                span_attributes={_OPERATION: "create_webhook"},
            ),
            Webhook.model_validate,
        )

    def list_webhooks(self) -> Call[list[Webhook]]:
        """``GET /webhooks``."""
        return Call(
            ApiRequest("GET", "/webhooks", span_attributes={_OPERATION: "list_webhooks"}),
            lambda data: [Webhook.model_validate(w) for w in data],
        )

    def delete_webhook(self, webhook_id: Id) -> Call[None]:
        """``DELETE /webhooks/{id}``."""
        return Call(
            ApiRequest(
                "DELETE",
                "/webhooks/{webhook_id}",
                {"webhook_id": _id(webhook_id)},
                span_attributes={_OPERATION: "delete_webhook"},
            ),
            _nothing,
        )

    def rotate_webhook_secret(self, webhook_id: Id, grace_seconds: int) -> Call[Webhook]:
        """``POST /webhooks/{id}/rotate-secret``."""
        return Call(
            ApiRequest(
                "POST",
                "/webhooks/{webhook_id}/rotate-secret",
                {"webhook_id": _id(webhook_id)},
                json={"grace_seconds": grace_seconds},
                idempotency_key=_key(),
                span_attributes={_OPERATION: "rotate_webhook_secret"},
            ),
            Webhook.model_validate,
        )

    def list_webhook_deliveries(self, webhook_id: Id, limit: int) -> Call[list[WebhookDelivery]]:
        """``GET /webhooks/{id}/deliveries``."""
        return Call(
            ApiRequest(
                "GET",
                "/webhooks/{webhook_id}/deliveries",
                {"webhook_id": _id(webhook_id)},
                {"limit": str(limit)},
                span_attributes={_OPERATION: "list_webhook_deliveries"},
            ),
            lambda data: [WebhookDelivery.model_validate(d) for d in data],
        )


def _as_dict(data: Any) -> dict[str, Any]:
    return dict(data) if isinstance(data, Mapping) else {"data": data}


def _nothing(data: Any) -> None:
    return None
