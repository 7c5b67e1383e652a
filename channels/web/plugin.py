"""The web chat page as a registered channel."""

from __future__ import annotations

from typing import Any, Callable

from aiohttp import web

from channels.base import Channel
from channels.registry import Capabilities, ChannelServices, late
from channels.web.adapter import STATIC_DIR, WebChannel, WebLimits


class WebPlugin:
    channel = Channel.WEB
    section = "server"  # the page is part of the gateway's own server; its limits are in [abuse]
    capabilities = Capabilities(conversational=True, delivered_on_store=True,
                                media=frozenset({"image", "video"}), rich_choices=True)

    def enabled(self, settings: Any) -> bool:
        return True

    def routes(self, adapter: Callable[[], Any]) -> list[web.AbstractRouteDef]:
        return [web.get("/", late(adapter, "index")), web.static("/static/web", STATIC_DIR),
                web.post("/api/v1/web/messages", late(adapter, "post_message")),
                web.get("/api/v1/web/history", late(adapter, "get_history")),
                web.get("/api/v1/web/ws", late(adapter, "websocket")),
                web.get("/api/v1/web/media/{attachment_id:\\d{1,18}}", late(adapter, "get_media"))]

    async def start(self, services: ChannelServices) -> WebChannel:
        s = services.settings
        a = s.abuse
        return WebChannel(services.handle, services.media, services.history, services.attachment, services.events,
                          s.server.reply_wait_seconds,
                          WebLimits(a.messages_per_minute_per_session, a.new_sessions_per_hour_per_address,
                                    tuple(s.server.trusted_proxies)), services.screen, services.agents_topic,
                          services.windows)

    async def stop(self, adapter: Any) -> None:
        return None
