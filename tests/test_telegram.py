"""The Telegram channel: updates posted as Telegram's servers post them, replies through
python-telegram-bot's Bot pointed at a fake Bot API on loopback."""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import STORE
from tests.conftest import loopback
from gateway.settings import PROJECT_ROOT
from gateway.store.schema import attachments, messages, outbox, tickets
from tests.media_samples import png

# Shaped like a real token, so the log filter recognises it (tests/conftest.py scans every log line).
TOKEN, PATH, SECRET = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0", "hook-8f3a", "sekrit-token"
SAMPLES = PROJECT_ROOT / "tests" / "data" / "telegram"


class FakeBotApi:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.flood_once: int | None = None
        self.files = {"dd-A_LsTIABFNx-FUOaEa_3AABAQABAg": png(16, 12)}

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return await request.json()
        return {k: v for k, v in (await request.post()).items()}

    async def method(self, request: web.Request) -> web.Response:
        assert request.match_info["token"] == TOKEN
        name, params = request.match_info["method"], await self._params(request)
        if name == "getMe":
            return web.json_response({"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "12345",
                                                             "username": "taian12345_bot"}})
        if name == "getFile":
            fid = params["file_id"]
            return web.json_response({"ok": True, "result": {"file_id": fid, "file_unique_id": "u" + fid[:8],
                                                             "file_size": len(self.files[fid]), "file_path": f"photos/{fid}.jpg"}})
        if name == "sendMessage":
            if self.flood_once:
                retry, self.flood_once = self.flood_once, None
                return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests",
                                          "parameters": {"retry_after": retry}}, status=429)
            self.sent.append(params)
            return web.json_response({"ok": True, "result": {
                "message_id": len(self.sent), "date": 0, "chat": {"id": int(params["chat_id"]), "type": "private"},
                "text": params["text"]}})
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def file(self, request: web.Request) -> web.Response:
        fid = request.match_info["path"].split("/")[-1].rsplit(".", 1)[0]
        return web.Response(body=self.files[fid])


@pytest.fixture
async def bot_api() -> AsyncIterator[tuple[FakeBotApi, str]]:
    fake = FakeBotApi()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", fake.method)
    app.router.add_get("/file/bot{token}/{path:.*}", fake.file)
    async with loopback(app) as url:
        yield fake, url


@pytest.fixture
async def tg(make_client, bot_api, db_url) -> TestClient:
    _, base = bot_api
    return await make_client(db_url=db_url, telegram={"api_base": f"{base}/bot", "file_base": f"{base}/file/bot"},
                             secrets={"telegram_bot_token": TOKEN, "telegram_webhook_path": PATH,
                                      "telegram_secret_token": SECRET},
                             outbox={"poll_seconds": 0.1, "base_backoff_seconds": 0.1})


async def post(client: TestClient, update: dict[str, Any], secret: str = SECRET, path: str = PATH) -> int:
    resp = await client.post(f"/channels/telegram/{path}", json=update,
                             headers={"X-Telegram-Bot-Api-Secret-Token": secret})
    return resp.status


def sample(name: str, **changes: Any) -> dict[str, Any]:
    data = json.loads((SAMPLES / name).read_text())
    data.update(changes)
    return data


async def rows(client: TestClient, table: sa.Table, *where) -> list:
    return await client.app[STORE].db.run(lambda conn: conn.execute(sa.select(table).where(*where)).all())


async def wait_sent(fake: FakeBotApi, n: int) -> list[dict[str, Any]]:
    for _ in range(100):
        if len(fake.sent) >= n:
            return fake.sent
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {len(fake.sent)} messages sent")


async def test_text_becomes_a_ticket_and_the_reply_goes_through_the_bot_api(tg, bot_api) -> None:
    fake, _ = bot_api
    update = sample("text_message.json")
    update["message"]["text"] = "我们小区门口的路灯坏了一个星期了，晚上很黑"
    assert await post(tg, update) == 200
    [sent] = await wait_sent(fake, 1)
    [ticket] = await rows(tg, tickets)
    assert ticket.channel == "telegram" and ticket.number in sent["text"]
    assert str(sent["chat_id"]) == str(update["message"]["chat"]["id"])
    assert await post(tg, update) == 200  # Telegram retried the same update_id
    await asyncio.sleep(0.2)
    assert len(fake.sent) == 1 and len(await rows(tg, messages, messages.c.direction == "in")) == 1


