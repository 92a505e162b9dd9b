"""Variables substituted with session data at render time."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from moxtrace.types.blocks._base import BlockModel
from moxtrace.types.content import VariableFormat, VariableType

__all__ = ["Variable"]


class Variable(BlockModel):
    """A named slot filled from the session data when a prompt is rendered.

    ``format`` says whether the value flows into the surrounding paragraph (``inline``)
    or stands as a block of its own (``block``); ``variable_type`` says what kind of
    value it takes (text and other primitives, an image, or a file such as a PDF).
    """

    block_type: Literal["variable"] = "variable"
    name: str
    variable_type: VariableType = VariableType.PRIMITIVE
    format: VariableFormat = VariableFormat.INLINE
    description: str | None = None
    required: bool = True
    property_id: UUID | None = None
