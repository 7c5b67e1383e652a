"""Findings 3-6 of the screens' security review, against the real app on loopback (SQLite and PostgreSQL):
the web chat never hands agents a citizen's session; a callback rating counts once however many agents
send it at the same time; a supervisor's decision applies to the request they read; a console socket
ends with its session."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from channels.web.adapter import typing_ref
from gateway.app import HUB, STORE
from gateway.events import CONSOLE_TOPIC
from gateway.store.schema import agent_sessions
from tests.console_helpers import PASSWORD, add_agent, login
from tests.test_supervisor_screen import TOKENS, citizen_ticket, unit_act

UNIT_TOKENS = {"unit_tokens": json.dumps(TOKENS)}


async def next_event(ws: ClientWebSocketResponse, kind: str, timeout: float = 5.0) -> dict:
    """The next console event of this type (others are skipped); fails when the socket closes first."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            assert msg.type == WSMsgType.TEXT, f"socket ended before a {kind} event: {msg}"
            event = json.loads(msg.data)
            if event.get("type") == kind:
                return event


async def closed_with(ws: ClientWebSocketResponse, timeout: float = 5.0) -> int | None:
    """The close code the server sent, skipping events still on their way; TimeoutError if it stays open."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return ws.close_code


# --- finding 3: the web chat's events to agents carry no session


async def test_the_web_chats_abuse_and_typing_events_never_carry_the_session(make_client, db_url: str) -> None:
    client = await make_client(db_url=db_url, abuse={"new_sessions_per_hour_per_address": 1,
                                                     "messages_per_minute_per_session": 100})
    await add_agent(client, "watcher")
    http, _ = await login(client, "watcher")
    secret_first, secret = "citizenSecretSession41", "citizenSecretSession42"
    try:
        async with http.ws_connect(client.make_url("/console/api/ws")) as ws:
            first = await client.post("/api/v1/web/messages", json={"session": secret_first, "text": "路灯坏了"})
            assert first.status == 200
            # The same address opens a second session: over its limit, and agents are told.
            over = await client.post("/api/v1/web/messages", json={"session": secret, "text": "路灯坏了"})
            assert over.status == 429
            abuse = await next_event(ws, "abuse")
            assert abuse["ref"] == typing_ref(secret) and abuse["channel"] == "web"
            assert secret not in json.dumps(abuse) and "session" not in abuse
            async with client.ws_connect("/api/v1/web/ws", params={"session": secret_first}) as citizen:
                await citizen.send_str('{"type":"typing"}')
                typing = await next_event(ws, "citizen_typing")
            assert typing == {"type": "citizen_typing", "ref": typing_ref(secret_first)}
        # What an agent was given does not open the citizen's history.
        leaked = await client.get("/api/v1/web/history", params={"session": abuse["ref"]})
        assert "路灯" not in await leaked.text()
    finally:
        await http.close()


# --- finding 4: one rating per result, whatever races


async def resolved_ticket(client: TestClient, session: str) -> str:
    number = await citizen_ticket(client, session, "小区门口的路灯坏了一个星期了晚上很黑")
    await unit_act(client, number, "accept")
    await unit_act(client, number, "result", text="已更换灯具，恢复照明。")
    return number


async def test_concurrent_callback_ratings_count_once_and_answer_409(make_client, db_url: str) -> None:
    client = await make_client(db_url=db_url, secrets=UNIT_TOKENS)
    await add_agent(client, "cb1")
    await add_agent(client, "cb2", role="supervisor")
    a, csrf_a = await login(client, "cb1")
    b, csrf_b = await login(client, "cb2")
    try:
        async def callback(http, csrf: str, number: str, level: str) -> tuple[int, dict]:
            resp = await http.post(client.make_url(f"/console/api/tickets/{number}/callback"),
                                   json={"level": level, "solved": level != "dissatisfied", "note": "回访记录"},
                                   headers={"X-CSRF-Token": csrf})
            return resp.status, await resp.json()

        number = await resolved_ticket(client, "racecb0001")
        out = await asyncio.gather(callback(a, csrf_a, number, "dissatisfied"),
                                   callback(b, csrf_b, number, "dissatisfied"),
                                   callback(a, csrf_a, number, "dissatisfied"))
        assert sorted(s for s, _ in out) == [200, 409, 409]
        refused = [body for s, body in out if s == 409]
        assert all(r["error"]["code"] == "not_awaiting_rating" and "回访" in r["error"]["message"] for r in refused)
        ticket = await client.app[STORE].tickets.get(number)
        assert [e.kind for e in ticket.events].count("rating") == 1
        board = await (await b.get(client.make_url("/console/api/supervision"))).json()
        assert [u["dissatisfied"] for u in board["units"] if u["unit"] == "urban"] == [1]

        # Satisfied and dissatisfied at the same moment: one wins, the other is a 409 (never a 500).
        other = await resolved_ticket(client, "racecb0002")
        out = await asyncio.gather(callback(a, csrf_a, other, "satisfied"), callback(b, csrf_b, other, "dissatisfied"))
        assert sorted(s for s, _ in out) == [200, 409]
        ticket = await client.app[STORE].tickets.get(other)
        assert [e.kind for e in ticket.events].count("rating") == 1
        # The citizen's own rating after an agent's callback is not a second one either.
        await client.post("/api/v1/web/messages", json={"session": "racecb0002", "text": "不满意"})
        assert [e.kind for e in (await client.app[STORE].tickets.get(other)).events].count("rating") == 1
    finally:
        await a.close()
        await b.close()


# --- finding 5: a decision names the request it decides


async def test_a_unit_cannot_ask_again_while_its_request_waits_and_decisions_name_the_request(
        make_client, db_url: str) -> None:
    client = await make_client(db_url=db_url, secrets=UNIT_TOKENS)
    await add_agent(client, "chief", role="supervisor")
    boss, csrf = await login(client, "chief")
    try:
        async def requests() -> list[dict]:
            return (await (await boss.get(client.make_url("/console/api/supervisor/requests"))).json())["items"]

        async def decide(number: str, kind: str, decision: str, body: dict) -> tuple[int, dict]:
            resp = await boss.post(client.make_url(f"/console/api/tickets/{number}/{kind}/{decision}"), json=body,
                                   headers={"X-CSRF-Token": csrf})
            return resp.status, await resp.json()

        number = await citizen_ticket(client, "decide0001", "楼下的井盖丢了好几天了很危险")
        await unit_act(client, number, "accept")
        due = (await client.app[STORE].tickets.get(number)).due_date
        await unit_act(client, number, "extension", text="井盖需定制", days=2)
        [shown] = await requests()
        assert shown["days"] == 2 and isinstance(shown["request_id"], int)
        # The unit asks for 30 days while its 2-day request waits: refused, in Chinese.
        again = await client.post(f"/api/v1/unit/tickets/{number}/extension", json={"text": "改为30天", "days": 30},
                                  headers={"Authorization": f"Bearer {TOKENS['urban']}"})
        body = await again.json()
        assert again.status == 409 and body["error"]["code"] == "request_pending"
        assert body["error"]["message"] == "已有延期申请正在等待审批，请待审批后再申请。"
        assert [(r["request_id"], r["days"]) for r in await requests()] == [(shown["request_id"], 2)]

        status, body = await decide(number, "extension", "approve", {})
        assert status == 400 and body["error"]["code"] == "missing_request_id"
        status, body = await decide(number, "extension", "reject", {"request_id": shown["request_id"],
                                                                    "note": "两天内可到货"})
        assert status == 200 and body["due_date"] == due.isoformat()
        # A new request after the decision; a decision still naming the old one is refused.
        await unit_act(client, number, "extension", text="厂家延迟发货", days=30)
        [fresh] = await requests()
        assert fresh["request_id"] != shown["request_id"] and fresh["days"] == 30
        status, body = await decide(number, "extension", "approve", {"request_id": shown["request_id"]})
        assert status == 409 and body["error"]["message"] == "该申请已变更或已处理，请刷新后重新审批。"
        assert (await client.app[STORE].tickets.get(number)).due_date == due
        status, body = await decide(number, "extension", "approve", {"request_id": fresh["request_id"]})
        assert status == 200 and body["due_date"] > due.isoformat()
        # The 30 working days asked in the request named, not the 2 of the earlier one.
        assert dt.date.fromisoformat(body["due_date"]) > due + dt.timedelta(days=30)

        # The same holds for termination requests.
        await unit_act(client, number, "termination", text="市民拒不配合", material="三次上门记录")
        again = await client.post(f"/api/v1/unit/tickets/{number}/termination",
                                  json={"text": "再次申请", "material": "四次上门记录"},
                                  headers={"Authorization": f"Bearer {TOKENS['urban']}"})
        assert again.status == 409 and (await again.json())["error"]["message"] == \
            "已有终止办理申请正在等待审批，请待审批后再申请。"
        [term] = await requests()
        status, body = await decide(number, "termination", "approve", {"request_id": fresh["request_id"]})
        assert status == 409  # an extension's id does not decide a termination
        status, body = await decide(number, "termination", "approve", {"request_id": term["request_id"]})
        assert status == 200 and body["status"] == "terminated"
    finally:
        await boss.close()


# --- finding 6: console sockets end with their session


async def test_logout_closes_that_sessions_sockets_only(make_client, db_url: str) -> None:
    client = await make_client(db_url=db_url)
    await add_agent(client, "sock1")
    first, csrf = await login(client, "sock1")
    second, _ = await login(client, "sock1")  # the same agent on another device
    try:
        async with first.ws_connect(client.make_url("/console/api/ws")) as gone, \
                second.ws_connect(client.make_url("/console/api/ws")) as stays:
            client.app[HUB].publish(CONSOLE_TOPIC, {"type": "ping_before"})
            await next_event(gone, "ping_before")
            await next_event(stays, "ping_before")
            resp = await first.post(client.make_url("/console/api/logout"), headers={"X-CSRF-Token": csrf})
            assert resp.status == 200
            assert await closed_with(gone) == 4401
            client.app[HUB].publish(CONSOLE_TOPIC, {"type": "ping_after"})
            assert (await next_event(stays, "ping_after"))["type"] == "ping_after"
            assert not stays.closed
    finally:
        await first.close()
        await second.close()


async def test_an_expired_session_closes_its_socket(make_client, db_url: str) -> None:
    client = await make_client(db_url=db_url, server={"console_session_recheck_seconds": 0.2})
    await add_agent(client, "sock2")
    http, _ = await login(client, "sock2")
    try:
        async with http.ws_connect(client.make_url("/console/api/ws")) as ws:
            client.app[HUB].publish(CONSOLE_TOPIC, {"type": "ping_before"})
            await next_event(ws, "ping_before")
            past = client.app[STORE].clock.now() - dt.timedelta(minutes=1)
            await client.app[STORE].db.run(lambda conn: conn.execute(
                agent_sessions.update().values(expires_at=past)))
            assert await closed_with(ws) == 4401
        assert (await http.get(client.make_url("/console/api/me"))).status == 401
    finally:
        await http.close()


@pytest.mark.parametrize("path", ["/console/api/login", "/unit/api/login"])
async def test_logins_only_as_json_from_our_own_pages(make_client, path: str) -> None:
    """Login CSRF (review finding 10): a foreign page could post text/plain, which needs no preflight, and
    log the victim's browser into the attacker's account."""
    client = await make_client()
    store = client.app[STORE]
    await store.agents.add("li", "李坐席", "agent", PASSWORD)
    await store.unit_users.add("urban", "zhang", "张经办", "staff", PASSWORD)
    username = "li" if path.startswith("/console") else "zhang"
    body = json.dumps({"username": username, "password": PASSWORD})
    plain = await client.post(path, data=body, headers={"Content-Type": "text/plain",
                                                        "Origin": "https://evil.example"})
    assert plain.status == 400 and "Set-Cookie" not in plain.headers
    assert (await plain.json())["error"]["code"] == "login_not_json"
    foreign = await client.post(path, data=body, headers={"Content-Type": "application/json",
                                                          "Origin": "https://evil.example"})
    assert foreign.status == 403 and "Set-Cookie" not in foreign.headers
    ours = await client.post(path, data=body, headers={"Content-Type": "application/json",
                                                       "Origin": str(client.make_url("/")).rstrip("/")})
    assert ours.status == 200 and "Set-Cookie" in ours.headers
