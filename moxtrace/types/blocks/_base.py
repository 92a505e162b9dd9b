from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class BlockModel(BaseModel):
    """Base of every content block: immutable values with a ``block_type`` discriminator."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
