"""Opening images a stranger sent, safely, and what their EXIF says.

Pillow reads only the header on `open`, so the pixel count is checked before anything is decoded: a
decompression bomb (a small PNG that inflates to gigapixels) is refused by its declared size, and a truncated
or corrupt file raises instead of yielding half an image.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

# GPS IFD and its tags (EXIF 2.3): latitude/longitude refs and rational degree-minute-second triples.
_GPS_IFD = 0x8825
_LAT_REF, _LAT, _LON_REF, _LON = 1, 2, 3, 4


class UnreadableImage(Exception):
    """The bytes are not an image we will decode (the reason is the message, for the log and the trail)."""


@dataclass(frozen=True, slots=True)
class GeoPoint:
    latitude: float
    longitude: float

    def as_json(self) -> dict[str, float]:
        return {"latitude": round(self.latitude, 6), "longitude": round(self.longitude, 6)}


def open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """The decoded image, upright (EXIF orientation applied) and in RGB; UnreadableImage otherwise."""
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise UnreadableImage(f"image over the limit of {max_pixels} pixels (declared size)") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnreadableImage(f"not a readable image: {exc.__class__.__name__}") from exc
    width, height = img.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise UnreadableImage(f"image of {width}x{height} pixels over the limit of {max_pixels}")
    try:
        img.load()
        img = ImageOps.exif_transpose(img) or img
        return img.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UnreadableImage(f"image could not be decoded: {exc}"[:200]) from exc


def gps_of(data: bytes) -> GeoPoint | None:
    """The GPS position a camera wrote into the photo, if a plausible one is there."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            gps = img.getexif().get_ifd(_GPS_IFD)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    try:
        lat = _degrees(gps[_LAT], gps.get(_LAT_REF, "N"), "S")
        lon = _degrees(gps[_LON], gps.get(_LON_REF, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return GeoPoint(lat, lon)


def _degrees(dms: object, ref: object, negative: str) -> float:
    d, m, s = (float(x) for x in dms)  # type: ignore[union-attr]
    value = d + m / 60 + s / 3600
    ref_text = ref.decode() if isinstance(ref, bytes) else str(ref)
    return -value if ref_text.strip().upper().startswith(negative) else value


def has_metadata(data: bytes) -> bool:
    """Whether the file carries EXIF, XMP, comments or text chunks besides its pixels."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return bool(img.getexif()) or any(k in img.info for k in ("exif", "xmp", "comment", "XML:com.adobe.xmp"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def without_metadata(data: bytes, max_pixels: int) -> tuple[bytes, str]:
    """The image re-encoded from its pixels alone (no EXIF, GPS, maker notes or comments): what anyone but
    agents and units is served. JPEG stays JPEG; everything else becomes PNG."""
    img = open_checked(data, max_pixels)
    out = io.BytesIO()
    if data[:3] == b"\xff\xd8\xff":
        img.save(out, "JPEG", quality=90)
        return out.getvalue(), "image/jpeg"
    img.save(out, "PNG")
    return out.getvalue(), "image/png"


def for_reading(img: Image.Image, longest_side: int) -> Image.Image:
    """Scaled down so the longest side is at most `longest_side`: OCR time grows with the pixels, and text a
    phone photographed stays legible at 2,000 pixels."""
    scale = longest_side / max(img.size)
    if scale >= 1:
        return img
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)
