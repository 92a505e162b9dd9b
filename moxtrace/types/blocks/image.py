"""Image blocks: by public URL, or by a signed URL into Moxn storage."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from moxtrace.types.blocks._base import BlockModel

__all__ = ["ImageContentFromSource", "SignedURLImageContent"]


class ImageContentFromSource(BlockModel):
    """An image fetched from a URL (``https://`` or a ``data:`` URL)."""

    block_type: Literal["image"] = "image"
    url: str
    alt: str | None = None
    media_type: str | None = None


class SignedURLImageContent(BlockModel):
    """An image stored by the platform, reachable through an expiring signed URL."""

    block_type: Literal["signed_image"] = "signed_image"
    signed_url: str
    file_path: str
    expiration: datetime | None = None
    media_type: str | None = None
    alt: str | None = None
