"""What a unit may attach to a ticket: photos (the media store's image types) or a PDF (a written
report, the termination material). The type is sniffed from the bytes and the media store's limits
apply: images by the image limit, PDF by the file limit."""

from __future__ import annotations

from channels.base import Attachment, AttachmentKind
from channels.errors import PayloadTooLarge, UnsupportedMediaType
from channels.media import MediaStore, sniff

PDF = "application/pdf"
IMAGES = frozenset({AttachmentKind.IMAGE})


async def store_unit_file(media: MediaStore, data: bytes, filename: str | None) -> Attachment:
    if sniff(data[:8192]) == PDF:
        if len(data) > media.limits.file:
            raise PayloadTooLarge(f"PDF of {len(data)} bytes over {media.limits.file}",
                                  message_zh=f"文件过大（PDF不超过{media.limits.file // (1024 * 1024)}MB）。")
        return await media.save_as(data, PDF, AttachmentKind.FILE, filename)
    try:
        return await media.save(data, filename=filename, allowed_kinds=IMAGES)
    except UnsupportedMediaType as exc:
        raise UnsupportedMediaType(str(exc), message_zh="只能上传图片（JPG、PNG等）或PDF文件。") from exc
    except PayloadTooLarge as exc:
        raise PayloadTooLarge(str(exc), message_zh=f"图片过大（不超过{media.limits.image // (1024 * 1024)}MB）。") from exc
