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
