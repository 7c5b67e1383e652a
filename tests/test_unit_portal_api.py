"""The unit portal's API: sessions (cookie, CSRF, lockout), one code path with the units' token API,
no unit ever reaching another's tickets, files or KB entries, roles, the contact and the KB review."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from aiohttp import ClientSession, CookieJar, FormData
from aiohttp.test_utils import TestClient

from gateway.app import STORE
from gateway.store.schema import audit_log, unit_sessions
from nlu.kb import KbEntry
from tests.media_samples import PDF, png

PASSWORD = "correct horse battery"
TOKENS = {"urban": "urban-token-123", "housing": "housing-token-456"}


@pytest.fixture
async def portal(make_client, db_url) -> TestClient:
    client = await make_client(db_url=db_url, secrets={"unit_tokens": json.dumps(TOKENS)})
    users = client.app[STORE].unit_users
    await users.add("urban", "zhang", "张经办", "staff", PASSWORD)
    await users.add("urban", "chen", "陈科长", "head", PASSWORD)
    await users.add("housing", "liu", "刘经办", "staff", PASSWORD)
    return client


class UnitSession:
    def __init__(self, client: TestClient, http: ClientSession, csrf: str) -> None:
        self.client, self.http, self.csrf = client, http, csrf

    async def get(self, path: str) -> tuple[int, dict]:
        resp = await self.http.get(self.client.make_url(path))
        return resp.status, await resp.json()

    async def post(self, path: str, body: dict | None = None, csrf: bool = True, data: FormData | None = None
                   ) -> tuple[int, dict]:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        resp = await self.http.post(self.client.make_url(path), json=body if data is None else None, data=data,
                                    headers=headers)
        return resp.status, await resp.json()

    async def upload(self, number: str, content: bytes, name: str) -> tuple[int, dict]:
        form = FormData()
        form.add_field("file", content, filename=name)
        return await self.post(f"/unit/api/tickets/{number}/files", data=form)


@pytest.fixture
async def sessions(portal: TestClient):
    opened: list[ClientSession] = []

    async def open_(username: str) -> UnitSession:
        http = ClientSession(cookie_jar=CookieJar(unsafe=True))
        opened.append(http)
        resp = await http.post(portal.make_url("/unit/api/login"), json={"username": username, "password": PASSWORD})
        assert resp.status == 200, await resp.text()
        return UnitSession(portal, http, (await resp.json())["csrf"])
    yield open_
    for http in opened:
        await http.close()


async def new_ticket(client: TestClient, session: str, text: str = "小区门口的路灯坏了一个星期了，电话13912345678") -> str:
    resp = await client.post("/api/v1/web/messages", json={"session": session, "text": text})
    return (await resp.json())["replies"][0]["ticket_number"]


async def test_login_sets_a_strict_httponly_cookie_and_every_api_needs_it(portal: TestClient) -> None:
    for method, path in [("GET", "/unit/api/me"), ("GET", "/unit/api/tickets"), ("GET", "/unit/api/tickets/x"),
                         ("POST", "/unit/api/tickets/x/accept"), ("POST", "/unit/api/tickets/x/files"),
                         ("GET", "/unit/api/files/1"), ("GET", "/unit/api/kb"), ("POST", "/unit/api/kb/k/confirm")]:
        assert (await portal.request(method, path)).status == 401, path
    bad = await portal.post("/unit/api/login", json={"username": "zhang", "password": "wrong password"})
    assert bad.status == 401 and (await bad.json())["error"]["message"] == "用户名或密码错误。"
    resp = await portal.post("/unit/api/login", json={"username": "zhang", "password": PASSWORD})
    cookie = resp.headers["Set-Cookie"]
    assert resp.status == 200 and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/unit" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback, no trusted proxy: the console's rule
    token = resp.cookies["hotline_unit"].value
    stored = await portal.app[STORE].db.run(lambda conn: conn.execute(sa.select(unit_sessions.c.token_hash)).scalars().all())
    assert token not in stored and len(stored) == 1 and len(stored[0]) == 64  # only the SHA-256 is kept
    # An agent's console session is no unit session.
    await portal.app[STORE].agents.add("agent1", "坐席", "agent", PASSWORD)
    console = await portal.post("/console/api/login", json={"username": "agent1", "password": PASSWORD})
    assert console.status == 200
    assert (await portal.get("/unit/api/tickets", cookies={"hotline_unit": console.cookies["hotline_console"].value})).status == 401


async def test_five_wrong_passwords_lock_the_unit_account(portal: TestClient) -> None:
    statuses = [(await portal.post("/unit/api/login", json={"username": "liu", "password": "wrong password"})).status
                for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 423]
    locked = await portal.post("/unit/api/login", json={"username": "liu", "password": PASSWORD})
    assert locked.status == 423 and "锁定" in (await locked.json())["error"]["message"]
    failures = await portal.app[STORE].db.run(lambda conn: conn.execute(
        sa.select(audit_log.c.actor, audit_log.c.action).where(audit_log.c.action == "login_failed")).all())
    assert len(failures) == 5 and failures[0].actor == "unit_user:liu"


async def test_state_changes_need_the_csrf_token(portal: TestClient, sessions) -> None:
    number = await new_ticket(portal, "portalcsrf01")
    zhang = await sessions("zhang")
    status, body = await zhang.post(f"/unit/api/tickets/{number}/accept", csrf=False)
    assert status == 403 and body["error"]["code"] == "bad_csrf"
    assert (await zhang.post("/unit/api/logout", csrf=False))[0] == 403
    assert (await zhang.get(f"/unit/api/tickets/{number}"))[1]["status"] == "dispatched"  # nothing happened


async def test_session_and_token_run_the_same_actions_and_the_trail_names_the_person(portal: TestClient,
                                                                                   sessions) -> None:
    number = await new_ticket(portal, "portalsame01")
    zhang = await sessions("zhang")
    status, listed = await zhang.get("/unit/api/tickets")
    assert status == 200 and [t["number"] for t in listed["items"]] == [number]
    assert "13912345678" not in json.dumps(listed)  # phone numbers in the citizen's words are masked
    status, view = await zhang.post(f"/unit/api/tickets/{number}/accept")
    assert status == 200 and view["status"] == "in_progress" and "result" in view["actions"]
    # The same refusal from both doors: one code path.
    token = await portal.post(f"/api/v1/unit/tickets/{number}/accept", headers={"Authorization": "Bearer urban-token-123"})
    again = await zhang.post(f"/unit/api/tickets/{number}/accept")
    assert token.status == again[0] == 409 and (await token.json())["error"] == again[1]["error"]
    token = await portal.post(f"/api/v1/unit/tickets/{number}/progress", json={"text": "已派人查看"},
                              headers={"Authorization": "Bearer urban-token-123"})
    assert token.status == 200
    assert (await zhang.post(f"/unit/api/tickets/{number}/result", {}))[1]["error"]["code"] == "missing_text"
    status, shot = await zhang.upload(number, png(4, 4), "现场.png")
    assert status == 201 and shot["content_type"] == "image/png"
    status, view = await zhang.post(f"/unit/api/tickets/{number}/result",
                                    {"text": "路灯已更换，恢复照明。", "files": [shot["id"]]})
    assert status == 200 and view["status"] == "resolved"
    actors = [(e["kind"], e["actor"]) for e in view["events"] if e["kind"] in ("accept", "progress", "result")]
    assert actors == [("accept", "unit:urban:zhang"), ("progress", "unit:urban"), ("result", "unit:urban:zhang")]
    [result] = [e for e in view["events"] if e["kind"] == "result"]
    assert result["data"]["files"][0]["id"] == shot["id"] and view["files"][0]["used_in"] == "result"
    history = await (await portal.get("/api/v1/web/history", params={"session": "portalsame01"})).json()
    assert "路灯已更换" in history["messages"][-1]["text"]  # the citizen is told, as through the token API
    # The file opens for the unit and for an agent, and a file is used once.
    image = await zhang.http.get(portal.make_url(f"/unit/api/files/{shot['id']}"))
    assert image.status == 200 and image.headers["Content-Type"] == "image/png" and await image.read() == png(4, 4)
    await portal.app[STORE].agents.add("agent2", "坐席", "agent", PASSWORD)
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as agent:
        await agent.post(portal.make_url("/console/api/login"), json={"username": "agent2", "password": PASSWORD})
        seen = await agent.get(portal.make_url(f"/console/api/ticket-files/{shot['id']}"))
        assert seen.status == 200 and await seen.read() == png(4, 4)
    assert (await portal.get(f"/console/api/ticket-files/{shot['id']}")).status == 401


async def test_another_units_user_gets_404_everywhere(portal: TestClient, sessions) -> None:
    number = await new_ticket(portal, "portalother01")
    zhang, liu = await sessions("zhang"), await sessions("liu")
    _, shot = await zhang.upload(number, png(), "a.png")
    for status, body in [await liu.get(f"/unit/api/tickets/{number}"),
                         await liu.post(f"/unit/api/tickets/{number}/accept"),
                         await liu.post(f"/unit/api/tickets/{number}/return", {"reason": "不是我们的"}),
                         await liu.post(f"/unit/api/tickets/{number}/contact"),
                         await liu.upload(number, png(), "b.png"),
                         await liu.get(f"/unit/api/files/{shot['id']}")]:
        assert status == 404, body
    assert (await liu.get("/unit/api/tickets"))[1]["items"] == []
    assert (await liu.get(f"/unit/api/tickets?q={number}"))[1]["items"] == []
    assert (await zhang.get(f"/unit/api/tickets/{number}"))[1]["status"] == "dispatched"


async def test_staff_cannot_request_extension_or_termination_the_head_can(portal: TestClient, sessions) -> None:
    number = await new_ticket(portal, "portalrole01")
    zhang, chen = await sessions("zhang"), await sessions("chen")
    await zhang.post(f"/unit/api/tickets/{number}/accept")
    status, view = await zhang.get(f"/unit/api/tickets/{number}")
    assert "extension" not in view["actions"] and view["head_only"] == ["extension", "termination"]
    status, body = await zhang.post(f"/unit/api/tickets/{number}/extension", {"text": "物料未到", "days": 5})
    assert status == 403 and body["error"]["message"] == "延期和终止办理申请须由单位负责人提交。"
    status, view = await chen.post(f"/unit/api/tickets/{number}/extension", {"text": "物料未到", "days": 5})
    assert status == 200 and view["events"][-1]["kind"] == "extension" and view["events"][-1]["data"]["days"] == 5
    status, material = await chen.upload(number, PDF, "上门记录.pdf")
    assert status == 201 and material["kind"] == "file" and material["content_type"] == "application/pdf"
    status, view = await chen.post(f"/unit/api/tickets/{number}/termination",
                                   {"text": "诉求人拒不配合", "material": "三次上门记录", "files": [material["id"]]})
    assert status == 200 and view["events"][-1]["data"]["files"][0]["filename"] == "上门记录.pdf"
    pdf = await chen.http.get(portal.make_url(f"/unit/api/files/{material['id']}"))
    assert pdf.status == 200 and pdf.headers["Content-Disposition"].startswith("attachment")  # never inline


async def test_uploads_are_sniffed_limited_and_used_once(make_client, db_url) -> None:
    client = await make_client(db_url=db_url, media={"max_image_bytes": 2000})
    await client.app[STORE].unit_users.add("urban", "wu", "吴", "staff", PASSWORD)
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
        csrf = (await (await http.post(client.make_url("/unit/api/login"),
                                       json={"username": "wu", "password": PASSWORD})).json())["csrf"]
        s = UnitSession(client, http, csrf)
        number, other = await new_ticket(client, "portalfile01"), await new_ticket(client, "portalfile02")
        status, body = await s.upload(number, b"<html><script>alert(1)</script></html>", "evil.png")
        assert status == 415 and "图片" in body["error"]["message"]
        assert (await s.upload(number, png(40, 40) + b"\0" * 3000, "big.png"))[0] == 413
        _, mine = await s.upload(number, png(), "a.png")
        _, elsewhere = await s.upload(other, png(), "b.png")
        await s.post(f"/unit/api/tickets/{number}/accept")
        status, body = await s.post(f"/unit/api/tickets/{number}/progress", {"text": "进展", "files": [elsewhere["id"]]})
        assert status == 400 and body["error"]["code"] == "bad_files"
        assert (await s.post(f"/unit/api/tickets/{number}/progress", {"text": "进展", "files": [mine["id"]]}))[0] == 200
        assert (await s.post(f"/unit/api/tickets/{number}/progress", {"text": "再次", "files": [mine["id"]]}))[0] == 400
        # At most MAX_UNUSED uploads wait for an action; none once the unit can no longer act on the ticket.
        from gateway.store.ticket_files import MAX_UNUSED
        for i in range(MAX_UNUSED):
            assert (await s.upload(number, png(), f"p{i}.png"))[0] == 201
        status, body = await s.upload(number, png(), "one-more.png")
        assert status == 409 and body["error"]["code"] == "too_many_uploads"
        assert (await s.post(f"/unit/api/tickets/{number}/result", {"text": "已修复"}))[0] == 200
        status, body = await s.upload(number, png(), "after.png")
        assert status == 409 and body["error"]["code"] == "upload_closed" and "不能再上传" in body["error"]["message"]


async def test_return_with_a_reason_leaves_the_unit(portal: TestClient, sessions) -> None:
    number = await new_ticket(portal, "portalreturn01")
    zhang = await sessions("zhang")
    status, body = await zhang.post(f"/unit/api/tickets/{number}/return", {"reason": ""})
    assert status == 400 and body["error"]["code"] == "missing_text"
    status, body = await zhang.post(f"/unit/api/tickets/{number}/return", {"reason": "路灯属供电公司维护"})
    assert status == 200 and body == {"number": number, "returned": True}
    assert (await zhang.get(f"/unit/api/tickets/{number}"))[0] == 404
    ticket = await portal.app[STORE].tickets.get(number)
    [ret] = [e for e in ticket.events if e.kind == "return"]
    assert ret.actor == "unit:urban:zhang" and ret.data["text"] == "路灯属供电公司维护" and ticket.unit_id != "urban"


async def test_the_contact_is_masked_and_revealed_on_request_with_an_audit_record(portal: TestClient,
                                                                                 sessions) -> None:
    from tests.conftest import auth
    resp = await portal.post("/api/v1/tickets", headers=auth(), json={
        "description": "小区门口的路灯坏了", "channel": "web", "contact_phone": "13812345678", "contact_name": "王小明"})
    number = (await resp.json())["number"]
    hidden = await portal.post("/api/v1/tickets", headers=auth(), json={
        "description": "小区门口的路灯坏了", "channel": "web", "contact_phone": "13987654321", "anonymous": True})
    anonymous = (await hidden.json())["number"]
    for n in (number, anonymous):
        ticket = await portal.app[STORE].tickets.get(n)
        if ticket.unit_id != "urban":
            await portal.app[STORE].tickets.assign(n, "urban", portal.app[STORE].clock.today(), "system", "测试")
    zhang = await sessions("zhang")
    _, view = await zhang.get(f"/unit/api/tickets/{number}")
    assert view["contact_phone"] == "138****5678" and view["contact_name"] == "王**"
    status, contact = await zhang.post(f"/unit/api/tickets/{number}/contact", csrf=False)
    assert status == 403
    status, contact = await zhang.post(f"/unit/api/tickets/{number}/contact")
    assert status == 200 and contact == {"contact_name": "王小明", "contact_phone": "13812345678"}
    looks = await portal.app[STORE].db.run(lambda conn: conn.execute(
        sa.select(audit_log.c.actor, audit_log.c.data).where(audit_log.c.action == "contact_viewed")).all())
    assert [(r.actor, r.data) for r in looks] == [("unit:urban:zhang", {"ticket": number})]
    _, view = await zhang.get(f"/unit/api/tickets/{anonymous}")
    assert view["contact_phone"] is None and view["anonymous"] is True
    status, body = await zhang.post(f"/unit/api/tickets/{anonymous}/contact")
    assert status == 409 and "匿名" in body["error"]["message"]


async def test_tickets_are_sorted_by_due_date_coloured_and_searchable(portal: TestClient, sessions) -> None:
    import datetime as dt
    from gateway.store.schema import tickets
    late, soon, later = [await new_ticket(portal, f"portalsort0{i}") for i in range(3)]
    today = portal.app[STORE].clock.today()

    def set_due(conn, number, due):
        conn.execute(tickets.update().where(tickets.c.number == number).values(due_date=due))
    await portal.app[STORE].db.run(set_due, late, today - dt.timedelta(days=2))
    await portal.app[STORE].db.run(set_due, soon, today)
    await portal.app[STORE].db.run(set_due, later, today + dt.timedelta(days=30))
    zhang = await sessions("zhang")
    _, listed = await zhang.get("/unit/api/tickets")
    assert [(t["number"], t["colour"]) for t in listed["items"]] == [(late, "red"), (soon, "yellow"), (later, None)]
    _, found = await zhang.get(f"/unit/api/tickets?q={soon[-6:]}")
    assert [t["number"] for t in found["items"]] == [soon]
    await zhang.post(f"/unit/api/tickets/{late}/accept")
    _, working = await zhang.get("/unit/api/tickets?status=in_progress")
    assert [t["number"] for t in working["items"]] == [late]
    assert (await zhang.get("/unit/api/tickets?status=nonsense"))[0] == 400


async def test_kb_entries_of_the_unit_with_review_dates_confirm_and_revise(portal: TestClient, sessions) -> None:
    import datetime as dt
    store = portal.app[STORE]
    today = store.clock.today()
    await store.kb.save_many([
        KbEntry("kb-lamp", "路灯坏了找谁？", "拨打12345或城管热线报修。", department="泰安市城市管理局",
                reviewed_at=today - dt.timedelta(days=400)),
        KbEntry("kb-tree", "小区树木修剪找谁？", "公共绿地由城管局负责修剪。", department="泰安市城市管理局",
                reviewed_at=today - dt.timedelta(days=170)),
        KbEntry("kb-fee", "物业费怎么交？", "按合同约定缴纳。", department="泰安市住房和城乡建设局",
                reviewed_at=today)], "test")
    zhang, liu = await sessions("zhang"), await sessions("liu")
    _, kb = await zhang.get("/unit/api/kb")
    assert [(i["id"], i["review_state"]) for i in kb["items"]] == [("kb-lamp", "overdue"), ("kb-tree", "soon")]
    assert (await liu.post("/unit/api/kb/kb-lamp/confirm"))[0] == 404
    assert (await zhang.post("/unit/api/kb/kb-fee/confirm"))[0] == 404
    assert (await zhang.post("/unit/api/kb/kb-lamp/confirm", csrf=False))[0] == 403
    status, confirmed = await zhang.post("/unit/api/kb/kb-lamp/confirm")
    assert status == 200 and confirmed["review_state"] == "ok" and confirmed["reviewed_at"] == today.isoformat()
    assert confirmed["review_due"] == (today + dt.timedelta(days=180)).isoformat() and confirmed["version"] == 1
    assert confirmed["reviewed_by"] == "unit:urban:zhang"
    status, revised = await zhang.post("/unit/api/kb/kb-tree/revise", {"answer": "公共绿地树木由市城管局园林科修剪，电话0538-1234567。"})
    assert status == 200 and revised["version"] == 2 and revised["changed"] and revised["review_state"] == "ok"
    history = await store.kb.history("kb-tree")
    assert [v["author"] for v in history] == ["test", "unit:urban:zhang"] and history[0]["answer"] == "公共绿地由城管局负责修剪。"
    search = await (await portal.get("/api/v1/kb/search", params={"q": "小区树木修剪找谁"})).json()
    assert "园林科" in search["results"][0]["answer"]  # citizens get the new answer at once
    assert (await zhang.post("/unit/api/kb/kb-tree/revise", {"answer": " "}))[0] == 400


async def test_unit_user_add_cli(tmp_path) -> None:
    import os
    import subprocess
    import sys

    from gateway.settings import PROJECT_ROOT
    env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'u.db'}", "HOTLINE_NEW_PASSWORD": PASSWORD}
    run = [sys.executable, "-m", "gateway.cli", "unit-user", "add", "--unit", "urban", "--username", "zhou",
           "--role", "head"]
    first = subprocess.run(run, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    again = subprocess.run(run, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    unknown = subprocess.run(run[:6] + ["nowhere", "--username", "zhou2"], env=env, cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=60)
    assert first.returncode == 0 and "head zhou of 泰安市城市管理局 added" in first.stdout
    assert again.returncode == 2 and unknown.returncode == 2 and "nowhere" in unknown.stderr
    from gateway.store import open_store
    store = await open_store(f"sqlite:///{tmp_path / 'u.db'}", auto_migrate=False)
    try:
        user, _ = await store.unit_users.login("zhou", PASSWORD)
        assert user is not None and user.unit_id == "urban" and user.role == "head"
    finally:
        await store.db.dispose()


async def citizen_photo(client: TestClient, session: str, name: str) -> None:
    form = FormData()
    form.add_field("session", session)
    form.add_field("text", "这是现场照片")
    form.add_field("file", png(6, 6), filename=name, content_type="image/png")
    assert (await client.post("/api/v1/web/messages", data=form)).status == 200


async def test_the_citizens_photos_are_shown_to_the_unit_only(portal: TestClient, sessions) -> None:
    number = await new_ticket(portal, "portalphoto01")
    other = await new_ticket(portal, "portalphoto02", "小区门口的下水道堵了，下雨就积水")
    await citizen_photo(portal, "portalphoto01", "lamp.png")
    await citizen_photo(portal, "portalphoto02", "下水道.png")
    zhang, liu = await sessions("zhang"), await sessions("liu")
    _, view = await zhang.get(f"/unit/api/tickets/{number}")
    [photo] = view["citizen_media"]
    assert photo["kind"] == "image" and photo["filename"] == "lamp.png"
    image = await zhang.http.get(portal.make_url(f"/unit/api/tickets/{number}/citizen-media/{photo['id']}"))
    assert image.status == 200 and await image.read() == png(6, 6)
    [theirs] = (await zhang.get(f"/unit/api/tickets/{other}"))[1]["citizen_media"]
    # Another conversation's photo is not reachable through this ticket, nor by another unit.
    assert (await zhang.http.get(portal.make_url(f"/unit/api/tickets/{number}/citizen-media/{theirs['id']}"))).status == 404
    assert (await liu.http.get(portal.make_url(f"/unit/api/tickets/{number}/citizen-media/{photo['id']}"))).status == 404


async def test_behind_a_trusted_https_proxy_the_unit_cookie_is_secure(make_client) -> None:
    proxied = await make_client(server={"trusted_proxies": ["127.0.0.1"]})
    await proxied.app[STORE].unit_users.add("urban", "sec1", "安", "staff", PASSWORD)
    resp = await proxied.post("/unit/api/login", json={"username": "sec1", "password": PASSWORD},
                              headers={"X-Forwarded-Proto": "https"})
    assert resp.status == 200 and "Secure" in resp.headers["Set-Cookie"]
