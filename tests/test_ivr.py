"""The phone channel: the generic signed JSON webhook, and the TwiML endpoint checked with Twilio's own
library as the independent peer (its RequestValidator signs our requests; its parser reads our TwiML)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from twilio.request_validator import RequestValidator

from gateway.app import STORE
from gateway.settings import PROJECT_ROOT
from gateway.store.schema import attachments, conversations, emergency_referrals, messages, tickets

SECRET = "ivr-secret-123"
TWILIO_TOKEN = "12345"


@pytest.fixture
async def ivr(make_client, db_url) -> TestClient:
    # The recording stand-in listens on loopback: allowed here, and only here, by name and address.
    return await make_client(db_url=db_url, secrets={"ivr_secret": SECRET, "twilio_auth_token": TWILIO_TOKEN},
                             ivr={"recording_hosts": ["127.0.0.1"], "recording_require_https": False,
                                  "recording_allow_private_addresses": True})


async def post_event(client: TestClient, event: dict[str, Any], secret: str = SECRET,
                     ts: int | None = None) -> tuple[int, dict[str, Any]]:
    body = json.dumps(event, ensure_ascii=False).encode()
    stamp = str(int(time.time()) if ts is None else ts)
    sig = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    resp = await client.post("/channels/ivr/events", data=body, headers={
        "Content-Type": "application/json", "X-Hotline-Timestamp": stamp, "X-Hotline-Signature": f"sha256={sig}"})
    return resp.status, await resp.json()


async def rows(client: TestClient, table: sa.Table, *where) -> list:
    return await client.app[STORE].db.run(lambda conn: conn.execute(sa.select(table).where(*where)).all())


async def test_a_call_turns_into_a_ticket_and_ends_with_its_recording(ivr: TestClient) -> None:
    recording_app = web.Application()
    async def wav(request: web.Request) -> web.Response:
        return web.Response(body=b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40)

    recording_app.router.add_get("/rec.wav", wav)
    rec_server = TestServer(recording_app)
    await rec_server.start_server()
    try:
        status, start = await post_event(ivr, {"type": "call.started", "call_id": "c1", "caller": "13800000001",
                                               "called": "12345"})
        assert status == 200 and start["actions"][0]["type"] == "say" and start["actions"][-1]["type"] == "gather"
        status, turn = await post_event(ivr, {"type": "transcript", "call_id": "c1", "sequence": 1, "final": True,
                                              "text": "嗯 那个 我们小区门口的路灯坏了好几天了 晚上黑得很", "confidence": 0.82})
        says = [a["text"] for a in turn["actions"] if a["type"] == "say"]
        assert any("工单号" in s for s in says) and turn["actions"][-1]["type"] == "gather"
        assert all(len(s) <= 80 for s in says)  # short sentences for speech
        again = await post_event(ivr, {"type": "transcript", "call_id": "c1", "sequence": 1, "final": True,
                                       "text": "嗯 那个 我们小区门口的路灯坏了好几天了 晚上黑得很", "confidence": 0.82})
        assert again == (status, turn)  # a retried event gets the same answer
        status, _ = await post_event(ivr, {"type": "call.ended", "call_id": "c1", "duration": 63,
                                           "recording_url": str(rec_server.make_url("/rec.wav"))})
        assert status == 200
    finally:
        await rec_server.close()
    [ticket] = await rows(ivr, tickets)
    [att] = await rows(ivr, attachments)
    assert ticket.channel == "ivr" and att.kind == "voice" and att.content_type == "audio/x-wav"
    got = await ivr.app[STORE].tickets.get(ticket.number)
    assert [e.kind for e in got.events if not e.kind.startswith("dispatch")] == ["created", "citizen_media"]


async def test_emergency_in_a_partial_transcript_transfers_at_once(ivr: TestClient) -> None:
    status, body = await post_event(ivr, {"type": "transcript", "call_id": "c2", "sequence": 3, "final": False,
                                          "text": "喂 喂 快来人 俺家着火了"})
    assert status == 200 and body["actions"][-1] == {"type": "transfer", "to": "119"}
    assert len(body["actions"]) == 2 and "119" in body["actions"][0]["text"]
    assert len(await rows(ivr, emergency_referrals)) == 1
    status, quiet = await post_event(ivr, {"type": "transcript", "call_id": "c2", "sequence": 4, "final": False,
                                           "text": "我想问一下那个社保"})
    assert quiet == {"actions": []}  # partials are only screened
    assert len(await rows(ivr, messages, messages.c.direction == "in")) == 1


async def test_asking_for_a_person_transfers_to_the_agent_seat(ivr: TestClient) -> None:
    await post_event(ivr, {"type": "call.started", "call_id": "c3", "caller": "13800000003"})
    def to_agent(conn: Any) -> None:
        conn.execute(conversations.update().where(conversations.c.key == "call:c3").values(state="waiting_for_agent"))
    await ivr.app[STORE].db.run(to_agent)
    status, body = await post_event(ivr, {"type": "dtmf", "call_id": "c3", "sequence": 2, "digits": "0"})
    assert body["actions"][-1] == {"type": "transfer", "to": "8001"}


async def test_bad_input(ivr: TestClient) -> None:
    assert (await post_event(ivr, {"type": "call.started", "call_id": "x"}, secret="wrong"))[0] == 401
    assert (await post_event(ivr, {"type": "call.started", "call_id": "x"}, ts=int(time.time()) - 3600))[0] == 401
    resp = await ivr.post("/channels/ivr/events", data=b"{}", headers={"X-Hotline-Timestamp": "1"})
    assert resp.status == 401
    body = b"{not json"
    stamp = str(int(time.time()))
    sig = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    resp = await ivr.post("/channels/ivr/events", data=body, headers={"X-Hotline-Timestamp": stamp,
                                                                       "X-Hotline-Signature": sig})
    assert resp.status == 400
    status, ack = await post_event(ivr, {"type": "call.transferred", "call_id": "c9"})
    assert status == 200 and ack == {"actions": []}
    [kept] = await rows(ivr, messages, messages.c.kind == "unsupported")
    assert "call.transferred" in kept.raw


def _twilio_post_params(client: TestClient, params: dict[str, str], token: str = TWILIO_TOKEN) -> dict[str, Any]:
    url = str(client.make_url("/channels/ivr/twiml"))
    signature = RequestValidator(token).compute_signature(url, params)
    return {"data": params, "headers": {"X-Twilio-Signature": signature}}


async def test_twiml_with_twilios_own_signature_and_parser(ivr: TestClient) -> None:
    start = {"CallSid": "CA1", "From": "+8613800000004", "To": "+8653812345", "CallStatus": "in-progress"}
    resp = await ivr.post("/channels/ivr/twiml", **_twilio_post_params(ivr, start))
    doc = ET.fromstring(await resp.text())
    gather = doc.find("Gather")
    assert resp.status == 200 and gather is not None and gather.get("input") == "speech"
    assert gather.get("language") == "zh-CN" and gather.find("Say").get("language") == "zh-CN"
    fire = {**start, "SpeechResult": "喂 救命啊 我家厨房着火了", "Confidence": "0.91"}
    resp = await ivr.post("/channels/ivr/twiml", **_twilio_post_params(ivr, fire))
    doc = ET.fromstring(await resp.text())
    assert doc.find("Dial").text == "119" and "119" in doc.find("Say").text
    forged = _twilio_post_params(ivr, fire, token="not-the-token")
    assert (await ivr.post("/channels/ivr/twiml", **forged)).status == 403  # Twilio: 403 for a bad signature


def test_our_twilio_signature_check_agrees_with_the_documented_vector() -> None:
    import base64
    v = json.loads((PROJECT_ROOT / "tests" / "data" / "twilio" / "signature_example.json").read_text())
    signed = v["url"] + "".join(k + v["params"][k] for k in sorted(v["params"]))
    ours = base64.b64encode(hmac.new(v["auth_token"].encode(), signed.encode(), hashlib.sha1).digest()).decode()
    assert ours == v["expected_signature"]


async def test_an_emergency_told_after_a_complaint_transfers_and_keeps_the_complaint(ivr: TestClient) -> None:
    await post_event(ivr, {"type": "call.started", "call_id": "c9", "caller": "13800000009"})
    status, turn = await post_event(ivr, {
        "type": "transcript", "call_id": "c9", "sequence": 1, "final": True,
        "text": "我想反映一下我们小区物业的问题 垃圾好几天没人清 电梯也老是坏 上个月打过电话也没人管 "
                "哎 刚才楼下好像有人倒在地上不动了 叫他也不答应"})
    assert status == 200
    spoken = " ".join(a.get("text", "") for a in turn["actions"] if a["type"] == "say")
    [ticket] = await rows(ivr, tickets)
    assert "120" in spoken and ticket.source == "emergency" and "垃圾" in ticket.description
    assert {"type": "transfer", "to": "120"} in turn["actions"]


async def test_recording_urls_outside_the_policy_are_not_fetched(make_client, db_url) -> None:
    """SSRF: a webhook names a URL; only configured public hosts over https are fetched, redirects
    included. Every stand-in here is on loopback."""
    hits: list[str] = []
    internal = web.Application()

    async def secret(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40)

    async def bounce(request: web.Request) -> web.Response:
        hits.append(request.path)
        raise web.HTTPFound("http://localhost:1/admin")  # another host: checked again, refused

    internal.router.add_get("/secret.wav", secret)
    internal.router.add_get("/bounce", bounce)
    server = TestServer(internal)
    await server.start_server()
    try:
        # Default policy: loopback is neither a configured host nor a public address.
        strict = await make_client(db_url=db_url, secrets={"ivr_secret": SECRET})
        await post_event(strict, {"type": "call.started", "call_id": "s1", "caller": "13800000011"})
        status, _ = await post_event(strict, {"type": "call.ended", "call_id": "s1",
                                              "recording_url": str(server.make_url("/secret.wav"))})
        assert status == 200 and hits == [] and await rows(strict, attachments) == []
        # The host allowed by name but not its address: refused after resolution.
        named = await make_client(db_url=db_url, secrets={"ivr_secret": SECRET},
                                  ivr={"recording_hosts": ["localhost", "127.0.0.1"], "recording_require_https": False})
        await post_event(named, {"type": "call.started", "call_id": "s2", "caller": "13800000012"})
        await post_event(named, {"type": "call.ended", "call_id": "s2",
                                 "recording_url": str(server.make_url("/secret.wav")).replace("127.0.0.1", "localhost")})
        assert hits == []
        # Allowed stand-in, but a redirect to another host is checked again and refused.
        lab = await make_client(db_url=db_url, secrets={"ivr_secret": SECRET},
                                ivr={"recording_hosts": ["127.0.0.1"], "recording_require_https": False,
                                     "recording_allow_private_addresses": True})
        await post_event(lab, {"type": "call.started", "call_id": "s3", "caller": "13800000013"})
        await post_event(lab, {"type": "call.ended", "call_id": "s3",
                               "recording_url": str(server.make_url("/bounce"))})
        assert hits == ["/bounce"]
    finally:
        await server.close()


@pytest.mark.parametrize("url", ["https://10.1.2.3/r.wav", "https://169.254.169.254/latest/meta-data",
                                 "https://[::1]/r.wav", "https://224.0.0.1/r.wav", "http://api.twilio.com/r.wav",
                                 "ftp://api.twilio.com/r.wav", "https://evil.example/r.wav"])
async def test_private_addresses_other_hosts_and_plain_http_are_refused_before_any_connection(url: str) -> None:
    from channels.safe_fetch import FetchPolicy, FetchRefused, check_url
    policy = FetchPolicy(frozenset({"10.1.2.3", "169.254.169.254", "::1", "224.0.0.1", "api.twilio.com"}))
    with pytest.raises(FetchRefused):
        await check_url(url, policy)


@pytest.mark.parametrize("body,content_type", [
    (b"\xff\xfe\x00garbage=%%%", "application/x-www-form-urlencoded"),
    (b"CallSid=CA1&From=%2B8613800000000", "application/x-www-form-urlencoded; charset=bogus"),
    (b"--x\r\nContent-Disposition: form-data; name=\"CallSid\"\r\n\r\nCA1\r\n--x--", "multipart/form-data; boundary=x"),
    (b"{}", "application/json"),
])
async def test_unsigned_twiml_is_refused_with_403_before_it_is_read(ivr: TestClient, body: bytes,
                                                                    content_type: str) -> None:
    resp = await ivr.post("/channels/ivr/twiml", data=body, headers={"Content-Type": content_type})
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "bad_signature"
    assert await rows(ivr, messages) == []


async def test_a_401_says_how_to_authenticate(ivr: TestClient) -> None:
    resp = await ivr.get("/api/v1/tickets")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
