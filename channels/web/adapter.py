"""The web chat channel: a citizen page, a REST endpoint scripts can use, and a WebSocket for live replies.

The session id is a random token the page keeps in localStorage; it is the
bearer secret for that chat's history and media. A message may carry a
`client_id`: a retried POST with the same one is recognised as the same
message and answered the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, ContextManager, Protocol, Sequence

from aiohttp import BodyPartReader, WSMsgType, web

from channels.base import Attachment, AttachmentKind, Channel, InboundMessage, MessageHandler, MessageKind, OutboundMessage
from channels.errors import BadRequest, Forbidden, TooManyRequests
from channels.http_body import json_object, read_part
from channels.rate_limit import ART32_WARNING, SlidingWindow, Windows, client_address, local_windows
from channels.media import MediaStore

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TEXT_CHARS = 5000
MAX_FILES = 5
WEB_KINDS = frozenset({AttachmentKind.IMAGE, AttachmentKind.VIDEO})

HistoryProvider = Callable[[str, str], Awaitable[list[dict[str, Any]]]]
AttachmentLookup = Callable[[int], Awaitable[tuple[dict[str, Any], str, str] | None]]


class EventBus(Protocol):
    def publish(self, topic: str, event: dict[str, Any]) -> int: ...

    def subscribe(self, topic: str) -> ContextManager["asyncio.Queue[dict[str, Any]]"]: ...


# Screens a text for emergencies without storing it: a limited sender in danger still gets through.
EmergencyScreen = Callable[[str], "Sequence[str] | None"]


@dataclass(frozen=True)
class WebLimits:
    """Art. 11/32: how much one page session and one client address may send."""

    messages_per_minute_per_session: int = 20
    new_sessions_per_hour_per_address: int = 30
    trusted_proxies: tuple[str, ...] = ()


def topic(session: str) -> str:
    """The event topic of a chat: a digest of its session (topics cross Redis with replicas; the session
    itself opens the citizen's history and photos)."""
    return "web:" + hashlib.sha256(f"topic:{session}".encode()).hexdigest()[:32]


def typing_ref(session: str) -> str:
    """What agents are told of a typing citizen: a digest, never the session (it opens the history)."""
    return hashlib.sha256(f"typing:{session}".encode()).hexdigest()[:16]


class WebChannel:
    channel = Channel.WEB
    # A web reply is delivered by being stored (capability delivered_on_store): the page reads history,
    # the socket only notifies.

    def __init__(self, handle: MessageHandler, media: MediaStore, history: HistoryProvider,
                 attachment: AttachmentLookup, events: EventBus, reply_wait_seconds: float,
                 limits: WebLimits = WebLimits(), screen: EmergencyScreen = lambda text: None,
                 agents_topic: str = "console", windows: Windows = local_windows) -> None:
        self._handle = handle
        self._limits = limits
        self._screen = screen
        self._agents_topic = agents_topic
        # Shared by every gateway when `windows` is the cluster's (a client's next request may reach another).
        self._per_session = windows("web_session", limits.messages_per_minute_per_session, 60)
        self._new_sessions = windows("web_address", limits.new_sessions_per_hour_per_address, 3600)
        self._known_sessions = windows("web_known", 1, 6 * 3600)  # sessions seen lately (1 = "seen")
        self._flagged = windows("web_flagged", 1, 3600)           # agents are told once an hour per client
        # "The citizen is typing" at most every 2 s: a throttle for this socket's process only.
        self._typing = SlidingWindow(1, 2)
        self._in_flight: dict[str, "asyncio.Future[Any]"] = {}  # external id -> the answer being prepared
        self._media = media
        self._history = history
        self._attachment = attachment
        self._events = events
        self._reply_wait = reply_wait_seconds

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    # --- inbound

    async def post_message(self, request: web.Request) -> web.Response:
        blobs: list[tuple[bytes, str | None]] = []
        if request.content_type.startswith("multipart/"):
            session, text, client_id, blobs = await self._read_multipart(request)
        else:
            session, text, client_id = _read_json_fields(await json_object(request))
        if not text and not blobs:
            raise BadRequest("empty message", code="empty_message", message_zh="请输入要反映的内容或上传图片、视频。")
        external_id = f"{session}:{client_id}" if client_id else f"{session}:{uuid.uuid4().hex}"
        task = self._in_flight.get(external_id)
        if task is not None:
            # A retry while the first attempt is still being answered: it waits for the same answer
            # (the store would answer a finished one the same way).
            return await self._answer(task, [])
        await self._check_limits(request, session, text)
        # Stored only now: a client over its limit writes nothing to disk.
        files = [await self._media.save(data, filename=name, allowed_kinds=WEB_KINDS) for data, name in blobs]
        msg = InboundMessage(
            channel=Channel.WEB,
            external_id=external_id,
            sender=session, conversation_key=session, text=text,
            kind=MessageKind.MEDIA if files else MessageKind.TEXT, attachments=tuple(files),
            raw=json.dumps({"session": session, "text": text, "client_id": client_id,
                            "files": [f.sha256 for f in files]}, ensure_ascii=False),
        )
        task = asyncio.ensure_future(self._handle(msg))
        self._in_flight[external_id] = task
        task.add_done_callback(lambda _: self._in_flight.pop(external_id, None))
        return await self._answer(task, files)

    async def _answer(self, task: "asyncio.Future[Any]", files: list[Attachment]) -> web.Response:
        # The pipeline goes on if the client leaves or the wait runs out (asyncio.wait neither cancels the task
        # nor wraps it in two more futures per message as wait_for(shield(...)) did); replies then reach the
        # socket.
        done, _ = await asyncio.wait((task,), timeout=self._reply_wait)
        if not done:
            log.warning("web: reply not ready within %.1fs; the citizen gets it over the socket", self._reply_wait)
            return web.json_response({"replies": [], "pending": True}, status=202)
        replies = task.result()
        return web.json_response({"replies": [r.as_json() for r in replies], "pending": False,
                                  "attachments": [_attachment_json(a) for a in files]})

    async def _check_limits(self, request: web.Request, session: str, text: str) -> None:
        """Over a limit: 429 with a polite reason, unless the text reports an emergency (then it goes
        through: screening never depends on who is asking or how often)."""
        address = client_address(request, self._limits.trusted_proxies)
        new_session = await self._known_sessions.hit(session)  # True the first time a session is seen
        over = None
        if new_session and not await self._new_sessions.hit(address):
            over = "new sessions from one address"
        elif not await self._per_session.hit(session):
            over = "messages in one session"
        if over is None:
            return
        if text and self._screen(text):
            log.warning("web: %s over the limit (%s), let through: emergency", session[:12], over)
            return
        log.warning("web: 429 for session %s from %s: too many %s", session[:12], address, over)
        if await self._flagged.hit(address):
            # Agents get the typing digest, never the session: the session opens the citizen's history.
            self._events.publish(self._agents_topic, {"type": "abuse", "channel": "web", "ref": typing_ref(session),
                                                      "reason": over, "warning": ART32_WARNING})
        raise TooManyRequests(f"too many {over}")

    async def _read_multipart(self, request: web.Request
                              ) -> tuple[str, str, str | None, list[tuple[bytes, str | None]]]:
        fields: dict[str, str] = {}
        blobs: list[tuple[bytes, str | None]] = []
        try:
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    raise BadRequest("nested multipart", code="malformed_multipart")
                if part.filename is not None or part.name == "file":
                    if len(blobs) >= MAX_FILES:
                        raise BadRequest("too many files", code="too_many_files",
                                         message_zh=f"一次最多上传{MAX_FILES}个文件。")
                    blobs.append((await read_part(part, self._media.limits.video), part.filename))
                elif part.name in ("session", "text", "client_id"):
                    fields[part.name] = (await read_part(part, 64 * 1024)).decode("utf-8", "strict")
        except UnicodeDecodeError as exc:
            raise BadRequest("form field not UTF-8", code="malformed_multipart") from exc
        except (ValueError, AssertionError) as exc:
            raise BadRequest(f"malformed multipart body: {exc}", code="malformed_multipart") from exc
        session, text, client_id = _read_json_fields(fields)
        # Check every file before storing any, so a rejected upload leaves nothing behind.
        for data, _name in blobs:
            self._media.classify(data, WEB_KINDS)
        return session, text, client_id, blobs

    # --- history, media and live replies

    async def get_history(self, request: web.Request) -> web.Response:
        session = _session(request.query.get("session"))
        return web.json_response({"messages": await self._history(Channel.WEB.value, session)})

    async def get_media(self, request: web.Request) -> web.StreamResponse:
        session = _session(request.query.get("session"))
        found = await self._attachment(int(request.match_info["attachment_id"]))
        if found is None or found[1] != Channel.WEB.value or found[2] != session:
            # Same answer for "missing" and "not yours": ids must not be probeable.
            raise Forbidden("attachment not in this session", code="not_your_attachment",
                            message_zh="无法查看该文件。")
        row = found[0]
        if row["kind"] == "image":
            # The citizen's own photo, without its EXIF (GPS position, camera, time): only agents and units
            # get the original.
            path, headers = await asyncio.to_thread(self._media.serve_public, row["storage_key"], row.get("filename"))
            return web.FileResponse(path, headers=headers)
        path, headers = self._media.serve(row["storage_key"], row.get("filename"))
        return web.FileResponse(path, headers=headers)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        session = _session(request.query.get("session"))
        ws = web.WebSocketResponse(heartbeat=25)
        await ws.prepare(request)
        with self._events.subscribe(topic(session)) as queue:
            pump = asyncio.ensure_future(self._pump(ws, queue))
            try:
                async for msg in ws:  # the page sends only "typing"; this waits for the close
                    if msg.type == WSMsgType.TEXT and msg.data == '{"type":"typing"}' \
                            and self._typing.allow(session):
                        self._events.publish(self._agents_topic, {"type": "citizen_typing", "ref": typing_ref(session)})
            finally:
                pump.cancel()
        return ws

    @staticmethod
    async def _pump(ws: web.WebSocketResponse, queue: "asyncio.Queue[dict[str, Any]]") -> None:
        while True:
            event = await queue.get()
            await ws.send_json(event)

    # --- outbound (called by the outbox)

    async def deliver(self, message: OutboundMessage) -> None:
        """Web replies are stored history; pushing them to open sockets is best effort by design."""
        event = {"type": "reply", "id": message.meta.get("message_id"), "text": message.text,
                 "from": message.sender_role}
        for key in ("buttons", "ticket_number", "emergency_lines"):
            if message.meta.get(key):
                event[key] = message.meta[key]
        self._events.publish(topic(message.conversation_key), event)


def _attachment_json(a: Attachment) -> dict[str, Any]:
    return {"kind": a.kind.value, "content_type": a.content_type, "size": a.size, "filename": a.filename}


def _session(value: Any) -> str:
    if not isinstance(value, str) or not SESSION_RE.match(value):
        raise BadRequest("session missing or malformed", code="bad_session",
                         message_zh="会话已失效，请刷新页面后重试。")
    return value


def _read_json_fields(body: dict[str, Any]) -> tuple[str, str, str | None]:
    session = _session(body.get("session"))
    text = body.get("text", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise BadRequest("text must be a string", code="bad_text")
    text = text.strip()
    if len(text) > MAX_TEXT_CHARS:
        raise BadRequest("text too long", code="text_too_long",
                         message_zh=f"单条消息不能超过{MAX_TEXT_CHARS}字，请分几次发送。")
    client_id = body.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not CLIENT_ID_RE.match(client_id)):
        raise BadRequest("client_id malformed", code="bad_client_id")
    return session, text, client_id
