"""The console's API for the agents' workspace: the paged list, the wait, ownership; search, tickets,
history, notes, canned replies, transfer, presence (API level; the browser runs are in
test_console_browser.py)."""

from __future__ import annotations

import datetime as dt

from aiohttp.test_utils import TestClient

from channels.base import Channel
from gateway.app import STORE
from tests.console_helpers import add_agent, backdate, citizen_says, hand_over, login, stored_message, web_conversation


async def test_the_list_is_paged_with_a_server_side_cap_and_waiting_ones_first(client: TestClient) -> None:
    await add_agent(client, "p1")
    ids = [await stored_message(client, Channel.WEB, f"capsession{i:04d}", f"诉求{i}") for i in range(105)]
    await hand_over(client, ids[7])
    await hand_over(client, ids[3])
    http, _ = await login(client, "p1")
    try:
        async def page(**params: str) -> dict:
            resp = await http.get(client.make_url("/console/api/conversations"), params=params)
            assert resp.status == 200, await resp.text()
            return await resp.json()
        first = await page()
        assert len(first["items"]) == 50 and first["total"] == 105
        assert [i["id"] for i in first["items"][:2]] == [ids[7], ids[3]]  # longest wait first
        assert first["items"][2]["id"] == ids[-1]  # then the newest
        capped = await page(limit="100000")
        assert capped["limit"] == 100 and len(capped["items"]) == 100
        rest = await page(offset="100", limit="50")
        assert len(rest["items"]) == 5
        seen = {i["id"] for i in capped["items"]} | {i["id"] for i in rest["items"]}
        assert seen == set(ids)
        one = await page(id=str(ids[3]))
        assert [i["id"] for i in one["items"]] == [ids[3]] and one["items"][0]["state"] == "waiting_for_agent"
        bad = await http.get(client.make_url("/console/api/conversations"), params={"limit": "x"})
        assert bad.status == 400
    finally:
        await http.close()


async def test_the_wait_counts_from_the_request_for_a_human(client: TestClient) -> None:
    await add_agent(client, "w1")
    await citizen_says(client, "waitsession01", "小区门口的路灯坏了一个星期了晚上很黑")
    cid = await web_conversation(client, "waitsession01")
    await backdate(client, cid, 90)
    before = client.app[STORE].clock.now()
    await hand_over(client, cid)
    http, _ = await login(client, "w1")
    try:
        [item] = (await (await http.get(client.make_url("/console/api/conversations"))).json())["items"]
        since = dt.datetime.fromisoformat(item["waiting_since"])
        assert since >= before - dt.timedelta(seconds=1) and item["waiting_since"] == item["handoff_at"]
        detail = await (await http.get(client.make_url(f"/console/api/conversations/{cid}"))).json()
        assert detail["handoff_at"] == item["handoff_at"]
    finally:
        await http.close()


async def test_a_conversation_owned_by_another_agent_refuses_with_the_owners_name(client: TestClient) -> None:
    await add_agent(client, "own1", name="王坐席")
    await add_agent(client, "oth1")
    await citizen_says(client, "ownsession01", "你好")
    cid = await web_conversation(client, "ownsession01")
    a, csrf_a = await login(client, "own1")
    b, csrf_b = await login(client, "oth1")
    try:
        await a.post(client.make_url(f"/console/api/conversations/{cid}/takeover"), headers={"X-CSRF-Token": csrf_a})
        for action in ("reply", "handback", "close"):
            resp = await b.post(client.make_url(f"/console/api/conversations/{cid}/{action}"), json={"text": "你好"},
                                headers={"X-CSRF-Token": csrf_b})
            assert resp.status == 409 and "王坐席" in (await resp.json())["error"]["message"], action
        labels = await (await b.get(client.make_url("/console/api/labels"))).json()
        assert labels["disposition"]["not_accepted"] == "非受理范围" and labels["status"]["open"] == "已受理"
    finally:
        await a.close()
        await b.close()


