"""The phone (an IVR/ASR platform's call events, or Twilio-style TwiML) as a registered channel."""

from __future__ import annotations

from typing import Any, Callable

from aiohttp import web

from channels.base import Channel
from channels.ivr.adapter import IvrChannel, IvrSettings
from channels.registry import Capabilities, ChannelServices, late
from channels.safe_fetch import FetchPolicy


class IvrPlugin:
    channel = Channel.IVR
    section = "ivr"
    capabilities = Capabilities(conversational=True, delivered_on_store=True, passive_reply_seconds=2.0,
                                media=frozenset({"voice"}))

    def enabled(self, settings: Any) -> bool:
        return bool(settings.ivr.enabled)

    def routes(self, adapter: Callable[[], Any]) -> list[web.AbstractRouteDef]:
        return [web.post("/channels/ivr/events", late(adapter, "events")),
                web.post("/channels/ivr/twiml", late(adapter, "twiml"))]

    async def start(self, services: ChannelServices) -> IvrChannel:
        i, secrets = services.settings.ivr, services.settings.secrets

        async def call_state(call_id: str) -> str | None:
            return await services.conversation_state(Channel.IVR.value, f"call:{call_id}")

        return IvrChannel(services.handle, services.media, IvrSettings(
            secret=secrets.ivr_secret.get_secret_value() if secrets.ivr_secret else None,
            twilio_auth_token=secrets.twilio_auth_token.get_secret_value() if secrets.twilio_auth_token else None,
            public_base_url=i.public_base_url or None, agent_seat=i.agent_seat,
            max_recording_bytes=i.max_recording_bytes,
            recordings=FetchPolicy(frozenset(i.recording_hosts), i.recording_require_https,
                                   i.recording_allow_private_addresses)), services.screen, call_state, services.http)

    async def stop(self, adapter: Any) -> None:
        return None
