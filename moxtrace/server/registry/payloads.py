"""Request bodies of the registry routes, validated whole before anything is written.

Blocks, roles, completion configs and tools are validated with the SDK's own types
(``moxtrace.types``), so what the registry stores is exactly what clients can read back.
Unknown fields are ignored (newer clients), malformed ones are a 400 naming the field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from moxtrace.server.errors import ApiError, invalid_payload
from moxtrace.types.blocks import ContentBlock
from moxtrace.types.content import Author, MessageRole
from moxtrace.types.schema import CompletionConfig, SdkTool
from moxtrace.webhooks import COMMIT_CREATED

__all__ = [
    "BRANCH_NAME",
    "CommitBody",
    "CreateBranchBody",
    "CreateMessageBody",
    "CreatePromptBody",
    "CreatePropertyBody",
    "CreateTaskBody",
    "CreateWebhookBody",
    "GenerateModelsBody",
    "MessageRef",
    "NewMessage",
    "RotateSecretBody",
    "UpdateMessageBody",
    "UpdatePromptBody",
    "UpdatePropertyBody",
    "check_branch_name",
    "parse_body",
]

BRANCH_NAME = re.compile(r"[A-Za-z0-9._/-]{1,100}")
"""What a branch name may be: 1-100 letters, digits, ``.``, ``_``, ``-`` and ``/``."""

_BLOCKS: TypeAdapter[list[list[ContentBlock]]] = TypeAdapter(list[list[ContentBlock]])
M = TypeVar("M", bound=BaseModel)


def check_branch_name(name: str) -> str:
    """``name`` if it is a valid branch name, else 400."""
    if not BRANCH_NAME.fullmatch(name):
        raise invalid_payload(
            f"branch_name: {name!r} is not a branch name (1-100 letters, digits, '.', '_', "
            "'-' or '/')"
        )
    return name


def blocks_json(blocks: list[list[Any]]) -> list[list[dict[str, Any]]]:
    """Validated content blocks as stored (JSON)."""
    validated = _BLOCKS.validate_python(blocks)
    dumped: list[list[dict[str, Any]]] = _BLOCKS.dump_python(validated, mode="json")
    return dumped


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Named(_Body):
    @field_validator("name", check_fields=False)
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value or len(value) > 200:
            raise ValueError("must be 1-200 characters")
        return value


class NewMessage(_Named):
    """A message to create (the ``MessageData`` shape)."""

    name: str
    role: MessageRole
    blocks: list[list[ContentBlock]] = Field(default_factory=list)
    description: str | None = None
    author: Author = Author.HUMAN

    def stored_blocks(self) -> list[list[dict[str, Any]]]:
        """The blocks as stored."""
        dumped: list[list[dict[str, Any]]] = _BLOCKS.dump_python(self.blocks, mode="json")
        return dumped


class MessageRef(_Body):
    """An existing message of the task, shared by reference."""

    message_id: UUID


def _message_kind(value: Any) -> str:
    # A reference is recognised by its message_id; anything else is a new message.
    if isinstance(value, dict):
        return "ref" if "message_id" in value else "new"
    return "ref" if isinstance(value, MessageRef) else "new"


MessageItem = Annotated[
    Annotated[MessageRef, Tag("ref")] | Annotated[NewMessage, Tag("new")],
    Discriminator(_message_kind),
]
"""An item of ``messages``: a new message, or ``{"message_id": ...}``."""


class CreateTaskBody(_Named):
    """``POST /tasks``."""

    name: str
    description: str | None = None
    branch_name: str = "main"


class CreatePromptBody(_Named):
    """``POST /prompts``."""

    task_id: UUID
    name: str
    description: str | None = None
    messages: list[MessageItem] = Field(default_factory=list)
    branch_name: str = "main"
    completion_config: CompletionConfig | None = None
    tools: list[SdkTool] = Field(default_factory=list)


class CreateMessageBody(NewMessage):
    """``POST /messages``."""

    task_id: UUID
    branch_name: str = "main"


class UpdateMessageBody(_Body):
    """``PATCH /messages/{id}``: the fields given change."""

    name: str | None = None
    description: str | None = None
    role: MessageRole | None = None
    author: Author | None = None
    blocks: list[list[ContentBlock]] | None = None

    def changes(self) -> dict[str, Any]:
        """The stored form of what changes (a given ``null`` clears ``description``)."""
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "blocks":
                if value is not None:
                    out["blocks"] = _BLOCKS.dump_python(value, mode="json")
            elif value is not None or name == "description":
                out[name] = value
        return out


class CreatePropertyBody(_Named):
    """``POST /properties``."""

    task_id: UUID
    name: str
    definition: dict[str, Any]
    description: str | None = None
    branch_name: str = "main"


class UpdatePropertyBody(_Body):
    """``PATCH /properties/{id}``."""

    name: str | None = None
    description: str | None = None
    definition: dict[str, Any] | None = None

    def changes(self) -> dict[str, Any]:
        """What changes."""
        return {
            n: getattr(self, n)
            for n in self.model_fields_set
            if getattr(self, n) is not None or n == "description"
        }


class UpdatePromptBody(_Body):
    """``PATCH /prompts/{id}``."""

    name: str | None = None
    description: str | None = None
    message_ids: list[UUID] | None = None
    completion_config: CompletionConfig | None = None
    tools: list[SdkTool] | None = None

    def changes(self) -> dict[str, Any]:
        """What changes, in the stored form."""
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "completion_config":
                out[name] = None if value is None else value.model_dump(mode="json")
            elif name == "tools":
                out[name] = [t.model_dump(mode="json", by_alias=True) for t in value or []]
            elif value is not None or name == "description":
                out[name] = value
        return out


class CommitBody(_Body):
    """``POST /tasks/{id}/commits``; ``expected_head_commit_id`` may be given as null."""

    branch_name: str = "main"
    message: str | None = None
    expected_head_commit_id: str | None = None

    @property
    def check_head(self) -> bool:
        """Whether the head is to be checked (the field was given, even as null)."""
        return "expected_head_commit_id" in self.model_fields_set


class GenerateModelsBody(_Body):
    """``POST /tasks/{id}/generate-models`` with the version in the body."""

    branch_name: str | None = None
    commit_id: str | None = None


class CreateBranchBody(_Body):
    """``POST /tasks/{id}/branches``."""

    name: str
    from_commit_id: str


class CreateWebhookBody(_Body):
    """``POST /webhooks``."""

    url: str
    task_id: UUID | None = None
    events: list[str] = Field(default_factory=lambda: [COMMIT_CREATED])
    secret: str | None = Field(default=None, min_length=16, max_length=200)

    @model_validator(mode="after")
    def _check(self) -> CreateWebhookBody:
        if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", self.url) or len(self.url) > 2000:
            raise ValueError("url: must be an http:// or https:// URL")
        unknown = sorted(set(self.events) - {COMMIT_CREATED})
        if unknown or not self.events:
            raise ValueError(f"events: must be a non-empty subset of [{COMMIT_CREATED!r}]")
        return self


class RotateSecretBody(_Body):
    """``POST /webhooks/{id}/rotate-secret``."""

    grace_seconds: int = Field(default=86400, ge=0, le=30 * 86400)


def parse_body(model: type[M], body: bytes) -> M:
    """``body`` (JSON) as ``model``; 400 naming the first bad field."""
    if not body.strip():
        body = b"{}"
    try:
        return model.model_validate_json(body)
    except PydanticValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        first = errors[0] if errors else {"loc": (), "msg": "invalid"}
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ())) or "body", "message": e["msg"]}
            for e in errors[:20]
        ]
        raise ApiError(
            400, "invalid_payload", f"{where}: {first['msg']}", details=details
        ) from None
