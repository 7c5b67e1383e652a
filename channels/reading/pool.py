"""Worker processes that read media, with a time limit per file and a memory limit per process.

A hostile file can make a decoder spin or allocate without end; in a process of its own it can be killed
when its time is up (the pool is then rebuilt) and capped by an address-space limit, while the event loop
goes on answering citizens.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import resource
from concurrent.futures.process import BrokenProcessPool

from channels.child_process import die_with_parent
from channels.reading.reader import Reading, ReadingLimits, read_file, warm_up

log = logging.getLogger(__name__)


def _init_worker(memory_bytes: int) -> None:
    die_with_parent()
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        warm_up()
    except Exception:  # noqa: BLE001 - the first real file reports the engine's error
        log.exception("media reading engine failed to warm up")


def _ready() -> bool:
    return True


class ReadingPool:
    def __init__(self, workers: int, limits: ReadingLimits, seconds_per_file: float, memory_bytes: int) -> None:
        self._workers = max(1, workers)
        self._limits = limits
        self._seconds = seconds_per_file
        self._memory = memory_bytes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._slots = asyncio.Semaphore(self._workers)

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the gateway's process has threads and an event loop a fork would copy.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self._workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(self._memory,))
        return self._pool

    async def warm_up(self) -> None:
        """Start the workers now (each loads the models in its initializer)."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            await loop.run_in_executor(self._executor(), _ready)

    async def read(self, path: str, kind: str) -> Reading:
        """The reading, or a failed one with the reason (time limit, worker died, engine error)."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._executor(), read_file, path, kind, self._limits)
            try:
                return await asyncio.wait_for(future, self._seconds)
            except asyncio.TimeoutError:
                log.warning("media reading of a %s took over %.0f s: worker stopped", kind, self._seconds)
                self._restart()
                return Reading(ok=False, reason=f"reading took over {self._seconds:.0f} s")
            except BrokenProcessPool:
                log.warning("a media reading worker died (memory limit or crash) on a %s", kind)
                self._restart()
                return Reading(ok=False, reason="the reader stopped on this file (too large or malformed)", retry=True)
            except Exception as exc:  # noqa: BLE001 - an engine bug on one file must not stop the others
                log.warning("media reading of a %s failed: %s", kind, exc.__class__.__name__)
                return Reading(ok=False, reason=f"reading failed: {exc.__class__.__name__}")

    def _restart(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for proc in list(getattr(pool, "_processes", {}).values()):  # the only way to stop a running task
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
