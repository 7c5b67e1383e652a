"""The web chat channel and the pipeline behind it, against the real app on loopback."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from gateway.app import PIPELINE, STORE
from gateway.store.schema import attachments, emergency_referrals, messages, tickets
from tests.media_samples import PDF, mp4, png


def session() -> str:
    return uuid.uuid4().hex


async def post(client: TestClient, text: str, sess: str, **extra) -> tuple[int, dict]:
    resp = await client.post("/api/v1/web/messages", json={"session": sess, "text": text, **extra})
    return resp.status, await resp.json()


async def rows(client: TestClient, table: sa.Table, *where) -> list:
    return await client.app[STORE].db.run(lambda conn: conn.execute(sa.select(table).where(*where)).all())


async def test_page_is_served_in_chinese(client: TestClient) -> None:
    resp = await client.get("/")
    body = await resp.text()
    assert resp.status == 200 and 'lang="zh-CN"' in body and "12345" in body and "viewport" in body


async def test_without_the_bot_a_request_becomes_a_ticket_and_later_messages_join_it(client: TestClient) -> None:
    s = session()
    status, body = await post(client, "小区门口的路灯坏了一个星期了，晚上很黑", s)
    assert status == 200
    [reply] = body["replies"]
    number = reply["ticket_number"]
    assert number and number in reply["text"] and "工单号" in reply["text"]
    status, body = await post(client, "补充一下，是东门那盏", s)
    assert number in body["replies"][0]["text"] and "补充" in body["replies"][0]["text"]
    [ticket] = await rows(client, tickets)
    assert ticket.number == number and ticket.source == "fallback" and ticket.category == "城乡建设"
    got = await client.app[STORE].tickets.get(number)
    assert [e.kind for e in got.events] == ["created", "dispatch_proposed", "dispatched", "citizen_message"]
    assert got.status == "dispatched" and got.unit_id == "urban" and got.due_date is not None


async def test_emergency_is_answered_at_once_recorded_and_not_ticketed(client: TestClient) -> None:
    status, body = await post(client, "救命啊我家厨房着火了火很大", session())
    assert status == 200
    [reply] = body["replies"]
    assert "119" in reply["text"] and reply["emergency_lines"][0] == "119"
    [ref] = await rows(client, emergency_referrals)
    assert "119" in ref.lines and ref.reason == "fire"
    assert await rows(client, tickets) == []


async def test_emergency_does_not_wait_for_a_slow_bot(make_client, fake_rasa) -> None:
    rasa, url = fake_rasa
    rasa.delay = 5.0
    client = await make_client(bot={"enabled": True, "rasa_url": url, "timeout_seconds": 10})
    started = asyncio.get_running_loop().time()
    status, body = await post(client, "前面路口出车祸了有人倒在地上流血", session())
    assert status == 200 and body["replies"][0]["emergency_lines"] == ["122", "120"]
    assert asyncio.get_running_loop().time() - started < 2.0
    assert rasa.turns == []


async def test_retried_post_with_same_client_id_is_answered_the_same_and_stored_once(client: TestClient) -> None:
    s = session()
    first = await post(client, "我想反映楼道里堆满了杂物", s, client_id="c1")
    second = await post(client, "我想反映楼道里堆满了杂物", s, client_id="c1")
    assert first == second
    inbound = await rows(client, messages, messages.c.direction == "in")
    assert len(inbound) == 1 and len(await rows(client, tickets)) == 1


async def test_bot_answers_when_up_with_triage_metadata(make_client, fake_rasa) -> None:
    rasa, url = fake_rasa
    rasa.answer = lambda body: [{"recipient_id": body["sender"], "text": "您好，请问有什么可以帮您？",
                                 "buttons": [{"title": "咨询", "payload": "/ask_question"}]}]
    client = await make_client(bot={"enabled": True, "rasa_url": url})
    s = session()
    status, body = await post(client, "社保卡丢了怎么补办", s)
    assert status == 200 and body["replies"][0]["text"] == "您好，请问有什么可以帮您？"
    assert body["replies"][0]["buttons"] == [{"title": "咨询", "payload": "/ask_question"}]
    [turn] = rasa.turns
    assert turn["sender"] == s and turn["metadata"]["triage"]["category"] == "劳动和社会保障"
    health = await (await client.get("/healthz")).json()
    assert health["components"]["bot"]["ok"] is True


async def test_bot_failure_falls_back_to_a_ticket(make_client, fake_rasa) -> None:
    rasa, url = fake_rasa
    rasa.status = 500
    client = await make_client(bot={"enabled": True, "rasa_url": url})
    status, body = await post(client, "我们村的自来水停了两天了没人来修", session())
    assert status == 200 and body["replies"][0]["ticket_number"]
    [ticket] = await rows(client, tickets)
    assert ticket.utility is True


async def test_bot_unreachable_falls_back(make_client, unused_tcp_port: int) -> None:
    client = await make_client(bot={"enabled": True, "rasa_url": f"http://127.0.0.1:{unused_tcp_port}"})
    status, body = await post(client, "楼上装修天天电钻声音太吵了", session())
    assert status == 200 and body["replies"][0]["ticket_number"]


async def test_agent_owned_conversation_gets_no_bot_reply(make_client, fake_rasa) -> None:
    rasa, url = fake_rasa
    client = await make_client(bot={"enabled": True, "rasa_url": url})
    s = session()
    await post(client, "你好", s)
    [conv_id] = {m.conversation_id for m in await rows(client, messages)}
    await client.app[STORE].messages.set_state(conv_id, "agent", agent_id="li")
    status, body = await post(client, "我要找人工", s)
    assert status == 200 and body["replies"] == []
    assert len(rasa.turns) == 1
    assert len(await rows(client, messages, messages.c.direction == "in")) == 2


async def test_legal_channel_and_out_of_jurisdiction_get_their_explanations(client: TestClient) -> None:
    _, body = await post(client, "我要起诉我们公司，法院怎么立案", session())
    assert "诉讼" in body["replies"][0]["text"]
    _, body = await post(client, "济南市历下区泉城路的路灯坏了", session())
    assert "管辖" in body["replies"][0]["text"]
    assert await rows(client, tickets) == []


@pytest.mark.parametrize("body,code", [
    (b"{not json", "malformed_json"),
    (b"[1, 2]", "malformed_json"),
    (b'{"session": "x", "text": "hi"}', "bad_session"),
    (b'{"session": "abcdefgh12345678"}', "empty_message"),
    (b'{"session": "abcdefgh12345678", "text": 5}', "bad_text"),
    ('{"session": "abcdefgh12345678", "text": "' + "长" * 5001 + '"}', "text_too_long"),
])
async def test_malformed_requests_get_400_with_a_code_and_chinese_message(client: TestClient, body, code) -> None:
    resp = await client.post("/api/v1/web/messages", data=body, headers={"Content-Type": "application/json"})
    data = await resp.json()
    assert resp.status == 400 and data["error"]["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in data["error"]["message"])


async def test_image_upload_is_stored_and_only_its_session_can_fetch_it(client: TestClient) -> None:
    s = session()
    form = aiohttp.FormData()
    form.add_field("session", s)
    form.add_field("text", "垃圾桶满了没人清运，见图")
    form.add_field("file", png(), filename="photo.txt", content_type="text/plain")  # name and type lie
    resp = await client.post("/api/v1/web/messages", data=form)
    body = await resp.json()
    assert resp.status == 200 and body["attachments"][0]["content_type"] == "image/png"
    [att] = await rows(client, attachments)
    assert att.kind == "image" and att.size == len(png())
    media = await client.get(f"/api/v1/web/media/{att.id}", params={"session": s})
    assert media.status == 200 and await media.read() == png()
    other = await client.get(f"/api/v1/web/media/{att.id}", params={"session": session()})
    assert other.status == 403


async def test_video_without_text_is_acknowledged(client: TestClient) -> None:
    form = aiohttp.FormData()
    form.add_field("session", session())
    form.add_field("file", mp4(), filename="v.mp4", content_type="video/mp4")
    resp = await client.post("/api/v1/web/messages", data=form)
    body = await resp.json()
    assert resp.status == 200 and "图片/视频" in body["replies"][0]["text"]
    [att] = await rows(client, attachments)
    assert att.kind == "video" and att.content_type == "video/mp4"


async def test_disallowed_media_type_is_415_and_nothing_is_stored(client: TestClient) -> None:
    form = aiohttp.FormData()
    form.add_field("session", session())
    form.add_field("text", "看附件")
    form.add_field("file", PDF, filename="scan.png", content_type="image/png")
    resp = await client.post("/api/v1/web/messages", data=form)
    assert resp.status == 415 and (await resp.json())["error"]["code"] == "unsupported_media_type"
    assert await rows(client, messages) == [] and await rows(client, attachments) == []


async def test_oversized_upload_is_413(make_client) -> None:
    client = await make_client(media={"max_image_bytes": 1000})
    form = aiohttp.FormData()
    form.add_field("session", session())
    form.add_field("file", png() + b"\x00" * 2000, filename="big.png", content_type="image/png")
    resp = await client.post("/api/v1/web/messages", data=form)
    assert resp.status == 413 and (await resp.json())["error"]["code"] == "payload_too_large"


async def test_request_over_the_server_limit_is_413(make_client) -> None:
    client = await make_client(server={"max_request_bytes": 10_000})
    resp = await client.post("/api/v1/web/messages", data=b"{" + b" " * 20_000 + b"}",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 413


async def test_websocket_receives_replies_and_history_survives_reload(client: TestClient) -> None:
    s = session()
    async with client.ws_connect("/api/v1/web/ws", params={"session": s}) as ws:
        _, body = await post(client, "我家这边井盖丢了很危险", s)
        event = await asyncio.wait_for(ws.receive_json(), 5)
    assert event["type"] == "reply" and event["id"] == body["replies"][0]["id"]
    assert event["ticket_number"] == body["replies"][0]["ticket_number"]
    history = await (await client.get("/api/v1/web/history", params={"session": s})).json()
    assert [m["from"] for m in history["messages"]] == ["citizen", "system"]


async def test_slow_pipeline_answers_202_and_the_reply_arrives_on_the_socket(make_client, fake_rasa) -> None:
    rasa, url = fake_rasa
    rasa.delay = 1.5
    client = await make_client(bot={"enabled": True, "rasa_url": url}, server={"reply_wait_seconds": 0.3})
    s = session()
    async with client.ws_connect("/api/v1/web/ws", params={"session": s}) as ws:
        resp = await client.post("/api/v1/web/messages", json={"session": s, "text": "请问公积金怎么提取"})
        assert resp.status == 202 and (await resp.json())["pending"] is True
        event = await asyncio.wait_for(ws.receive_json(), 5)
    assert event["text"].startswith("机器人收到")


async def test_unknown_route_and_method_are_json_errors(client: TestClient) -> None:
    resp = await client.get("/api/v1/nothing")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    resp = await client.put("/api/v1/web/messages")
    assert resp.status == 405


async def test_pipeline_entry_point_is_the_same_for_every_channel(client: TestClient) -> None:
    from channels.base import Channel, InboundMessage, MessageKind
    msg = InboundMessage(channel=Channel.WEB, external_id="x-unsupported", sender="abcdefgh0000",
                         conversation_key="abcdefgh0000", kind=MessageKind.UNSUPPORTED, raw="<xml>?</xml>")
    replies = await client.app[PIPELINE].handle(msg)
    assert "暂不支持" in replies[0].text
    [stored] = await rows(client, messages, messages.c.external_id == "x-unsupported")
    assert stored.kind == "unsupported" and stored.raw == "<xml>?</xml>"


async def test_messages_sent_at_once_in_one_conversation_open_one_ticket(client: TestClient) -> None:
    s = session()
    results = await asyncio.gather(*(post(client, f"第{i}条：楼下烧烤店油烟很大每天到半夜", s) for i in range(6)))
    numbers = {body["replies"][0]["ticket_number"] for _, body in results}
    assert len(numbers) == 1 and len(await rows(client, tickets)) == 1
    got = await client.app[STORE].tickets.get(numbers.pop())
    assert [e.kind for e in got.events].count("citizen_message") == 5


COMPLAINT_WITH_DANGER = ("我想反映一下我们小区物业的问题，垃圾好几天没人清，电梯也老是坏，上个月打过电话也没人管。"
                         "刚才楼下好像有人倒在地上不动了，叫他也不答应")


async def test_an_emergency_inside_a_complaint_gets_the_line_and_keeps_the_complaint(client: TestClient) -> None:
    """A false alarm, or a danger told at the end of a long complaint, must never lose the request."""
    status, body = await post(client, COMPLAINT_WITH_DANGER, session())
    assert status == 200
    emergency, kept = body["replies"]
    assert emergency["emergency_lines"][0] == "120" and "120" in emergency["text"]
    number = kept["ticket_number"]
    assert number and number in kept["text"] and "正在发生" in kept["text"]
    [ticket] = await rows(client, tickets)
    assert ticket.source == "emergency" and "垃圾" in ticket.description and ticket.request_type == "complaint"
    assert len(await rows(client, emergency_referrals)) == 1  # the referral stays on record for agents


async def test_a_retry_while_the_first_is_still_answered_waits_for_the_same_answer(make_client, fake_rasa) -> None:
    rasa, url = fake_rasa
    rasa.delay = 1.0
    client = await make_client(bot={"enabled": True, "rasa_url": url, "timeout_seconds": 10})
    s = session()
    first, second = await asyncio.gather(post(client, "请问社保卡怎么补办", s, client_id="slow1"),
                                         post(client, "请问社保卡怎么补办", s, client_id="slow1"))
    assert first == second and first[0] == 200 and first[1]["replies"] and first[1]["pending"] is False
    assert len(rasa.turns) == 1 and len(await rows(client, messages, messages.c.direction == "in")) == 1


async def test_without_the_bot_asking_for_a_person_reaches_the_agents_queue(client: TestClient) -> None:
    from gateway.store.schema import conversations
    s = session()
    status, body = await post(client, "我要人工客服", s)
    assert status == 200 and "人工" in body["replies"][0]["text"]
    [conv] = await rows(client, conversations)
    assert conv.state == "waiting_for_agent" and await rows(client, tickets) == []


async def test_without_the_bot_a_phone_number_in_the_request_is_kept_on_the_ticket(client: TestClient) -> None:
    status, body = await post(client, "小区门口的路灯坏了一个星期了，晚上很黑，我的电话13812345678", session())
    [ticket] = await rows(client, tickets)
    assert ticket.contact_phone == "13812345678"
    progress = await client.post("/api/v1/tickets/progress", json={"number": ticket.number, "phone": "13812345678"})
    assert progress.status == 200
