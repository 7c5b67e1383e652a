"""The channel contract (issue 15): what every channel must do, run against a toy channel that this
module registers without touching the gateway, and against the web channel through the same driver
interface. (WeChat, e-mail, the phone and Telegram have suites of their own over their real protocols.)

Normalisation, duplicate delivery, hostile input, delivery of replies, and an agent's takeover."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from channels.base import Channel, InboundMessage, OutboundMessage
from channels.http_body import json_object
from channels.registry import Capabilities, ChannelServices, default_plugins, late
from gateway.app import CHANNELS, STORE
from gateway.store.schema import messages
from tests.test_console import add_agent, login

TOY = Channel.register("toy")


@dataclass
class ToyAdapter:
    """A platform that posts JSON {id, user, text} and takes replies by an API call (here: a list)."""

    services: ChannelServices
    channel: Channel = TOY
    sent: list[OutboundMessage] = field(default_factory=list)

    async def receive(self, request: web.Request) -> web.Response:
        body = await json_object(request)  # hostile bodies: 400/413/415 with a reason, from the shared reader
        if not all(isinstance(body.get(k), str) and body[k] for k in ("id", "user", "text")):
            return web.json_response({"error": {"code": "bad_message", "message": "消息格式不正确。"}}, status=400)
        replies = await self.services.handle(InboundMessage(
            channel=TOY, external_id=body["id"], sender=body["user"], conversation_key=f"toy:{body['user']}",
            text=body["text"]))
        return web.json_response({"replies": [r.as_json() for r in replies]})

    async def deliver(self, message: OutboundMessage) -> None:
        self.sent.append(message)


class ToyPlugin:
    channel = TOY
    section = "toy"
    capabilities = Capabilities(conversational=True)

    def enabled(self, settings: Any) -> bool:
        return True

    def routes(self, adapter: Callable[[], Any]) -> list[web.AbstractRouteDef]:
        return [web.post("/channels/toy/messages", late(adapter, "receive"))]

    async def start(self, services: ChannelServices) -> ToyAdapter:
        return ToyAdapter(services)

    async def stop(self, adapter: Any) -> None:
        return None


class Driver(Protocol):
    channel: Channel

    async def send(self, client: TestClient, delivery_id: str, user: str, text: str) -> tuple[int, dict]: ...

    async def send_raw(self, client: TestClient, body: bytes, content_type: str) -> int: ...

    async def delivered(self, client: TestClient, user: str) -> list[str]: ...


class ToyDriver:
    channel = TOY

    async def send(self, client: TestClient, delivery_id: str, user: str, text: str) -> tuple[int, dict]:
        resp = await client.post("/channels/toy/messages", json={"id": delivery_id, "user": user, "text": text})
        return resp.status, await resp.json()

    async def send_raw(self, client: TestClient, body: bytes, content_type: str) -> int:
        return (await client.post("/channels/toy/messages", data=body, headers={"Content-Type": content_type})).status

    async def delivered(self, client: TestClient, user: str) -> list[str]:
        return [m.text for m in client.app[CHANNELS][TOY].sent]


class WebDriver:
    channel = Channel.WEB

    async def send(self, client: TestClient, delivery_id: str, user: str, text: str) -> tuple[int, dict]:
        resp = await client.post("/api/v1/web/messages", json={"session": f"contract-{user}", "text": text,
                                                               "client_id": delivery_id})
        return resp.status, await resp.json()

    async def send_raw(self, client: TestClient, body: bytes, content_type: str) -> int:
        return (await client.post("/api/v1/web/messages", data=body, headers={"Content-Type": content_type})).status

    async def delivered(self, client: TestClient, user: str) -> list[str]:
        resp = await client.get("/api/v1/web/history", params={"session": f"contract-{user}"})
        return [m["text"] for m in (await resp.json())["messages"] if m["from"] != "citizen"]


DRIVERS = {"toy": ToyDriver(), "web": WebDriver()}


@pytest.fixture(params=sorted(DRIVERS))
async def channel(request: pytest.FixtureRequest, make_client, db_url) -> tuple[TestClient, Driver]:
    client = await make_client(db_url=db_url, plugins=[*default_plugins(), ToyPlugin()])
    return client, DRIVERS[request.param]


async def inbound(client: TestClient, channel: Channel) -> list[str]:
    rows = await client.app[STORE].db.run(lambda conn: conn.execute(
        sa.select(messages.c.text).where(messages.c.direction == "in", messages.c.channel == channel.value)
        .order_by(messages.c.id)).all())
    return [r.text for r in rows]


async def test_a_message_is_stored_on_its_channel_and_answered(channel) -> None:
    client, driver = channel
    status, body = await driver.send(client, "d-0001", "u1", "小区门口的路灯坏了一个星期了，晚上很黑")
    assert status == 200 and body["replies"] and body["replies"][0]["ticket_number"]
    assert await inbound(client, driver.channel) == ["小区门口的路灯坏了一个星期了，晚上很黑"]
    ticket = await client.app[STORE].tickets.get(body["replies"][0]["ticket_number"])
    assert ticket is not None and ticket.channel == driver.channel.value


async def test_a_duplicate_delivery_is_answered_again_and_stored_once(channel) -> None:
    client, driver = channel
    first = await driver.send(client, "d-0002", "u2", "楼下饭店油烟太大，熏得不敢开窗")
    again = await driver.send(client, "d-0002", "u2", "楼下饭店油烟太大，熏得不敢开窗")
    assert first == again and len(await inbound(client, driver.channel)) == 1


async def test_hostile_bodies_get_a_client_error_and_nothing_is_stored(channel) -> None:
    client, driver = channel
    assert await driver.send_raw(client, b"{not json", "application/json") == 400
    assert await driver.send_raw(client, b'{"a": ' * 100 + b"1" + b"}" * 100, "application/json") == 400
    assert await driver.send_raw(client, "{}".encode("utf-16"), "application/json") == 400
    nul = json.dumps({"id": "d-9", "user": "u9", "session": "contract-u9", "text": "路灯\u0000坏了"}).encode()
    assert await driver.send_raw(client, nul, "application/json") == 400  # a NUL is refused, not stored
    assert await inbound(client, driver.channel) == []


async def test_an_agent_takes_over_and_the_reply_reaches_the_citizen_on_the_channel(channel) -> None:
    client, driver = channel
    await driver.send(client, "d-0003", "u3", "你好")
    await add_agent(client, "contract")
    http, csrf = await login(client, "contract")
    try:
        items = (await (await http.get(client.make_url("/console/api/conversations"))).json())["items"]
        [conv] = [c for c in items if c["channel"] == driver.channel.value]
        headers = {"X-CSRF-Token": csrf}
        assert (await http.post(client.make_url(f"/console/api/conversations/{conv['id']}/takeover"),
                                headers=headers)).status == 200
        resp = await http.post(client.make_url(f"/console/api/conversations/{conv['id']}/reply"), headers=headers,
                               json={"text": "您好，我是人工客服小王，请讲。"})
        assert resp.status == 200, await resp.text()
    finally:
        await http.close()
    for _ in range(50):  # the outbox delivers in the background
        if "您好，我是人工客服小王，请讲。" in await driver.delivered(client, "u3"):
            break
        await __import__("asyncio").sleep(0.1)
    assert "您好，我是人工客服小王，请讲。" in await driver.delivered(client, "u3")
    # While the agent has it, the citizen's messages are stored but not answered by anyone else.
    status, body = await driver.send(client, "d-0004", "u3", "我家门口的井盖丢了")
    assert status == 200 and body["replies"] == []


def test_the_registry_builds_every_built_in_channel_from_its_plugin() -> None:
    plugins = default_plugins()
    assert {p.channel for p in plugins} == {Channel.WEB, Channel.EMAIL, Channel.WECHAT, Channel.IVR, Channel.TELEGRAM}
    assert all(p.routes(lambda: None) is not None and p.section for p in plugins)
    assert [p.channel for p in plugins if not p.capabilities.conversational] == [Channel.EMAIL]
    assert TOY not in list(Channel)  # a registered channel is not one of the built-in ones
