"""Connections to the outgoing relay, kept open between replies.

A new connection per reply costs the TCP handshake, the greeting, EHLO and QUIT: more round trips
than the reply itself (issue 16's e-mail profile). A connection goes back to the pool after a
successful send and is used again only while it has been idle less than `reuse_within` seconds, so
a relay's own idle timeout (usually minutes) has not closed it. A connection that fails in any way
is closed and never reused; the outbox retries the reply (same Message-ID), as before. One that
turns out closed as it is used again (the relay's timeout fired meanwhile) is replaced at once by a
new connection for the same reply, which would otherwise wait out the outbox's back-off. Closed
after the relay took the mail but before its 250, the reply goes twice (same Message-ID), as the
outbox's later resend would send it: a stale kept connection fails at MAIL, long before.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import aiosmtplib


@dataclass(frozen=True, slots=True)
class RelayAddress:
    host: str
    port: int
    local_hostname: str  # our EHLO name: otherwise the client asks the resolver for this machine's FQDN
    timeout: float = 15.0


class RelayConnections:
    def __init__(self, address: RelayAddress, max_idle: int = 8, reuse_within: float = 10.0) -> None:
        self._address = address
        self._max_idle = max_idle
        self._reuse_within = reuse_within
        self._idle: list[tuple[float, aiosmtplib.SMTP]] = []

    async def send(self, data: bytes, sender: str, recipient: str, mail_options: list[str] | None = None) -> None:
        """Raises aiosmtplib's errors, OSError and TimeoutError as `aiosmtplib.send` does."""
        client, kept = await self._take()
        try:
            await self._sendmail(client, data, sender, recipient, mail_options)
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
            if not kept:
                raise
            client = await self._connect()  # the kept one was closed under us: once more, on a new one
            await self._sendmail(client, data, sender, recipient, mail_options)
        self._give_back(client)

    async def _sendmail(self, client: aiosmtplib.SMTP, data: bytes, sender: str, recipient: str,
                        mail_options: list[str] | None) -> None:
        """One attempt; a connection that failed in any way is closed."""
        try:
            await client.sendmail(sender, [recipient], data, mail_options=mail_options or [])
        except BaseException:
            await self._close(client)
            raise

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._close(c) for _, c in idle))

    async def _take(self) -> tuple[aiosmtplib.SMTP, bool]:
        """A connection, and whether it was kept from an earlier reply."""
        now = time.monotonic()
        usable = []
        for since, client in self._idle:
            if now - since < self._reuse_within and client.is_connected:
                usable.append((since, client))
            else:
                client.close()  # idle too long: dropped at once, without a QUIT the reply would wait for
        self._idle = usable
        if self._idle:
            return self._idle.pop()[1], True  # the most recently used
        return await self._connect(), False

    async def _connect(self) -> aiosmtplib.SMTP:
        a = self._address
        client = aiosmtplib.SMTP(hostname=a.host, port=a.port, timeout=a.timeout, start_tls=False, use_tls=False,
                                 local_hostname=a.local_hostname)
        await client.connect()
        return client

    def _give_back(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self._max_idle:
            self._idle.append((time.monotonic(), client))
        else:
            client.close()  # more idle connections than replies need: dropped without waiting for QUIT

    @staticmethod
    async def _close(client: aiosmtplib.SMTP) -> None:
        try:
            with contextlib.suppress(Exception):
                if client.is_connected:
                    await asyncio.wait_for(client.quit(), 2)
        finally:
            client.close()