async def open_ticket(http, client: TestClient, csrf: str, cid: int, description: str, phone: str | None = None,
                      **extra: str) -> dict:
    body = {"description": description, "request_type": "complaint", **extra}
    if phone:
        body["contact_phone"] = phone
    resp = await http.post(client.make_url(f"/console/api/conversations/{cid}/tickets"), json=body,
                           headers={"X-CSRF-Token": csrf})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_search_and_filters_over_conversations_and_tickets(client: TestClient) -> None:
    await add_agent(client, "s1")
    caller = await stored_message(client, Channel.IVR, "13800000001", "我要投诉小区噪音扰民")
    web = await stored_message(client, Channel.WEB, "searchsession01", "路灯坏了")
    mail = await stored_message(client, Channel.EMAIL, "zhang@example.com", "咨询社保卡补办")
    http, csrf = await login(client, "s1")
    try:
        noise = await open_ticket(http, client, csrf, caller, "小区夜间施工噪音扰民", category="城乡建设")
        lamp = await open_ticket(http, client, csrf, web, "东门路灯不亮", phone="13900000002", category="城乡建设")
        await hand_over(client, mail)

        async def ids(path: str, **params: str) -> list:
            resp = await http.get(client.make_url(path), params=params)
            assert resp.status == 200, await resp.text()
            return [i["number"] if "number" in i else i["id"] for i in (await resp.json())["items"]]
        conv = "/console/api/conversations"
        assert await ids(conv, q="13800000001") == [caller]          # the caller's number
        assert await ids(conv, q="0001") == [caller]                  # part of it
        assert await ids(conv, q="13900000002") == [web]             # a number given on the conversation's ticket
        assert await ids(conv, q=lamp["number"]) == [web]            # a ticket number
        assert await ids(conv, q="zhang@example.com") == [mail]
        assert await ids(conv, channel="email") == [mail]
        assert await ids(conv, state="waiting_for_agent") == [mail]
        assert sorted(await ids(conv, category="城乡建设")) == sorted([caller, web])
        assert await ids(conv, q="100%_") == []                      # LIKE wildcards are text
        assert (await http.get(client.make_url(conv), params={"state": "nonsense"})).status == 400

        tix = "/console/api/tickets"
        assert await ids(tix, q=noise["number"]) == [noise["number"]]
        assert await ids(tix, q="139 0000 0002") == [lamp["number"]]
        assert await ids(tix, q="噪音") == [noise["number"]]
        assert sorted(await ids(tix, category="城乡建设")) == sorted([noise["number"], lamp["number"]])
        assert await ids(tix, channel="ivr") == [noise["number"]]
        assert (await http.get(client.make_url(tix), params={"status": "nonsense"})).status == 400
    finally:
        await http.close()


async def test_ticket_view_has_the_whole_trail_and_edits_add_to_it(client: TestClient) -> None:
    await add_agent(client, "t1")
    cid = await stored_message(client, Channel.WEB, "ticketview001", "路灯坏了")
    http, csrf = await login(client, "t1")
    try:
        ticket = await open_ticket(http, client, csrf, cid, "幸福小区东门路灯不亮")
        edit = await http.patch(client.make_url(f"/console/api/tickets/{ticket['number']}"),
                                json={"location": "泰山区幸福小区东门", "contact_name": "王先生"},
                                headers={"X-CSRF-Token": csrf})
        assert edit.status == 200, await edit.text()
        view = await (await http.get(client.make_url(f"/console/api/tickets/{ticket['number']}"))).json()
        kinds = [e["kind"] for e in view["events"]]
        assert kinds[0] == "created" and kinds[-1] == "updated"
        assert view["events"][-1]["data"]["location"]["to"] == "泰山区幸福小区东门"
        assert view["events"][-1]["actor"] == "agent:t1"
        missing = await http.get(client.make_url("/console/api/tickets/20990101-000001"))
        assert missing.status == 404
    finally:
        await http.close()


