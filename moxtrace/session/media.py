"""Image and PDF values: what an ``image`` or ``file`` variable accepts, read into ``Media``.

A value can be:

- a URL string (``https://...``, ``gs://...``) or a ``data:`` URL;
- raw ``bytes`` (the media type is read from the first bytes: PNG, JPEG, GIF, WebP, PDF);
- a mapping ``{"url": ...}`` or ``{"data": bytes | base64 str, "media_type": ...}``
  (``mime_type``, ``name``, ``filename`` and ``alt`` are understood too);
- a content block: ``ImageContentFromSource`` / ``SignedURLImageContent`` for images,
  ``PDFContentFromSource`` / ``SignedURLPDFContent`` for PDFs;
- a list or tuple of any of these, for several images or documents.

Nothing here reads a file or the network: a path is refused with a message saying to
pass the file's bytes.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from pydantic import BaseModel

from moxtrace.session.rendered import Media, MediaKind
from moxtrace.types.blocks import (
    ImageContentFromSource,
    PDFContentFromSource,
    SignedURLImageContent,
    SignedURLPDFContent,
)

__all__ = ["MediaValueError", "media_from_block", "media_from_value", "sniff_media_type"]

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://\S+$")
_DATA_URL = re.compile(r"^data:(?P<type>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<data>.*)$", re.S)
_EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".pdf": "application/pdf",
}
_WHAT = {"image": "an image", "pdf": "a PDF"}


class MediaValueError(ValueError):
    """A value that cannot be read as an image or a PDF (the renderer adds the names)."""


def sniff_media_type(data: bytes) -> str | None:
    """The media type of image or PDF bytes, from their signature; ``None`` if unknown.

    >>> sniff_media_type(b"\\x89PNG\\r\\n\\x1a\\n...")
    'image/png'
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return "application/pdf"
    return None


def _url_media_type(url: str) -> str | None:
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    return next((t for ext, t in _EXTENSIONS.items() if path.endswith(ext)), None)


def _inline(kind: MediaKind, data: bytes, media_type: str | None, name: str | None) -> Media:
    sniffed = sniff_media_type(data)
    media_type = media_type or sniffed
    if kind == "pdf":
        if media_type not in (None, "application/pdf"):
            raise MediaValueError(f"expected a PDF, got {media_type} data")
        return Media(kind="pdf", data=data, media_type="application/pdf", name=name)
    if media_type is None:
        raise MediaValueError(
            "could not tell the image's type from its bytes: pass "
            '{"data": ..., "media_type": "image/png"} (or jpeg, gif, webp)'
        )
    if not media_type.startswith("image/"):
        raise MediaValueError(f"expected an image, got {media_type} data")
    return Media(kind="image", data=data, media_type=media_type, name=name)


def _from_string(kind: MediaKind, value: str, media_type: str | None, name: str | None) -> Media:
    value = value.strip()
    match = _DATA_URL.match(value)
    if match:
        params = match["params"].split(";")
        raw = match["data"]
        try:
            data = (
                base64.b64decode(raw, validate=True)
                if "base64" in params
                else unquote_to_bytes(raw)
            )
        except binascii.Error as exc:
            raise MediaValueError(f"a data: URL whose base64 does not decode ({exc})") from exc
        return _inline(kind, data, match["type"] or media_type, name)
    if _URL.match(value):
        url_type = media_type or _url_media_type(value)
        if kind == "pdf" and url_type not in (None, "application/pdf"):
            raise MediaValueError(f"expected a PDF, got a URL to {url_type}")
        if kind == "image" and url_type is not None and not url_type.startswith("image/"):
            raise MediaValueError(f"expected an image, got a URL to {url_type}")
        return Media(kind=kind, url=value, media_type=url_type, name=name)
    shown = value if len(value) <= 60 else value[:57] + "..."
    raise MediaValueError(
        f"expected a URL or a data: URL for {_WHAT[kind]}, got the string {shown!r}"
        " (rendering reads no files: pass the file's bytes)"
    )


def _from_mapping(kind: MediaKind, value: Mapping[str, Any]) -> Media:
    media_type = value.get("media_type") or value.get("mime_type")
    name = value.get("name") or value.get("filename") or value.get("alt")
    if media_type is not None and not isinstance(media_type, str):
        raise MediaValueError("media_type must be a string")
    if name is not None and not isinstance(name, str):
        name = str(name)
    url = value.get("url") or value.get("signed_url")
    data = value.get("data")
    if (url is None) == (data is None):
        raise MediaValueError(
            f"a mapping for {_WHAT[kind]} needs exactly one of 'url' and 'data', "
            f"got keys {sorted(value)}"
        )
    if url is not None:
        if not isinstance(url, str):
            raise MediaValueError(f"'url' must be a string, got {type(url).__name__}")
        return _from_string(kind, url, media_type, name)
    if isinstance(data, str):
        try:
            data = base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise MediaValueError(f"'data' is a string that is not base64 ({exc})") from exc
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MediaValueError(f"'data' must be bytes or base64, got {type(data).__name__}")
    return _inline(kind, bytes(data), media_type, name)


def media_from_block(
    block: ImageContentFromSource
    | SignedURLImageContent
    | PDFContentFromSource
    | SignedURLPDFContent,
) -> Media:
    """The ``Media`` of an image or PDF content block (``data:`` URLs are decoded)."""
    if isinstance(block, ImageContentFromSource):
        return _from_string("image", block.url, block.media_type, block.alt)
    if isinstance(block, SignedURLImageContent):
        return _from_string("image", block.signed_url, block.media_type, block.alt)
    if isinstance(block, PDFContentFromSource):
        return _from_string("pdf", block.url, None, block.name)
    return _from_string("pdf", block.signed_url, None, block.name)


def media_from_value(kind: MediaKind, value: Any) -> list[Media]:
    """Read a variable's value as images (``kind="image"``) or PDFs (``kind="pdf"``).

    Raises ``MediaValueError`` saying what was expected.

    >>> media_from_value("image", "https://example.com/cat.png")[0].media_type
    'image/png'
    """
    if isinstance(value, list | tuple):
        return [m for item in value for m in media_from_value(kind, item)]
    if isinstance(value, ImageContentFromSource | SignedURLImageContent):
        if kind != "image":
            raise MediaValueError("expected a PDF, got an image block")
        return [media_from_block(value)]
    if isinstance(value, PDFContentFromSource | SignedURLPDFContent):
        if kind != "pdf":
            raise MediaValueError("expected an image, got a PDF block")
        return [media_from_block(value)]
    if isinstance(value, str):
        return [_from_string(kind, value, None, None)]
    if isinstance(value, bytes | bytearray | memoryview):
        return [_inline(kind, bytes(value), None, None)]
    if isinstance(value, Mapping):
        return [_from_mapping(kind, value)]
    if isinstance(value, BaseModel):
        return [_from_mapping(kind, value.model_dump())]
    if isinstance(value, os.PathLike):
        raise MediaValueError(
            f"got the path {os.fspath(value)!r}: rendering reads no files, pass the file's bytes"
        )
    raise MediaValueError(
        f"expected {_WHAT[kind]} (URL, data: URL, bytes, mapping or content block), "
        f"got {type(value).__name__}"
    )
