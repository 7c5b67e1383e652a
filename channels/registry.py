"""The channel contract and the registry the gateway builds its channels from (issue 15).

A channel is a package with a plugin: what it can do (`Capabilities`), which settings section turns it
on, its HTTP routes, and how it starts and stops. The gateway lends it `ChannelServices` (all
callables and plain objects: channels never import the gateway) and never names a channel itself.
Adding one = a package with a plugin + a settings section + a line in `default_plugins` (or a plugin
handed to `create_app`, as the contract test does with a toy channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol, Sequence

from aiohttp import web

from channels.rate_limit import local_windows
from channels.base import Channel, ChannelAdapter, MessageHandler


@dataclass(frozen=True, slots=True)
class Capabilities:
    # The citizen converses with the bot (web, WeChat, phone, Telegram), as opposed to sending one whole
    # message that is answered from the knowledge base or becomes a ticket (e-mail).
    conversational: bool
    # Replies are picked up from the store (the web page's socket, the phone's next turn): no outbox retries.
    delivered_on_store: bool = False
    # The platform is slow to accept (an SMTP relay): the first delivery attempt runs off the request.
    deliver_in_background: bool = False
    # The platform waits this long for an answer inside its own request (WeChat 5 s); None: no passive reply.
    passive_reply_seconds: float | None = None
    media: frozenset[str] = frozenset()  # attachment kinds it carries (image, video, voice, file)
    # 「您是想问」 shown as buttons; otherwise the numbered list in the text is what the citizen sees.
    rich_choices: bool = False


class ChannelConfigError(Exception):
    """A channel cannot start with its settings (a port taken, a certificate missing): start-up fails."""


HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class ChannelServices:
    """What the gateway lends a channel."""

    handle: MessageHandler
    media: Any                                  # channels.media.MediaStore
    settings: Any                               # the gateway's settings: a plugin reads its section and secrets
    http: Callable[[], Any]                     # the shared aiohttp.ClientSession, once it exists
    screen: Callable[[str], Sequence[str] | None]   # emergency lines for a text, nothing stored
    events: Any                                 # publish(topic, event) for the agents' console
    agents_topic: str
    history: Callable[[str, str], Awaitable[list[dict[str, Any]]]]          # channel, conversation key
    attachment: Callable[[int], Awaitable[Any]]
    conversation_state: Callable[[str, str], Awaitable[str | None]]         # channel, conversation key
    ticket_thread: Callable[[str, str, str], Awaitable[str | None]]         # number, channel, sender
    reply_context: Callable[..., Awaitable[Any]]
    token_get: Callable[[str, str], Awaitable[Any]]                         # platform, account
    token_put: Callable[[str, str, str, Any], Awaitable[None]]
    add_health: Callable[[str, HealthCheck, bool], None]
    # Abuse counters: this process's, or every gateway's through Redis (channels.rate_limit.Windows).
    windows: Callable[[str, int, float], Any] = local_windows


class ChannelPlugin(Protocol):
    channel: Channel
    section: str
    capabilities: Capabilities

    def enabled(self, settings: Any) -> bool:
        """Whether the settings turn it on (its section's `enabled`, and any secret it cannot work without)."""

    def routes(self, adapter: Callable[[], Any]) -> list[web.AbstractRouteDef]:
        """Its HTTP routes; `adapter()` gives the started adapter when a request comes."""

    async def start(self, services: ChannelServices) -> ChannelAdapter:
        """Build the adapter (and whatever it listens on); raise ChannelConfigError when it cannot."""

    async def stop(self, adapter: Any) -> None: ...


def default_plugins() -> list[ChannelPlugin]:
    from channels.email.plugin import EmailPlugin
    from channels.ivr.plugin import IvrPlugin
    from channels.telegram.plugin import TelegramPlugin
    from channels.web.plugin import WebPlugin
    from channels.wechat.plugin import WechatPlugin

    return [WebPlugin(), EmailPlugin(), WechatPlugin(), IvrPlugin(), TelegramPlugin()]


def late(adapter: Callable[[], Any], method: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A handler that calls `method` on the adapter started after the routes were registered."""
    async def handler(request: web.Request) -> web.StreamResponse:
        return await getattr(adapter(), method)(request)  # type: ignore[no-any-return]
    return handler
