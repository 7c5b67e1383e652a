"""The unit portal in a real browser against the real app: a unit's staff member logs in, works a ticket
the pipeline dispatched to their unit (accept, progress, a result with a photo), returns another with a
reason, and confirms a KB entry; another unit's user gets 404; lockout; CSRF. Screens at phone and desk
size go to /work/shots/unit/."""

from __future__ import annotations

import os
import tempfile

import datetime as dt
from pathlib import Path

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, async_playwright

from gateway.app import STORE
from gateway.store.schema import tickets
from nlu.kb import KbEntry
from tests.media_samples import png

pytestmark = pytest.mark.browser

CHROMIUM, ARGS = "/usr/bin/chromium", ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "correct horse battery"
PHONE, DESK = {"width": 390, "height": 844}, {"width": 1366, "height": 800}
# Screenshots to look at: $HOTLINE_TEST_SHOTS_DIR/unit when set, else the system's temporary folder.
SHOTS = Path(os.environ.get("HOTLINE_TEST_SHOTS_DIR") or Path(tempfile.gettempdir()) / "hotline-shots") / "unit"


async def new_ticket(client: TestClient, session: str, text: str) -> str:
    resp = await client.post("/api/v1/web/messages", json={"session": session, "text": text})
    return (await resp.json())["replies"][0]["ticket_number"]


async def login(page: Page, base: str, username: str, password: str = PASSWORD) -> None:
    await page.goto(base + "/unit/")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-form button")


async def shot(page: Page, name: str, size: str, db: str) -> None:
    if db.startswith("sqlite"):  # one set of pictures is enough
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=False)


async def setup(client: TestClient) -> dict[str, str]:
    store = client.app[STORE]
    await store.unit_users.add("urban", "zhang", "张经办", "staff", PASSWORD)
    await store.unit_users.add("housing", "liu", "刘经办", "staff", PASSWORD)
    today = store.clock.today()
    await store.kb.save_many([
        KbEntry("kb-lamp", "路灯不亮找谁报修？", "可拨打12345热线或市城管局城市照明服务电话报修，一般3个工作日内修复。",
                department="泰安市城市管理局", reviewed_at=today - dt.timedelta(days=400)),
        KbEntry("kb-tree", "小区外公共绿地树木修剪找谁？", "公共绿地树木由市城管局负责修剪；小区内由物业负责。",
                department="泰安市城市管理局", reviewed_at=today - dt.timedelta(days=170)),
        KbEntry("kb-trash", "建筑垃圾怎么处理？", "装修产生的建筑垃圾应袋装后堆放到物业指定地点，由有资质的单位清运。",
                department="泰安市城市管理局", reviewed_at=today - dt.timedelta(days=10))], "seed")
    numbers = {
        "work": await new_ticket(client, "unitweb01", "我家小区门口的路灯坏了一个星期了，晚上很黑，电话13912345678"),
        "back": await new_ticket(client, "unitweb02", "岱庙北边路口的垃圾箱满了三天没人清运"),
        "late": await new_ticket(client, "unitweb03", "人行道上的井盖丢了，晚上很危险"),
        "soon": await new_ticket(client, "unitweb04", "路边有摊贩占道经营，行人没法走"),
    }

    form = FormData()  # the citizen adds a photo of the problem in the same chat
    form.add_field("session", "unitweb01")
    form.add_field("text", "这是晚上拍的照片")
    form.add_field("file", png(90, 60), filename="路灯.png", content_type="image/png")
    assert (await client.post("/api/v1/web/messages", data=form)).status == 200

    def due(conn, number, day):
        conn.execute(tickets.update().where(tickets.c.number == number).values(due_date=day))
    await store.db.run(due, numbers["late"], today - dt.timedelta(days=3))
    await store.db.run(due, numbers["soon"], today)
    for n in numbers.values():
        assert (await store.tickets.get(n)).unit_id == "urban"  # dispatched by the real pipeline
    return numbers


