"""Content-addressed media storage with type detection from the bytes, never from the name.

Every channel stores downloads and uploads here before the message is
recorded, so a message never points at media that is not on disk. Files are
written to a temporary name and renamed, so a crash leaves no half file
under a content hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import filetype

from channels.base import Attachment, AttachmentKind
from channels.errors import PayloadTooLarge, UnsupportedMediaType

# What citizens may send, by detected MIME type.
ALLOWED: dict[str, AttachmentKind] = {
    "image/jpeg": AttachmentKind.IMAGE, "image/png": AttachmentKind.IMAGE, "image/gif": AttachmentKind.IMAGE,
    "image/webp": AttachmentKind.IMAGE, "image/heic": AttachmentKind.IMAGE, "image/bmp": AttachmentKind.IMAGE,
    "video/mp4": AttachmentKind.VIDEO, "video/quicktime": AttachmentKind.VIDEO, "video/webm": AttachmentKind.VIDEO,
    "video/3gpp": AttachmentKind.VIDEO, "video/x-m4v": AttachmentKind.VIDEO, "video/x-matroska": AttachmentKind.VIDEO,
    "audio/amr": AttachmentKind.VOICE, "audio/mpeg": AttachmentKind.VOICE, "audio/ogg": AttachmentKind.VOICE,
    "audio/x-wav": AttachmentKind.VOICE, "audio/mp4": AttachmentKind.VOICE, "audio/m4a": AttachmentKind.VOICE,
    "audio/webm": AttachmentKind.VOICE,
}


@dataclass(frozen=True, slots=True)
class MediaLimits:
    image: int
    video: int
    voice: int
    file: int

    def for_kind(self, kind: AttachmentKind) -> int:
        return {AttachmentKind.IMAGE: self.image, AttachmentKind.VIDEO: self.video,
                AttachmentKind.VOICE: self.voice}.get(kind, self.file)


def sniff(head: bytes) -> str | None:
    """The MIME type the bytes say they are, or None."""
    kind = filetype.guess(head)
    if kind is None:
        return None
    mime = kind.mime
    # A WebM audio stream is detected as video/webm; keep it as video (the page records video).
    if mime == "video/mp4" and head[8:12] in (b"M4A ",):
        return "audio/mp4"
    return mime


# What a browser may show inline: raster images, video and audio, recognised from the bytes. Anything
# else (HTML, SVG, PDF, a sender's declared type) is served as a download, in a sandbox, so a file a
# citizen sent can never run script on the console's origin.
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "video/mp4",
                          "video/webm", "video/quicktime", "audio/mpeg", "audio/mp4", "audio/ogg", "audio/x-wav",
                          "audio/wav", "audio/amr", "audio/webm"})


def serving_headers(head: bytes, filename: str | None) -> dict[str, str]:
    """Response headers for a stored file: the type sniffed now (never the sender's), nosniff, a CSP
    sandbox, and `attachment` unless it is a safe raster image, video or audio."""
    mime = sniff(head)
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'",
               "Cache-Control": "private, max-age=3600"}
    if mime in INLINE_TYPES:
        headers["Content-Type"] = mime
        headers["Content-Disposition"] = "inline"
    else:
        headers["Content-Type"] = "application/octet-stream"
        name = _safe_name(filename) or "attachment.bin"
        ascii_name = "".join(ch if ch.isascii() and ch.isalnum() or ch in "._-" else "_" for ch in name)
        from urllib.parse import quote
        headers["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return headers


class MediaStore:
    def __init__(self, root: Path, limits: MediaLimits) -> None:
        self.root = root
        self.limits = limits

    def classify(self, data: bytes, allowed_kinds: frozenset[AttachmentKind] | None = None) -> tuple[str, AttachmentKind]:
        mime = sniff(data[:8192])
        kind = ALLOWED.get(mime or "")
        if kind is None or (allowed_kinds is not None and kind not in allowed_kinds):
            raise UnsupportedMediaType(f"content type {mime or 'unknown'} not accepted")
        if len(data) > self.limits.for_kind(kind):
            raise PayloadTooLarge(f"{kind.value} of {len(data)} bytes over the limit {self.limits.for_kind(kind)}")
        return mime or "application/octet-stream", kind

    async def save(self, data: bytes, *, filename: str | None = None,
                   allowed_kinds: frozenset[AttachmentKind] | None = None) -> Attachment:
        """Check type and size, then store; raises UnsupportedMediaType / PayloadTooLarge."""
        mime, kind = self.classify(data, allowed_kinds)
        return await self.save_as(data, mime, kind, filename)

    async def save_as(self, data: bytes, mime: str, kind: AttachmentKind, filename: str | None = None) -> Attachment:
        """Store bytes whose type the caller already knows (e.g. unknown e-mail parts kept as files)."""
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest[2:4]}/{digest}"
        await asyncio.to_thread(self._write, key, data)
        return Attachment(kind=kind, content_type=mime, size=len(data), sha256=digest, storage_key=key,
                          filename=_safe_name(filename))

    def _write(self, key: str, data: bytes) -> None:
        path = self.root / key
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def serve(self, storage_key: str, filename: str | None) -> tuple[Path, dict[str, str]]:
        """The file and the headers to send it with (see `serving_headers`)."""
        path = self.path(storage_key)
        with path.open("rb") as fh:
            head = fh.read(8192)
        return path, serving_headers(head, filename)

    def serve_public(self, storage_key: str, filename: str | None) -> tuple[Path, dict[str, str]]:
        """An image as anyone but agents and units may see it: re-encoded from its pixels when it carries
        metadata (EXIF with the GPS position, camera, time) — once, then kept beside the original, so a
        citizen reloading the page never makes the gateway decode the photo again. A file that cannot be
        decoded is served as a download without being touched."""
        from channels.reading.images import UnreadableImage, has_metadata, without_metadata

        original = self.path(storage_key)
        public = self.path(f"public/{storage_key}")
        if public.exists():
            with public.open("rb") as fh:
                return public, serving_headers(fh.read(8192), filename)
        data = original.read_bytes()
        if not has_metadata(data):
            return original, serving_headers(data[:8192], filename)
        try:
            clean, _ = without_metadata(data, 40_000_000)
        except UnreadableImage:
            return original, serving_headers(b"", filename)
        self._write(f"public/{storage_key}", clean)
        return public, serving_headers(clean[:8192], filename)

    def path(self, storage_key: str) -> Path:
        path = (self.root / storage_key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("storage key escapes the media root")
        return path


def _safe_name(name: str | None) -> str | None:
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().replace("\x00", "")
    return name[:200] or None
