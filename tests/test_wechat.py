"""The WeChat channel driven exactly as WeChat's servers would, against a fake WeChat API on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from typing import Any, AsyncIterator

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto

from gateway.app import STORE
from tests.conftest import loopback
from gateway.settings import PROJECT_ROOT
from gateway.store.schema import attachments, messages, outbox, tickets
from tests.media_samples import png

APP_ID, TOKEN, AES_KEY, SECRET = "wx0123456789abcdef", "hotlinetoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "s3"
SAMPLES = PROJECT_ROOT / "tests" / "data" / "wechat"


class FakeWechat:
    """WeChat's API as the channel uses it: token, media download, customer-service send, error codes."""

    def __init__(self) -> None:
        self.tokens_issued = 0
        self.sent: list[dict[str, Any]] = []
        self.reject_token_once = False
        self.send_error: int | None = None
        self.media: dict[str, bytes] = {}

    def current(self) -> str:
        return f"TOKEN{self.tokens_issued}"

    async def token(self, request: web.Request) -> web.Response:
        assert request.query["appid"] == APP_ID and request.query["secret"] == SECRET
        self.tokens_issued += 1
        return web.json_response({"access_token": self.current(), "expires_in": 7200})

    def _check(self, request: web.Request) -> web.Response | None:
        if self.reject_token_once or request.query.get("access_token") != self.current():
            self.reject_token_once = False
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        return None

    async def media_get(self, request: web.Request) -> web.Response:
        if (bad := self._check(request)) is not None:
            return bad
        data = self.media.get(request.query["media_id"])
        if data is None:
            return web.json_response({"errcode": 40007, "errmsg": "invalid media_id"})
        return web.Response(body=data, content_type="image/png",
                            headers={"Content-Disposition": 'attachment; filename="photo.png"'})

    async def custom_send(self, request: web.Request) -> web.Response:
        if (bad := self._check(request)) is not None:
            return bad
        if self.send_error:
            return web.json_response({"errcode": self.send_error, "errmsg": "response out of time limit"})
        self.sent.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})


@pytest.fixture
async def fake_wechat() -> AsyncIterator[tuple[FakeWechat, str]]:
    fake = FakeWechat()
    app = web.Application()
    app.router.add_get("/cgi-bin/token", fake.token)
    app.router.add_get("/cgi-bin/media/get", fake.media_get)
    app.router.add_post("/cgi-bin/message/custom/send", fake.custom_send)
    async with loopback(app) as url:
        yield fake, url


def accounts(aes: bool = False) -> list[dict[str, str]]:
    return [{"app_id": APP_ID, "token": TOKEN, "app_secret": SECRET, **({"encoding_aes_key": AES_KEY} if aes else {})}]


@pytest.fixture
async def wx(make_client, fake_wechat, db_url) -> TestClient:
    _, base = fake_wechat
    return await make_client(db_url=db_url, wechat={"api_base": base, "accounts": accounts()})


