"""PDF blocks: by public URL, or by a signed URL into Moxn storage."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from moxtrace.types.blocks._base import BlockModel

__all__ = ["PDFContentFromSource", "SignedURLPDFContent"]


class PDFContentFromSource(BlockModel):
    """A PDF document fetched from a URL (``https://`` or a ``data:`` URL)."""

    block_type: Literal["pdf"] = "pdf"
    url: str
    name: str | None = None


class SignedURLPDFContent(BlockModel):
    """A PDF stored by the platform, reachable through an expiring signed URL."""

    block_type: Literal["signed_pdf"] = "signed_pdf"
    signed_url: str
    file_path: str
    expiration: datetime | None = None
    name: str | None = None
