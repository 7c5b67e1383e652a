"""Triage in a process of its own: the second core for the largest pieces of a message's work.

The gateway's process keeps one core busy under load and no more: its event loop and its SQLite
writer share the GIL (docs/benchmarks.md, issue 16). Triage is a pure function of the text and the
largest single part of the event loop's work per message, so a worker process runs it beside them.
So is the dispatcher's proposal for a ticket about to be opened (the matter model over the same
text, over the gateway's own unit catalogue): the SQLite writer thread would otherwise make it
inside the ticket's unit of work, holding the GIL (`propose`).

Screening never depends on the worker: a text it cannot take at once (not started, died, busy with
`MAX_IN_FLIGHT` unanswered texts, longer than `MAX_TEXT_CHARS`) is triaged in the gateway's process as
before (and a proposal it cannot make is made where the ticket is opened). A worker that dies or
leaves a text unanswered for `answer_seconds` (hung, starved) is killed, its texts are triaged here, and a new one is started in the background. Texts and results cross one
socket pair as pickles in `multiprocessing.connection`'s framing; the gateway's side is an asyncio
transport (`_AnswerStream`), so reading and writing happen in the event loop's own code, several answers
per wake-up under load, and a write never blocks the event loop. At most `MAX_IN_FLIGHT` short texts are
ever unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import multiprocessing
import os
import pickle
import socket
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from channels.child_process import die_with_parent
from nlu.triage import TriageResult, Triager
from routing.dispatch import DispatcherSource, Proposal

log = logging.getLogger(__name__)

# At most MAX_IN_FLIGHT texts are ever unanswered: what a hung worker leaves unread stays within the socket
# pair (about 49 texts of MAX_TEXT_CHARS, 3 bytes a character in UTF-8, plus the kernel's overhead per
# write), so the transport's own buffer stays empty and memory bounded.
MAX_IN_FLIGHT = 32
MAX_TEXT_CHARS = 600
START_SECONDS = 120.0
RESTART_SECONDS = 5.0
MAX_RESTART_SECONDS = 300.0


TRIAGE = "triage"
PROPOSE = "propose"


def _serve(conn: Connection, parent_pid: int, gazetteer: str, taxonomy: str, model: str,
           dispatcher_source: DispatcherSource | None) -> None:
    """The worker: the same model files as the gateway's own Triager and Dispatcher; one answer per
    request, in order."""
    die_with_parent()
    if os.getppid() != parent_pid:
        return  # the gateway died while this process was starting, before the kernel could be told
    triager = Triager.load(Path(gazetteer), Path(taxonomy), Path(model))
    dispatcher = dispatcher_source.load(triager.gazetteer) if dispatcher_source is not None else None
    # The models are hundreds of thousands of objects a full collection would walk, holding every answer
    # (as in `hotline serve`): they live as long as the process.
    gc.collect()
    gc.freeze()
    conn.send_bytes(b"ready")
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        number, kind, args = pickle.loads(data)
        try:
            if kind == TRIAGE:
                answer: Any = triager.analyze(*args)
            elif kind == PROPOSE and dispatcher is not None:
                answer = dispatcher.propose(*args)
            else:
                answer = f"cannot {kind}"
        except Exception as exc:  # noqa: BLE001 - the gateway does this itself and reports it
            answer = f"{type(exc).__name__}: {exc}"
        conn.send_bytes(pickle.dumps((number, answer), protocol=pickle.HIGHEST_PROTOCOL))


class TriageWorker:
    def __init__(self, triager: Triager, paths: tuple[Path, Path, Path],
                 dispatcher_source: DispatcherSource | None = None, answer_seconds: float = 2.0,
                 restart_seconds: float = RESTART_SECONDS) -> None:
        self._triager = triager  # the gateway's own: whatever the worker cannot take
        self._paths = tuple(str(p) for p in paths)
        self._dispatcher_source = dispatcher_source  # None: the worker only triages
        self._answer_seconds = answer_seconds
        self._restart_seconds = restart_seconds
        self._numbers = itertools.count()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._unanswered = 0  # texts written to the socket whose answers have not been read back
        self._conn: asyncio.Transport | None = None
        self._process: Any = None
        self._restart: asyncio.Task[None] | None = None
        self._closing = False
        self.fallbacks = 0  # texts triaged in the gateway's process since start (health, tests)
        self.proposed = 0  # dispatch proposals the worker made (tests)

    @property
    def alive(self) -> bool:
        return self._conn is not None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._conn is not None else None

    async def start(self) -> bool:
        """Starts the worker and waits until its models are loaded. On any failure the process is killed
        and the gateway triages alone (False); a worker is optional, never a reason not to start."""
        loop = asyncio.get_running_loop()
        parent = process = sock = None
        try:
            ctx = multiprocessing.get_context("spawn")  # not fork: this process has threads and an event loop
            parent, child = ctx.Pipe(duplex=True)
            process = ctx.Process(target=_serve, args=(child, os.getpid(), *self._paths, self._dispatcher_source),
                                  name="triage-worker", daemon=True)
            self._process = process  # stop() kills it even while it is starting
            process.start()
            child.close()
            ready = await asyncio.wait_for(loop.run_in_executor(None, _wait_ready, parent), START_SECONDS)
            if not ready:
                raise EOFError("no ready message")
            sock = socket.socket(fileno=os.dup(parent.fileno()))  # the event loop's from here on
            parent.close()
            parent = None
            transport, _ = await loop.create_unix_connection(
                lambda: _AnswerStream(self._on_answer, self._on_closed), sock=sock)
        except BaseException as exc:
            if parent is not None:
                parent.close()
            if sock is not None:
                sock.close()
            if process is not None and process.pid is not None:
                process.kill()  # also ends the thread waiting for its ready message
            if not isinstance(exc, Exception):
                raise  # cancelled: stop() is running
            log.warning("triage worker did not start (%s): triage stays in the gateway's process",
                        type(exc).__name__)
            return False
        self._conn, self._unanswered = transport, 0
        log.info("triage worker started (pid %d)", process.pid)
        return True

    async def analyze(self, text: str) -> TriageResult:
        answer = await self._ask(TRIAGE, (text,), len(text))
        if isinstance(answer, TriageResult):
            return answer
        if answer is not None:
            log.warning("triage worker gave no answer (%s): triaged in the gateway's process", answer)
        self.fallbacks += 1
        return self._triager.analyze(text)

    async def propose(self, text: str, category: str | None, district: str | None,
                      utility: bool) -> Proposal | None:
        """The dispatcher's proposal (`routing.planner.proposal_input`) made in the worker; None when it
        cannot be had at once (the caller's planner makes it)."""
        if self._dispatcher_source is None:
            return None
        answer = await self._ask(PROPOSE, (text, category, district, utility), len(text))
        if isinstance(answer, Proposal):
            self.proposed += 1
            return answer
        if answer is not None:
            log.warning("triage worker made no dispatch proposal (%s): made in the gateway's process", answer)
        return None

    async def _ask(self, kind: str, args: tuple[Any, ...], chars: int) -> Any:
        """The worker's answer; an error text when it failed to give one; None when it was not asked
        (not there, `MAX_IN_FLIGHT` unanswered, over `MAX_TEXT_CHARS`)."""
        conn = self._conn
        if conn is None or self._unanswered >= MAX_IN_FLIGHT or chars > MAX_TEXT_CHARS:
            return None
        loop = asyncio.get_running_loop()
        number = next(self._numbers)
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[number] = future
        timer = loop.call_later(self._answer_seconds, self._expire, future)
        try:
            frame = pickle.dumps((number, kind, args), protocol=pickle.HIGHEST_PROTOCOL)
            conn.write(len(frame).to_bytes(4, "big", signed=True) + frame)
            self._unanswered += 1
            return await future
        except (OSError, RuntimeError, _Unanswered) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            timer.cancel()
            self._pending.pop(number, None)

    def _expire(self, future: "asyncio.Future[Any]") -> None:
        """No answer in time: the worker is hung or starved. It is replaced (a hung worker would otherwise
        keep every text waiting and its unread texts in the socket)."""
        if not future.done():
            self._lost("no answer within %.1f s" % self._answer_seconds)

    def _on_answer(self, frame: bytes) -> None:
        try:
            number, answer = pickle.loads(frame)
        except Exception as exc:  # noqa: BLE001 - whatever a broken worker wrote
            self._lost(f"unreadable answer: {type(exc).__name__}")
            return
        self._unanswered -= 1
        future = self._pending.get(number)
        if future is not None and not future.done():
            future.set_result(answer)

    def _on_closed(self, stream: "_AnswerStream") -> None:
        if self._conn is not None and self._conn is stream.transport:
            self._lost("socket closed")

    def _lost(self, reason: str) -> None:
        """The worker is gone or useless: it is killed, every text waiting on it is triaged here, and a new
        worker is started."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()
        if self._process is not None and self._process.pid is not None:
            with contextlib.suppress(Exception):
                self._process.kill()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(_Unanswered(reason))
        if self._closing or conn is None:
            return
        log.warning("triage worker lost (%s): triaging in the gateway's process until it is back", reason)
        if self._restart is None or self._restart.done():
            self._restart = asyncio.get_running_loop().create_task(self._start_again(), name="triage-worker")

    async def _start_again(self) -> None:
        """Until a worker is up again, with a longer wait after every failed start."""
        wait = self._restart_seconds
        while not self._closing:
            await asyncio.sleep(wait)
            if self._process is not None:
                self._process.join(0)  # reap the one that is gone
            if self._closing or await self.start():
                return
            wait = min(wait * 2, MAX_RESTART_SECONDS)

    async def stop(self) -> None:
        self._closing = True
        if self._restart is not None:
            self._restart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._restart
        self._lost("stopping")
        if self._process is not None and self._process.pid is not None:
            self._process.kill()
            await asyncio.get_running_loop().run_in_executor(None, self._process.join, 10)


class _AnswerStream(asyncio.Protocol):
    """The worker's answers as `multiprocessing.connection` frames them (a 4-byte big-endian length, then
    the bytes), cut from what the transport reads; each frame goes to `on_frame`."""

    def __init__(self, on_frame: Callable[[bytes], None], on_closed: Callable[["_AnswerStream"], None]) -> None:
        self._on_frame = on_frame
        self._on_closed = on_closed
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start, end = 0, len(buffer)
        while end - start >= 4 and not (self.transport is None or self.transport.is_closing()):
            size = int.from_bytes(buffer[start:start + 4], "big", signed=True)
            if size < 0:  # the framing of a frame over 2 GiB: no answer is
                self._on_closed(self)
                return
            if end - start - 4 < size:
                break
            frame = bytes(buffer[start + 4:start + 4 + size])
            start += 4 + size
            self._on_frame(frame)
        del buffer[:start]

    def eof_received(self) -> bool:
        self._on_closed(self)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_closed(self)


class _Unanswered(Exception):
    """The worker did not answer: gone, or over the time allowed."""


def _wait_ready(conn: Connection) -> bool:
    return conn.recv_bytes() == b"ready"