async def test_a_unit_user_works_a_ticket_in_the_browser(make_client, db_url, tmp_path: Path) -> None:
    client = await make_client(db_url=db_url)
    numbers = await setup(client)
    work = numbers["work"]
    base = str(client.make_url("")).rstrip("/")
    photo = tmp_path / "修复后.png"
    photo.write_bytes(png(120, 90))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await (await browser.new_context(viewport=DESK)).new_page()
            await page.goto(base + "/unit/")
            await page.wait_for_selector("#login:not([hidden])")
            await shot(page, "login", "desk", db_url)
            await login(page, base, "zhang")
            await page.wait_for_selector(f"#list li[data-number='{work}']")
            assert await page.text_content("#unit-name") == "泰安市城市管理局"
            order = await page.eval_on_selector_all("#list li", "els => els.map(e => [e.dataset.number, e.className])")
            assert order[0] == [numbers["late"], "red"] and order[1] == [numbers["soon"], "yellow"]
            assert "13912345678" not in await page.inner_text("#list")
            await page.click(f"#list li[data-number='{numbers['late']}']")
            await page.wait_for_selector(".detail .due.red")
            await shot(page, "list", "desk", db_url)

            # Accept, progress, a result with a photo.
            await page.click(f"#list li[data-number='{work}']")
            await page.wait_for_selector(f".detail .number:text('{work}')")
            assert "139****5678" in await page.inner_text(".detail .description")
            citizen_photo = await page.wait_for_function(
                "() => { const i = document.querySelector('.citizen-media img'); return i && i.complete && i.naturalWidth; }")
            assert await citizen_photo.json_value() == 90
            await page.click("button[data-action=accept]")
            await page.wait_for_selector(".detail .badge.in_progress")
            await page.click("button[data-action=progress]")
            await page.fill(".action-form textarea[name=text]", "已安排维修班组明日上午到场更换灯具。")
            await page.click(".action-form .submit")
            await page.wait_for_selector(".trail li >> text=已安排维修班组明日上午到场更换灯具。")
            await page.click("button[data-action=result]")
            await page.fill(".action-form textarea[name=text]", "已更换LED灯具，路灯恢复照明。")
            await page.set_input_files(".action-form input[type=file]", str(photo))
            await page.wait_for_selector(".uploads li >> text=✓ 修复后.png")
            await page.click(".action-form .submit")
            await page.wait_for_selector(".detail .badge.resolved")
            loaded = await page.wait_for_function(
                "() => { const i = document.querySelector('.trail img'); return i && i.complete && i.naturalWidth; }")
            assert await loaded.json_value() == 120
            await shot(page, "ticket", "desk", db_url)
            await page.eval_on_selector("#detail", "d => d.scrollTop = d.scrollHeight")
            await shot(page, "ticket-trail", "desk", db_url)
            ticket = await client.app[STORE].tickets.get(work)
            assert ticket.status == "resolved"
            kinds = [(e.kind, e.actor) for e in ticket.events if e.actor.startswith("unit:")]
            assert kinds == [("accept", "unit:urban:zhang"), ("progress", "unit:urban:zhang"),
                             ("result", "unit:urban:zhang")]
            assert ticket.events[-1].data["files"][0]["filename"] == "修复后.png"

            # Return another with a reason.
            await page.click(f"#list li[data-number='{numbers['back']}']")
            await page.wait_for_selector(f".detail .number:text('{numbers['back']}')")
            await page.click("button[data-action=return]")
            await page.click(".action-form .submit")  # no reason: refused, in Chinese
            await page.wait_for_selector(".actions .error:text('请填写说明。')")
            await page.fill(".action-form textarea[name=text]", "该垃圾箱位于景区管理范围内，应由景区管理单位清运。")
            await page.click(".action-form .submit")
            await page.wait_for_selector(f"#detail >> text=工单 {numbers['back']} 已退回热线重新派单。")
            await page.locator(f"#list li[data-number='{numbers['back']}']").wait_for(state="detached")
            returned = await client.app[STORE].tickets.get(numbers["back"])
            assert returned.unit_id != "urban" and [e for e in returned.events if e.kind == "return"][0].data["text"]

            # A state change without the CSRF header is refused, with the session cookie riding along.
            status = await page.evaluate(f"fetch('/unit/api/tickets/{numbers['late']}/accept', {{method: 'POST'}}).then(r => r.status)")
            assert status == 403
            assert (await client.app[STORE].tickets.get(numbers["late"])).status == "dispatched"

            # KB: the overdue entry is highlighted; confirming it sets the next review date.
            await page.click(".tab[data-tab=kb]")
            await page.wait_for_selector(".kb-list li[data-key=kb-lamp].overdue")
            states = await page.eval_on_selector_all(".kb-list > li", "els => els.map(e => [e.dataset.key, e.className])")
            assert states == [["kb-lamp", "overdue"], ["kb-tree", "soon"], ["kb-trash", "ok"]]
            await shot(page, "kb", "desk", db_url)
            await page.click(".kb-list li[data-key=kb-lamp] button.confirm")
            await page.wait_for_selector(".kb-list li[data-key=kb-lamp].ok")
            next_due = (client.app[STORE].clock.today() + dt.timedelta(days=180)).isoformat()
            assert next_due in await page.inner_text(".kb-list li[data-key=kb-lamp]")
            [lamp] = [i for i in await client.app[STORE].unit_kb.entries("urban", "泰安市城市管理局")
                      if i.entry.key == "kb-lamp"]
            assert lamp.review_due.isoformat() == next_due and lamp.reviewed_by == "unit:urban:zhang"

            await phone_screens(browser, base, work, db_url)
            await other_unit_and_lockout(browser, base, work)
        finally:
            await browser.close()