async def test_history_finds_the_citizen_across_channels_by_phone_openid_and_address(client: TestClient) -> None:
    await add_agent(client, "h1")
    call = await stored_message(client, Channel.IVR, "13800000011", "电话反映噪音")
    web = await stored_message(client, Channel.WEB, "historyweb0001", "网上反映噪音")
    stranger = await stored_message(client, Channel.WEB, "historyweb0002", "别人的事")
    first_wechat = await stored_message(client, Channel.WECHAT, "oOPENID-history-1", "微信第一次")
    await client.app[STORE].messages.set_state(first_wechat, "closed")
    second_wechat = await stored_message(client, Channel.WECHAT, "oOPENID-history-1", "微信第二次")
    http, csrf = await login(client, "h1")
    try:
        by_phone = await open_ticket(http, client, csrf, web, "网上反映小区噪音扰民", phone="13800000011")
        await open_ticket(http, client, csrf, stranger, "别人的诉求内容很长", phone="13700000099")

        async def history(cid: int) -> dict:
            resp = await http.get(client.make_url(f"/console/api/conversations/{cid}/history"))
            assert resp.status == 200, await resp.text()
            return await resp.json()
        from_call = await history(call)
        assert [c["id"] for c in from_call["conversations"]] == [web]
        assert [t["number"] for t in from_call["tickets"]] == [by_phone["number"]]
        assert from_call["phones"] == ["138****0011"]  # masked for the screen
        from_web = await history(web)
        assert [c["id"] for c in from_web["conversations"]] == [call]
        assert from_web["tickets"] == []  # its own ticket is shown with the conversation, not as history
        assert second_wechat != first_wechat
        assert [c["id"] for c in (await history(second_wechat))["conversations"]] == [first_wechat]
        assert (await history(stranger))["conversations"] == []
    finally:
        await http.close()


async def test_internal_notes_never_reach_the_citizen_and_are_audited(client: TestClient) -> None:
    import sqlalchemy as sa

    from gateway.store.schema import audit_log, messages, outbox
    await add_agent(client, "n1", name="周坐席")
    await citizen_says(client, "notesession01", "你好")
    cid = await web_conversation(client, "notesession01")
    http, csrf = await login(client, "n1")
    try:
        resp = await http.post(client.make_url(f"/console/api/conversations/{cid}/notes"),
                               json={"text": "市民情绪激动，注意安抚"}, headers={"X-CSRF-Token": csrf})
        assert resp.status == 201 and (await resp.json())["author_name"] == "周坐席"
        empty = await http.post(client.make_url(f"/console/api/conversations/{cid}/notes"), json={"text": " "},
                                headers={"X-CSRF-Token": csrf})
        assert empty.status == 400
        detail = await (await http.get(client.make_url(f"/console/api/conversations/{cid}"))).json()
        assert [n["text"] for n in detail["notes"]] == ["市民情绪激动，注意安抚"]
    finally:
        await http.close()
    history = await (await client.get("/api/v1/web/history", params={"session": "notesession01"})).json()
    assert all("安抚" not in m["text"] for m in history["messages"])
    rows = await client.app[STORE].db.run(lambda conn: (
        conn.execute(sa.select(messages.c.text)).scalars().all(), conn.execute(sa.select(outbox)).all(),
        conn.execute(sa.select(audit_log.c.actor, audit_log.c.action).where(audit_log.c.conversation_id == cid)).all()))
    assert all("安抚" not in t for t in rows[0])
    assert ("agent:n1", "note") in [tuple(r) for r in rows[2]]


