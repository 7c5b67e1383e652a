"""The agents' console in a real browser against the real app, on SQLite and PostgreSQL: the composer,
the live list, who may act on a conversation, the wait, the labels; and the workspace features."""

from __future__ import annotations

import asyncio
import re

import pytest
import sqlalchemy as sa

from channels.base import Channel
from gateway.app import STORE
from gateway.store.schema import messages
from tests.console_helpers import (DESK, PHONE, SHOTS, add_agent, backdate, chromium, citizen_says, console_page,
                                   hand_over, login, stored_message, web_conversation)

pytestmark = pytest.mark.browser


async def agent_texts(client, conversation_id: int) -> list[str]:
    return await client.app[STORE].db.run(lambda conn: conn.execute(
        sa.select(messages.c.text).where(messages.c.conversation_id == conversation_id,
                                         messages.c.sender_role == "agent").order_by(messages.c.id)).scalars().all())


async def test_sent_reply_leaves_the_composer_and_new_messages_keep_the_forms(make_client, db_url) -> None:
    """Defect: after 发送 the composer still held the reply (a second click sent it twice), and every new
    message re-rendered the panel, wiping a half-filled ticket form."""
    client = await make_client(db_url=db_url)
    await add_agent(client, "a1")
    await citizen_says(client, "composer-0001", "小区门口的路灯坏了一个星期了")
    cid = await web_conversation(client, "composer-0001")
    async with chromium() as browser:
        page = await console_page(browser, client, "a1")
        await page.click(f"#list li[data-id='{cid}']")
        await page.click(".takeover")
        await page.wait_for_selector(".composer button:enabled")
        await page.fill(".composer textarea", "您好，请问具体是哪个小区？")
        await page.click(".composer button")
        await page.wait_for_selector(".transcript li.agent:has-text('哪个小区')")
        assert await page.input_value(".composer textarea") == ""
        await page.click(".composer button")  # a second click sends nothing
        await asyncio.sleep(0.5)
        assert await agent_texts(client, cid) == ["您好，请问具体是哪个小区？"]

        # A half-filled ticket form and a draft survive the citizen's next message.
        await page.click(".ticket-form summary")
        await page.fill(".new-ticket [name=location]", "泰山区幸福小区东门")
        await page.fill(".composer textarea", "好的，我来登记")
        await page.evaluate("document.querySelector('.transcript li').dataset.mark = 'kept'")
        await citizen_says(client, "composer-0001", "是幸福小区东门那一盏")
        await page.wait_for_selector(".transcript li.citizen:has-text('东门那一盏')")
        assert await page.input_value(".new-ticket [name=location]") == "泰山区幸福小区东门"
        assert await page.input_value(".composer textarea") == "好的，我来登记"
        assert await page.evaluate("document.querySelector('.transcript li').dataset.mark") == "kept"
        assert await page.locator(".transcript li.agent").count() == 1


