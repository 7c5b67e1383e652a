"""A real browser (Debian's Chromium driven by Playwright) chats with the real app."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import async_playwright

from gateway.app import STORE
from gateway.store.schema import attachments, messages
from tests.media_samples import png

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.browser


async def test_citizen_sends_text_and_image_and_sees_replies(make_client, tmp_path: Path) -> None:
    client = await make_client()
    base = str(client.make_url("/"))
    image = tmp_path / "垃圾.png"
    image.write_bytes(png(8, 8))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone screen
            await page.goto(base)
            await page.wait_for_selector(".msg.bot")  # the greeting
            await page.fill("#text", "我家小区门口的垃圾三天没人清运了，臭得很")
            await page.click("#send")
            await page.wait_for_selector("#ticket:not([hidden])")
            number = await page.text_content("#ticket-number")
            assert number and len(number) == 15
            assert number in await page.inner_text(".msg.system >> nth=-1")

            await page.set_input_files("#file", str(image))
            await page.fill("#text", "这是现场照片")
            await page.click("#send")
            await page.wait_for_function("() => document.querySelectorAll('.msg.system').length >= 2")
            assert "补充" in await page.inner_text(".msg.system >> nth=-1")

            # Reloading shows the same conversation from the store, image included.
            await page.reload()
            await page.wait_for_selector(".msg.citizen img")
            texts = await page.locator(".msg.citizen").all_inner_texts()
            assert texts[0].startswith("我家小区门口") and "这是现场照片" in texts[1]
            loaded = await page.evaluate("document.querySelector('.msg.citizen img').naturalWidth")
            assert loaded == 8
            await page.screenshot(path=str(tmp_path / "chat.png"))
        finally:
            await browser.close()
    inbound = await client.app[STORE].db.run(lambda conn: conn.execute(
        sa.select(messages.c.text).where(messages.c.direction == "in").order_by(messages.c.id)).scalars().all())
    [att] = await client.app[STORE].db.run(lambda conn: conn.execute(sa.select(attachments)).all())
    assert inbound == ["我家小区门口的垃圾三天没人清运了，臭得很", "这是现场照片"]
    assert att.content_type == "image/png" and att.filename == "垃圾.png"


async def test_emergency_reply_offers_the_line_to_call(make_client) -> None:
    client = await make_client()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(str(client.make_url("/")))
            await page.fill("#text", "邻居家着火了冒了好多黑烟")
            await page.press("#text", "Enter")
            link = await page.wait_for_selector(".msg.emergency .calls a")
            assert await link.get_attribute("href") == "tel:119"
        finally:
            await browser.close()
