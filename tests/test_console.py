"""The agent console: API rules (auth, CSRF, lockout, single owner, audit) and a real-browser run where an
agent takes over a web chat while a citizen watches the reply arrive."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, async_playwright

from gateway.app import STORE
from gateway.store.schema import audit_log

PASSWORD = "correct horse battery"
CHROMIUM, ARGS = "/usr/bin/chromium", ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


async def add_agent(client: TestClient, username: str, role: str = "agent") -> None:
    await client.app[STORE].agents.add(username, f"坐席{username}", role, PASSWORD)


async def login(client: TestClient, username: str, session: ClientSession | None = None) -> tuple[ClientSession, str]:
    http = session or ClientSession(cookie_jar=__import__("aiohttp").CookieJar(unsafe=True))
    resp = await http.post(client.make_url("/console/api/login"), json={"username": username, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return http, (await resp.json())["csrf"]


async def citizen_says(client: TestClient, session: str, text: str) -> list[dict]:
    resp = await client.post("/api/v1/web/messages", json={"session": session, "text": text})
    return (await resp.json())["replies"]


async def conversation_id(client: TestClient, http: ClientSession) -> int:
    items = (await (await http.get(client.make_url("/console/api/conversations"))).json())["items"]
    return items[0]["id"]


async def test_every_console_api_needs_a_session(client: TestClient) -> None:
    for method, path in [("GET", "/console/api/me"), ("GET", "/console/api/conversations"),
                         ("GET", "/console/api/conversations/1"), ("POST", "/console/api/conversations/1/takeover"),
                         ("POST", "/console/api/conversations/1/reply"), ("POST", "/console/api/conversations/1/handback"),
                         ("POST", "/console/api/conversations/1/close"), ("GET", "/console/api/media/1"),
                         ("GET", "/console/api/ws")]:
        resp = await client.request(method, path)
        assert resp.status == 401, (method, path)


async def test_wrong_password_five_times_locks_the_account(client: TestClient) -> None:
    await add_agent(client, "li")
    statuses = [(await client.post("/console/api/login", json={"username": "li", "password": "wrong password"})).status
                for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 423]  # the fifth failure locks
    locked = await client.post("/console/api/login", json={"username": "li", "password": PASSWORD})
    assert locked.status == 423 and "锁定" in (await locked.json())["error"]["message"]


async def test_takeover_is_exclusive_needs_csrf_and_is_audited(client: TestClient) -> None:
    await add_agent(client, "wang")
    await add_agent(client, "zhao")
    await citizen_says(client, "consoleses01", "你好")
    a, csrf_a = await login(client, "wang")
    b, csrf_b = await login(client, "zhao")
    try:
        cid = await conversation_id(client, a)
        no_csrf = await a.post(client.make_url(f"/console/api/conversations/{cid}/takeover"))
        assert no_csrf.status == 403
        ok = await a.post(client.make_url(f"/console/api/conversations/{cid}/takeover"),
                          headers={"X-CSRF-Token": csrf_a})
        assert ok.status == 200
        refused = await b.post(client.make_url(f"/console/api/conversations/{cid}/takeover"),
                               headers={"X-CSRF-Token": csrf_b})
        assert refused.status == 409 and "wang" in (await refused.json())["error"]["message"]
        not_owner = await b.post(client.make_url(f"/console/api/conversations/{cid}/reply"),
                                 json={"text": "你好"}, headers={"X-CSRF-Token": csrf_b})
        assert not_owner.status == 409
        await a.post(client.make_url(f"/console/api/conversations/{cid}/reply"), json={"text": "您好，我是人工客服"},
                     headers={"X-CSRF-Token": csrf_a})
        await a.post(client.make_url(f"/console/api/conversations/{cid}/handback"), headers={"X-CSRF-Token": csrf_a})
    finally:
        await a.close()
        await b.close()
    actions = await client.app[STORE].db.run(lambda conn: [
        (r.actor, r.action) for r in conn.execute(sa.select(audit_log).where(audit_log.c.conversation_id == cid)
                                                  .order_by(audit_log.c.id))])
    assert actions == [("agent:wang", "takeover"), ("agent:wang", "reply"), ("agent:wang", "handback")]


async def test_user_add_cli(tmp_path) -> None:
    import os
    import subprocess
    import sys

    from gateway.settings import PROJECT_ROOT
    env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'u.db'}", "HOTLINE_NEW_PASSWORD": PASSWORD}
    run = [sys.executable, "-m", "gateway.cli", "user", "add", "sun", "--name", "孙坐席", "--role", "supervisor"]
    first = subprocess.run(run, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    again = subprocess.run(run, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0 and "supervisor sun added" in first.stdout and again.returncode == 2


async def console_login(page: Page, base: str, username: str) -> None:
    """Sign in on the console page as a person would, and wait for the workspace."""
    await page.goto(base + "/console")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button")
    await page.wait_for_selector("#app:not([hidden])")


@pytest.mark.browser
async def test_agent_takes_over_a_web_chat_in_the_browser(make_client, fake_rasa) -> None:
    rasa, url = fake_rasa
    client = await make_client(bot={"enabled": True, "rasa_url": url})
    await add_agent(client, "agent1")
    base = str(client.make_url("/")).rstrip("/")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            citizen = await (await browser.new_context()).new_page()
            agent = await (await browser.new_context()).new_page()
            await console_login(agent, base, "agent1")

            await citizen.goto(base + "/")
            await citizen.fill("#text", "<script>alert('x')</script><b>你好</b>，我想咨询公积金")
            await citizen.click("#send")
            await citizen.wait_for_selector(".msg.bot:has-text('机器人收到')")
            # The conversation appears live on the console, the HTML shown as text.
            await agent.locator("#list li", has_text="公积金").first.click()  # the list refreshes live
            await agent.wait_for_selector(".transcript li.citizen")
            shown = await agent.inner_text(".transcript li.citizen")
            assert "<script>alert('x')</script><b>你好</b>" in shown
            assert await agent.evaluate("document.querySelectorAll('.transcript script, .transcript b').length") == 0

            await agent.click(".takeover")
            await agent.wait_for_selector(".state:has-text('人工服务中')")
            await agent.fill(".composer textarea", "您好，我是人工客服小李，请问具体想咨询哪方面？")
            await agent.click(".composer button")
            await citizen.wait_for_selector(".msg.agent:has-text('人工客服小李')")

            turns_before = len(rasa.turns)
            await citizen.fill("#text", "公积金怎么提取")
            await citizen.click("#send")
            await agent.wait_for_selector(".transcript li.citizen:has-text('怎么提取')")
            await asyncio.sleep(0.3)
            assert len(rasa.turns) == turns_before  # the bot stays out while the agent owns it
            assert await citizen.locator(".msg.bot:has-text('机器人收到')").count() == 1

            await agent.click(".handback")
            await agent.wait_for_selector(".state:has-text('机器人服务中')")
            await citizen.wait_for_selector(".msg.system:has-text('智能客服将继续')")
            await citizen.fill("#text", "那租房能提取吗")
            await citizen.click("#send")
            await citizen.wait_for_selector(".msg.bot:has-text('那租房能提取吗')")
            assert len(rasa.turns) == turns_before + 1
        finally:
            await browser.close()


async def test_agent_creates_and_edits_a_ticket_and_searches_the_kb(client: TestClient) -> None:
    from gateway.app import KB
    from gateway.settings import PROJECT_ROOT
    from nlu.kb import load_entries
    await client.app[KB].save(load_entries(PROJECT_ROOT / "config" / "kb" / "seed_kb.yaml"), author="test")
    await add_agent(client, "qian")
    await citizen_says(client, "consoleses02", "你好")
    http, csrf = await login(client, "qian")
    try:
        cid = await conversation_id(client, http)
        resp = await http.post(client.make_url(f"/console/api/conversations/{cid}/tickets"), headers={"X-CSRF-Token": csrf},
                               json={"description": "小区东门路灯不亮", "request_type": "complaint",
                                     "location": "泰山区财源街道幸福小区", "contact_phone": "13900001234"})
        ticket = await resp.json()
        assert resp.status == 201 and ticket["district"] == "泰山区" and ticket["source"] == "agent"
        edit = await http.patch(client.make_url(f"/console/api/tickets/{ticket['number']}"),
                                headers={"X-CSRF-Token": csrf}, json={"category": "城乡建设", "anonymous": True})
        assert (await edit.json())["anonymous"] is True
        bad = await http.patch(client.make_url(f"/console/api/tickets/{ticket['number']}"),
                               headers={"X-CSRF-Token": csrf}, json={"status": "closed"})
        assert bad.status == 400
        found = await (await http.get(client.make_url("/console/api/kb/search"), params={"q": "驾照丢了"})).json()
        assert found["results"][0]["id"] == "kb-0030"
        detail = await (await http.get(client.make_url(f"/console/api/conversations/{cid}"))).json()
        assert detail["tickets"][0]["number"] == ticket["number"]
        assert detail["messages"][0]["triage"]["disposition"] == "not_accepted"
    finally:
        await http.close()
    got = await client.app[STORE].tickets.get(ticket["number"])
    assert [e.actor for e in got.events if not e.kind.startswith("dispatch")] == ["agent:qian", "agent:qian"]


@pytest.mark.browser
async def test_agent_works_the_callback_list_in_the_browser(make_client) -> None:
    """A unit's result appears live on the console's callback list (回访); the agent records the
    rating the citizen gave on the phone, and the ticket closes."""
    import json
    client = await make_client(secrets={"unit_tokens": json.dumps({"urban": "urban-token-123"})})
    await add_agent(client, "agent1")
    resp = await client.post("/api/v1/web/messages", json={"session": "callbackbrowser1",
                                                           "text": "小区门口的路灯坏了一个星期了"})
    number = (await resp.json())["replies"][0]["ticket_number"]
    unit = {"Authorization": "Bearer urban-token-123"}
    base = str(client.make_url("/")).rstrip("/")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            agent = await (await browser.new_context()).new_page()
            await console_login(agent, base, "agent1")
            assert await agent.locator("#callbacks li").count() == 0
            await client.post(f"/api/v1/unit/tickets/{number}/accept", headers=unit)
            await client.post(f"/api/v1/unit/tickets/{number}/result", json={"text": "路灯已修复。"}, headers=unit)
            item = agent.locator("#callbacks li", has_text=number)
            await item.wait_for()  # arrives over the console's websocket
            assert "路灯坏了" in await item.inner_text()
            await item.locator(".callback-note").fill("电话回访，市民确认已修好")
            await item.locator("input[type=checkbox]").check()
            await item.locator("button.basically_satisfied").click()
            await agent.wait_for_selector(f"#callbacks li[data-number='{number}']", state="detached")
        finally:
            await browser.close()
    ticket = await client.app[STORE].tickets.get(number)
    [rating] = [e for e in ticket.events if e.kind == "rating"]
    assert ticket.status == "closed" and rating.actor == "agent:agent1"
    assert rating.data == {"level": "basically_satisfied", "solved": True, "note": "电话回访，市民确认已修好"}


async def test_expired_console_sessions_are_purged(client: TestClient) -> None:
    import datetime as dt

    import sqlalchemy as sa

    from gateway.store.schema import agent_sessions
    await add_agent(client, "purge1")
    first, _ = await login(client, "purge1")
    await first.close()
    past = client.app[STORE].clock.now() - dt.timedelta(days=1)
    await client.app[STORE].db.run(lambda conn: conn.execute(agent_sessions.update().values(expires_at=past)))
    second, _ = await login(client, "purge1")
    await second.close()
    left = await client.app[STORE].db.run(lambda conn: conn.execute(sa.select(agent_sessions)).all())
    assert len(left) == 1 and left[0].expires_at > past + dt.timedelta(days=1)


async def test_behind_a_trusted_https_proxy_the_session_cookie_is_secure(make_client) -> None:
    direct = await make_client()
    proxied = await make_client(server={"trusted_proxies": ["127.0.0.1"]})
    for client in (direct, proxied):
        await add_agent(client, "cookie1")
    async def cookie(client: TestClient) -> str:
        resp = await client.post("/console/api/login", json={"username": "cookie1", "password": PASSWORD},
                                 headers={"X-Forwarded-Proto": "https"})
        assert resp.status == 200
        return resp.headers["Set-Cookie"]
    assert "Secure" not in await cookie(direct)  # the header alone is the client's claim
    assert "Secure" in await cookie(proxied)


async def test_a_supervisor_blocks_an_abusive_contact_and_emergencies_still_get_through(client: TestClient) -> None:
    """Art. 32: messages of a blocked contact are kept but neither answered by the bot nor ticketed;
    the citizen hears why; an emergency is answered all the same; blocking and unblocking are audited."""
    import sqlalchemy as sa

    from gateway.store.schema import tickets
    s = f"blocked-{uuid.uuid4().hex[:8]}"
    await citizen_says(client, s, "你们都是骗子骗子骗子")
    await add_agent(client, "boss1", role="supervisor")
    await add_agent(client, "agent9")
    boss, boss_csrf = await login(client, "boss1")
    agent, agent_csrf = await login(client, "agent9")
    try:
        items = (await (await boss.get(client.make_url("/console/api/conversations"))).json())["items"]
        [conv] = items  # the one conversation of this test
        path = f"/console/api/contacts/{conv['contact_id']}/block"
        denied = await agent.post(client.make_url(path), json={"reason": "辱骂"}, headers={"X-CSRF-Token": agent_csrf})
        assert denied.status == 403
        no_reason = await boss.post(client.make_url(path), json={}, headers={"X-CSRF-Token": boss_csrf})
        assert no_reason.status == 400
        ok = await boss.post(client.make_url(path), json={"reason": "多次辱骂工作人员"},
                             headers={"X-CSRF-Token": boss_csrf})
        assert ok.status == 200 and (await ok.json())["blocked"] is True
        before = len(await client.app[STORE].db.run(lambda conn: conn.execute(sa.select(tickets)).all()))
        [notice] = await citizen_says(client, s, "小区门口的路灯坏了一个星期了晚上很黑")
        assert "第三十二条" in notice["text"] and "110" in notice["text"]
        assert await citizen_says(client, s, "路灯还是不亮") == []  # told once, then quiet
        after = len(await client.app[STORE].db.run(lambda conn: conn.execute(sa.select(tickets)).all()))
        assert after == before  # no ticket from a blocked contact
        [danger] = await citizen_says(client, s, "救命 我家着火了 火很大")
        assert danger["emergency_lines"][0] == "119"
        unblock = await boss.post(client.make_url(f"/console/api/contacts/{conv['contact_id']}/unblock"),
                                  headers={"X-CSRF-Token": boss_csrf})
        assert unblock.status == 200 and (await unblock.json())["blocked"] is False
        [reply] = await citizen_says(client, s, "小区东门的路灯坏了好几天了")
        assert "工单" in reply["text"]  # handled again: joins the conversation's ticket
        actions = [r.action for r in await client.app[STORE].db.run(
            lambda conn: conn.execute(sa.select(audit_log)).all())]
        assert "contact_blocked" in actions and "contact_unblocked" in actions
    finally:
        await boss.close()
        await agent.close()


async def test_parallel_guesses_do_not_get_past_the_lockout(client: TestClient) -> None:
    await add_agent(client, "burst1")
    statuses = await asyncio.gather(*[client.post("/console/api/login", json={"username": "burst1",
                                                                           "password": f"guess number {i}"})
                                      for i in range(12)])
    codes = [r.status for r in statuses]
    assert codes.count(401) <= 4 and codes.count(423) >= 8, codes  # five failures lock, whatever the timing
    locked = await client.post("/console/api/login", json={"username": "burst1", "password": PASSWORD})
    assert locked.status == 423


async def test_the_live_socket_refuses_another_sites_origin(client: TestClient) -> None:
    import aiohttp
    await add_agent(client, "ws1")
    http, _ = await login(client, "ws1")
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(client.make_url("/console/api/ws"), headers={"Origin": "https://evil.example"})
        assert refused.value.status == 403
        ws = await http.ws_connect(client.make_url("/console/api/ws"),
                                   headers={"Origin": str(client.make_url("/")).rstrip("/")})
        await ws.close()
    finally:
        await http.close()


@pytest.mark.browser
async def test_a_mailed_html_attachment_runs_no_script_in_the_agents_browser(make_client) -> None:
    """Stored XSS: the attachment opened from the console is a download in a sandbox, never a page."""
    import sqlalchemy as sa

    from gateway.store.schema import attachments
    from tests.test_email import asend, plain_mail
    client = await make_client()
    m = plain_mail("evil@example.com", "投诉", "<xss-browser@example.com>", "小区路灯坏了好几天了，见附件")
    m.add_attachment(b"<html><body><script>document.title='PWNED';"
                     b"fetch('/console/api/me').then(r=>r.text()).then(t=>document.body.innerText=t)</script>"
                     b"</body></html>", maintype="text", subtype="html", filename="photo.html")
    await asend(client, m, sender="evil@example.com")
    [att] = await client.app[STORE].db.run(lambda conn: conn.execute(sa.select(attachments)).all())
    await add_agent(client, "xss1")
    base = str(client.make_url("/")).rstrip("/")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context(accept_downloads=True)
            page = await context.new_page()
            await console_login(page, base, "xss1")
            async with page.expect_download() as download:
                await page.evaluate("url => { const a = document.createElement('a'); a.href = url;"
                                    " document.body.appendChild(a); a.click(); }", f"/console/api/media/{att.id}")
            assert (await download.value).suggested_filename == "photo.html"
            # The console page itself was not replaced or scripted by the file.
            assert await page.title() != "PWNED" and page.url.startswith(base + "/console")
        finally:
            await browser.close()