async def test_canned_replies_are_kept_by_supervisors_and_found_by_every_agent(client: TestClient) -> None:
    import sqlalchemy as sa

    from gateway.store.schema import audit_log
    await add_agent(client, "boss", role="supervisor")
    await add_agent(client, "c1")
    boss, boss_csrf = await login(client, "boss")
    agent, agent_csrf = await login(client, "c1")
    try:
        body = {"shortcut": "greet", "title": "问候", "text": "您好，这里是12345热线，很高兴为您服务。"}
        denied = await agent.post(client.make_url("/console/api/canned"), json=body, headers={"X-CSRF-Token": agent_csrf})
        assert denied.status == 403
        made = await boss.post(client.make_url("/console/api/canned"), json=body, headers={"X-CSRF-Token": boss_csrf})
        assert made.status == 201
        canned_id = (await made.json())["id"]
        again = await boss.post(client.make_url("/console/api/canned"), json=body, headers={"X-CSRF-Token": boss_csrf})
        assert again.status == 409
        bad = await boss.post(client.make_url("/console/api/canned"), json={**body, "shortcut": "有空格 的"},
                              headers={"X-CSRF-Token": boss_csrf})
        assert bad.status == 400
        put = await boss.put(client.make_url(f"/console/api/canned/{canned_id}"),
                             json={**body, "text": "您好，这里是泰安12345热线。"}, headers={"X-CSRF-Token": boss_csrf})
        assert put.status == 200
        found = await (await agent.get(client.make_url("/console/api/canned"), params={"q": "泰安"})).json()
        assert [c["shortcut"] for c in found["items"]] == ["greet"]
        assert (await (await agent.get(client.make_url("/console/api/canned"), params={"q": "退费"})).json())["items"] == []
        gone = await boss.delete(client.make_url(f"/console/api/canned/{canned_id}"), headers={"X-CSRF-Token": boss_csrf})
        assert gone.status == 200
        assert (await (await agent.get(client.make_url("/console/api/canned"))).json())["items"] == []
    finally:
        await boss.close()
        await agent.close()
    actions = await client.app[STORE].db.run(lambda conn: conn.execute(
        sa.select(audit_log.c.action).where(audit_log.c.action.like("canned%")).order_by(audit_log.c.id)).scalars().all())
    assert actions == ["canned_saved", "canned_saved", "canned_deleted"]


async def test_transfer_to_another_agent_and_a_supervisors_takeover_are_audited(client: TestClient) -> None:
    import asyncio

    import sqlalchemy as sa

    from gateway.store.schema import audit_log
    await add_agent(client, "x1")
    await add_agent(client, "x2")
    await add_agent(client, "x3")
    await add_agent(client, "sup", role="supervisor")
    await citizen_says(client, "transfer00001", "你好")
    cid = await web_conversation(client, "transfer00001")
    sessions = {name: await login(client, name) for name in ("x1", "x2", "x3", "sup")}

    def post(name: str, action: str, body: dict | None = None):
        http, csrf = sessions[name]
        return http.post(client.make_url(f"/console/api/conversations/{cid}/{action}"), json=body,
                         headers={"X-CSRF-Token": csrf})
    try:
        ws = await sessions["x2"][0].ws_connect(client.make_url("/console/api/ws"))
        assert (await post("x1", "takeover")).status == 200
        assert (await post("x3", "transfer", {"to": "x2"})).status == 409   # not the owner's to give
        assert (await post("x1", "transfer", {"to": "nobody"})).status == 400
        assert (await post("x1", "transfer", {"to": "x2"})).status == 200
        event = {}
        while event.get("type") != "assigned":
            event = await asyncio.wait_for(ws.receive_json(), 5)
        assert event == {"type": "assigned", "conversation_id": cid, "agent": "x2", "from": "x1", "by": "x1"}
        await ws.close()
        assert (await post("x1", "reply", {"text": "还是我"})).status == 409
        assert (await post("x2", "reply", {"text": "您好，我是接手的客服"})).status == 200
        assert (await post("x1", "takeover", {"force": True})).status == 403  # agents cannot force
        assert (await post("sup", "takeover", {"force": True})).status == 200
        assert (await post("x2", "reply", {"text": "我还在吗"})).status == 409
        assert (await post("sup", "reply", {"text": "您好，我是值班长"})).status == 200
    finally:
        for http, _ in sessions.values():
            await http.close()
    rows = await client.app[STORE].db.run(lambda conn: conn.execute(
        sa.select(audit_log.c.actor, audit_log.c.action, audit_log.c.data)
        .where(audit_log.c.conversation_id == cid, audit_log.c.action.in_(["transfer", "supervisor_takeover"]))
        .order_by(audit_log.c.id)).all())
    assert [(r.actor, r.action, r.data["from"], r.data["to"]) for r in rows] == [
        ("agent:x1", "transfer", "x1", "x2"), ("agent:sup", "supervisor_takeover", "x2", "sup")]


