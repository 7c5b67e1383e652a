"""The supervisor's screen (值班长督办台, Art. 14-16, 19, 32) in a real browser against the real app: the
manual dispatch queue, the supervision board down to an overdue ticket's trail, a unit's extension
request, re-handling after a dissatisfied rating, supervision notes, blocked contacts; agents are refused."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, async_playwright

from gateway.app import PLANNER, CLOCK, STORE
from gateway.store.schema import audit_log, contacts
from tests.conftest import TEST_CLOCK

PASSWORD = "correct horse battery"
CHROMIUM, ARGS = "/usr/bin/chromium", ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TOKENS = {"urban": "urban-token-123", "housing": "housing-token-456"}
PHONE, DESK = {"width": 390, "height": 844}, {"width": 1366, "height": 800}
SHOTS = os.environ.get("HOTLINE_TEST_SHOTS_DIR")  # set to keep the screenshots (e.g. /work/shots/supervisor)

SUPERVISOR_GETS = ["/console/api/supervisor/units", "/console/api/supervisor/queue", "/console/api/supervisor/board",
                   "/console/api/supervisor/board/urban/red", "/console/api/supervisor/requests",
                   "/console/api/supervisor/rehandling", "/console/api/supervisor/tickets/20260101-000001",
                   "/console/api/supervisor/blocked", "/console/api/supervisor/conversations/1/contact"]


def as_unit(unit: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[unit]}"}


async def citizen_ticket(client: TestClient, session: str, text: str) -> str:
    resp = await client.post("/api/v1/web/messages", json={"session": session, "text": text})
    replies = (await resp.json())["replies"]
    return next(r["ticket_number"] for r in replies if r.get("ticket_number"))


async def unit_act(client: TestClient, number: str, action: str, unit: str = "urban", **body: object) -> dict:
    resp = await client.post(f"/api/v1/unit/tickets/{number}/{action}", json=body or None, headers=as_unit(unit))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def console(client: TestClient, username: str) -> tuple[ClientSession, dict[str, str]]:
    http = ClientSession(cookie_jar=CookieJar(unsafe=True))
    resp = await http.post(client.make_url("/console/api/login"), json={"username": username, "password": PASSWORD})
    assert resp.status == 200
    return http, {"X-CSRF-Token": (await resp.json())["csrf"]}


async def login(page: Page, base: str, username: str) -> None:
    await page.goto(base + "/console/supervisor")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button")


async def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=False)


@pytest.fixture
async def overdue_and_client(make_client, db_url: str) -> tuple[TestClient, str]:
    """A ticket opened and dispatched 40 days ago (by the app running on a clock started then), and the
    app running today on the same database: the ticket is overdue."""
    then = (TEST_CLOCK.now() - dt.timedelta(days=40)).isoformat()
    past = await make_client(db_url=db_url, clock={"start_at": then}, secrets={"unit_tokens": json.dumps(TOKENS)})
    overdue = await citizen_ticket(past, "supoverdue01", "单位门口的路灯坏了，晚上一片漆黑")
    assert (await past.app[STORE].tickets.get(overdue)).unit_id == "urban"
    await past.close()
    client = await make_client(db_url=db_url, secrets={"unit_tokens": json.dumps(TOKENS)})
    return client, overdue


@pytest.mark.browser
async def test_a_supervisor_works_the_screen(overdue_and_client) -> None:
    client, overdue = overdue_and_client
    store = client.app[STORE]
    await store.agents.add("boss", "值班长王", "supervisor", PASSWORD)
    await store.agents.add("staff", "坐席李", "agent", PASSWORD)
    due = await store.tickets.get(overdue)
    assert due.due_date < client.app[CLOCK].today()

    queued = await citizen_ticket(client, "supqueue01", "小区的路灯坏了物业不管")  # 物业 (housing) = 路灯 (urban)
    unclear = await citizen_ticket(client, "supqueue02", "我有个事情想说一下，关于我们那边的情况")
    extended = await citizen_ticket(client, "supextend01", "小区门口的路灯坏了一个星期了")
    await unit_act(client, extended, "accept")
    rated = await citizen_ticket(client, "suprated01", "楼下的井盖丢了好几天了很危险")
    await unit_act(client, rated, "accept")
    await unit_act(client, rated, "result", text="已补装井盖。")
    await client.post("/api/v1/web/messages", json={"session": "suprated01", "text": "3 井盖还是松的"})
    noisy = await store.tickets.get(await citizen_ticket(client, "supblocked01", "你们都是骗子，楼下路灯坏了半个月，城管到现在都不来修"))
    blocked_id = await store.tickets.conversation_contact(noisy.conversation_id)
    for number in (queued, unclear):
        assert (await store.tickets.get(number)).status == "open"

    base = str(client.make_url("/")).rstrip("/")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            desk = await (await browser.new_context(viewport=DESK)).new_page()
            await login(desk, base, "boss")

            # The manual queue: the proposal with its reason and confidence; one click assigns its lead.
            card = desk.locator("#queue li", has=desk.locator(f"button.number:text-is('{queued}')"))
            await card.wait_for()
            proposal = await card.locator(".proposal").inner_text()
            [shown] = [e.data for e in (await store.tickets.get(queued)).events if e.kind == "dispatch_proposed"]
            assert shown is not None and not shown["automatic"]
            assert "泰安市住房和城乡建设局" in proposal and f"把握 {round(shown['confidence'] * 100)}%" in proposal
            assert "关键词：物业" in proposal
            assert "泰安市城市管理局" in proposal  # proposed to cooperate
            await shot(desk, "desk-queue")
            phone = await (await browser.new_context(viewport=PHONE, is_mobile=True)).new_page()
            await login(phone, base, "boss")
            await phone.locator("#queue li", has_text=queued).wait_for()
            await shot(phone, "phone-queue")
            await card.locator("button.assign-proposed").click()
            await card.wait_for(state="detached")
            ticket = await store.tickets.get(queued)
            assert (ticket.status, ticket.unit_id) == ("dispatched", "housing")
            [dispatched] = [e for e in ticket.events if e.kind == "dispatched"]
            assert dispatched.actor == "agent:boss" and dispatched.data["cooperating"] == ["urban"]

            # No proposal: the supervisor picks the lead and a cooperating unit from the catalogue.
            card = desk.locator("#queue li", has=desk.locator(f"button.number:text-is('{unclear}')"))
            await card.locator("details.other summary").click()
            await card.locator("select.lead-select").select_option("taishan")
            await card.locator("input[type=checkbox][value=civil]").check()
            await card.locator(".assign-form .reason").fill("属地处理，民政协办")
            await shot(desk, "desk-queue-pick")
            await card.locator(".assign-form button[type=submit]").click()
            await card.wait_for(state="detached")
            ticket = await store.tickets.get(unclear)
            [dispatched] = [e for e in ticket.events if e.kind == "dispatched"]
            assert ticket.unit_id == "taishan" and dispatched.data["cooperating"] == ["civil"]
            assert dispatched.data["reason"] == "属地处理，民政协办"
            assert "没有等待人工派单" in await desk.inner_text("#queue")

            # The board: the overdue ticket is red under its unit; down to its whole trail; a supervision note.
            await desk.click(".tabs button[data-tab=board]")
            # Until when the working-day calendar is known (issue 17): warned 60 days ahead.
            coverage = client.app[PLANNER].calendar.coverage(client.app[CLOCK].today()).as_json()
            await desk.wait_for_function("() => document.getElementById('board-today').textContent.length > 0")
            assert await desk.is_visible("#calendar") == (coverage["message_zh"] is not None)
            if coverage["message_zh"]:
                assert coverage["known_until"] in await desk.inner_text("#calendar")
            row = desk.locator(".unit-row[data-unit=urban]")
            assert await row.locator(".count.red b").inner_text() == "1"
            await row.locator(".count.red").click()
            item = desk.locator("#drill-list li.row.red", has_text=overdue)
            await item.wait_for()
            await item.click()
            await desk.wait_for_selector(f"#d-number:has-text('{overdue}')")
            trail_text = await desk.inner_text(".trail")
            assert "受理登记" in trail_text and "泰安市城市管理局" in trail_text
            await desk.select_option(".supervise-form select", "phone")
            await desk.fill(".supervise-form textarea", "已超期，请今日内答复市民")
            await desk.click(".supervise-form button[type=submit]")
            note = desk.locator(".trail li.ev.supervision")
            await note.wait_for()
            assert "电话督办：已超期，请今日内答复市民" in await note.inner_text()
            await shot(desk, "desk-board-trail")
            [event] = [e for e in (await store.tickets.get(overdue)).events if e.kind == "supervision"]
            assert event.actor == "agent:boss" and event.data == {"method": "phone", "note": "已超期，请今日内答复市民",
                                                                   "unit": "urban"}
            await desk.click("#d-close")

            # A unit asks for an extension while the screen is open: it arrives live; approved.
            await desk.click(".tabs button[data-tab=requests]")
            before = (await store.tickets.get(extended)).due_date
            await unit_act(client, extended, "extension", text="需要更换电缆，物料未到", days=5)
            request = desk.locator("#requests li[data-request=extension]", has_text=extended)
            await request.wait_for(timeout=5000)  # over the console's socket, before the 10 s poll
            assert "申请延期 5 个工作日" in await request.inner_text()
            await request.locator("button.reject").click()  # a rejection needs a reason
            assert "理由" in await request.locator(".error").inner_text()
            await shot(desk, "desk-requests")
            await request.locator("button.approve").click()
            await request.wait_for(state="detached")
            ticket = await store.tickets.get(extended)
            assert ticket.due_date > before and ticket.events[-1].kind == "extension_approved"
            assert ticket.events[-1].actor == "agent:boss"

            # A conversation's contact is blocked (Art. 32) with a reason.
            await desk.click(".tabs button[data-tab=blocked]")
            await desk.fill("#conv-id", str(noisy.conversation_id))
            await desk.click("#conv-lookup button")
            await desk.fill("#conv-contact .block-form .reason", "多次辱骂工作人员")
            # A live change redraws the contact while the reason is being typed: the reason stays.
            await desk.eval_on_selector("#conv-contact .block-form", "f => f.dataset.before = 'yes'")
            await unit_act(client, extended, "progress", text="电缆已到货，明日更换")
            await desk.wait_for_function("() => !document.querySelector('#conv-contact .block-form').dataset.before")
            assert await desk.input_value("#conv-contact .block-form .reason") == "多次辱骂工作人员"
            await desk.click("#conv-contact .block-form button")
            await desk.locator(f"#blocked li[data-contact='{blocked_id}']").wait_for()
            await desk.wait_for_selector("#conv-contact .badge.red:has-text('已暂停受理')")
            await shot(desk, "desk-blocked")
            assert store.contacts.is_blocked(blocked_id)

            # On a phone: re-handle the dissatisfied result with a new deadline; unblock the contact.
            await phone.wait_for_selector("#queue li.empty")  # the phone's lists followed the desk's work
            await phone.click(".tabs button[data-tab=board]")
            await phone.wait_for_selector(".unit-row[data-unit=urban]")
            await shot(phone, "phone-board")
            await phone.click(".tabs button[data-tab=rehandling]")
            card = phone.locator("#rehandling li", has_text=rated)
            await card.wait_for()
            assert "已补装井盖" in await card.inner_text() and "井盖还是松的" in await card.inner_text()
            new_due = client.app[CLOCK].today() + dt.timedelta(days=9)
            await card.locator("input.due").fill(new_due.isoformat())
            await card.locator("input.note").fill("市民反映井盖仍松动，请重新加固")
            await shot(phone, "phone-rehandling")
            await card.locator("button.rehandle").click()
            await card.wait_for(state="detached")
            ticket = await store.tickets.get(rated)
            assert (ticket.status, ticket.unit_id, ticket.due_date) == ("dispatched", "urban", new_due)
            assert ticket.events[-1].data["note"] == "市民反映井盖仍松动，请重新加固"

            await phone.click(".tabs button[data-tab=blocked]")
            card = phone.locator(f"#blocked li[data-contact='{blocked_id}']")
            await card.wait_for()
            assert "多次辱骂工作人员" in await card.inner_text() and "boss" in await card.inner_text()
            await shot(phone, "phone-blocked")
            await card.locator("button.unblock").click()
            await card.wait_for(state="detached")
            await desk.wait_for_selector("#conv-contact .block-form", timeout=5000)  # the desk follows live
            await phone.click(".tabs button[data-tab=requests]")
            await phone.wait_for_selector("#requests li.empty")
            # The trail on a phone opens over the lists.
            await phone.click(".tabs button[data-tab=board]")
            await phone.locator(".unit-row[data-unit=urban] .count.red").click()
            await phone.locator("#drill-list li.row", has_text=overdue).click()
            await phone.wait_for_selector(".trail li.ev.supervision")
            await shot(phone, "phone-trail")
            await phone.click("#d-close")
            await desk.click(".tabs button[data-tab=queue]")
            await shot(desk, "desk-queue-empty")
        finally:
            await browser.close()
    row = await store.db.run(lambda conn: conn.execute(sa.select(contacts).where(contacts.c.id == blocked_id)).one())
    assert row.blocked_at is None and not store.contacts.is_blocked(blocked_id)
    actions = [r.action for r in await store.db.run(lambda conn: conn.execute(sa.select(audit_log)).all())]
    assert actions.count("contact_blocked") == 1 and actions.count("contact_unblocked") == 1


@pytest.mark.browser
async def test_agents_are_refused_and_the_page_says_so(client: TestClient) -> None:
    await client.app[STORE].agents.add("staff", "坐席李", "agent", PASSWORD)
    async with ClientSession() as anonymous:
        for path in SUPERVISOR_GETS:
            assert (await anonymous.get(client.make_url(path))).status == 401, path
    staff, csrf = await console(client, "staff")
    try:
        for path in SUPERVISOR_GETS:
            resp = await staff.get(client.make_url(path))
            assert resp.status == 403, path
            assert (await resp.json())["error"]["message"] == "只有值班长可以执行此操作。"
        for path in ["/console/api/tickets/20260101-000001/assign", "/console/api/tickets/20260101-000001/rehandle",
                     "/console/api/tickets/20260101-000001/extension/approve", "/console/api/contacts/1/unblock",
                     "/console/api/tickets/20260101-000001/supervise"]:
            assert (await staff.post(client.make_url(path), json={}, headers=csrf)).status == 403, path
    finally:
        await staff.close()
    base = str(client.make_url("/")).rstrip("/")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for name, viewport in (("phone", PHONE), ("desk", DESK)):
                page = await (await browser.new_context(viewport=viewport)).new_page()
                await login(page, base, "staff")
                await page.wait_for_selector("#forbidden:not([hidden])")
                text = await page.inner_text("#forbidden")
                assert "无权访问督办台" in text and "仅供值班长使用" in text
                assert await page.is_hidden("#app")
                await shot(page, f"{name}-forbidden")
        finally:
            await browser.close()


async def test_supervisor_decisions_are_checked(make_client, db_url: str) -> None:
    """Cooperating units come from the catalogue; a rejection needs a reason; a re-handling deadline lies ahead."""
    client = await make_client(db_url=db_url, secrets={"unit_tokens": json.dumps(TOKENS)})
    await client.app[STORE].agents.add("boss", "值班长王", "supervisor", PASSWORD)
    queued = await citizen_ticket(client, "supcheck01", "小区的路灯坏了物业不管")
    rated = await citizen_ticket(client, "supcheck02", "楼下的井盖丢了好几天了很危险")
    await unit_act(client, rated, "accept")
    await unit_act(client, rated, "extension", text="井盖需定制", days=3)
    boss, csrf = await console(client, "boss")
    try:
        async def post(path: str, body: dict) -> tuple[int, dict]:
            resp = await boss.post(client.make_url(path), json=body, headers=csrf)
            return resp.status, await resp.json()

        queue = await (await boss.get(client.make_url("/console/api/supervisor/queue"))).json()
        [item] = [i for i in queue["items"] if i["number"] == queued]
        assert item["proposal"]["lead"] == "housing" and 0 < item["proposal"]["confidence"] < client.app[PLANNER].dispatcher.auto_at
        assign = f"/console/api/tickets/{queued}/assign"
        assert (await post(assign, {"unit": "housing", "cooperating": ["nobody"]}))[0] == 400
        assert (await post(assign, {"unit": "housing", "cooperating": ["housing"]}))[0] == 400
        assert (await post(assign, {"unit": "housing", "cooperating": "urban"}))[0] == 400
        assert (await (store := client.app[STORE]).tickets.get(queued)).status == "open"

        requests = await (await boss.get(client.make_url("/console/api/supervisor/requests"))).json()
        assert [(i["number"], i["request"], i["days"]) for i in requests["items"]] == [(rated, "extension", 3)]
        asked = requests["items"][0]["request_id"]
        status, body = await post(f"/console/api/tickets/{rated}/extension/reject", {"note": "  ", "request_id": asked})
        assert status == 400 and body["error"]["message"] == "请填写不予批准的理由。"
        status, body = await post(f"/console/api/tickets/{rated}/extension/reject", {"note": "定制井盖两天可到"})
        assert status == 400 and body["error"]["code"] == "missing_request_id"  # names the request it decides
        status, body = await post(f"/console/api/tickets/{rated}/extension/reject",
                                  {"note": "定制井盖两天可到", "request_id": asked})
        assert status == 200 and body["events"][-1]["data"]["note"] == "定制井盖两天可到"
        assert (await (await boss.get(client.make_url("/console/api/supervisor/requests"))).json())["items"] == []

        await unit_act(client, rated, "result", text="已补装井盖。")
        await client.post("/api/v1/web/messages", json={"session": "supcheck02", "text": "不满意"})
        waiting = await (await boss.get(client.make_url("/console/api/supervisor/rehandling"))).json()
        assert [i["number"] for i in waiting["items"]] == [rated]
        today = client.app[CLOCK].today()
        status, body = await post(f"/console/api/tickets/{rated}/rehandle", {"due_date": today.isoformat()})
        assert status == 400 and body["error"]["code"] == "bad_due_date"
        assert (await post(f"/console/api/tickets/{rated}/rehandle", {"due_date": "明天"}))[0] == 400
        status, body = await post(f"/console/api/tickets/{rated}/close", {"note": "经核实已按标准处理"})
        assert status == 200 and body["status"] == "closed"
        assert (await (await boss.get(client.make_url("/console/api/supervisor/rehandling"))).json())["items"] == []
        assert (await store.tickets.get(rated)).events[-1].actor == "agent:boss"
    finally:
        await boss.close()
