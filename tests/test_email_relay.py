"""Replies to the outgoing relay over kept-open connections (channels/email/relay.py), against a real
aiosmtpd relay on loopback that counts the connections it is given."""

from __future__ import annotations

import asyncio
import email
import email.policy
from typing import AsyncIterator

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP

from channels.email.compose import compose_reply
from channels.email.relay import RelayAddress, RelayConnections


class CountingRelay:
    def __init__(self) -> None:
        self.connections: list[SMTP] = []
        self.subjects: list[str] = []
        self.refuse_next = 0

    async def handle_DATA(self, server: SMTP, session: object, envelope: object) -> str:
        if self.refuse_next:
            self.refuse_next -= 1
            return "451 4.3.0 try again later"
        self.subjects.append(str(email.message_from_bytes(envelope.content, policy=email.policy.default)["Subject"]))
        return "250 OK"


@pytest.fixture
async def relay() -> AsyncIterator[tuple[CountingRelay, int]]:
    r = CountingRelay()

    def factory() -> SMTP:
        protocol = SMTP(r)
        r.connections.append(protocol)
        return protocol

    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    try:
        yield r, server.sockets[0].getsockname()[1]
    finally:
        server.close()


def reply(n: int) -> bytes:
    return compose_reply(from_name="泰安市12345政务服务便民热线", from_addr="12345@hotline.example", recipient="z@example.com",
                         subject=f"回复 {n}", date="Wed, 02 Dec 2026 08:00:00 +0800", message_id=f"<r{n}@hotline.example>",
                         in_reply_to=None, references=[], auto_submitted=True, body="您好").data


async def test_replies_in_a_row_share_one_connection(relay) -> None:
    r, port = relay
    pool = RelayConnections(RelayAddress("127.0.0.1", port, "hotline.example"))
    try:
        for n in range(5):
            await pool.send(reply(n), "12345@hotline.example", "z@example.com")
    finally:
        await pool.close()
    assert r.subjects == [f"回复 {n}" for n in range(5)]
    assert len(r.connections) == 1


async def test_concurrent_replies_open_connections_side_by_side(relay) -> None:
    r, port = relay
    pool = RelayConnections(RelayAddress("127.0.0.1", port, "hotline.example"), max_idle=2)
    try:
        await asyncio.gather(*(pool.send(reply(n), "12345@hotline.example", "z@example.com") for n in range(4)))
        await pool.send(reply(4), "12345@hotline.example", "z@example.com")
    finally:
        await pool.close()
    assert sorted(r.subjects) == sorted(f"回复 {n}" for n in range(5))
    assert len(r.connections) == 4  # four at once; the fifth reused one of the two kept


async def test_a_connection_the_relay_closed_is_replaced(relay) -> None:
    r, port = relay
    pool = RelayConnections(RelayAddress("127.0.0.1", port, "hotline.example"))
    try:
        await pool.send(reply(0), "12345@hotline.example", "z@example.com")
        r.connections[0].transport.close()  # the relay's idle timeout, say
        await asyncio.sleep(0.2)
        await pool.send(reply(1), "12345@hotline.example", "z@example.com")
    finally:
        await pool.close()
    assert r.subjects == ["回复 0", "回复 1"] and len(r.connections) == 2


async def test_a_connection_idle_too_long_is_not_reused(relay) -> None:
    r, port = relay
    pool = RelayConnections(RelayAddress("127.0.0.1", port, "hotline.example"), reuse_within=0.1)
    try:
        await pool.send(reply(0), "12345@hotline.example", "z@example.com")
        await asyncio.sleep(0.3)
        await pool.send(reply(1), "12345@hotline.example", "z@example.com")
    finally:
        await pool.close()
    assert len(r.connections) == 2


async def test_a_refused_reply_raises_and_its_connection_is_dropped(relay) -> None:
    r, port = relay
    r.refuse_next = 1
    pool = RelayConnections(RelayAddress("127.0.0.1", port, "hotline.example"))
    try:
        with pytest.raises(aiosmtplib.SMTPDataError):
            await pool.send(reply(0), "12345@hotline.example", "z@example.com")
        await pool.send(reply(1), "12345@hotline.example", "z@example.com")
    finally:
        await pool.close()
    assert r.subjects == ["回复 1"] and len(r.connections) == 2


async def test_a_connection_the_relay_closes_as_it_is_reused_costs_no_retry(relay) -> None:
    """A relay's idle timeout can fire just as a kept connection is taken again, before the client has
    seen the close: the reply goes out on a new connection at once, not after the outbox's back-off."""
    r, port = relay
    pool = RelayConnections(RelayAddress("127.0.0.1", port, "hotline.example"))
    try:
        await pool.send(reply(0), "12345@hotline.example", "z@example.com")
        r.connections[0].transport.close()  # no pause: the pool still holds it as connected
        await pool.send(reply(1), "12345@hotline.example", "z@example.com")
    finally:
        await pool.close()
    assert r.subjects == ["回复 0", "回复 1"] and len(r.connections) == 2