async def test_presence_and_typing_both_ways(client: TestClient) -> None:
    import asyncio
    await add_agent(client, "y1")
    await add_agent(client, "y2")
    await citizen_says(client, "typingsession1", "你好")
    cid = await web_conversation(client, "typingsession1")
    y1, csrf = await login(client, "y1")
    y2, _ = await login(client, "y2")
    try:
        async def online() -> dict:
            items = (await (await y2.get(client.make_url("/console/api/agents"))).json())["items"]
            return {a["username"]: a["online"] for a in items}
        assert await online() == {"y1": False, "y2": False}
        console = await y1.ws_connect(client.make_url("/console/api/ws"))
        for _ in range(50):
            if (await online())["y1"]:
                break
            await asyncio.sleep(0.05)
        assert await online() == {"y1": True, "y2": False}

        detail = await (await y1.get(client.make_url(f"/console/api/conversations/{cid}"))).json()
        assert detail["typing_ref"] and "typingsession1" not in detail["typing_ref"]
        citizen = await client.ws_connect("/api/v1/web/ws", params={"session": "typingsession1"})
        await citizen.send_str('{"type":"typing"}')

        async def next_of(ws, kind: str) -> dict:
            while True:
                event = await asyncio.wait_for(ws.receive_json(), 5)
                if event.get("type") == kind:
                    return event
        assert (await next_of(console, "citizen_typing"))["ref"] == detail["typing_ref"]

        await console.send_json({"type": "typing", "conversation_id": cid})  # not the owner: nothing
        await y1.post(client.make_url(f"/console/api/conversations/{cid}/takeover"), headers={"X-CSRF-Token": csrf})
        await asyncio.sleep(2.1)  # one typing signal per agent every two seconds
        await console.send_json({"type": "typing", "conversation_id": cid})
        assert await next_of(citizen, "typing") == {"type": "typing", "from": "agent"}
        await citizen.close()
        await console.close()
        for _ in range(50):
            if not (await online())["y1"]:
                break
            await asyncio.sleep(0.05)
        assert await online() == {"y1": False, "y2": False}
    finally:
        await y1.close()
        await y2.close()


def test_the_special_seat_is_read_from_the_triage() -> None:
    from routing.seats import seat_for
    assert seat_for({"disposition": "legal_channel", "category": "城乡建设"}) == "legal"
    assert seat_for({"disposition": "accept", "category": "政法"}) == "legal"
    assert seat_for({"disposition": "accept", "category": "经济管理"}) == "enterprise"
    assert seat_for({"disposition": "accept", "category": "城乡建设"}) is None
    assert seat_for(None) is None