async def test_the_list_is_paged_ordered_and_updated_row_by_row(make_client, db_url) -> None:
    """Defect: every open conversation was listed with no limit and the list reloaded whole on each event."""
    client = await make_client(db_url=db_url)
    await add_agent(client, "a2")
    ids = [await stored_message(client, Channel.WEB, f"pagedsession{i:04d}", f"第{i}条诉求内容") for i in range(60)]
    await hand_over(client, ids[10])
    await hand_over(client, ids[20])  # asked later: waits less, listed after ids[10]
    async with chromium() as browser:
        page = await console_page(browser, client, "a2")
        await page.wait_for_selector("#list li[data-id]")
        order = [int(x) for x in await page.eval_on_selector_all("#list li[data-id]", "ls => ls.map(l => l.dataset.id)")]
        assert len(order) == 50 and order[:2] == [ids[10], ids[20]]
        assert await page.inner_text("#count") == "（60）"
        await page.click("#more")
        await page.wait_for_function("() => document.querySelectorAll('#list li[data-id]').length === 60")
        assert await page.is_hidden("#more")

        whole_reloads = []
        page.on("request", lambda r: whole_reloads.append(r.url)
                if "/console/api/conversations?" in r.url and "id=" not in r.url else None)
        await page.evaluate("document.querySelectorAll('#list li[data-id]').forEach(l => l.dataset.mark = 'kept')")
        await hand_over(client, ids[30])  # moves up to third place
        await page.wait_for_function(f"() => document.querySelectorAll('#list li[data-id]')[2].dataset.id === '{ids[30]}'")
        new = await stored_message(client, Channel.WEB, "pagedsession-new", "新来的诉求")
        await hand_over(client, new)
        await page.wait_for_function(f"() => document.querySelectorAll('#list li[data-id]')[3].dataset.id === '{new}'")
        assert await page.inner_text("#count") == "（61）"
        # Only the two rows the events were about were redrawn: the list was never reloaded whole.
        redrawn = await page.eval_on_selector_all("#list li[data-id]",
                                                  "ls => ls.filter(l => !l.dataset.mark).map(l => Number(l.dataset.id))")
        assert sorted(redrawn) == sorted([ids[30], new]) and whole_reloads == []
        await page.screenshot(path=f"{SHOTS}/list-desk-{db_url.split(':')[0]}.png")
        phone = await console_page(browser, client, "a2", PHONE)
        await phone.wait_for_selector("#list li[data-id]")
        assert await phone.is_visible("#more")
        await phone.screenshot(path=f"{SHOTS}/list-phone-{db_url.split(':')[0]}.png")


async def test_only_the_owner_may_act_the_wait_counts_from_the_request_and_codes_are_chinese(make_client, db_url) -> None:
    """Defects: buttons enabled for agents who do not own the conversation (then 409); the wait counted from
    the conversation's first message; triage codes shown in English."""
    client = await make_client(db_url=db_url)
    await add_agent(client, "owner1", name="李坐席")
    await add_agent(client, "other1")
    await citizen_says(client, "ownership-001", "你好")  # triaged not_accepted
    await citizen_says(client, "ownership-001", "小区门口的路灯坏了一个星期了晚上很黑")  # a ticket
    cid = await web_conversation(client, "ownership-001")
    await backdate(client, cid, 45)
    await hand_over(client, cid)
    async with chromium() as browser:
        other = await console_page(browser, client, "other1")
        row = other.locator(f"#list li[data-id='{cid}']")
        assert "不到1分钟" in await row.locator(".wait").inner_text()  # not 45 minutes
        await row.click()
        await other.wait_for_selector(".transcript .triage")
        triage = await other.locator(".transcript .triage").all_inner_texts()
        assert triage and "非受理范围" in triage[0] and "受理 · 投诉" in " ".join(triage)
        assert not re.search(r"[a-z]{3,}", " ".join(triage) + await other.inner_text(".tickets"))
        assert "已派单" in await other.inner_text(".tickets") or "已受理" in await other.inner_text(".tickets")

        owner, csrf = await login(client, "owner1")
        try:
            resp = await owner.post(client.make_url(f"/console/api/conversations/{cid}/takeover"),
                                    headers={"X-CSRF-Token": csrf})
            assert resp.status == 200
        finally:
            await owner.close()
        await other.wait_for_selector(".state:has-text('李坐席')")
        for selector in (".handback", ".close", ".composer button", ".takeover"):
            assert await other.is_disabled(selector), selector
            assert "李坐席" in (await other.get_attribute(selector, "title") or ""), selector
        await other.screenshot(path=f"{SHOTS}/not-owner-desk-{db_url.split(':')[0]}.png")


def backend(db_url: str) -> str:
    return db_url.split(":")[0].split("+")[0]


