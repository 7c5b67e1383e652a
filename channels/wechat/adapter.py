"""The WeChat official-account channel (wechatpy), as WeChat's servers really behave.

WeChat waits 5 s for an answer and retries three times. The pipeline gets
about 4 s: replies ready by then go back passively in the HTTP answer;
otherwise WeChat gets `success` at once and the replies follow as
customer-service messages from the outbox. Every reply passes through
`deliver`, which hands it to the waiting HTTP answer while one is open and to
the customer-service API otherwise, so nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from aiohttp import web
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from channels.base import AttachmentKind, Channel, InboundMessage, MessageHandler, MessageKind, OutboundMessage
from channels.keyed_lock import KeyedLock
from channels.errors import BadRequest, Forbidden, PayloadTooLarge, UnsupportedMediaType
from channels.media import MediaStore
from channels.wechat.api import WechatApi, WechatApiError
from channels.wechat.replay import NonceWindow
from channels.wechat.xml import flat_fields, parse_message

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_SKEW_SECONDS = 300
PASSIVE_WAIT_SECONDS = 4.0
OPENIDS_KEPT = 100_000
_DECLARATION = re.compile(rb"<!(?!\[CDATA\[)")  # DOCTYPE / ENTITY: never parsed, never expanded

WELCOME = ("欢迎关注泰安市12345政务服务便民热线！这里受理政务咨询、求助、投诉、举报和意见建议，全天24小时服务。"
           "直接发送文字、图片、语音或视频即可反映问题。\n"
           "注意：火灾、治安、急病、交通事故等紧急情况请直接拨打119、110、120、122，本号无法派出救援。")
MENU_REPLY = "请直接发送您要咨询或反映的问题，我们会尽快答复。"
MEDIA_KINDS = {"image": AttachmentKind.IMAGE, "voice": AttachmentKind.VOICE, "video": AttachmentKind.VIDEO,
               "shortvideo": AttachmentKind.VIDEO}


@dataclass(frozen=True)
class WechatAccount:
    app_id: str
    token: str
    encoding_aes_key: str | None
    api: WechatApi


@dataclass
class _Passive:
    texts: list[str] = field(default_factory=list)
    open: bool = True


class WechatChannel:
    channel = Channel.WECHAT

    def __init__(self, handle: MessageHandler, media: MediaStore, accounts: dict[str, WechatAccount],
                 max_media_bytes: int, passive_wait: float = PASSIVE_WAIT_SECONDS,
                 reply_context: Callable[[int], Awaitable[dict[str, Any] | None]] | None = None) -> None:
        self._handle = handle
        self._reply_context = reply_context
        self._media = media
        self._accounts = accounts
        self._max_media = max_media_bytes
        self._passive_wait = passive_wait
        self._waiting: dict[str, _Passive] = {}  # openid -> the HTTP answer being prepared
        self._turns = KeyedLock()
        # Which account each recent citizen wrote to, the last OPENIDS_KEPT of them (memory stays bounded;
        # an older one is read from the stored message, `reply_context`).
        self._openid_account: OrderedDict[str, str] = OrderedDict()
        # Signed queries of the timestamp window with their bodies: a captured query must not carry a new body.
        self._seen_queries = NonceWindow(2 * MAX_SKEW_SECONDS)

    def _account(self, request: web.Request) -> WechatAccount:
        account = self._accounts.get(request.match_info["app_id"])
        if account is None:
            raise Forbidden("unknown WeChat app id", code="unknown_app")
        q = request.query
        signature, timestamp, nonce = q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", "")
        try:
            check_signature(account.token, signature, timestamp, nonce)
        except InvalidSignatureException as exc:
            raise Forbidden("bad WeChat signature", code="bad_signature") from exc
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_SKEW_SECONDS:
            raise Forbidden("stale or missing timestamp", code="stale_timestamp")
        return account

    async def verify(self, request: web.Request) -> web.Response:
        """URL verification when the operators save the server URL in WeChat's console."""
        self._account(request)
        return web.Response(text=request.query.get("echostr", ""))

    async def receive(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise PayloadTooLarge("wechat push over the size limit")
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise PayloadTooLarge("wechat push over the size limit")
        if _DECLARATION.search(body):
            raise BadRequest("XML with a DOCTYPE or ENTITY declaration", code="xml_declaration")
        q = request.query
        encrypted = q.get("encrypt_type") == "aes"
        if account.encoding_aes_key and not encrypted:
            # Safe mode configured: a plaintext push did not come from WeChat (its signature does not
            # cover the body), whoever holds the query string could write anything.
            raise Forbidden("plaintext push for an account in safe mode", code="plaintext_refused")
        self._check_replay(account.app_id, q.get("timestamp", ""), q.get("nonce", ""), body)
        crypto = None
        if encrypted:
            if not account.encoding_aes_key:
                raise Forbidden("encrypted push for an account without an EncodingAESKey", code="no_aes_key")
            crypto = WeChatCrypto(account.token, account.encoding_aes_key, account.app_id)
            try:
                envelope = body.decode("utf-8")
                xml = crypto.decrypt_message(flat_fields(envelope) or envelope, q.get("msg_signature", ""),
                                             q.get("timestamp", ""), q.get("nonce", ""))
            except InvalidSignatureException as exc:
                raise Forbidden("bad msg_signature", code="bad_signature") from exc
            except InvalidAppIdException as exc:
                raise Forbidden("message for another app id", code="wrong_app_id") from exc
            except Exception as exc:  # not base64, bad padding, not XML
                raise BadRequest(f"undecryptable WeChat push: {type(exc).__name__}", code="malformed_xml") from exc
        else:
            xml = body.decode("utf-8", "replace")
        try:
            message = parse_message(xml)
        except Exception as exc:
            raise BadRequest(f"malformed WeChat XML: {type(exc).__name__}", code="malformed_xml") from exc
        if not getattr(message, "source", None):
            raise BadRequest("WeChat XML without FromUserName", code="malformed_xml")
        _check_fields(message)
        texts = await self._process(account, message, xml)
        if not texts:
            return web.Response(text="success")
        reply = TextReply(source=message.target, target=message.source, content="\n\n".join(texts)).render()
        if crypto is not None:
            reply = crypto.encrypt_message(reply, q.get("nonce", ""), q.get("timestamp"))
        return web.Response(text=reply, content_type="application/xml")

    def _check_replay(self, app_id: str, timestamp: str, nonce: str, body: bytes) -> None:
        """The same signed query again is WeChat retrying (same body: answered from the store); with
        another body it is a replay, refused. Kept per process for the timestamp window."""
        if not self._seen_queries.admit((app_id, timestamp, nonce), body):
            raise Forbidden("signed query replayed with another body", code="replayed_nonce")

    async def _process(self, account: WechatAccount, message: Any, xml: str) -> list[str]:
        openid = message.source
        self._openid_account[openid] = account.app_id
        self._openid_account.move_to_end(openid)
        if len(self._openid_account) > OPENIDS_KEPT:
            self._openid_account.popitem(last=False)
        msg = await self._inbound(account, message, xml)
        passive = _Passive()
        task = asyncio.ensure_future(self._run(openid, msg, passive))
        try:
            await asyncio.wait_for(asyncio.shield(task), self._passive_wait)
        except asyncio.TimeoutError:
            log.info("wechat: reply not ready in %.1fs; answering success, the outbox sends it later",
                     self._passive_wait)
        finally:
            passive.open = False
        return passive.texts

    async def _run(self, openid: str, msg: InboundMessage, passive: _Passive) -> None:
        """One message of a citizen at a time, so each passive answer carries its own replies."""
        async with self._turns.hold(openid):
            self._waiting[openid] = passive
            try:
                await self._handle(msg)
            finally:
                if self._waiting.get(openid) is passive:
                    del self._waiting[openid]

    async def _inbound(self, account: WechatAccount, message: Any, xml: str) -> InboundMessage:
        mtype = message.type
        event = getattr(message, "event", None)
        external_id = (str(message.id) if getattr(message, "id", None) else
                       f"{message.source}:{int(message.time.timestamp()) if hasattr(message.time, 'timestamp') else message.time}:{event or mtype}")
        common = dict(channel=Channel.WECHAT, external_id=f"{account.app_id}:{external_id}", sender=message.source,
                      conversation_key=message.source, raw=xml, meta={"app_id": account.app_id, "msg_type": mtype,
                                                                        **({"event": event} if event else {})})
        if mtype == "text":
            return InboundMessage(text=message.content or "", **common)
        if mtype in MEDIA_KINDS:
            attachments = await self._download(account, message.media_id, MEDIA_KINDS[mtype])
            text = (getattr(message, "recognition", None) or "").strip() if mtype == "voice" else ""
            if mtype == "voice":
                # WeChat's own speech recognition (when the account has it on) is the message's text; agents
                # are shown whether a voice message came with it.
                attachments = tuple(dataclasses.replace(a, meta={**a.meta, "transcript": bool(text)})
                                    for a in attachments)
            return InboundMessage(text=text, kind=MessageKind.MEDIA, attachments=attachments, **common)
        if mtype == "location":
            text = f"[位置] {message.label or ''} ({message.location_x}, {message.location_y})".strip()
            return InboundMessage(text=text, kind=MessageKind.MEDIA, **{**common, "meta": {
                **common["meta"], "location": {"lat": message.location_x, "lng": message.location_y,
                                               "label": message.label}}})
        if mtype == "link":
            return InboundMessage(text=f"[链接] {message.title}\n{message.description}\n{message.url}", **common)
        if mtype == "event" and event in ("subscribe", "unsubscribe", "click", "view", "subscribe_scan", "scan"):
            reply = event_reply(event)
            return InboundMessage(kind=MessageKind.EVENT, **{**common, "meta": {
                **common["meta"], **({"event_reply": reply} if reply else {})}})
        log.info("wechat: unsupported message type %s/%s kept", mtype, event)
        return InboundMessage(kind=MessageKind.UNSUPPORTED, **common)

    async def _download(self, account: WechatAccount, media_id: str | None, kind: AttachmentKind) -> tuple[Any, ...]:
        if not media_id or not isinstance(media_id, str) or len(media_id) > 256:
            # Nothing WeChat could serve: the message is kept (agents see the media is missing).
            log.warning("wechat: %s message without a usable MediaId", kind.value)
            return ()
        try:
            data, name = await account.api.download_media(media_id, self._max_media)
        except (WechatApiError, PayloadTooLarge, OSError, asyncio.TimeoutError) as exc:
            # The message is still stored and answered; agents see that the media is missing.
            log.warning("wechat: media %s not downloaded: %s", media_id[:16], exc)
            return ()
        try:
            return (await self._media.save(data, filename=name, allowed_kinds=frozenset(MEDIA_KINDS.values())),)
        except (UnsupportedMediaType, PayloadTooLarge):
            # AMR/SILK voice and other formats the sniffer does not know are kept as they came.
            return (await self._media.save_as(data, "application/octet-stream", kind, name),)

    # --- outbound

    async def deliver(self, message: OutboundMessage) -> None:
        passive = self._waiting.get(message.conversation_key)
        if passive is not None and passive.open:
            passive.texts.append(message.text)
            return
        app_id = self._openid_account.get(message.conversation_key)
        if app_id is None and len(self._accounts) > 1 and self._reply_context is not None:
            # An openid belongs to one official account: the one the citizen wrote to, as stored with the
            # message (another gateway, or this one before a restart, received it).
            context = await self._reply_context(int(message.meta["message_id"])) or {}
            app_id = context.get("app_id")
        if app_id not in self._accounts:
            app_id = next(iter(self._accounts))
        await self._accounts[app_id].api.send_text(message.recipient, message.text)


def event_reply(event: str | None) -> str | None:
    """What an event is answered with (None: nothing)."""
    if event in ("subscribe", "subscribe_scan"):
        return WELCOME
    if event == "click":
        return MENU_REPLY
    return None


def _check_fields(message: Any) -> None:
    """wechatpy converts fields when they are first read (MsgId to int, CreateTime to a date): read them
    all here, so a push like <MsgId>abc</MsgId> is a 400 with the reason, not a 500 further on."""
    for name in _field_names(type(message)):
        try:
            getattr(message, name)
        except (ValueError, TypeError, OverflowError, OSError, KeyError) as exc:
            raise BadRequest(f"WeChat field {name} unreadable: {type(exc).__name__}", code="malformed_xml") from exc


@functools.cache
def _field_names(message_class: type) -> tuple[str, ...]:
    """A message class's wechatpy fields, found once per class (walking its classes cost 3% of a WeChat
    message's time, issue 16)."""
    return tuple(name for cls in message_class.__mro__ for name, value in vars(cls).items()
                 if type(value).__name__ == "FieldDescriptor")