async def test_photo_largest_size_is_downloaded(tg, bot_api) -> None:
    assert await post(tg, sample("photo.json")) == 200
    [att] = await rows(tg, attachments)
    assert att.kind == "image" and att.content_type == "image/png" and att.size == len(png(16, 12))


async def test_start_gets_the_welcome(tg, bot_api) -> None:
    fake, _ = bot_api
    assert await post(tg, sample("start_command.json")) == 200
    [sent] = await wait_sent(fake, 1)
    assert "12345" in sent["text"] and "110" in sent["text"]


async def test_flood_control_retry_after_is_honoured(tg, bot_api) -> None:
    fake, _ = bot_api
    fake.flood_once = 1
    update = sample("text_message.json")
    update["message"]["text"] = "楼上邻居装修太吵了每天早上七点就开始"
    assert await post(tg, update) == 200
    [row] = await rows(tg, outbox)
    assert row.status == "pending" and "retry after" in row.last_error
    [sent] = await wait_sent(fake, 1)  # delivered by the outbox worker after retry_after
    assert "工单号" in sent["text"]


async def test_bad_secret_path_and_bodies(tg) -> None:
    update = sample("text_message.json")
    assert await post(tg, update, secret="wrong") == 403
    assert await post(tg, update, path="guess") == 404
    resp = await tg.post(f"/channels/telegram/{PATH}", data=b"{oops", headers={
        "X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"})
    assert resp.status == 400
    assert await post(tg, {"no": "update_id"}) == 400
    assert await rows(tg, messages) == []


async def test_unknown_update_types_are_kept_and_acknowledged(tg) -> None:
    assert await post(tg, sample("edited_message.json")) == 200
    [kept] = await rows(tg, messages, messages.c.direction == "in")
    assert kept.kind == "unsupported" and "edited_message" in kept.raw


async def test_an_emergency_inside_a_complaint_keeps_the_complaint(tg, bot_api) -> None:
    fake, _ = bot_api
    update = sample("text_message.json")
    update["message"]["text"] = ("我想反映一下我们小区物业的问题，垃圾好几天没人清，电梯也老是坏，上个月打过电话也没人管。"
                                 "刚才楼下好像有人倒在地上不动了，叫他也不答应")
    assert await post(tg, update) == 200
    sent = await wait_sent(fake, 2)
    [ticket] = await rows(tg, tickets)
    assert "120" in sent[0]["text"] and ticket.number in sent[1]["text"] and ticket.source == "emergency"


async def test_a_contact_over_its_limit_is_stored_not_handled_and_agents_are_told(make_client, bot_api, db_url) -> None:
    from gateway.app import HUB
    fake, base = bot_api
    client = await make_client(db_url=db_url, telegram={"api_base": f"{base}/bot", "file_base": f"{base}/file/bot"},
                               secrets={"telegram_bot_token": TOKEN, "telegram_webhook_path": PATH,
                                        "telegram_secret_token": SECRET},
                               abuse={"messages_per_ten_minutes_per_contact": 3})
    with client.app[HUB].subscribe("console") as events:
        for i in range(6):
            update = sample("text_message.json", update_id=9000 + i)
            update["message"]["message_id"] = 500 + i
            update["message"]["text"] = f"刷屏消息第{i}条，路灯坏了"
            assert await post(client, update) == 200
        await asyncio.sleep(0.3)
        abuse = [e for e in iter(lambda: events.get_nowait() if not events.empty() else None, None)
                 if e.get("type") == "abuse"]
    assert len(await rows(client, messages, messages.c.direction == "in")) == 6  # all kept
    assert len(await rows(client, tickets)) == 1
    assert len(abuse) == 1 and "第三十二条" in abuse[0]["warning"]
    assert sum("太频繁" in m["text"] for m in fake.sent) == 1


@pytest.mark.parametrize("change", [
    {"message": "hello"}, {"message": None}, {"message": {"text": "没有chat"}},
    {"message": {"message_id": 1, "date": 1e20, "chat": {"id": 5, "type": "private"}, "text": "时间不对"}},
    {"message": {"message_id": "x", "date": "昨天", "chat": {"id": "y", "type": 3}, "text": ["列表"]}},
    {"update_id": "not a number"}, {"update_id": 10**30},
])
async def test_malformed_updates_are_400_or_kept_never_5xx(tg, change: dict) -> None:
    update = {**sample("text_message.json", update_id=7777), **change}
    status = await post(tg, update)
    assert status in (200, 400)
    if status == 200:  # accepted: kept where agents can see it
        assert len(await rows(tg, messages, messages.c.direction == "in")) == 1
