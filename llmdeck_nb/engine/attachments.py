"""Images and PDF documents as message parts (OpenAI chat format, which litellm maps to
every other provider).

:func:`attachment_part` takes what a notebook holds: a PIL image, a matplotlib figure, PNG /
JPEG / GIF / WebP / PDF bytes, or a path to such a file. PIL and matplotlib are never
imported here: their objects are recognised by their type's module and asked to save
themselves as PNG. The bytes go in the part as a base64 data URL, so the cache key (built
from the messages) changes whenever a byte changes.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

from llmdeck_nb.errors import RequestRejectedError
from llmdeck_nb.json_types import JsonObject

Part = JsonObject  # one content part of a message

_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
               (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"), (b"%PDF-", "application/pdf"))
SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
            ".webp": "image/webp", ".pdf": "application/pdf"}
PDF = "application/pdf"


def sniff(data: bytes) -> str | None:
    """The MIME type of image / PDF bytes from their first bytes, or None."""
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _module(value: Any) -> str:
    return type(value).__module__ or ""


def is_attachment(value: Any) -> bool:
    """True for what :func:`attachment_part` takes (a string only if it names an existing
    file with an image or PDF suffix, so ordinary text is never mistaken for one)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return sniff(bytes(value[:16])) is not None
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        return len(str(value)) < 4096 and path.suffix.lower() in SUFFIXES and path.is_file()
    module = _module(value)
    return (module.startswith("PIL.") and hasattr(value, "save")) or (
        module.startswith("matplotlib.") and hasattr(value, "savefig"))


def attachment_bytes(value: Any, what: str = "the attachment") -> tuple[bytes, str, str | None]:
    """(bytes, MIME type, file name) of an image or document; a clear error otherwise."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        mime = sniff(data[:16])
        if mime is None:
            raise RequestRejectedError(
                f"{what} holds bytes that are not PNG, JPEG, GIF, WebP or PDF",
                hint="pass the file's bytes, a path, a PIL image or a figure")
        return data, mime, None
    if isinstance(value, (str, os.PathLike)):
        return _file(Path(value).expanduser(), what)
    module = _module(value)
    buffer = io.BytesIO()
    if module.startswith("PIL.") and hasattr(value, "save"):
        value.save(buffer, format="PNG")
    elif module.startswith("matplotlib.") and hasattr(value, "savefig"):
        value.savefig(buffer, format="png", dpi=96)
    else:
        raise RequestRejectedError(
            f"{what} is a {type(value).__name__}, not an image or a document",
            hint="pass a path, PNG/JPEG/PDF bytes, a PIL image or a matplotlib figure")
    return buffer.getvalue(), "image/png", None


def _file(path: Path, what: str) -> tuple[bytes, str, str]:
    if not path.is_file():
        raise RequestRejectedError(f"{what}: no file {path}",
                                   hint="give a path to an image or PDF file, or a variable "
                                        "holding one")
    data = path.read_bytes()
    mime = sniff(data[:16]) or SUFFIXES.get(path.suffix.lower())
    if mime is None:
        raise RequestRejectedError(f"{what}: {path.name} is not a PNG, JPEG, GIF, WebP or PDF file")
    return data, mime, path.name


def attachment_part(value: Any, what: str = "the attachment") -> Part:
    """An ``image_url`` part for an image, a ``file`` part for a PDF."""
    data, mime, name = attachment_bytes(value, what)
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    if mime == PDF:
        return {"type": "file", "file": {"filename": name or "document.pdf", "file_data": url}}
    return {"type": "image_url", "image_url": {"url": url}}


def pdf_part(value: Any, what: str = "--pdf") -> Part:
    part = attachment_part(value, what)
    if part["type"] != "file":
        raise RequestRejectedError(f"{what} takes a PDF document, not an image",
                                   hint="use --image for images")
    return part


def with_attachments(content: str | list[Part], parts: list[Part]) -> str | list[Part]:
    """Message content: the text (or parts) followed by ``parts``."""
    if not parts:
        return content
    head = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    return [*head, *parts]


__all__ = ["SUFFIXES", "attachment_bytes", "attachment_part", "is_attachment", "pdf_part",
           "sniff", "with_attachments"]