async def phone_screens(browser: Browser, base: str, number: str, db_url: str) -> None:
    """The same screens on a phone: one column, nothing wider than the screen."""
    page = await (await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)).new_page()
    await page.goto(base + "/unit/")
    await page.wait_for_selector("#login:not([hidden])")
    await shot(page, "login", "phone", db_url)
    await login(page, base, "zhang")
    await page.wait_for_selector("#list li[data-number]")
    await shot(page, "list", "phone", db_url)
    await page.click(f"#list li[data-number='{number}']")
    await page.wait_for_selector(".detail .badge.resolved")
    assert await page.is_hidden("#list-pane")  # one column on a phone: the ticket replaces the list
    await shot(page, "ticket", "phone", db_url)
    await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    await shot(page, "ticket-trail", "phone", db_url)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the screen
    await page.click(".detail .back")
    await page.wait_for_selector("#list-pane:visible")
    await page.click("#list li.red")
    await page.click("button[data-action=return]")
    await page.wait_for_selector(".action-form:visible")
    await shot(page, "action-form", "phone", db_url)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.click(".action-form .cancel")
    await page.click(".detail .back")
    await page.click(".tab[data-tab=kb]")
    await page.wait_for_selector(".kb-list li[data-key=kb-tree].soon")
    await shot(page, "kb", "phone", db_url)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390


async def other_unit_and_lockout(browser: Browser, base: str, number: str) -> None:
    page = await (await browser.new_context(viewport=DESK)).new_page()
    await login(page, base, "liu")
    await page.wait_for_selector("#list li.empty")
    assert await page.text_content("#unit-name") == "泰安市住房和城乡建设局"
    assert "目前没有派给本单位的工单" in await page.inner_text("#list")
    status = await page.evaluate(f"fetch('/unit/api/tickets/{number}').then(r => r.status)")
    assert status == 404
    await page.fill("#q", number)
    await page.click("#filter button")
    await page.wait_for_selector("#list li.empty:text('没有符合条件的工单，请调整筛选条件。')")

    page = await (await browser.new_context(viewport=DESK)).new_page()
    for _ in range(4):
        await login(page, base, "liu", "wrong password")
        await page.wait_for_selector("#login-error:text('用户名或密码错误。')")
    await login(page, base, "liu", "wrong password")
    await page.wait_for_selector("#login-error:has-text('锁定')")
    await login(page, base, "liu")  # the right password no longer helps
    await page.wait_for_selector("#login-error:has-text('锁定')")
    assert await page.is_hidden("#app")