async def test_notes_canned_replies_and_the_keyboard_in_the_composer(make_client, db_url) -> None:
    client = await make_client(db_url=db_url)
    from gateway.app import KB
    from gateway.settings import PROJECT_ROOT
    from nlu.kb import load_entries
    await client.app[KB].save(load_entries(PROJECT_ROOT / "config" / "kb" / "seed_kb.yaml"), author="test")
    await add_agent(client, "boss2", role="supervisor", name="赵值班长")
    await add_agent(client, "k1", name="孙坐席")
    await citizen_says(client, "cannedsession1", "我的驾照丢了怎么补办")
    cid = await web_conversation(client, "cannedsession1")
    async with chromium() as browser:
        boss = await console_page(browser, client, "boss2")
        assert await boss.is_visible("#supervisor-link")  # the supervisor screen, for supervisors only
        await boss.click("#canned-admin-open")
        await boss.fill("#ca-form [name=shortcut]", "greet")
        await boss.fill("#ca-form [name=title]", "开场问候")
        await boss.fill("#ca-form [name=text]", "您好，这里是泰安12345热线，请问有什么可以帮您？")
        await boss.click("#ca-form button[type=submit]")
        await boss.wait_for_selector("#ca-list li:has-text('/greet')")
        await boss.screenshot(path=f"{SHOTS}/canned-admin-desk-{backend(db_url)}.png")

        agent = await console_page(browser, client, "k1")
        assert not await agent.is_visible("#supervisor-link")
        await agent.click(f"#list li[data-id='{cid}']")
        await agent.click(".takeover")
        await agent.wait_for_selector(".composer .send:enabled")
        box = agent.locator(".composer textarea")
        await box.type("/gre")
        item = agent.locator(".suggest li.canned", has_text="开场问候")
        await item.wait_for()
        await box.press("Enter")  # picks the highlighted suggestion, sends nothing yet
        assert await box.input_value() == "您好，这里是泰安12345热线，请问有什么可以帮您？"
        await box.press("Shift+Enter")
        await box.type("请稍等")
        assert await box.input_value() == "您好，这里是泰安12345热线，请问有什么可以帮您？\n请稍等"
        await box.press("Enter")
        await agent.wait_for_selector(".transcript li.agent:has-text('请稍等')")
        assert await box.input_value() == ""

        await box.type("/驾照")  # the knowledge base answers too, with their confidence
        kb = agent.locator(".suggest li.kb").first
        await kb.wait_for()
        assert "匹配度" in await kb.inner_text()
        await agent.screenshot(path=f"{SHOTS}/composer-suggest-desk-{backend(db_url)}.png")
        await box.press("Escape")
        await box.fill("")

        await agent.click(".modes .mode[data-mode=note]")
        await box.type("市民说驾照是上周在泰山区丢的，需核实")
        await box.press("Enter")
        note = agent.locator(".transcript li.note")
        await note.wait_for()
        assert "孙坐席" in await note.inner_text() and "市民不可见" in await note.inner_text()
        await agent.screenshot(path=f"{SHOTS}/conversation-notes-desk-{backend(db_url)}.png")
        phone = await console_page(browser, client, "k1", PHONE)
        await phone.click(f"#list li[data-id='{cid}']")
        await phone.wait_for_selector(".transcript li.note")
        await phone.screenshot(path=f"{SHOTS}/conversation-notes-phone-{backend(db_url)}.png")
        await phone.locator(".composer textarea").type("/g")
        await phone.wait_for_selector(".suggest li.canned")
        await phone.screenshot(path=f"{SHOTS}/composer-suggest-phone-{backend(db_url)}.png")

        citizen = await (await browser.new_context(viewport=PHONE)).new_page()
        await citizen.goto(str(client.make_url("/")))
        await citizen.evaluate("s => localStorage.setItem('hotline12345.session', s)", "cannedsession1")
        await citizen.reload()
        await citizen.wait_for_selector(".msg.agent:has-text('请稍等')")
        assert "核实" not in await citizen.inner_text("#log")
    texts = await agent_texts(client, cid)
    assert texts == ["您好，这里是泰安12345热线，请问有什么可以帮您？\n请稍等"]


