"""One stored file in, what it shows out: runs inside a worker process (see `pool.ReadingPool`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels.reading.images import UnreadableImage, for_reading, gps_of, open_checked
from channels.reading.ocr import OcrEngine, OcrText
from channels.reading.video import UnreadableVideo, frame_at, frame_times, probe, sound_track


@dataclass(frozen=True, slots=True)
class ReadingLimits:
    max_pixels: int = 40_000_000      # 40 MP: a phone's photo is 12–50 MP, a bomb is gigapixels
    longest_side: int = 2000          # OCR input
    video_frames: int = 3
    ffmpeg_seconds: float = 20.0
    max_video_seconds: float = 600.0


@dataclass(slots=True)
class Reading:
    """What was read from one file. `text` is the raw OCR text: masked before it is stored or shown."""

    ok: bool
    text: str = ""
    confidence: float = 0.0
    lines: int = 0
    reason: str | None = None            # why nothing (or not everything) was read
    location: dict[str, float] | None = None
    duration: float | None = None
    poster: bytes | None = None          # JPEG, videos only
    audio: bytes | None = None           # M4A, videos with sound
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    retry: bool = False                  # not the file's verdict (its worker was stopped): try again later


_engine = OcrEngine()  # one per worker process: the models are loaded once


def read_file(path: str, kind: str, limits: ReadingLimits) -> Reading:
    started = time.monotonic()
    try:
        reading = _read_video(Path(path), limits) if kind == "video" else _read_image(Path(path), limits)
    except (UnreadableImage, UnreadableVideo) as exc:
        reading = Reading(ok=False, reason=str(exc))
    reading.seconds = round(time.monotonic() - started, 3)
    return reading


def _read_image(path: Path, limits: ReadingLimits) -> Reading:
    data = path.read_bytes()
    img = open_checked(data, limits.max_pixels)
    found = _engine.read(for_reading(img, limits.longest_side))
    gps = gps_of(data)
    return _from_ocr(found, location=gps.as_json() if gps else None)


def _read_video(path: Path, limits: ReadingLimits) -> Reading:
    facts = probe(path, limits.ffmpeg_seconds)
    frames: list[bytes] = []
    for t in frame_times(min(facts.duration, limits.max_video_seconds), limits.video_frames):
        try:
            frames.append(frame_at(path, t, limits.ffmpeg_seconds))
        except UnreadableVideo:
            continue
    frames = [f for f in frames if f]
    if not frames:
        return Reading(ok=False, reason="no frame could be decoded", duration=facts.duration)
    seen: dict[str, Any] = {}
    thumbs: list[Any] = []
    for frame in frames:
        try:
            img = open_checked(frame, limits.max_pixels)
        except UnreadableImage:
            continue
        thumb = img.convert("L").resize((24, 24))
        if any(_same_view(thumb, t) for t in thumbs):
            continue  # a phone held still over a notice: the same picture is read once
        thumbs.append(thumb)
        for line in _engine.read(for_reading(img, limits.longest_side)).lines:
            # The same caption in several frames is one line of text.
            if line.text not in seen or seen[line.text].confidence < line.confidence:
                seen[line.text] = line
    merged = OcrText(tuple(seen.values()))
    reading = _from_ocr(merged)
    reading.duration = round(facts.duration, 2)
    reading.poster = frames[0]
    reading.audio = sound_track(path, limits.ffmpeg_seconds) if facts.has_audio else None
    reading.extra = {"width": facts.width, "height": facts.height, "frames_read": len(frames),
                     "has_audio": facts.has_audio}
    return reading


def _same_view(a: Any, b: Any) -> bool:
    """Whether two frames show the same thing (mean grey-level difference of 24x24 thumbnails under 3%)."""
    from PIL import ImageChops, ImageStat
    return ImageStat.Stat(ImageChops.difference(a, b)).mean[0] < 0.03 * 255


def _from_ocr(found: OcrText, location: dict[str, float] | None = None) -> Reading:
    text = found.text
    return Reading(ok=True, text=text, confidence=round(found.confidence, 3), lines=len(found.lines),
                   reason=None if text else "no text found", location=location)


def warm_up() -> None:
    """Load the models in a new worker so the first citizen's photo does not pay for it."""
    from PIL import Image
    _engine.read(Image.new("RGB", (64, 32), "white"))

