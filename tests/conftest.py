"""Shared fixtures: settings on a temporary directory, databases (SQLite always, PostgreSQL when
HOTLINE_TEST_PG_URL is set), the real app on aiohttp's test server, and a fake Rasa server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.settings import PROJECT_ROOT, Settings, load_settings
from gateway.store import Store, open_store
from routing.clock import Clock
from tests.dns_standin import shared_dns

PG_URL = os.environ.get("HOTLINE_TEST_PG_URL")
# Run the whole suite at a chosen time, e.g. HOTLINE_TEST_CLOCK_AT=2026-12-01T23:30:00+08:00: every app
# and store the tests start uses a clock started there (dates must agree at any hour of the day).
TEST_CLOCK_AT = os.environ.get("HOTLINE_TEST_CLOCK_AT", "")
TEST_CLOCK = Clock.create(start_at=TEST_CLOCK_AT)
API_TOKEN = "test-token-0123456789"

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def base_settings(tmp_path: Path, db_url: str, **sections: dict[str, Any]) -> Settings:
    settings = load_settings(PROJECT_ROOT / "config" / "hotline.toml", env={"HOTLINE_API_TOKEN": API_TOKEN})
    defaults: dict[str, dict[str, Any]] = {
        "database": {"url": db_url},
        "media": {"root": str(tmp_path / "media")},
        "bot": {"enabled": False},
        "outbox": {"poll_seconds": 0.2, "base_backoff_seconds": 0.1},
        # Above the photo/video reading's 4 s wait with room for a loaded machine (a cold OCR worker, then
        # triage and the store): a 202 here is a slow CI, not a behaviour under test.
        "server": {"reply_wait_seconds": 15.0},
        "email": {"port": 0, "dns_server": shared_dns().address},
        # Tests play many citizens from one loopback address; the limits have their own tests.
        "abuse": {"messages_per_minute_per_session": 10_000, "new_sessions_per_hour_per_address": 10_000,
                  "messages_per_ten_minutes_per_contact": 10_000},
        "clock": {"start_at": TEST_CLOCK_AT},
        # Hundreds of apps start in the suite: the OCR worker starts with the first photo, not with each app.
        "media_reading": {"warm_up": False},
        # Likewise the triage worker (a process per app): its own tests start it (tests/test_triage_worker.py).
        "triage": {"worker": False},
    }
    for name, values in sections.items():
        defaults[name] = {**defaults.get(name, {}), **values}
    return settings.replace(**defaults)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    assert PG_URL, "HOTLINE_TEST_PG_URL not set"
    name = f"hotline_t_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A PostgreSQL database migrated once per session: each test's database is a copy of it (CREATE
    DATABASE ... TEMPLATE takes ~0.2 s where running every migration took ~0.6 s, for some 300 tests).
    The migrations themselves are tested on empty databases (`pg_database`)."""
    if not PG_URL:
        yield None
        return
    name = f"hotline_tpl_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        await _pg_admin(f'CREATE DATABASE "{name}"')
        store = await open_store(f"{PG_URL.rsplit('/', 1)[0]}/{name}", auto_migrate=True, clock=TEST_CLOCK)
        await store.db.dispose()

    asyncio.run(create())
    try:
        yield name
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_template: str | None) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hotline.db'}"
    else:
        name = f"hotline_t_{uuid.uuid4().hex[:12]}"
        await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
        try:
            yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
        finally:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = await open_store(db_url, auto_migrate=True, clock=TEST_CLOCK)
    try:
        yield s
    finally:
        await s.db.dispose()


AppFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def make_client(tmp_path: Path) -> AsyncIterator[AppFactory]:
    """Start the real app on a loopback test server: make_client(db_url=..., bot={...}, ...)."""
    clients: list[TestClient] = []

    async def factory(db_url: str | None = None, plugins: Any = None, **sections: dict[str, Any]) -> TestClient:
        """`plugins`: channel plugins instead of the default ones (the channel contract test adds a toy)."""
        url = db_url or f"sqlite:///{tmp_path / f'app{len(clients)}.db'}"
        app = create_app(base_settings(tmp_path, url, **sections), plugins)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield factory
    for c in clients:
        await c.close()


@pytest.fixture
async def client(make_client: AppFactory, db_url: str) -> TestClient:
    return await make_client(db_url=db_url)


class FakeRasa:
    """A loopback stand-in for `rasa run`'s REST channel, for pipeline tests that are not about the bot.

    The bot's own behaviour is tested against the real Rasa server (tests/bot)."""

    def __init__(self) -> None:
        self.turns: list[dict[str, Any]] = []
        self.status = 200
        self.delay = 0.0
        self.answer: Callable[[dict[str, Any]], Any] = lambda body: [
            {"recipient_id": body["sender"], "text": f"机器人收到：{body['message']}"}]

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.turns.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.Response(status=self.status, text="boom")
        return web.json_response(self.answer(body))

    async def status_handler(self, request: web.Request) -> web.Response:
        return web.json_response({"model_file": "fake.tar.gz"})


@contextlib.asynccontextmanager
async def loopback(app: web.Application) -> AsyncIterator[str]:
    """Serve a stand-in platform on a free loopback port; yields its base URL."""
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def fake_rasa() -> AsyncIterator[tuple[FakeRasa, str]]:
    rasa = FakeRasa()
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", rasa.webhook)
    app.router.add_get("/status", rasa.status_handler)
    async with loopback(app) as url:
        yield rasa, url


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_TOKEN}"}


_PHONE_IN_LOG = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_SECRETS_IN_LOG = (API_TOKEN, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0", "sekrit-token", "hook-8f3a", "urban-token-123", "housing-token-456",
                   "correct horse battery")


@pytest.fixture(autouse=True)
def logs_hold_no_secrets_or_phone_numbers(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Art. 28: every log line any test makes, as the production log filter leaves it, holds no phone
    number and none of the tests' secrets."""
    from gateway.logs import PiiMaskingFilter
    caplog.set_level(logging.INFO)
    yield
    leaks = []
    mask = PiiMaskingFilter()
    for record in caplog.get_records("setup") + caplog.get_records("call"):
        copy = logging.makeLogRecord(record.__dict__)
        mask.filter(copy)
        line = copy.getMessage()
        if _PHONE_IN_LOG.search(line) or any(secret in line for secret in _SECRETS_IN_LOG):
            leaks.append(f"{record.name}: {line[:160]}")
    assert leaks == [], leaks


def smtp_port(client: TestClient) -> int:
    """The port the e-mail channel's SMTP server listens on (the settings ask for 0: the OS picks)."""
    from channels.base import Channel
    from gateway.app import CHANNELS
    return client.app[CHANNELS][Channel.EMAIL].smtp_port