async def test_search_ticket_view_and_history(make_client, db_url) -> None:
    client = await make_client(db_url=db_url)
    await add_agent(client, "v1")
    call = await stored_message(client, Channel.IVR, "13800000021", "电话里说小区夜里施工太吵")
    web = await stored_message(client, Channel.WEB, "historybrowser1", "网上再反映一次施工噪音")
    for i in range(3):
        await stored_message(client, Channel.WEB, f"othersession{i:04d}", f"其他市民的事情{i}")
    http, csrf = await login(client, "v1")
    try:
        resp = await http.post(client.make_url(f"/console/api/conversations/{call}/tickets"),
                               headers={"X-CSRF-Token": csrf},
                               json={"description": "泰山区幸福小区夜间施工噪音扰民", "request_type": "complaint",
                                     "contact_phone": "13800000021"})
        number = (await resp.json())["number"]
        resp = await http.post(client.make_url(f"/console/api/conversations/{web}/tickets"),
                               headers={"X-CSRF-Token": csrf},
                               json={"description": "幸福小区晚上施工的噪音还是很大", "request_type": "complaint",
                                     "contact_phone": "13800000021"})
        assert resp.status == 201
    finally:
        await http.close()
    async with chromium() as browser:
        for viewport, size in ((DESK, "desk"), (PHONE, "phone")):
            page = await console_page(browser, client, "v1", viewport)
            await page.fill("#q", "13800000021")
            # The caller, and the web citizen who gave that number on a ticket; none of the others.
            await page.wait_for_function("() => document.querySelectorAll('#list li[data-id]').length === 2")
            found = await page.eval_on_selector_all("#list li[data-id]", "ls => ls.map(l => Number(l.dataset.id))")
            assert sorted(found) == sorted([call, web])
            await page.screenshot(path=f"{SHOTS}/search-{size}-{backend(db_url)}.png")

            await page.click("#search .tab[data-scope=tickets]")
            await page.fill("#q", number)
            await page.click(f"#ticket-list li[data-number='{number}']")
            await page.wait_for_selector("#ticket-view:not([hidden]) #tv-trail li")
            assert "登记" in await page.inner_text("#tv-trail")
            if size == "desk":
                await page.select_option("#tv-form [name=category]", "城乡建设")
                await page.fill("#tv-form [name=contact_name]", "王先生")
                await page.click("#tv-form button[type=submit]")
                await page.wait_for_selector("#tv-trail li:has-text('修改')")
                trail = await page.inner_text("#tv-trail")
                assert "→ 城乡建设" in trail and "联系人：（空） → 王先生" in trail
                assert not re.search(r"[a-z_]{4,}", trail.replace("v1", ""))
            await page.screenshot(path=f"{SHOTS}/ticket-view-{size}-{backend(db_url)}.png")
            await page.click("#tv-close")

            await page.click("#search .tab[data-scope=conversations]")
            await page.fill("#q", "")
            await page.locator(f"#list li[data-id='{web}']").click()
            # The web citizen gave the caller's number on their ticket: the call and its ticket are theirs.
            history = page.locator(f"#detail[data-id='{web}'] .history-list")
            await history.locator(f"li.h-conv").wait_for()
            text = await history.inner_text()
            assert number in text and "电话" in text and "夜里施工太吵" in text and "其他市民" not in text
            assert "138****0021" in await page.inner_text(".history-phones")
            await history.locator("li.h-conv").click()  # opens the call
            await page.wait_for_selector(f"#detail[data-id='{call}'] .history-list li.h-conv")
            assert "网上再反映" in await page.inner_text(".history-list")
            await page.screenshot(path=f"{SHOTS}/history-{size}-{backend(db_url)}.png")


