"""Reading the images and videos citizens send, off the event loop, without holding up their answers.

A message's readable attachments are queued with it (gateway/store/readings.py). The pipeline asks for them
to be read at once and waits as long as the channel allows (`[media_reading] wait_seconds`: WeChat's passive
reply cannot wait, a mail can); what is read in time is part of the answer, what is read later follows it
(`on_late`). Readings left pending by a restart are read by the sweep and followed up the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Awaitable, Callable, Sequence

from channels.base import AttachmentKind, InboundMessage
from channels.media import MediaStore
from channels.reading.pool import ReadingPool
from channels.reading.reader import Reading
from gateway.store.readings import MediaReadings, PendingReading
from nlu.pii import mask_identifiers
from nlu.positions import DistrictMap

log = logging.getLogger(__name__)

READABLE = frozenset({AttachmentKind.IMAGE, AttachmentKind.VIDEO})
# Long enough for the slowest file within `seconds_per_file` plus queueing; then another reader may try.
LEASE = timedelta(minutes=5)
SWEEP_SECONDS = 30.0
SWEEP_AGE = timedelta(days=2)
# Older than the longest wait a reply makes for its reading: the message's own turn is done with it.
SWEEP_MIN_AGE = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class ReadMedia:
    """One attachment read: the raw text (for triage only, never stored or logged) and what is kept."""

    attachment_id: int
    kind: str
    raw_text: str
    shown_text: str            # masked for personal data: what is stored and shown
    confidence: float
    position: dict[str, Any] | None
    ok: bool


LateHandler = Callable[[int, list[ReadMedia]], Awaitable[None]]


class MediaReader:
    def __init__(self, readings: MediaReadings, media: MediaStore, pool: ReadingPool, districts: DistrictMap,
                 sweep_after: timedelta = SWEEP_MIN_AGE) -> None:
        self._readings = readings
        self._media = media
        self._pool = pool
        self._districts = districts
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweep_after = sweep_after
        self.on_late: LateHandler | None = None

    @staticmethod
    def readable(msg: InboundMessage) -> bool:
        return any(a.kind in READABLE for a in msg.attachments)

    async def read_within(self, message_id: int, wait: float) -> list[ReadMedia] | None:
        """The message's readings if they are done within `wait` seconds and this caller is the one to act
        on them; otherwise None, and `on_late` gets them when they are done (here, or by the sweep when
        another reader holds some of them)."""
        task = self._spawn(self._read_message(message_id))
        if wait > 0:
            try:
                done = await asyncio.wait_for(asyncio.shield(task), wait)
            except asyncio.TimeoutError:
                pass
            except Exception:  # noqa: BLE001 - the message is answered without its photos rather than not at all
                log.exception("reading message %d failed; answered without it", message_id)
                return None
            else:
                if await self._readings.finished(message_id) and await self._readings.claim(message_id):
                    return await self._complete(message_id, done)
                return None
        task.add_done_callback(lambda t: self._follow_up(message_id, t))
        return None

    def _follow_up(self, message_id: int, task: asyncio.Task[list[ReadMedia]]) -> None:
        if task.cancelled():
            return
        if task.exception() is not None:
            log.error("reading message %d failed: %s", message_id, task.exception())
            return
        self._spawn(self._late(message_id, task.result()))

    async def _late(self, message_id: int, read: list[ReadMedia]) -> None:
        if await self._readings.finished(message_id) and await self._readings.claim(message_id):
            await self._act(message_id, read)

    async def _act(self, message_id: int, read: list[ReadMedia]) -> None:
        """Hand the message's whole reading to the pipeline; a failure is logged, never lost silently."""
        if self.on_late is None:
            return
        try:
            await self.on_late(message_id, await self._complete(message_id, read))
        except Exception:  # noqa: BLE001 - one message's follow-up must not stop the others
            log.exception("follow-up of message %d after its media were read failed", message_id)

    async def _complete(self, message_id: int, read: list[ReadMedia]) -> list[ReadMedia]:
        """What this reader read, plus what another reader (or an earlier run) stored for the message's other
        files: their masked text stands in for the raw one, which only lived in that reader's memory."""
        have = {r.attachment_id for r in read}
        stored = await self._readings.stored_for(message_id)
        return read + [ReadMedia(a, row["kind"], row["text"], row["text"], row["confidence"] or 0.0,
                                 row["location"], row["state"] == "done")
                       for a, row in stored.items() if a not in have]

    async def _read_message(self, message_id: int) -> list[ReadMedia]:
        pending = await self._readings.lease_for(message_id, LEASE)
        return list(await asyncio.gather(*(self._read_one(p) for p in pending)))

    async def _read_one(self, item: PendingReading) -> ReadMedia:
        path = self._media.path(item.storage_key)
        reading = await self._pool.read(str(path), item.kind)
        return await self._save(item, reading)

    async def _save(self, item: PendingReading, reading: Reading) -> ReadMedia:
        shown_text = mask_identifiers(reading.text) if reading.text else ""
        position = self._districts.locate(**reading.location) if reading.location else None
        result: dict[str, Any] = {"reason": reading.reason, "lines": reading.lines, "seconds": reading.seconds,
                                  "location": position, "duration": reading.duration, **reading.extra}
        if reading.poster:
            poster = await self._media.save_as(reading.poster, "image/jpeg", AttachmentKind.IMAGE, "poster.jpg")
            result["poster_key"] = poster.storage_key
        if reading.audio:
            audio = await self._media.save_as(reading.audio, "audio/mp4", AttachmentKind.VOICE, "audio.m4a")
            result["audio_key"] = audio.storage_key
        # A file that failed is not tried again (its reason is kept); one whose worker died (its own fault or
        # another file's) stays pending and is tried again by the sweep, up to MAX_ATTEMPTS.
        await self._readings.save(item.attachment_id, reading.ok, shown_text,
                                  reading.confidence if reading.ok else None, result, final=not reading.retry)
        log.info("read %s %d: %s, %d lines, confidence %.2f, %.1f s%s", item.kind, item.attachment_id,
                 "ok" if reading.ok else f"not read ({reading.reason})", reading.lines, reading.confidence,
                 reading.seconds, ", with a position" if position else "")
        return ReadMedia(item.attachment_id, item.kind, reading.text, shown_text, reading.confidence, position,
                         reading.ok)

    async def sweep(self) -> int:
        """Read what a restart or a stopped reader left pending (never a message younger than any reply's
        wait: its own turn is reading it), and follow up messages read but never acted on."""
        due = await self._readings.lease_due(LEASE, 20, SWEEP_AGE, self._sweep_after)
        by_message: dict[int, list[ReadMedia]] = {}
        for item in due:
            by_message.setdefault(item.message_id, []).append(await self._read_one(item))
        for message_id in await self._readings.unapplied(self._sweep_after, SWEEP_AGE, 20):
            by_message.setdefault(message_id, [])
        for message_id, read in by_message.items():
            await self._late(message_id, read)
        return len(due)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - the sweep must outlive one bad row or a database blip
                log.exception("media reading sweep failed")
            await asyncio.sleep(SWEEP_SECONDS)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.to_thread(self._pool.close)


def texts(read: Sequence[ReadMedia]) -> tuple[str, str]:
    """(raw, shown) text of a message's readings, one block per file."""
    raw = "\n".join(r.raw_text for r in read if r.raw_text)
    shown = "\n".join(r.shown_text for r in read if r.shown_text)
    return raw, shown