def signed(token: str = TOKEN, timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or uuid.uuid4().hex[:10]
    sig = hashlib.sha1("".join(sorted([token, ts, nonce])).encode()).hexdigest()
    return {"signature": sig, "timestamp": ts, "nonce": nonce, "openid": "o_user"}


def text_xml(content: str, msg_id: str | None = None, user: str = "o_user") -> str:
    return (f"<xml><ToUserName><![CDATA[gh_hotline]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id or uuid.uuid4().int % 10**18}</MsgId></xml>")


async def push(client: TestClient, xml: str, encrypt: bool = False, **params: str) -> tuple[int, str]:
    q = {**signed(), **params}
    body = xml
    if encrypt:
        crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        body = crypto.encrypt_message(xml, q["nonce"], q["timestamp"])
        q["encrypt_type"] = "aes"
        q["msg_signature"] = _msg_signature(body, q)
    resp = await client.post(f"/channels/wechat/{params.get('app_id', APP_ID)}", params=q, data=body.encode())
    return resp.status, await resp.text()


def _msg_signature(encrypted_xml: str, q: dict[str, str]) -> str:
    import re
    encrypt = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", encrypted_xml).group(1)
    return hashlib.sha1("".join(sorted([TOKEN, q["timestamp"], q["nonce"], encrypt])).encode()).hexdigest()


async def rows(client: TestClient, table: sa.Table, *where) -> list:
    return await client.app[STORE].db.run(lambda conn: conn.execute(sa.select(table).where(*where)).all())


def test_the_published_encryption_vector_decrypts() -> None:
    v = json.loads((SAMPLES / "vector.json").read_text())["official_account_sample"]
    crypto = WeChatCrypto(v["token"], v["encoding_aes_key"], v["appid"])
    xml = (SAMPLES / "encrypted_compat_mode_text.xml").read_text()
    assert crypto.decrypt_message(xml, v["msg_signature"], v["timestamp"], v["nonce"]) == v["expected_plaintext"]


async def test_url_verification(wx: TestClient) -> None:
    ok = await wx.get(f"/channels/wechat/{APP_ID}", params={**signed(), "echostr": "4213"})
    assert ok.status == 200 and await ok.text() == "4213"
    bad = await wx.get(f"/channels/wechat/{APP_ID}", params={**signed(token="wrong"), "echostr": "4213"})
    assert bad.status == 403


async def test_plaintext_push_is_answered_passively(wx: TestClient) -> None:
    status, body = await push(wx, text_xml("小区门口的路灯坏了一个星期了，晚上很黑"))
    assert status == 200
    reply = parse_message(body)
    assert reply.type == "text" and "工单号" in reply.content
    assert reply.source == "gh_hotline" and reply.target == "o_user"  # answered to the citizen, from the account
    [ticket] = await rows(wx, tickets)
    assert ticket.channel == "wechat" and ticket.number in body


@pytest.fixture
async def wx_safe(make_client, fake_wechat, db_url) -> TestClient:
    _, base = fake_wechat
    return await make_client(db_url=db_url, wechat={"api_base": base, "accounts": accounts(aes=True)})


async def test_safe_mode_push_is_decrypted_and_answered_encrypted(wx_safe: TestClient) -> None:
    wx = wx_safe
    status, body = await push(wx, text_xml("泰山区停水两天了"), encrypt=True)
    assert status == 200 and "<Encrypt>" in body
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    import re
    ts = re.search(r"<TimeStamp>(\d+)</TimeStamp>", body).group(1)
    nonce = re.search(r"<Nonce><!\[CDATA\[(.*?)\]\]></Nonce>", body).group(1)
    sig = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>", body).group(1)
    plain = crypto.decrypt_message(body, sig, ts, nonce)
    assert "工单号" in parse_message(plain).content


async def test_bad_input_is_refused_with_reasons(wx: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    xml = text_xml("你好")
    r = await wx.post(f"/channels/wechat/{APP_ID}", params=signed(token="nope"), data=xml.encode())
    assert r.status == 403
    r = await wx.post("/channels/wechat/wxunknownapp", params=signed(), data=xml.encode())
    assert r.status == 403
    r = await wx.post(f"/channels/wechat/{APP_ID}", params=signed(timestamp=int(time.time()) - 3600), data=xml.encode())
    assert r.status == 403 and (await r.json())["error"]["code"] == "stale_timestamp"
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            '<xml><FromUserName>&lol2;</FromUserName></xml>')
    r = await wx.post(f"/channels/wechat/{APP_ID}", params=signed(), data=bomb.encode())
    assert r.status == 400 and (await r.json())["error"]["code"] == "xml_declaration"
    r = await wx.post(f"/channels/wechat/{APP_ID}", params=signed(), data=b"<xml><FromUserName>")
    assert r.status == 400
    r = await wx.post(f"/channels/wechat/{APP_ID}", params=signed(), data=b"<xml>" + b"x" * 70_000 + b"</xml>")
    assert r.status == 413
    wrong_sig = {**signed(), "encrypt_type": "aes", "msg_signature": "0" * 40}
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    r = await wx.post(f"/channels/wechat/{APP_ID}", params=wrong_sig,
                      data=crypto.encrypt_message(xml, "1", "2").encode())
    assert r.status == 403
    # Fields wechatpy converts when read (MsgId, CreateTime): a 400 with the field named in the log.
    for field, bad in (("id", text_xml("你好", msg_id="abc")),
                       ("create_time", re.sub(r"<CreateTime>\d+", "<CreateTime>yesterday", text_xml("你好"))),
                       ("create_time", re.sub(r"<CreateTime>\d+", "<CreateTime>" + "9" * 30, text_xml("你好")))):
        caplog.clear()
        r = await wx.post(f"/channels/wechat/{APP_ID}", params=signed(), data=bad.encode())
        assert r.status == 400 and (await r.json())["error"]["code"] == "malformed_xml"
        assert f"WeChat field {field} unreadable" in caplog.text
    assert await rows(wx, messages) == []


async def test_retried_push_is_answered_once(wx: TestClient) -> None:
    xml = text_xml("楼上装修太吵了天天早上七点开始", msg_id="6054768590064713728")
    first = await push(wx, xml)
    again = await push(wx, xml)
    assert "工单号" in first[1] and again == (200, "success")
    assert len(await rows(wx, messages, messages.c.direction == "in")) == 1
    assert len(await rows(wx, tickets)) == 1


async def test_image_is_downloaded_at_once_and_token_refreshed(wx: TestClient, fake_wechat) -> None:
    fake, _ = fake_wechat
    fake.media["m1"] = png()
    xml = (f"<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o_img]]></FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
           f"<PicUrl><![CDATA[http://x]]></PicUrl><MediaId><![CDATA[m1]]></MediaId><MsgId>777</MsgId></xml>")
    fake.reject_token_once = True  # 40001: refreshed and retried
    status, _ = await push(wx, xml)
    [att] = await rows(wx, attachments)
    assert status == 200 and att.content_type == "image/png" and att.size == len(png())
    assert fake.tokens_issued == 2


async def test_voice_recognition_is_the_text(wx: TestClient, fake_wechat) -> None:
    fake, _ = fake_wechat
    fake.media["media_id"] = b"#!AMR\n" + b"\x00" * 100
    xml = (SAMPLES / "voice_with_recognition.xml").read_text().replace("1357290913", str(int(time.time())))
    await push(wx, xml)
    [msg] = await rows(wx, messages, messages.c.direction == "in")
    assert msg.text == "腾讯微信团队" and msg.kind == "media"
    [att] = await rows(wx, attachments)
    assert att.kind == "voice"


async def test_subscribe_gets_the_welcome_and_unknown_events_are_kept(wx: TestClient) -> None:
    sub = (SAMPLES / "event_subscribe.xml").read_text()
    status, body = await push(wx, sub)
    assert "12345" in parse_message(body).content and "119" in parse_message(body).content
    loc = (SAMPLES / "event_LOCATION.xml").read_text()
    status, body = await push(wx, loc)
    assert status == 200 and "暂不支持" in parse_message(body).content
    kinds = {m.kind for m in await rows(wx, messages, messages.c.direction == "in")}
    assert kinds == {"event", "unsupported"}


async def test_slow_bot_answers_success_then_a_customer_service_message(make_client, fake_wechat, fake_rasa) -> None:
    fake, base = fake_wechat
    rasa, url = fake_rasa
    rasa.delay = 1.5
    client = await make_client(wechat={"api_base": base, "accounts": accounts(), "passive_wait_seconds": 0.5},
                               bot={"enabled": True, "rasa_url": url})
    status, body = await push(client, text_xml("请问公积金怎么提取", user="o_slow"))
    assert (status, body) == (200, "success")
    for _ in range(50):
        if fake.sent:
            break
        await asyncio.sleep(0.1)
    [sent] = fake.sent
    assert sent["touser"] == "o_slow" and sent["text"]["content"].startswith("机器人收到")


async def test_outside_the_window_the_reply_is_kept_for_agents(make_client, fake_wechat, fake_rasa) -> None:
    fake, base = fake_wechat
    rasa, url = fake_rasa
    rasa.delay = 1.0
    fake.send_error = 45015
    client = await make_client(wechat={"api_base": base, "accounts": accounts(), "passive_wait_seconds": 0.2},
                               bot={"enabled": True, "rasa_url": url})
    await push(client, text_xml("请问公积金怎么提取", user="o_late"))
    for _ in range(50):
        failed = await rows(client, outbox, outbox.c.status == "failed")
        if failed:
            break
        await asyncio.sleep(0.1)
    assert failed and "45015" in failed[0].last_error and fake.sent == []


async def test_two_messages_at_once_from_one_citizen_each_get_their_own_answer(wx: TestClient) -> None:
    first, second = await asyncio.gather(push(wx, text_xml("小区里的路灯坏了好几天了", user="o_twice")),
                                         push(wx, text_xml("补充：是三号楼门口那盏", user="o_twice")))
    answers = sorted(parse_message(b).content for _, b in (first, second))
    assert len(answers) == 2 and sum("已记录" in a for a in answers) == 1 and sum("补充" in a for a in answers) == 1


async def test_a_wechat_request_walks_the_whole_handling_cycle(make_client, fake_wechat, db_url) -> None:
    """Art. 12–17 end to end: message → ticket dispatched → unit's result told on WeChat → citizen
    dissatisfied → supervisor sends it back → new result → citizen satisfied → closed."""
    from aiohttp import ClientSession, CookieJar
    fake, base = fake_wechat
    unit_auth = {"Authorization": "Bearer urban-token-123"}
    client = await make_client(db_url=db_url, wechat={"api_base": base, "accounts": accounts()},
                               secrets={"unit_tokens": json.dumps({"urban": "urban-token-123"})})
    await client.app[STORE].agents.add("boss", "值班长", "supervisor", "correct horse battery")

    async def unit(number: str, action: str, **body: str) -> dict:
        resp = await client.post(f"/api/v1/unit/tickets/{number}/{action}", json=body or None, headers=unit_auth)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def console(number: str, action: str, **body: str) -> int:
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
            login = await http.post(client.make_url("/console/api/login"),
                                    json={"username": "boss", "password": "correct horse battery"})
            resp = await http.post(client.make_url(f"/console/api/tickets/{number}/{action}"), json=body,
                                   headers={"X-CSRF-Token": (await login.json())["csrf"]})
            return resp.status

    async def sent_to_citizen(count: int) -> str:
        for _ in range(100):
            if len(fake.sent) >= count:
                break
            await asyncio.sleep(0.05)
        assert len(fake.sent) == count and fake.sent[-1]["touser"] == "o_walk"
        return fake.sent[-1]["text"]["content"]

    status, body = await push(client, text_xml("泰山区东岳大街小区门口的路灯坏了一个星期了，晚上很黑", user="o_walk"))
    number = (await rows(client, tickets))[0].number
    assert status == 200 and number in parse_message(body).content
    ticket = await client.app[STORE].tickets.get(number)
    [proposal] = [e for e in ticket.events if e.kind == "dispatch_proposed"]
    # Naming the district no longer blocks automatic dispatch (issue 17: it used to wait for a supervisor).
    assert (ticket.status, ticket.unit_id) == ("dispatched", "urban") and proposal.data["automatic"]
    [listed] = (await (await client.get("/api/v1/unit/tickets", headers=unit_auth)).json())["items"]
    assert listed["number"] == number and listed["status"] == "dispatched" and listed["due_date"]

    await unit(number, "accept")
    await unit(number, "result", text="已安排维修，路灯已恢复。")
    told = await sent_to_citizen(1)
    assert "路灯已恢复" in told and "1 满意" in told  # the result and the request to rate it

    status, body = await push(client, text_xml("3 还是不亮", user="o_walk"))
    assert "复核" in parse_message(body).content
    assert await console(number, "rehandle", note="市民反映路灯仍不亮") == 200

    await unit(number, "accept")
    await unit(number, "result", text="已更换整套灯具，经夜间复查照明正常。")
    assert "整套灯具" in await sent_to_citizen(2)
    status, body = await push(client, text_xml("1", user="o_walk"))
    assert "感谢" in parse_message(body).content
    ticket = await client.app[STORE].tickets.get(number)
    assert ticket.status == "closed"
    kinds = [e.kind for e in ticket.events]
    assert kinds.count("result") == 2 and "rehandle" in kinds and [e.data["level"] for e in ticket.events
                                                                   if e.kind == "rating"] == ["dissatisfied", "satisfied"]

    # Weeks later the same citizen writes the same complaint again: the result, not a second ticket.
    status, body = await push(client, text_xml("泰山区东岳大街小区门口路灯坏了一个星期了，晚上很黑，还没人修", user="o_walk"))
    answer = parse_message(body).content
    assert number in answer and "整套灯具" in answer and len(await rows(client, tickets)) == 1


async def test_an_emergency_inside_a_complaint_keeps_the_complaint(wx: TestClient, fake_wechat) -> None:
    status, body = await push(wx, text_xml(
        "我想反映一下我们小区物业的问题，垃圾好几天没人清，电梯也老是坏，上个月打过电话也没人管。"
        "刚才楼下好像有人倒在地上不动了，叫他也不答应", msg_id="7001"))
    assert status == 200
    [ticket] = await rows(wx, tickets)
    fake, _ = fake_wechat
    for _ in range(50):  # the second answer may go out as a customer-service message
        told = parse_message(body).content if body and body != "success" else ""
        told += "".join(str(m) for m in getattr(fake, "sent", []))
        if "120" in told and ticket.number in told:
            break
        await asyncio.sleep(0.1)
    assert "120" in told and ticket.number in told and ticket.source == "emergency"


async def test_an_account_in_safe_mode_refuses_plaintext_pushes(wx_safe: TestClient) -> None:
    status, body = await push(wx_safe, text_xml("我要投诉，物业乱收费"))
    assert status == 403 and "plaintext_refused" in body
    assert await rows(wx_safe, messages) == []


async def test_a_signed_query_replayed_with_another_body_is_refused(wx: TestClient) -> None:
    q = signed()
    body = text_xml("路灯坏了好几天", msg_id="9001").encode()  # built once: CreateTime is in it
    first = await wx.post(f"/channels/wechat/{APP_ID}", params=q, data=body)
    assert first.status == 200
    retry = await wx.post(f"/channels/wechat/{APP_ID}", params=q, data=body)
    assert retry.status == 200  # WeChat's own retry: the same body, answered again from the store
    forged = await wx.post(f"/channels/wechat/{APP_ID}", params=q, data=text_xml("伪造的内容", msg_id="9002").encode())
    assert forged.status == 403 and "replayed_nonce" in await forged.text()
    assert len(await rows(wx, messages, messages.c.direction == "in")) == 1


async def test_a_photographed_emergency_is_answered_at_once_and_referred_when_read(wx: TestClient, fake_wechat) -> None:
    """WeChat's 5 s cannot wait for OCR: the passive reply says the photo is being read; the referral to
    119 follows through the customer-service API once it is read (issue 18)."""
    from tests.media_samples import text_image
    from gateway.store.schema import emergency_referrals, media_readings

    fake, _ = fake_wechat
    fake.media["m_fire"] = text_image(["紧急！3号楼2单元楼道着火了", "浓烟很大 有老人困在楼上"])
    xml = (f"<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o_fire]]></FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
           f"<PicUrl><![CDATA[http://x]]></PicUrl><MediaId><![CDATA[m_fire]]></MediaId><MsgId>778</MsgId></xml>")
    started = time.monotonic()
    status, body = await push(wx, xml)
    assert status == 200 and time.monotonic() - started < 5.0
    assert "正在识别" in parse_message(body).content
    for _ in range(1200):
        if fake.sent:
            break
        await asyncio.sleep(0.1)
    [sent] = fake.sent
    assert sent["touser"] == "o_fire" and "119" in sent["text"]["content"]
    [ref] = await rows(wx, emergency_referrals)
    assert "119" in ref.lines
    [reading] = await rows(wx, media_readings)
    assert reading.state == "done" and reading.applied and "着火" in reading.text


async def test_agents_are_shown_whether_a_voice_message_came_with_its_transcript(wx: TestClient, fake_wechat) -> None:
    fake, _ = fake_wechat
    fake.media["media_id"] = b"#!AMR\n" + b"\x00" * 100
    with_text = (SAMPLES / "voice_with_recognition.xml").read_text().replace("1357290913", str(int(time.time())))
    without = re.sub(r"<Recognition>.*?</Recognition>", "<Recognition><![CDATA[]]></Recognition>",
                     with_text.replace("<MsgId>", "<MsgId>9"), flags=re.S)
    await push(wx, with_text)
    await push(wx, without)
    history = await wx.app[STORE].messages.history("wechat", parse_message(with_text).source)
    shown = [a for m in history for a in m.attachments]
    assert [a["transcript"] for a in shown] == [True, False]


ODD_PUSHES = [  # documents the flat reader leaves to wechatpy's parser, or reads the same as xmltodict
    "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>event</MsgType><Event>scancode_push</Event><ScanCodeInfo><ScanType>qrcode</ScanType>"
    "<ScanResult>1</ScanResult></ScanCodeInfo></xml>",                                  # nested
    "<xml><FromUserName>o1</FromUserName><MsgType>text</MsgType><Content>a</Content><Content>b</Content></xml>",
    "<xml a='1'><FromUserName>o1</FromUserName><MsgType>text</MsgType></xml>",         # attributes
    "<xml><FromUserName x='y'>o1</FromUserName><MsgType>text</MsgType></xml>",
    "<xml>text beside<FromUserName>o1</FromUserName><MsgType>text</MsgType></xml>",
    "<xml><FromUserName>o1</FromUserName>tail<MsgType>text</MsgType></xml>",
    "<xml xmlns:w='urn:w'><w:FromUserName>o1</w:FromUserName><MsgType>text</MsgType></xml>",
    "<xml><FromUserName><![CDATA[ o1 ]]></FromUserName><MsgType> TEXT </MsgType><Content></Content>"
    "<MsgId>  </MsgId><![CDATA[]]></xml>",
    "<xml><FromUserName>o1</FromUserName><MsgType>event</MsgType><Event>subscribe</Event>"
    "<EventKey>qrscene_123</EventKey></xml>",
    "<xml><FromUserName>o1</FromUserName><MsgType>event</MsgType><Event>subscribe</Event>"
    "<EventKey>scanbarcode|x</EventKey></xml>",
    "<xml><FromUserName>o1</FromUserName><MsgType>device_text</MsgType></xml>",
    "<xml><FromUserName>o1</FromUserName><MsgType>device_event</MsgType><Event>bind</Event></xml>",
    "<xml><FromUserName>o1</FromUserName><MsgType>nonsense</MsgType></xml>",
    "<xml><Content>&lt;b&gt; &amp; 中文<!-- note --> 后</Content><MsgType>text</MsgType></xml>",
    "<?xml version='1.0' encoding='utf-8'?><xml><MsgType>text</MsgType><Content>x</Content></xml>",
    "<notxml><MsgType>text</MsgType></notxml>",
    "<xml><FromUserName>o1</FromUserName></xml>",                                       # no MsgType
    "<xml></xml>",
    "<xml><MsgType>text</MsgType>",                                                      # not well formed
    "",
]


def _outcome(parse, xml: str) -> Any:
    try:
        message = parse(xml)
    except Exception as exc:  # noqa: BLE001 - the kind of failure is what is compared
        return ("error", type(exc).__name__)
    return (type(message).__name__, getattr(message, "_data", None))


@pytest.mark.parametrize("xml", [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.xml"))] + ODD_PUSHES)
def test_pushes_are_read_as_wechatpy_reads_them(xml: str) -> None:
    from channels.wechat import xml as wechat_xml
    assert _outcome(wechat_xml.parse_message, xml) == _outcome(parse_message, xml)


def test_the_encrypted_envelope_is_read_as_wechatpy_reads_it() -> None:
    from channels.wechat.xml import flat_fields
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    inner = text_xml("小区门口的路灯坏了", user="o_env")
    body = crypto.encrypt_message(inner, "nonce1", "1700000000")
    signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>", body).group(1)
    assert crypto.decrypt_message(flat_fields(body), signature, "1700000000", "nonce1") == inner


def test_the_replay_window_forgets_only_what_expired(caplog: pytest.LogCaptureFixture) -> None:
    from channels.wechat.replay import NonceWindow
    now = [1000.0]
    window = NonceWindow(600, capacity=5, clock=lambda: now[0])
    assert window.admit(("wx", "1", "n1"), b"body")
    assert window.admit(("wx", "1", "n1"), b"body")          # WeChat retrying: the same body
    assert not window.admit(("wx", "1", "n1"), b"other")     # the same signed query with a new body
    now[0] += 300
    assert window.admit(("wx", "2", "n2"), b"b2")
    now[0] += 301                                            # the first query is out of the window
    assert window.admit(("wx", "3", "n3"), b"b3") and len(window) == 2
    assert window.admit(("wx", "1", "n1"), b"other")         # expired: no longer a replay of anything
    assert not window.admit(("wx", "2", "n2"), b"changed")   # still inside its window
    for i in range(10):                                      # a burst over the capacity
        assert window.admit(("wx", "4", f"burst{i}"), b"x")
    assert len(window) == 5
    assert not window.admit(("wx", "4", "burst9"), b"y")     # the newest are the ones kept
    assert window.admit(("wx", "3", "n3"), b"changed")       # the oldest went first
    assert sum("forgotten early" in r.getMessage() for r in caplog.records) == 1
