"""Helpers the console's tests share: agents, logins, conversations made fast through the store, a browser."""

from __future__ import annotations

import os
import tempfile

import contextlib
import datetime as dt
import uuid
from typing import Any, AsyncIterator

import sqlalchemy as sa
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, async_playwright

from channels.base import Channel, InboundMessage
from gateway.app import STORE
from tests.conftest import auth

PASSWORD = "correct horse battery"
CHROMIUM, ARGS = "/usr/bin/chromium", ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE, DESK = {"width": 390, "height": 844}, {"width": 1366, "height": 800}
# Screenshots to look at: $HOTLINE_TEST_SHOTS_DIR/console when set, else the system's temporary folder.
SHOTS = os.path.join(os.environ.get("HOTLINE_TEST_SHOTS_DIR") or os.path.join(tempfile.gettempdir(), "hotline-shots"),
                     "console")


async def add_agent(client: TestClient, username: str, role: str = "agent", name: str | None = None) -> None:
    await client.app[STORE].agents.add(username, name or f"坐席{username}", role, PASSWORD)


async def login(client: TestClient, username: str) -> tuple[ClientSession, str]:
    http = ClientSession(cookie_jar=CookieJar(unsafe=True))
    resp = await http.post(client.make_url("/console/api/login"), json={"username": username, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return http, (await resp.json())["csrf"]


async def citizen_says(client: TestClient, session: str, text: str) -> list[dict[str, Any]]:
    resp = await client.post("/api/v1/web/messages", json={"session": session, "text": text})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["replies"]


async def stored_message(client: TestClient, channel: Channel, sender: str, text: str, key: str | None = None) -> int:
    """A citizen's message stored as the pipeline stores it (no bot turn): the conversation's id."""
    msg = InboundMessage(channel=channel, external_id=uuid.uuid4().hex, sender=sender,
                         conversation_key=key or sender, text=text)
    return (await client.app[STORE].messages.record_inbound(msg, None, None)).conversation.id


async def hand_over(client: TestClient, conversation_id: int) -> None:
    resp = await client.post(f"/api/v1/conversations/{conversation_id}/handoff", json={"reason": "requested"},
                             headers=auth())
    assert resp.status == 200, await resp.text()


async def web_conversation(client: TestClient, session: str) -> int:
    from gateway.store.schema import conversations
    return await client.app[STORE].db.run(lambda conn: conn.execute(
        sa.select(conversations.c.id).where(conversations.c.key == session)).scalar_one())


async def backdate(client: TestClient, conversation_id: int, minutes: int) -> None:
    """The conversation and its messages as if they began `minutes` ago."""
    from gateway.store.schema import conversations, messages
    past = client.app[STORE].clock.now() - dt.timedelta(minutes=minutes)

    def work(conn: Any) -> None:
        conn.execute(conversations.update().where(conversations.c.id == conversation_id).values(created_at=past))
        conn.execute(messages.update().where(messages.c.conversation_id == conversation_id).values(created_at=past))
    await client.app[STORE].db.run(work)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def console_page(browser: Browser, client: TestClient, username: str, viewport: dict[str, int] = DESK) -> Page:
    page = await (await browser.new_context(viewport=viewport)).new_page()
    page.on("pageerror", lambda exc: print("PAGE ERROR", exc))
    page.on("console", lambda m: print("CONSOLE", m.text) if m.type == "error" else None)
    await page.goto(str(client.make_url("/console")))
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button")
    await page.wait_for_selector("#app:not([hidden])")
    return page
