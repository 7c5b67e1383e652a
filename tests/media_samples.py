"""Small, valid media files built in code (so tests need no binary fixtures)."""

from __future__ import annotations

import struct
import zlib


def png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xc8\x16\x1d" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def mp4() -> bytes:
    ftyp = b"ftypisom" + b"\x00\x00\x02\x00" + b"isomiso2avc1mp41"
    return struct.pack(">I", len(ftyp) + 4) + ftyp + struct.pack(">I", 8) + b"free"


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"


def text_image(lines: list[str], *, font_size: int = 40, fmt: str = "PNG",
               gps: tuple[float, float] | None = None) -> bytes:
    """Lines of Chinese text rendered black on white, as a photographed notice would read (Noto Sans CJK,
    Debian's fonts-noto-cjk); with `gps` (latitude, longitude) written into the EXIF as a phone does."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(CJK_FONT, font_size)
    width = max(int(font.getlength(line)) for line in lines) + 2 * font_size
    img = Image.new("RGB", (width, (len(lines) + 1) * int(font_size * 1.6)), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((font_size, int(font_size * 0.6) + i * int(font_size * 1.6)), line, font=font, fill="black")
    out = io.BytesIO()
    if gps is None:
        img.save(out, fmt)
        return out.getvalue()
    exif = Image.Exif()
    ifd = exif.get_ifd(0x8825)

    def dms(value: float) -> tuple[float, float, float]:
        d = int(value)
        m = int((value - d) * 60)
        return (float(d), float(m), round(((value - d) * 60 - m) * 60, 2))

    ifd.update({1: "N" if gps[0] >= 0 else "S", 2: dms(abs(gps[0])), 3: "E" if gps[1] >= 0 else "W",
                4: dms(abs(gps[1]))})
    img.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def text_video(lines: list[str], seconds: float = 3.0, sound: bool = True) -> bytes:
    """An H.264 MP4 (with an AAC tone when `sound`) showing the lines, made with Debian's ffmpeg."""
    import subprocess
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        still = Path(tmp) / "still.png"
        still.write_bytes(text_image(lines))
        out = Path(tmp) / "clip.mp4"
        audio = ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"] if sound else []
        subprocess.run(["ffmpeg", "-v", "error", "-loop", "1", "-i", str(still), *audio, "-t", str(seconds),
                        "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                        "-r", "5", *(["-c:a", "aac", "-shortest"] if sound else []), str(out)],
                       check=True, capture_output=True)
        return out.read_bytes()
