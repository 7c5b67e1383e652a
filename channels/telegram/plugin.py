"""Telegram (python-telegram-bot, webhook) as a registered channel."""

from __future__ import annotations

import logging
from typing import Any, Callable

from aiohttp import web
from telegram import Bot
from telegram.error import TelegramError

from channels.base import Channel
from channels.registry import Capabilities, ChannelConfigError, ChannelServices, late
from channels.telegram.adapter import TelegramChannel

log = logging.getLogger(__name__)


class TelegramPlugin:
    channel = Channel.TELEGRAM
    section = "telegram"
    capabilities = Capabilities(conversational=True, media=frozenset({"image", "video", "voice"}))

    def enabled(self, settings: Any) -> bool:
        return bool(settings.telegram.enabled and settings.secrets.telegram_bot_token)

    def routes(self, adapter: Callable[[], Any]) -> list[web.AbstractRouteDef]:
        return [web.post("/channels/telegram/{path}", late(adapter, "webhook"))]

    async def start(self, services: ChannelServices) -> TelegramChannel:
        """The Bot is created and checked (getMe) before the channel takes updates."""
        s, t = services.settings.secrets, services.settings.telegram
        bot = Bot(s.telegram_bot_token.get_secret_value(), base_url=t.api_base, base_file_url=t.file_base)
        try:
            await bot.initialize()
        except TelegramError as exc:
            raise ChannelConfigError(f"Telegram bot did not start: {type(exc).__name__}") from exc
        log.info("Telegram bot @%s ready", bot.username)
        return TelegramChannel(
            services.handle, services.media, bot,
            s.telegram_webhook_path.get_secret_value() if s.telegram_webhook_path else "",
            s.telegram_secret_token.get_secret_value() if s.telegram_secret_token else "", t.max_media_bytes)

    async def stop(self, adapter: Any) -> None:
        await adapter.bot.shutdown()
