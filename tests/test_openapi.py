"""The API as documented: every `/api/v1` route is in the OpenAPI document, and what the live server
answers validates against it (issue 15)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

from gateway.api.openapi import UNDOCUMENTED
from gateway.app import KB
from gateway.settings import PROJECT_ROOT
from nlu.kb import load_entries
from tests.conftest import auth
from tests.test_units_api import TOKENS, as_unit


@pytest.fixture
async def api(make_client, db_url) -> TestClient:
    client = await make_client(db_url=db_url, secrets={"unit_tokens": json.dumps(TOKENS)})
    await client.app[KB].save(load_entries(PROJECT_ROOT / "config" / "kb" / "seed_kb.yaml"), author="test")
    return client


async def test_every_api_route_is_documented_and_every_documented_route_exists(api: TestClient) -> None:
    doc = await (await api.get("/api/v1/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    Draft202012Validator.check_schema({"$defs": doc["components"]["schemas"]})
    served = set()
    for route in api.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api/v1") and route.method != "HEAD" and path not in UNDOCUMENTED:
            served.add((route.method.lower(), path.replace("{action:accept|return|progress|result|extension|termination}",
                                                           "{action}").replace("{attachment_id:\\d{1,18}}",
                                                                               "{attachment_id}")))
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented
    page = await api.get("/api/v1/docs")
    assert page.status == 200 and "POST /api/v1/tickets" in await page.text()


async def test_live_responses_validate_against_the_document(api: TestClient) -> None:
    doc = await (await api.get("/api/v1/openapi.json")).json()
    checked: list[str] = []

    async def call(method: str, path: str, template: str, status: int, **kw: Any) -> dict:
        resp = await api.request(method, path, **kw)
        body = await resp.json()
        assert resp.status == status, (path, body)
        responses = doc["paths"][template][method.lower()]["responses"]
        schema = {"components": doc["components"], **responses[str(status)]["content"]["application/json"]["schema"]}
        errors = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
        assert not errors, (method, path, [e.message for e in errors[:3]])
        checked.append(f"{method} {template} {status}")
        return body

    web = await call("POST", "/api/v1/web/messages", "/api/v1/web/messages", 200,
                     json={"session": "openapi0001", "text": "小区门口的路灯坏了一个星期了，联系电话13912345678"})
    number = web["replies"][0]["ticket_number"]
    await call("GET", "/api/v1/web/history?session=openapi0001", "/api/v1/web/history", 200)
    await call("POST", "/api/v1/web/messages", "/api/v1/web/messages", 400, json={"session": "x", "text": "hi"})
    await call("GET", f"/api/v1/tickets/{number}", "/api/v1/tickets/{number}", 200, headers=auth())
    await call("GET", f"/api/v1/tickets/{number}", "/api/v1/tickets/{number}", 401)
    await call("GET", "/api/v1/tickets?page_size=5", "/api/v1/tickets", 200, headers=auth())
    await call("POST", "/api/v1/tickets", "/api/v1/tickets", 201, headers=auth(),
               json={"description": "楼下饭店油烟太大", "contact_phone": "13800000000"})
    await call("POST", "/api/v1/tickets/progress", "/api/v1/tickets/progress", 200,
               json={"number": number, "phone": "13912345678"})
    await call("GET", "/api/v1/unit/tickets", "/api/v1/unit/tickets", 200, headers=as_unit("urban"))
    await call("POST", f"/api/v1/unit/tickets/{number}/accept", "/api/v1/unit/tickets/{number}/{action}", 200,
               headers=as_unit("urban"))
    await call("POST", f"/api/v1/unit/tickets/{number}/accept", "/api/v1/unit/tickets/{number}/{action}", 409,
               headers=as_unit("urban"))
    await call("POST", "/api/v1/triage", "/api/v1/triage", 200, headers=auth(), json={"text": "楼道里着火了"})
    await call("GET", "/api/v1/kb/search?q=社保卡的事咋办&channel=wechat", "/api/v1/kb/search", 200)
    await call("GET", "/api/v1/kb/entries", "/api/v1/kb/entries", 200, headers=auth())
    await call("GET", "/api/v1/kb/entries/kb-0001", "/api/v1/kb/entries/{key}", 200, headers=auth())
    entry = {"id": "kb-9100", "question": "路灯坏了找谁", "answer": "请拨打12345反映。", "tags": ["路灯"]}
    await call("POST", "/api/v1/kb/entries", "/api/v1/kb/entries", 201, headers=auth(), json=entry)
    await call("PUT", "/api/v1/kb/entries/kb-9100", "/api/v1/kb/entries/{key}", 200, headers=auth(),
               json={**entry, "answer": "请拨打12345或在网页上反映。"})
    await call("GET", "/api/v1/kb/choices", "/api/v1/kb/choices", 200, headers=auth())
    ticket = await (await api.get(f"/api/v1/tickets/{number}", headers=auth())).json()
    await call("POST", f"/api/v1/conversations/{ticket['conversation_id']}/handoff",
               "/api/v1/conversations/{conversation_id}/handoff", 200, headers=auth(), json={"reason": "requested"})
    assert len(checked) == 19
