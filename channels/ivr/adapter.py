"""The phone channel: the IVR/ASR platform posts call events, we answer with actions.

Two doors to one logic: a generic JSON webhook (`/channels/ivr/events`, HMAC-SHA256 over timestamp and
body) that any platform can reach with a thin adapter, and a TwiML endpoint (`/channels/ivr/twiml`) for
platforms that speak Twilio's voice webhook. A call is one conversation; every final transcript is one
turn of the pipeline; partial transcripts are screened for emergencies only. An emergency is answered
with one short sentence and a transfer to the line, in the same response.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl
from typing import Any, Awaitable, Callable, Sequence
from xml.sax.saxutils import escape, quoteattr

import aiohttp
from aiohttp import web

from channels.base import (UNKNOWN_SENDER, AttachmentKind, Channel, InboundMessage, MessageHandler, MessageKind,
                           OutboundMessage, Reply)
from channels.errors import BadRequest, Forbidden, DeliveryError, PayloadTooLarge, Unauthorized, UnsupportedMediaType
from channels.http_body import json_object
from channels.safe_fetch import FetchPolicy, FetchRefused, fetch_limited
from channels.media import MediaStore

log = logging.getLogger(__name__)

MAX_SKEW_SECONDS = 300
GREETING = "您好，这里是泰安市12345政务服务便民热线。请在提示音后说出您的问题。紧急情况请挂断后直接拨打110、119、120或122。"
EMERGENCY_SAY = "听起来是紧急情况，正在为您转接{line}，请不要挂机。"
AGENT_SAY = "正在为您转接人工服务，请稍候。"
GOODBYE = "感谢您的来电，再见。"
EVENT_TYPES = ("call.started", "transcript", "dtmf", "call.ended")

# Screens a text for emergencies without storing it (partial transcripts).
EmergencyScreen = Callable[[str], "Sequence[str] | None"]
# The conversation's state (to see a hand-over to an agent).
ConversationState = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class IvrSettings:
    secret: str | None
    twilio_auth_token: str | None
    public_base_url: str | None
    agent_seat: str
    max_recording_bytes: int
    recordings: FetchPolicy = FetchPolicy(frozenset())


def speakable(text: str, limit: int = 6) -> list[str]:
    """Short sentences for text-to-speech: no links, no emoji, no ticket layout."""
    text = re.sub(r"https?://\S+|[\U0001F000-\U0001FFFF]|[【】\[\]#*]", "", text)
    sentences = [s.strip() for s in re.split(r"(?<=[。！？!?；;])|\n+", text) if s and s.strip()]
    return sentences[:limit] or [text.strip()]


def actions_for(replies: Sequence[Reply], state: str | None, agent_seat: str) -> list[dict[str, Any]]:
    for r in replies:
        if r.emergency_lines:
            line = r.emergency_lines[0]
            return [{"type": "say", "text": EMERGENCY_SAY.format(line=line)}, {"type": "transfer", "to": line}]
    actions: list[dict[str, Any]] = [{"type": "say", "text": s} for r in replies for s in speakable(r.text)]
    if state in ("waiting_for_agent", "agent"):
        return actions + [{"type": "say", "text": AGENT_SAY}, {"type": "transfer", "to": agent_seat}]
    return actions + [{"type": "gather", "input": "speech", "timeout": 6}]


class IvrChannel:
    channel = Channel.IVR

    def __init__(self, handle: MessageHandler, media: MediaStore, settings: IvrSettings, screen: EmergencyScreen,
                 conversation_state: ConversationState, http: Callable[[], aiohttp.ClientSession]) -> None:
        self._handle = handle
        self._media = media
        self.settings = settings
        self._screen = screen
        self._state = conversation_state
        self._http = http

    # --- the generic JSON webhook

    async def events(self, request: web.Request) -> web.Response:
        body = await request.read()
        self._check_hmac(request, body)
        event = await json_object(request)
        kind, call_id = event.get("type"), event.get("call_id")
        if not isinstance(call_id, str) or not call_id or kind not in EVENT_TYPES:
            if isinstance(call_id, str) and call_id:
                # Unknown event types are kept and acknowledged: the platform must not retry forever.
                await self._handle(self._message(event, "unsupported", "", MessageKind.UNSUPPORTED, body))
                return web.json_response({"actions": []})
            raise BadRequest("event needs a call_id and a known type", code="bad_event")
        seq = event.get("sequence", 0)
        if not isinstance(seq, int):
            raise BadRequest("sequence must be an integer", code="bad_event")
        if kind == "call.started":
            replies = await self._handle(self._message(event, "start", "", MessageKind.EVENT, body,
                                                       {"event_reply": GREETING}))
            return web.json_response({"actions": [{"type": "say", "text": s} for r in replies for s in speakable(r.text)]
                                      + [{"type": "gather", "input": "speech", "timeout": 6}]})
        if kind == "call.ended":
            await self._ended(event, body)
            return web.json_response({"actions": []})
        text = str(event.get("digits") if kind == "dtmf" else event.get("text") or "").strip()
        if kind == "dtmf" and text == "0":
            text = "转人工"
        if kind == "transcript" and not event.get("final", True):
            lines = self._screen(text)
            if not lines:
                return web.json_response({"actions": []})  # keep listening
        replies = await self._handle(self._message(event, str(seq), text, MessageKind.TEXT, body,
                                                   {"asr_confidence": event.get("confidence"),
                                                    "final": bool(event.get("final", True))}))
        return web.json_response({"actions": actions_for(replies, await self._state(call_id), self.settings.agent_seat)})

    def _check_hmac(self, request: web.Request, body: bytes) -> None:
        secret = self.settings.secret
        if not secret:
            raise Unauthorized("IVR webhook secret not configured", code="ivr_disabled")
        ts = request.headers.get("X-Hotline-Timestamp", "")
        given = request.headers.get("X-Hotline-Signature", "").removeprefix("sha256=")
        if not ts.isdigit() or abs(time.time() - int(ts)) > MAX_SKEW_SECONDS:
            raise Unauthorized("stale or missing timestamp", code="stale_timestamp")
        expected = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given, expected):
            raise Unauthorized("bad IVR signature", code="bad_signature")

    def _message(self, event: dict[str, Any], seq: str, text: str, kind: MessageKind, raw: bytes,
                 meta: dict[str, Any] | None = None) -> InboundMessage:
        caller = str(event.get("caller") or event.get("from") or UNKNOWN_SENDER)
        return InboundMessage(channel=Channel.IVR, external_id=f"{event['call_id']}:{seq}", sender=caller,
                              conversation_key=f"call:{event['call_id']}", text=text, kind=kind,
                              raw=raw.decode("utf-8", "replace"), meta={"event": event.get("type"), **(meta or {})})

    async def _ended(self, event: dict[str, Any], raw: bytes) -> None:
        attachments: tuple[Any, ...] = ()
        url = event.get("recording_url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            attachments = await self._fetch_recording(url)
        await self._handle(InboundMessage(
            channel=Channel.IVR, external_id=f"{event['call_id']}:end", sender=str(event.get("caller") or UNKNOWN_SENDER),
            conversation_key=f"call:{event['call_id']}", kind=MessageKind.MEDIA if attachments else MessageKind.EVENT,
            attachments=attachments, raw=raw.decode("utf-8", "replace"),
            meta={"event": "call.ended", "duration": event.get("duration"), "suppress_reply": True}))

    async def _fetch_recording(self, url: str) -> tuple[Any, ...]:
        limit = self.settings.max_recording_bytes
        try:
            data = await fetch_limited(self._http(), url, self.settings.recordings, limit)
        except FetchRefused as exc:
            log.warning("ivr: recording URL refused: %s", exc)
            return ()
        except (aiohttp.ClientError, OSError, PayloadTooLarge, TimeoutError) as exc:
            log.warning("ivr: recording not fetched: %s", exc)
            return ()
        try:
            return (await self._media.save(bytes(data), filename="recording",
                                           allowed_kinds=frozenset({AttachmentKind.VOICE})),)
        except UnsupportedMediaType:
            return (await self._media.save_as(bytes(data), "application/octet-stream", AttachmentKind.VOICE,
                                              "recording"),)

    # --- TwiML (Twilio's voice webhook)

    async def twiml(self, request: web.Request) -> web.Response:
        # The signature is checked before anything else is made of the body (Twilio's webhook guidance):
        # the body is only split into its fields, as UTF-8, to compute it.
        if request.content_type != "application/x-www-form-urlencoded":
            raise Forbidden(f"not a Twilio webhook ({request.content_type[:64]})", code="bad_signature")
        raw_form = await request.read()
        params = dict(parse_qsl(raw_form.decode("utf-8", "replace"), keep_blank_values=True))
        self._check_twilio(request, params)
        call_sid = params.get("CallSid")
        if not call_sid:
            raise BadRequest("CallSid missing", code="bad_event")
        event: dict[str, Any] = {"call_id": call_sid, "caller": params.get("From"), "called": params.get("To")}
        raw = json.dumps(params, ensure_ascii=False).encode()
        status = params.get("CallStatus", "")
        if status in ("completed", "busy", "failed", "no-answer", "canceled"):
            await self._ended({**event, "recording_url": params.get("RecordingUrl")}, raw)
            return _twiml([])
        speech, digits = params.get("SpeechResult"), params.get("Digits")
        if not speech and not digits:
            replies = await self._handle(self._message({**event, "type": "call.started"}, "start", "",
                                                       MessageKind.EVENT, raw, {"event_reply": GREETING}))
            actions = [{"type": "say", "text": s} for r in replies for s in speakable(r.text)]
            return _twiml(actions + [{"type": "gather", "input": "speech", "timeout": 6}])
        text = speech or ("转人工" if digits == "0" else digits or "")
        seq = hashlib.sha256(f"{text}|{params.get('Confidence', '')}".encode()).hexdigest()[:12]
        replies = await self._handle(self._message({**event, "type": "transcript"}, f"tw:{seq}", text,
                                                   MessageKind.TEXT, raw, {"asr_confidence": params.get("Confidence")}))
        return _twiml(actions_for(replies, await self._state(call_sid), self.settings.agent_seat),
                      action_url=self._public_url(request))

    def _public_url(self, request: web.Request) -> str:
        base = self.settings.public_base_url
        return f"{base.rstrip('/')}{request.path_qs}" if base else str(request.url)

    def _check_twilio(self, request: web.Request, params: dict[str, str]) -> None:
        token = self.settings.twilio_auth_token
        if not token:
            raise Forbidden("Twilio auth token not configured", code="ivr_disabled")
        signed = self._public_url(request) + "".join(k + params[k] for k in sorted(params))
        expected = base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()).decode()
        if not hmac.compare_digest(request.headers.get("X-Twilio-Signature", ""), expected):
            raise Forbidden("bad X-Twilio-Signature", code="bad_signature")

    # --- outbound: a call is answered in its own HTTP exchange; agents take calls by transfer

    async def deliver(self, message: OutboundMessage) -> None:
        """Replies to a call travel in the webhook's answer; there is nothing to push afterwards."""
        if message.sender_role == "agent":
            raise DeliveryError("an agent reaches a caller by a transfer to a seat, not by a message",
                                permanent=True)



def _twiml(actions: list[dict[str, Any]], action_url: str | None = None) -> web.Response:
    """Twilio's voice response: Say, Gather (speech, zh-CN), Dial, Hangup."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<Response>"]
    pending_says: list[str] = []

    def says() -> str:
        text = "".join(f'<Say language="zh-CN">{escape(s)}</Say>' for s in pending_says)
        pending_says.clear()
        return text

    for a in actions:
        if a["type"] == "say":
            pending_says.append(a["text"])
        elif a["type"] == "gather":
            attrs = f' input="speech" language="zh-CN" speechTimeout="auto" timeout="{a.get("timeout", 6)}"'
            if action_url:
                attrs += f" action={quoteattr(action_url)}"
            out.append(f"<Gather{attrs}>{says()}</Gather>")
        elif a["type"] == "transfer":
            out.append(says() + f"<Dial>{escape(a['to'])}</Dial>")
        elif a["type"] == "hangup":
            out.append(says() + "<Hangup/>")
    if pending_says:
        out.append(says())
    out.append("</Response>")
    return web.Response(text="".join(out), content_type="application/xml")
