"""The Telegram channel: webhook updates in (secret path and secret-token header), replies out through
python-telegram-bot's `Bot` (its base URL is a setting, so tests run against a fake Bot API)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from telegram import Bot, Message, Update
from telegram.error import BadRequest as TgBadRequest
from telegram.error import Forbidden as TgForbidden
from telegram.error import NetworkError, RetryAfter, TelegramError

from channels.base import AttachmentKind, Channel, InboundMessage, MessageHandler, MessageKind, OutboundMessage
# Local names: the Telegram library has its own BadRequest and Forbidden.
from channels.errors import BadRequest as BadRequestError
from channels.errors import DeliveryError, Forbidden, NotFoundError, PayloadTooLarge, UnsupportedMediaType
from channels.http_body import json_object
from channels.media import MediaStore

log = logging.getLogger(__name__)

WELCOME = ("您好，这里是泰安市12345政务服务便民热线。请直接发送您要咨询或反映的问题，可以附上照片、视频或语音。"
           "紧急情况请直接拨打110、119、120、122。")


class TelegramChannel:
    channel = Channel.TELEGRAM

    def __init__(self, handle: MessageHandler, media: MediaStore, bot: Bot, webhook_path: str, secret_token: str,
                 max_media_bytes: int) -> None:
        self._handle = handle
        self._media = media
        self.bot = bot
        self._path = webhook_path
        self._secret = secret_token
        self._max_media = max_media_bytes

    async def webhook(self, request: web.Request) -> web.Response:
        if not self._path or request.match_info.get("path") != self._path:
            raise NotFoundError("unknown webhook path", code="not_found")
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != self._secret:
            raise Forbidden("bad Telegram secret token", code="bad_secret")
        data = await json_object(request)
        if not isinstance(data.get("update_id"), int):
            raise BadRequestError("update without update_id", code="malformed_update")
        try:
            update = Update.de_json(_tolerate(data), self.bot)
        except Exception as exc:  # python-telegram-bot raises whatever the shape breaks (AttributeError, OverflowError...)
            raise BadRequestError(f"malformed Telegram update: {type(exc).__name__}", code="malformed_update") from exc
        try:
            msg = await self._inbound(update, data)
        except (AttributeError, TypeError, ValueError, OverflowError, OSError) as exc:
            raise BadRequestError(f"malformed Telegram update: {type(exc).__name__}", code="malformed_update") from exc
        await self._handle(msg)
        return web.json_response({})  # 200: Telegram must not send it again

    async def _inbound(self, update: Update, data: dict[str, Any]) -> InboundMessage:
        message: Message | None = update.message
        common: dict[str, Any] = {"channel": Channel.TELEGRAM, "external_id": f"update:{update.update_id}",
                                  "raw": str(data)[:100_000]}
        if update.callback_query is not None and update.callback_query.message is not None:
            cq = update.callback_query
            return InboundMessage(sender=str(cq.from_user.id), conversation_key=str(cq.message.chat.id),
                                  text=cq.data or "", sender_name=cq.from_user.first_name, **common)
        if message is None:
            kind = next((k for k in data if k != "update_id"), "unknown")
            chat = (data.get(kind) or {}).get("chat", {}) if isinstance(data.get(kind), dict) else {}
            log.info("telegram: unsupported update %s kept", kind)
            return InboundMessage(sender=str(chat.get("id", "unknown")), conversation_key=str(chat.get("id", "unknown")),
                                  kind=MessageKind.UNSUPPORTED, meta={"update_type": kind}, **common)
        chat_id, user = str(message.chat.id), message.from_user
        base = {**common, "sender": str(user.id) if user else chat_id, "conversation_key": chat_id,
                "sender_name": user.first_name if user else None}
        text = message.text or message.caption or ""
        if text.strip().startswith("/start"):
            return InboundMessage(kind=MessageKind.EVENT, meta={"event": "start", "event_reply": WELCOME}, **base)
        media = None
        if message.photo:
            media = (message.photo[-1].file_id, AttachmentKind.IMAGE, None)  # the largest size
        elif message.video:
            media = (message.video.file_id, AttachmentKind.VIDEO, message.video.file_name)
        elif message.voice:
            media = (message.voice.file_id, AttachmentKind.VOICE, None)
        elif message.document:
            media = (message.document.file_id, AttachmentKind.FILE, message.document.file_name)
        if media:
            attachments = await self._download(*media)
            return InboundMessage(text=text, kind=MessageKind.MEDIA, attachments=attachments, **base)
        if message.location:
            loc = message.location
            return InboundMessage(text=f"[位置] ({loc.latitude}, {loc.longitude})", kind=MessageKind.MEDIA,
                                  meta={"location": {"lat": loc.latitude, "lng": loc.longitude}}, **base)
        if text:
            return InboundMessage(text=text, **base)
        return InboundMessage(kind=MessageKind.UNSUPPORTED, meta={"update_type": "message"}, **base)

    async def _download(self, file_id: str, kind: AttachmentKind, name: str | None) -> tuple[Any, ...]:
        try:
            file = await self.bot.get_file(file_id)
            if file.file_size and file.file_size > self._max_media:
                raise PayloadTooLarge("telegram file over the limit")
            data = bytes(await file.download_as_bytearray())
        except (TelegramError, PayloadTooLarge, OSError) as exc:
            log.warning("telegram: file not downloaded: %s", exc)
            return ()
        try:
            return (await self._media.save(data, filename=name, allowed_kinds=frozenset(
                {AttachmentKind.IMAGE, AttachmentKind.VIDEO, AttachmentKind.VOICE})),)
        except (UnsupportedMediaType, PayloadTooLarge):
            return (await self._media.save_as(data, "application/octet-stream", kind, name),)

    async def deliver(self, message: OutboundMessage) -> None:
        try:
            await self.bot.send_message(chat_id=int(message.conversation_key), text=message.text)
        except RetryAfter as exc:
            retry = exc.retry_after.total_seconds() if hasattr(exc.retry_after, "total_seconds") else exc.retry_after
            raise DeliveryError(f"telegram flood control: retry after {retry}s", retry_after=float(retry)) from exc
        except (TgForbidden, TgBadRequest) as exc:
            raise DeliveryError(f"telegram refused: {exc}", permanent=True) from exc
        except (NetworkError, TelegramError) as exc:
            raise DeliveryError(f"telegram: {type(exc).__name__}: {exc}") from exc


def _tolerate(value: Any) -> Any:
    """Older Bot API payloads lack fields the library now requires (`file_unique_id`, `is_bot`):
    fill them in rather than refuse a citizen's photo."""
    if isinstance(value, list):
        return [_tolerate(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _tolerate(v) for k, v in value.items()}
    if "file_id" in out and "file_unique_id" not in out:
        out["file_unique_id"] = out["file_id"]
    if "first_name" in out and "id" in out and "type" not in out and "is_bot" not in out:
        out["is_bot"] = False
    return out
