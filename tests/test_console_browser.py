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