async def test_legal_matters_wait_in_the_legal_seats_own_list_while_one_is_online(client: TestClient) -> None:
    import asyncio
    await add_agent(client, "law1", name="法律专席")
    await add_agent(client, "gen1")
    await add_agent(client, "sup1", role="supervisor")
    sup, sup_csrf = await login(client, "sup1")
    gen, gen_csrf = await login(client, "gen1")
    law, _ = await login(client, "law1")
    try:
        denied = await gen.put(client.make_url("/console/api/agents/law1/skills"), json={"skills": ["legal"]},
                               headers={"X-CSRF-Token": gen_csrf})
        assert denied.status == 403
        bad = await sup.put(client.make_url("/console/api/agents/law1/skills"), json={"skills": ["cooking"]},
                            headers={"X-CSRF-Token": sup_csrf})
        assert bad.status == 400
        ok = await sup.put(client.make_url("/console/api/agents/law1/skills"), json={"skills": ["legal"]},
                           headers={"X-CSRF-Token": sup_csrf})
        assert ok.status == 200 and (await (await law.get(client.make_url("/console/api/me"))).json())["skills"] == ["legal"]

        await citizen_says(client, "legalseat0001", "我已经向法院起诉了，开发商一直拖着不交房")
        await citizen_says(client, "legalseat0001", "我要人工客服")
        legal = await web_conversation(client, "legalseat0001")
        await citizen_says(client, "plainseat0001", "我要人工客服")
        plain = await web_conversation(client, "plainseat0001")

        async def listed(http, **params: str) -> list:
            resp = await http.get(client.make_url("/console/api/conversations"), params=params)
            return [(i["id"], i["seat"]) for i in (await resp.json())["items"]]
        # Nobody of the legal seat online: it waits in the general queue, marked for the seat.
        assert (legal, "legal") in await listed(gen)
        ws = await law.ws_connect(client.make_url("/console/api/ws"))
        for _ in range(50):
            if (legal, "legal") not in await listed(gen):
                break
            await asyncio.sleep(0.05)
        assert await listed(gen) == [(plain, None)]
        assert await listed(law, queue="seat") == [(legal, "legal")]
        assert {c for c, _ in await listed(sup)} == {legal, plain}
        await ws.close()
    finally:
        for http in (sup, gen, law):
            await http.close()


async def test_a_supervisor_assigns_a_waiting_conversation_to_an_agent(client: TestClient) -> None:
    await add_agent(client, "as1")
    await add_agent(client, "as2")
    await add_agent(client, "assup", role="supervisor")
    await citizen_says(client, "assignsession1", "我要人工客服")
    cid = await web_conversation(client, "assignsession1")
    sup, sup_csrf = await login(client, "assup")
    agent, agent_csrf = await login(client, "as1")
    try:
        refused = await agent.post(client.make_url(f"/console/api/conversations/{cid}/transfer"), json={"to": "as2"},
                                   headers={"X-CSRF-Token": agent_csrf})
        assert refused.status == 409  # an agent gives away only what they hold
        ok = await sup.post(client.make_url(f"/console/api/conversations/{cid}/transfer"), json={"to": "as1"},
                            headers={"X-CSRF-Token": sup_csrf})
        assert ok.status == 200
        detail = await (await agent.get(client.make_url(f"/console/api/conversations/{cid}"))).json()
        assert detail["state"] == "agent" and detail["agent"] == "as1"
        reply = await agent.post(client.make_url(f"/console/api/conversations/{cid}/reply"), json={"text": "您好"},
                                 headers={"X-CSRF-Token": agent_csrf})
        assert reply.status == 200
    finally:
        await sup.close()
        await agent.close()


async def test_user_add_with_special_seats(tmp_path) -> None:
    import os
    import subprocess
    import sys

    from gateway.settings import PROJECT_ROOT
    from gateway.store import open_store
    from tests.console_helpers import PASSWORD
    url = f"sqlite:///{tmp_path / 'seats.db'}"
    env = {**os.environ, "HOTLINE_DATABASE_URL": url, "HOTLINE_NEW_PASSWORD": PASSWORD}
    run = [sys.executable, "-m", "gateway.cli", "user", "add", "wu", "--name", "吴律师", "--skills", "legal"]
    done = subprocess.run(run, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    wrong = subprocess.run(run[:-1] + ["cooking"], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and wrong.returncode == 2
    store = await open_store(url, auto_migrate=False)
    try:
        assert [a["skills"] for a in await store.workspace.agents()] == [["legal"]]
    finally:
        await store.db.dispose()
