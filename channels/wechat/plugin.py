"""WeChat official accounts as a registered channel."""

from __future__ import annotations

from typing import Any, Callable

from aiohttp import web

from channels.base import Channel
from channels.registry import Capabilities, ChannelServices, late
from channels.wechat.adapter import WechatAccount, WechatChannel
from channels.wechat.api import WechatApi


class WechatPlugin:
    channel = Channel.WECHAT
    section = "wechat"
    capabilities = Capabilities(conversational=True, passive_reply_seconds=5.0,
                                media=frozenset({"image", "video", "voice"}))

    def enabled(self, settings: Any) -> bool:
        return bool(settings.wechat.enabled)

    def routes(self, adapter: Callable[[], Any]) -> list[web.AbstractRouteDef]:
        return [web.get("/channels/wechat/{app_id}", late(adapter, "verify")),
                web.post("/channels/wechat/{app_id}", late(adapter, "receive"))]

    async def start(self, services: ChannelServices) -> WechatChannel:
        w = services.settings.wechat

        async def token_get(app_id: str) -> Any:
            return await services.token_get("wechat", app_id)

        async def token_put(app_id: str, token: str, expires: Any) -> None:
            await services.token_put("wechat", app_id, token, expires)

        accounts = {a.app_id: WechatAccount(
            a.app_id, a.token.get_secret_value(),
            a.encoding_aes_key.get_secret_value() if a.encoding_aes_key else None,
            WechatApi(services.http(), w.api_base, a.app_id, a.app_secret.get_secret_value(), token_get, token_put))
            for a in w.accounts}
        return WechatChannel(services.handle, services.media, accounts, w.max_media_bytes, w.passive_wait_seconds,
                             services.reply_context)

    async def stop(self, adapter: Any) -> None:
        return None
