from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import auth


async def create(client: TestClient, **body) -> dict:
    resp = await client.post("/api/v1/tickets", json={"description": "小区东门路灯不亮", **body}, headers=auth())
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_internal_endpoints_need_the_token(client: TestClient) -> None:
    assert (await client.post("/api/v1/tickets", json={"description": "x"})).status == 401
    assert (await client.get("/api/v1/tickets", headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await client.get("/api/v1/tickets/20260101-000001")).status == 401


async def test_create_fills_missing_fields_from_triage_and_get_returns_the_trail(client: TestClient) -> None:
    t = await create(client, description="肥城市新城街道的暖气一直不热，投诉供热公司", contact_phone="138 0013 8000")
    assert t["request_type"] == "complaint" and t["district"] == "肥城市" and t["utility"] is True
    assert t["contact_phone"] == "13800138000" and t["status"] == "dispatched"
    got = await (await client.get(f"/api/v1/tickets/{t['number']}", headers=auth())).json()
    assert got["number"] == t["number"] and [e["kind"] for e in got["events"]] == [
        "created", "dispatch_proposed", "dispatched"]
    assert got["unit_id"] == "heat" and got["status"] == "dispatched" and got["due_date"]  # Art. 18: urgent


@pytest.mark.parametrize("body,code", [
    ({}, "missing_description"),
    ({"description": "x", "request_type": "gossip"}, "bad_request_type"),
    ({"description": "x", "category": "不存在的分类"}, "bad_category"),
    ({"description": "x", "contact_phone": "12345"}, "bad_phone"),
    ({"description": "x", "anonymous": "yes"}, "bad_anonymous"),
])
async def test_create_validates(client: TestClient, body: dict, code: str) -> None:
    resp = await client.post("/api/v1/tickets", json=body, headers=auth())
    assert resp.status == 400 and (await resp.json())["error"]["code"] == code


async def test_get_unknown_ticket_is_404(client: TestClient) -> None:
    resp = await client.get("/api/v1/tickets/20260101-999999", headers=auth())
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "ticket_not_found"


async def test_list_filters_and_pages(client: TestClient) -> None:
    for i in range(5):
        await create(client, description=f"第{i}条：路灯坏了", category="城乡建设" if i % 2 else "交通运输")
    resp = await client.get("/api/v1/tickets", params={"category": "城乡建设", "page_size": "1", "page": "2"},
                            headers=auth())
    body = await resp.json()
    assert body["total"] == 2 and len(body["items"]) == 1 and body["items"][0]["description"].startswith("第1条")
    bad = await client.get("/api/v1/tickets", params={"page": "zero"}, headers=auth())
    assert bad.status == 400
    bad = await client.get("/api/v1/tickets", params={"status": "lost"}, headers=auth())
    assert bad.status == 400


async def test_citizen_progress_needs_number_and_matching_phone(client: TestClient) -> None:
    t = await create(client, contact_phone="13900001111", contact_name="王芳")
    ok = await client.post("/api/v1/tickets/progress", json={"number": t["number"], "phone": "139-0000-1111"})
    body = await ok.json()
    assert ok.status == 200 and body["status_zh"] == "已派单" and body["unit"] == "泰安市城市管理局"
    assert [e["text_zh"] for e in body["events"]] == ["诉求已受理", "已派发至泰安市城市管理局办理"]
    assert "13900001111" not in await ok.text() and "王芳" not in await ok.text()
    wrong = await client.post("/api/v1/tickets/progress", json={"number": t["number"], "phone": "13900002222"})
    missing = await client.post("/api/v1/tickets/progress", json={"number": "20200101-000001", "phone": "13900001111"})
    assert wrong.status == missing.status == 404
    assert await wrong.json() == await missing.json()


async def test_progress_queries_are_rate_limited(client: TestClient) -> None:
    statuses = [(await client.post("/api/v1/tickets/progress", json={"number": "x", "phone": "13900001111"})).status
                for _ in range(22)]
    assert statuses[:20] == [404] * 20 and statuses[-1] == 429


async def test_tickets_entered_by_the_bot_about_one_problem_are_linked(client: TestClient) -> None:
    first = await create(client, description="泰山区东岳大街的路灯坏了好几天了，晚上很黑")
    second = await create(client, description="我家在泰山区东岳大街，路灯坏了好几天，晚上黑乎乎的")
    [link] = [e for e in second["events"] if e["kind"] == "linked"]
    assert link["data"]["ticket"] == first["number"]
    got = await (await client.get(f"/api/v1/tickets/{first['number']}", headers=auth())).json()
    assert [e["data"]["ticket"] for e in got["events"] if e["kind"] == "linked"] == [second["number"]]
    other = await create(client, description="泰山区某小区物业不作为，电梯坏了一个月都不修")
    assert not [e for e in other["events"] if e["kind"] == "linked"]
