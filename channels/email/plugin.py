"""E-mail as a registered channel: the SMTP server on the gateway's loop, replies through the relay."""

from __future__ import annotations

import logging
import ssl
from typing import Any, Callable

from aiohttp import web

from channels.base import Channel
from channels.email.adapter import EmailChannel, EmailSettings, start_smtp_server
from channels.email.auth import dns_txt
from channels.registry import Capabilities, ChannelConfigError, ChannelServices

log = logging.getLogger(__name__)


class EmailPlugin:
    channel = Channel.EMAIL
    section = "email"
    capabilities = Capabilities(conversational=False, deliver_in_background=True,
                                media=frozenset({"image", "video", "file"}))

    def __init__(self) -> None:
        self._servers: dict[int, Any] = {}

    def enabled(self, settings: Any) -> bool:
        return bool(settings.email.enabled)

    def routes(self, adapter: Callable[[], Any]) -> list[web.AbstractRouteDef]:
        return []

    async def start(self, services: ChannelServices) -> EmailChannel:
        e = services.settings.email

        async def ticket_thread(number: str, sender: str) -> str | None:
            return await services.ticket_thread(number, Channel.EMAIL.value, sender)

        adapter = EmailChannel(services.handle, services.media, EmailSettings(
            addresses=frozenset(a.lower() for a in e.addresses), domain=e.domain,
            max_message_bytes=e.max_message_bytes, relay_host=e.relay_host, relay_port=e.relay_port,
            max_auto_replies_per_hour=e.max_auto_replies_per_hour,
            max_mails_per_sender_per_hour=e.max_mails_per_sender_per_hour),
            ticket_thread, services.reply_context, dns_txt(e.dns_timeout_seconds, e.dns_server), services.windows)
        tls = None
        if e.tls_cert and e.tls_key:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(services.settings.path(e.tls_cert), services.settings.path(e.tls_key))
        try:
            server = await start_smtp_server(adapter, e.host, e.port, tls)
        except OSError as exc:
            raise ChannelConfigError(f"cannot listen for SMTP on {e.host}:{e.port}: {exc}") from exc
        port = server.sockets[0].getsockname()[1]
        adapter.smtp_port = port  # type: ignore[attr-defined]  (0 in the settings: the port the OS chose)
        self._servers[id(adapter)] = server
        log.info("SMTP server on %s:%d for %s", e.host, port, ", ".join(e.addresses))

        async def smtp_check() -> dict[str, Any]:
            return {"ok": server.is_serving(), "port": port}

        services.add_health("smtp", smtp_check, False)
        return adapter

    async def stop(self, adapter: Any) -> None:
        server = self._servers.pop(id(adapter), None)
        if server is not None:
            server.close()
            await server.wait_closed()
        await adapter.close()
