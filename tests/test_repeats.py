"""Repeated requests (Art. 13(4)) and several citizens reporting one problem (并单), over the phone
channel: each call is a new conversation, so the same caller phoning again is a real repeat."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from gateway.app import STORE
from gateway.store.schema import tickets
from routing.repeats import LINK, RELATED, REPEAT, similarity
from tests.test_ivr import SECRET, TWILIO_TOKEN, post_event

FIRST = "泰山区东岳大街的路灯坏了好几天了，晚上很黑"


@pytest.fixture
async def ivr(make_client, db_url) -> TestClient:
    return await make_client(db_url=db_url, secrets={"ivr_secret": SECRET, "twilio_auth_token": TWILIO_TOKEN})


async def call(client: TestClient, call_id: str, caller: str, text: str) -> str:
    """One call with one final transcript: what the caller heard."""
    await post_event(client, {"type": "call.started", "call_id": call_id, "caller": caller, "called": "12345"})
    status, turn = await post_event(client, {"type": "transcript", "call_id": call_id, "sequence": 1,
                                             "final": True, "text": text, "confidence": 0.9})
    assert status == 200
    return "".join(a["text"] for a in turn["actions"] if a["type"] == "say")


async def all_tickets(client: TestClient) -> list:
    return await client.app[STORE].db.run(
        lambda conn: conn.execute(sa.select(tickets.c.number).order_by(tickets.c.id)).all())


def test_similarity_separates_repeats_related_and_other_matters() -> None:
    assert similarity(FIRST, "泰山区东岳大街路灯坏了好几天了 晚上很黑 怎么还没人修") >= REPEAT
    related = similarity(FIRST, "泰山区东岳大街路灯坏了好几天了，现在旁边的井盖也丢了，很危险")
    assert RELATED <= related < REPEAT
    assert similarity(FIRST, "泰山区某小区物业不作为，电梯坏了一个月") < RELATED
    assert similarity(FIRST, "") == 0.0
    assert REPEAT > LINK > RELATED


async def test_the_same_caller_repeating_hears_the_progress_and_no_ticket_is_added(ivr: TestClient) -> None:
    heard = await call(ivr, "rep1", "13800000011", FIRST)
    [(number,)] = await all_tickets(ivr)
    assert number in heard
    heard = await call(ivr, "rep2", "13800000011", "泰山区东岳大街路灯坏了好几天了 晚上很黑 怎么还没人修")
    assert number in heard and "无需重复提交" in heard and "当前状态" in heard
    assert await all_tickets(ivr) == [(number,)]
    ticket = await ivr.app[STORE].tickets.get(number)
    [repeat] = [e for e in ticket.events if e.kind == "repeat"]
    assert repeat.actor == "citizen" and repeat.data["score"] >= REPEAT

    # Something new about the same matter is added to that ticket, not a second one.
    heard = await call(ivr, "rep3", "13800000011", "泰山区东岳大街路灯坏了好几天了，现在旁边的井盖也丢了，很危险")
    assert number in heard and await all_tickets(ivr) == [(number,)]
    ticket = await ivr.app[STORE].tickets.get(number)
    assert any(e.kind == "citizen_message" and "井盖" in e.data["text"] for e in ticket.events)

    # A different matter from the same caller is a new ticket.
    await call(ivr, "rep4", "13800000011", "泰山区某小区物业不作为，电梯坏了一个月都不修")
    assert len(await all_tickets(ivr)) == 2


async def test_another_citizen_with_the_same_problem_gets_a_linked_ticket(ivr: TestClient) -> None:
    await call(ivr, "link1", "13800000021", FIRST)
    await call(ivr, "link2", "13900000022", "我家在泰山区东岳大街，路灯坏了好几天，晚上黑乎乎的")
    [(first,), (second,)] = await all_tickets(ivr)  # the other citizen gets a ticket of their own
    a, b = [await ivr.app[STORE].tickets.get(n) for n in (first, second)]
    [link_a] = [e for e in a.events if e.kind == "linked"]
    [link_b] = [e for e in b.events if e.kind == "linked"]
    assert link_a.data["ticket"] == second and link_b.data["ticket"] == first
    assert link_a.data["score"] >= LINK

    # Unrelated tickets in the same district and category are not linked.
    await call(ivr, "link3", "13700000023", "泰山区某小区物业不作为，电梯坏了一个月都不修")
    third = await ivr.app[STORE].tickets.get((await all_tickets(ivr))[-1][0])
    assert not [e for e in third.events if e.kind == "linked"]


async def test_repeating_a_finished_request_hears_its_result(make_client, db_url) -> None:
    import json
    client = await make_client(db_url=db_url, secrets={"ivr_secret": SECRET, "twilio_auth_token": TWILIO_TOKEN,
                                                       "unit_tokens": json.dumps({"urban": "urban-token-123"})})
    await call(client, "fin1", "13800000031", FIRST)
    [(number,)] = await all_tickets(client)
    ticket = await client.app[STORE].tickets.get(number)
    # Naming the district no longer blocks automatic dispatch (issue 17).
    assert ticket.status == "dispatched" and ticket.unit_id == "urban"
    for action, body in (("accept", None), ("result", {"text": "东岳大街路灯已全部修复"})):
        resp = await client.post(f"/api/v1/unit/tickets/{number}/{action}", json=body,
                                 headers={"Authorization": "Bearer urban-token-123"})
        assert resp.status == 200
    heard = await call(client, "fin2", "13800000031", "泰山区东岳大街路灯坏了好几天了 晚上很黑 怎么还没人修")
    assert number in heard and "已全部修复" in heard and "复核" in heard
    assert await all_tickets(client) == [(number,)]


async def test_a_ticket_the_bot_opened_is_found_when_the_same_citizen_calls_again(ivr: TestClient) -> None:
    """The bot opens tickets through the tickets API with its conversation: the ticket must name the
    citizen (issue 15: it never did, so a bot's ticket was never recognised as repeated)."""
    from gateway.store.schema import conversations
    from tests.conftest import auth

    await call(ivr, "bot1", "13800000031", "你好")
    conv_id = await ivr.app[STORE].db.run(lambda conn: conn.execute(
        sa.select(conversations.c.id).order_by(conversations.c.id.desc()).limit(1)).scalar_one())
    resp = await ivr.post("/api/v1/tickets", headers={**auth(), "X-Hotline-Actor": "bot"}, json={
        "description": FIRST, "channel": "ivr", "source": "bot", "conversation_id": conv_id})
    assert resp.status == 201
    number = (await resp.json())["number"]
    heard = await call(ivr, "bot2", "13800000031", "泰山区东岳大街路灯坏了好几天了 晚上很黑 怎么还没人修")
    assert number in heard and "无需重复提交" in heard and await all_tickets(ivr) == [(number,)]


async def test_a_ticket_an_agent_opens_is_linked_to_another_citizens_report(ivr: TestClient) -> None:
    """The console opens tickets through the same intake as everyone: same problem, same place → 并单
    (issue 15: the console never linked)."""
    from tests.test_console import add_agent, login

    await call(ivr, "ag1", "13800000041", FIRST)
    [(first,)] = await all_tickets(ivr)
    await call(ivr, "ag2", "13900000042", "你好")  # another citizen; the agent writes the ticket
    await add_agent(ivr, "zhao")
    http, csrf = await login(ivr, "zhao")
    try:
        items = (await (await http.get(ivr.make_url("/console/api/conversations"))).json())["items"]
        cid = max(i["id"] for i in items)
        resp = await http.post(ivr.make_url(f"/console/api/conversations/{cid}/tickets"),
                               headers={"X-CSRF-Token": csrf},
                               json={"description": "我家在泰山区东岳大街，路灯坏了好几天，晚上黑乎乎的",
                                     "request_type": "complaint"})
        assert resp.status == 201, await resp.text()
        ticket = await ivr.app[STORE].tickets.get((await resp.json())["number"])
    finally:
        await http.close()
    assert ticket is not None and [e.data["ticket"] for e in ticket.events if e.kind == "linked"] == [first]


async def test_no_earlier_request_is_looked_for_in_a_conversation_with_its_own_open_ticket(ivr: TestClient) -> None:
    import dataclasses

    from gateway.store.messages import ConversationRef
    from gateway.store.tickets import place_message
    from routing.links import LOOKBACK
    from routing.tickets import TicketDraft

    await call(ivr, "own1", "13800000051", FIRST)
    [(number,)] = await all_tickets(ivr)
    store = ivr.app[STORE]
    ticket = await store.tickets.get(number)
    assert ticket is not None and ticket.conversation_id is not None
    found = await store.tickets.candidates(ticket.category, ticket.district, LOOKBACK)
    assert [t.number for t, _, _ in found] == [number]
    contact = await store.tickets.conversation_contact(ticket.conversation_id)
    conversation = ConversationRef(ticket.conversation_id, "ivr", "own1", contact, "bot", None, False)
    looked: list[object] = []
    draft = TicketDraft(description="补充一下", channel="ivr", source="fallback", category=ticket.category,
                        district=ticket.district)
    placed = await store.db.run(place_message, store.clock, conversation, draft, {"text": "补充一下"},
                                lambda d: dataclasses.replace(d), lambda c: looked.append(c), LOOKBACK)
    assert (placed.kind, placed.number, looked) == ("appended", number, [])  # its own ticket: no lookup