async def test_transfer_presence_takeover_and_typing_both_ways(make_client, db_url) -> None:
    client = await make_client(db_url=db_url)
    await add_agent(client, "t1", name="甲坐席")
    await add_agent(client, "t2", name="乙坐席")
    await add_agent(client, "boss3", role="supervisor", name="丙值班长")
    async with chromium() as browser:
        citizen = await (await browser.new_context(viewport=PHONE)).new_page()
        await citizen.goto(str(client.make_url("/")))
        await citizen.fill("#text", "我要找人工客服")
        await citizen.click("#send")
        await citizen.wait_for_selector(".msg.system")
        session = await citizen.evaluate("localStorage.getItem('hotline12345.session')")
        cid = await web_conversation(client, session)

        first = await console_page(browser, client, "t1")
        second = await console_page(browser, client, "t2")
        await first.wait_for_selector("#agents li.online[data-username=t2]")  # presence, live
        await first.click(f"#list li[data-id='{cid}']")
        await first.click(".takeover")
        await first.wait_for_selector(".composer .send:enabled")

        # The citizen types: the agent sees it; the agent types: the citizen sees 客服正在输入….
        await asyncio.sleep(2.6)  # the page tells at most every 2.5 s (filling in the first message told already)
        await citizen.type("#text", "我家楼下")
        await first.wait_for_selector(".head .typing:not([hidden])")
        await first.locator(".composer textarea").type("您好")
        await citizen.wait_for_selector("#typing:not([hidden])")
        assert await citizen.inner_text("#typing") == "客服正在输入…"
        await citizen.screenshot(path=f"{SHOTS}/webchat-agent-typing-phone-{backend(db_url)}.png")
        await first.screenshot(path=f"{SHOTS}/citizen-typing-desk-{backend(db_url)}.png")

        await first.select_option(".transfer-to", "t2")
        await first.click(".transfer-go")
        await second.wait_for_selector("#toast:not([hidden])")
        assert "甲坐席" in await second.inner_text("#toast")
        await second.click("#toast button")
        await second.wait_for_selector(f"#detail[data-id='{cid}'] .composer .send:enabled")
        await first.wait_for_selector(".composer .send:disabled")
        await second.fill(".composer textarea", "您好，我是乙坐席，接着为您服务")
        await second.press(".composer textarea", "Enter")
        await citizen.wait_for_selector(".msg.agent:has-text('乙坐席')")

        boss = await console_page(browser, client, "boss3")
        await boss.click(f"#list li[data-id='{cid}']")
        assert await boss.is_disabled(".takeover")
        await boss.click(".force")
        await boss.wait_for_selector(".state:has-text('丙值班长')")
        await second.wait_for_selector(".composer .send:disabled")
        assert "丙值班长" in (await second.get_attribute(".composer .send", "title") or "")
        await second.close()
        await first.wait_for_selector("#agents li.offline[data-username=t2]")
    from gateway.store.schema import audit_log
    actions = await client.app[STORE].db.run(lambda conn: conn.execute(
        sa.select(audit_log.c.action).where(audit_log.c.conversation_id == cid).order_by(audit_log.c.id)).scalars().all())
    assert actions == ["takeover", "transfer", "reply", "supervisor_takeover"]


async def test_a_legal_seat_agent_has_the_legal_matters_in_an_own_list(make_client, db_url) -> None:
    """Art. 17 special seats: a conversation about a matter already in court waits in the legal seat's list;
    the general agent's list leaves it out while a legal seat agent is online."""
    client = await make_client(db_url=db_url)
    await add_agent(client, "law2", name="法律专席坐席")
    await add_agent(client, "gen2", name="普通坐席")
    await client.app[STORE].workspace.set_skills("law2", ["legal"])
    await citizen_says(client, "legalbrowser01", "我已经向法院起诉了，开发商一直拖着不交房")
    await citizen_says(client, "legalbrowser01", "我要人工客服")
    legal = await web_conversation(client, "legalbrowser01")
    await citizen_says(client, "plainbrowser01", "我要人工客服")
    plain = await web_conversation(client, "plainbrowser01")
    async with chromium() as browser:
        general = await console_page(browser, client, "gen2")
        await general.wait_for_selector(f"#list li[data-id='{legal}'] .badge.seat")  # nobody of the seat online
        assert await general.is_hidden("#seat-tab")
        lawyer = await console_page(browser, client, "law2")
        await general.wait_for_selector(f"#list li[data-id='{legal}']", state="detached")
        assert await general.locator(f"#list li[data-id='{plain}']").count() == 1
        await lawyer.click("#seat-tab")
        await lawyer.wait_for_function(
            "() => [...document.querySelectorAll('#list li[data-id]')].map(l => l.dataset.id).join() === '%d'" % legal)
        assert await lawyer.inner_text(f"#list li[data-id='{legal}'] .badge.seat") == "法律服务专席"
        await lawyer.screenshot(path=f"{SHOTS}/seat-queue-desk-{backend(db_url)}.png")
