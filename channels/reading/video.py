"""A video's duration, a few frames to read and show, and its sound track, through Debian's ffmpeg.

ffmpeg runs as a child process with a time limit and reads the stored file by path; a file it cannot
parse is reported, never retried in a loop.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class UnreadableVideo(Exception):
    """ffprobe/ffmpeg could not read the file (the reason is the message)."""


@dataclass(frozen=True, slots=True)
class VideoFacts:
    duration: float
    width: int
    height: int
    has_audio: bool


def probe(path: Path, timeout: float) -> VideoFacts:
    try:
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
            capture_output=True, timeout=timeout, check=True).stdout
        info = json.loads(out)
    except subprocess.TimeoutExpired as exc:
        raise UnreadableVideo("ffprobe took too long") from exc
    except (subprocess.CalledProcessError, json.JSONDecodeError) as exc:
        raise UnreadableVideo("not a readable video") from exc
    except FileNotFoundError as exc:
        raise UnreadableVideo("ffmpeg is not installed: videos are kept but not read") from exc
    streams = info.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None:
        raise UnreadableVideo("no video stream")
    try:
        duration = float(info.get("format", {}).get("duration") or video.get("duration") or 0)
    except ValueError:
        duration = 0.0
    return VideoFacts(duration, int(video.get("width") or 0), int(video.get("height") or 0),
                      any(s.get("codec_type") == "audio" for s in streams))


def frame_at(path: Path, seconds: float, timeout: float, max_side: int = 1280) -> bytes:
    """One frame as JPEG, scaled to at most `max_side` pixels wide."""
    try:
        return subprocess.run(
            ["ffmpeg", "-v", "error", "-ss", f"{max(seconds, 0):.2f}", "-i", str(path), "-frames:v", "1",
             "-vf", f"scale='min({max_side},iw)':-2", "-f", "image2pipe", "-vcodec", "mjpeg", "-q:v", "3", "-"],
            capture_output=True, timeout=timeout, check=True).stdout
    except subprocess.TimeoutExpired as exc:
        raise UnreadableVideo("ffmpeg took too long for a frame") from exc
    except subprocess.CalledProcessError as exc:
        raise UnreadableVideo("a frame could not be decoded") from exc


def frame_times(duration: float, count: int) -> list[float]:
    """Evenly spread through the video, away from the very first and last frames (often black)."""
    if duration <= 0:
        return [0.0]
    return [duration * (i + 0.5) / count for i in range(count)]


def sound_track(path: Path, timeout: float) -> bytes | None:
    """The audio alone as AAC in an M4A file, for agents to listen to; None when there is none."""
    with tempfile.TemporaryDirectory(prefix="hotline-audio-") as tmp:
        out = Path(tmp) / "audio.m4a"
        try:
            subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-c:a", "aac", "-b:a", "64k",
                            "-t", "600", str(out)], capture_output=True, timeout=timeout, check=True)
        except (subprocess.TimeoutExpired, subprocess.CalledProcessError):
            return None
        return out.read_bytes() if out.exists() and out.stat().st_size > 0 else None
