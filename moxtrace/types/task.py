"""Tasks, branches and commits: the version-control side of the entity model."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from moxtrace.types.prompt import PromptTemplate
from moxtrace.types.schema import SchemaDefinition

__all__ = ["Branch", "BranchHeadResponse", "Commit", "Task"]


class Commit(BaseModel):
    """An immutable snapshot of a whole task."""

    model_config = ConfigDict(extra="ignore")

    id: str
    task_id: UUID | None = None
    message: str | None = None
    parent_commit_id: str | None = None
    created_at: datetime | None = None


class Branch(BaseModel):
    """Mutable working state of a task, with the commit it was last committed at."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    name: str
    task_id: UUID | None = None
    head_commit_id: str | None = None
    created_from_commit_id: str | None = None
    created_at: datetime | None = None


class BranchHeadResponse(BaseModel):
    """Where a branch stands: the commit to deploy and whether work is uncommitted."""

    model_config = ConfigDict(extra="ignore")

    task_id: UUID
    branch_id: UUID | None = None
    branch_name: str
    head_commit_id: str | None = None
    effective_commit_id: str | None = None
    has_uncommitted_changes: bool = False
    last_committed_at: datetime | None = None


class Task(BaseModel):
    """The top-level container of prompts and schemas, like a git repository."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    name: str
    description: str | None = None
    prompts: list[PromptTemplate] = Field(default_factory=list)
    definitions: dict[str, SchemaDefinition] = Field(default_factory=dict)
    branches: list[Branch] = Field(default_factory=list)
    last_commit: Commit | None = None
    branch_id: UUID | None = None
    branch_name: str | None = None
    commit_id: str | None = None
