"""The application factory: settings in, a wired aiohttp application out.

Everything that starts and stops (database, HTTP client, outbox worker) is a
cleanup context, in dependency order; app-wide objects live on `AppKey`s.
Routes are registered up front and reach the runtime objects through the
app, so the factory itself does no I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from typing import Any, AsyncIterator

import aiohttp
from aiohttp import web
from telegram import Bot

from bot.engine import BotEngine, DisabledBot, RasaBot
from channels.base import Channel, InboundMessage, Reply
from channels.email.adapter import EmailChannel, start_smtp_server
from channels.email.auth import dns_txt
from channels.email.adapter import EmailSettings as EmailChannelSettings
from channels.ivr.adapter import IvrChannel
from channels.ivr.adapter import IvrSettings as IvrChannelSettings
from channels.telegram.adapter import TelegramChannel
from channels.wechat.adapter import WechatAccount, WechatChannel
from channels.wechat.api import WechatApi
from channels.media import MediaLimits, MediaStore
from channels.safe_fetch import FetchPolicy
from channels.web.adapter import WebChannel, WebLimits
from gateway.api.conversations import ConversationsApi
from gateway.console.api import ConsoleApi
from gateway.api.health import HealthApi
from gateway.api.middleware import make_error_middleware
from gateway.api.tickets import TicketsApi
from gateway.api.kb import KbApi
from gateway.api.triage import TriageApi
from gateway.api.units import UnitsApi, parse_tokens
from gateway.events import EventHub
from gateway.kb_service import KbService
from gateway.api.openapi import OpenApi
from gateway.metrics import Metrics, MetricsApi
from routing.intake import TicketIntake
from routing.planner import TicketPlanner
from gateway.outbox import OutboxDispatcher
from gateway.events import CONSOLE_TOPIC
from gateway.pipeline import Pipeline
from gateway.errors import ConfigError
from gateway.settings import Settings
from routing.deadlines import WorkCalendar
from routing.clock import Clock, ClockError
from routing.units import load_units
from gateway.store import Store, open_store
from nlu.kb_search import Analyzer
from nlu.kb_synonyms import SynonymFormatError, Synonyms
from nlu.triage import Triager

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
HUB = web.AppKey("hub", EventHub)
TRIAGER = web.AppKey("triager", Triager)
CLOCK = web.AppKey("clock", Clock)
MEDIA = web.AppKey("media", MediaStore)
HTTP = web.AppKey("http", aiohttp.ClientSession)
BOT = web.AppKey("bot", BotEngine)  # type: ignore[type-abstract]
OUTBOX = web.AppKey("outbox", OutboxDispatcher)
PIPELINE = web.AppKey("pipeline", Pipeline)
WEB = web.AppKey("web_channel", WebChannel)
HEALTH = web.AppKey("health", HealthApi)
KB = web.AppKey("kb", KbService)
PLANNER = web.AppKey("ticket_planner", TicketPlanner)
INTAKE = web.AppKey("ticket_intake", TicketIntake)
EMAIL = web.AppKey("email_channel", EmailChannel)
SMTP_PORT = web.AppKey("smtp_port", int)
WECHAT = web.AppKey("wechat_channel", WechatChannel)
IVR = web.AppKey("ivr_channel", IvrChannel)
TELEGRAM = web.AppKey("telegram_channel", TelegramChannel)
METRICS = web.AppKey("metrics", Metrics)


def _categories(settings: Settings) -> frozenset[str]:
    import csv
    with settings.path(settings.triage.taxonomy).open(encoding="utf-8") as fh:
        return frozenset(row["level1"] for row in csv.DictReader(fh))


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.server.max_request_bytes,
        middlewares=[make_error_middleware(settings.server.max_request_bytes)],
    )
    app[SETTINGS] = settings
    try:
        app[CLOCK] = settings.clock.clock()
    except ClockError as exc:
        raise ConfigError(f"[clock] {exc}") from exc
    if settings.clock.start_at:
        log.warning("the clock starts at %s (%s), not at the real time", settings.clock.start_at, settings.clock.timezone)
    app[HUB] = EventHub()
    app[METRICS] = Metrics()
    app[TRIAGER] = Triager.from_settings(settings)
    m = settings.media
    app[MEDIA] = MediaStore(settings.path(m.root), MediaLimits(m.max_image_bytes, m.max_video_bytes,
                                                               m.max_voice_bytes, m.max_file_bytes))
    token = settings.secrets.api_token.get_secret_value() if settings.secrets.api_token else None

    async def handle(msg: InboundMessage) -> list[Reply]:
        return await app[PIPELINE].handle(msg)

    async def history(channel: str, key: str) -> list[dict[str, Any]]:
        return [m.as_json() for m in await app[STORE].messages.history(channel, key)]

    async def attachment(attachment_id: int) -> Any:
        return await app[STORE].messages.attachment(attachment_id)

    a = settings.abuse
    app[WEB] = WebChannel(handle, app[MEDIA], history, attachment, app[HUB], settings.server.reply_wait_seconds,
                          WebLimits(a.messages_per_minute_per_session, a.new_sessions_per_hour_per_address,
                                    tuple(settings.server.trusted_proxies)), _screen(app), CONSOLE_TOPIC)
    app[HEALTH] = HealthApi()

    app.router.add_routes(app[WEB].routes())
    app[PLANNER] = TicketPlanner(load_units(settings.path(settings.routing.units), _categories(settings)),
                                 WorkCalendar.load(settings.path(settings.routing.holidays)),
                                 settings.routing.deadline_workdays, settings.routing.urgent_workdays, app[CLOCK])
    app[INTAKE] = TicketIntake(app[PLANNER], lambda: app[STORE].tickets)
    tickets_api = TicketsApi(lambda: app[STORE].tickets, app[TRIAGER], _categories(settings), token, app[INTAKE])
    app.router.add_routes(tickets_api.routes())
    unit_tokens = (json.loads(settings.secrets.unit_tokens.get_secret_value())
                   if settings.secrets.unit_tokens else {})
    unknown = set(unit_tokens) - set(app[PLANNER].units)
    if unknown:
        raise ConfigError(f"HOTLINE_UNIT_TOKENS names units not in {settings.routing.units}: {sorted(unknown)}")
    app.router.add_routes(UnitsApi(lambda: app[STORE].tickets, lambda: app[OUTBOX], parse_tokens(unit_tokens),
                                   app[PLANNER], settings.routing.return_window_workdays,
                                   settings.routing.max_returns, app[HUB]).routes())
    app.router.add_routes(TriageApi(app[TRIAGER], token).routes())
    app.router.add_routes(KbApi(lambda: app[KB], token, app[METRICS]).routes())

    async def store_gauges() -> tuple[dict[str, int], dict[str, int], int]:
        by_status, overdue = await app[STORE].tickets.status_counts()
        return await app[STORE].outbox.counts(), by_status, overdue

    app.router.add_routes(OpenApi().routes())
    app.router.add_routes(MetricsApi(lambda: app[METRICS], store_gauges, token).routes())
    app.router.add_routes(ConversationsApi(lambda: app[STORE].messages, app[HUB], token).routes())
    app.router.add_routes(app[HEALTH].routes())
    app.router.add_routes(ConsoleApi(lambda: app[STORE], lambda: app[BOT], lambda: app[OUTBOX], lambda: app[MEDIA],
                                     lambda: app[KB], lambda: tickets_api, app[HUB],
                                     secure_cookies=settings.server.secure_cookies,
                                     trusted_proxies=tuple(settings.server.trusted_proxies)).routes())
    if settings.wechat.enabled:
        app.router.add_routes([web.get("/channels/wechat/{app_id}", _late(WECHAT, lambda c: c.verify)),
                               web.post("/channels/wechat/{app_id}", _late(WECHAT, lambda c: c.receive))])
    if settings.telegram.enabled and settings.secrets.telegram_bot_token:
        app.router.add_routes([web.post("/channels/telegram/{path}", _late(TELEGRAM, lambda c: c.webhook))])
    if settings.ivr.enabled:
        app.router.add_routes([web.post("/channels/ivr/events", _late(IVR, lambda c: c.events)),
                               web.post("/channels/ivr/twiml", _late(IVR, lambda c: c.twiml))])

    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_kb_ctx)
    app.cleanup_ctx.append(_bot_ctx)
    app.cleanup_ctx.append(_pipeline_ctx)
    if settings.email.enabled:
        app.cleanup_ctx.append(_smtp_ctx)
    if settings.telegram.enabled and settings.secrets.telegram_bot_token:
        app.cleanup_ctx.append(_telegram_ctx)
    return app


def _screen(app: web.Application) -> Any:
    """Emergency lines for a text, nothing stored: for channels that must screen before the pipeline
    (phone partials, web senders over their limit)."""
    def screen(text: str) -> Any:
        found = app[TRIAGER].analyze(text).emergency
        return found.lines if found else None
    return screen


def _late(key: Any, pick: Any) -> Any:
    """Routes exist before the channel (it needs the store): resolve it per request."""
    async def handler(request: web.Request) -> web.StreamResponse:
        return await pick(request.app[key])(request)
    return handler


async def _telegram_ctx(app: web.Application) -> AsyncIterator[None]:
    """The Bot is created, checked (getMe) and registered with the outbox; closed on shutdown."""
    s, t = app[SETTINGS].secrets, app[SETTINGS].telegram
    assert s.telegram_bot_token is not None
    bot = Bot(s.telegram_bot_token.get_secret_value(), base_url=t.api_base, base_file_url=t.file_base)
    await bot.initialize()
    app[TELEGRAM] = TelegramChannel(
        lambda msg: app[PIPELINE].handle(msg), app[MEDIA], bot,
        s.telegram_webhook_path.get_secret_value() if s.telegram_webhook_path else "",
        s.telegram_secret_token.get_secret_value() if s.telegram_secret_token else "", t.max_media_bytes)
    app[OUTBOX].register(app[TELEGRAM])
    log.info("Telegram bot @%s ready", bot.username)
    yield
    await bot.shutdown()


async def _smtp_ctx(app: web.Application) -> AsyncIterator[None]:
    """The SMTP server on this event loop (not aiosmtpd's threaded Controller)."""
    e = app[SETTINGS].email
    tls = None
    if e.tls_cert and e.tls_key:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(app[SETTINGS].path(e.tls_cert), app[SETTINGS].path(e.tls_key))
    try:
        server = await start_smtp_server(app[EMAIL], e.host, e.port, tls)
    except OSError as exc:
        raise ConfigError(f"cannot listen for SMTP on {e.host}:{e.port}: {exc}") from exc
    port = app[SMTP_PORT] = server.sockets[0].getsockname()[1]
    log.info("SMTP server on %s:%d for %s", e.host, port, ", ".join(e.addresses))

    async def smtp_check() -> dict[str, Any]:
        return {"ok": server.is_serving(), "port": port}

    app[HEALTH].add("smtp", smtp_check, required=False)
    yield
    server.close()
    await server.wait_closed()


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    s = app[SETTINGS]
    app[STORE] = await open_store(s.database_url, auto_migrate=s.database.auto_migrate,
                                  pool_size=s.database.pool_size, echo=s.database.echo,
                                  connect_timeout=s.database.connect_timeout_seconds, clock=app[CLOCK])
    db = app[STORE].db
    log.info("store open: %s", db.url)

    async def db_check() -> dict[str, Any]:
        await db.ping(2)
        return {"ok": True, "backend": db.dialect}

    app[HEALTH].add("database", db_check, required=True)
    yield
    await db.dispose()


async def _kb_ctx(app: web.Application) -> AsyncIterator[None]:
    kb = app[SETTINGS].kb
    try:
        synonyms = Synonyms.load(app[SETTINGS].path(kb.synonyms))
    except (OSError, SynonymFormatError) as exc:
        raise ConfigError(f"[kb] synonyms: {exc}") from exc
    app[KB] = KbService(app[STORE].kb, Analyzer(app[TRIAGER].segmenter, synonyms), app[CLOCK], kb.thresholds,
                        app[STORE].kb_choices)
    await app[KB].refresh(force=True)
    refresher = asyncio.create_task(app[KB].run_refresher(), name="kb-refresher")
    yield
    refresher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await refresher


async def _bot_ctx(app: web.Application) -> AsyncIterator[None]:
    s = app[SETTINGS]
    app[HTTP] = aiohttp.ClientSession()
    rasa_token = s.secrets.rasa_token.get_secret_value() if s.secrets.rasa_token else None
    app[BOT] = (RasaBot(app[HTTP], s.bot.rasa_url, s.bot.timeout_seconds, rasa_token) if s.bot.enabled
                else DisabledBot())
    # The bot is not required: without it messages are still recorded and answered.
    app[HEALTH].add("bot", app[BOT].status, required=False)
    yield
    await app[HTTP].close()


async def _pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    adapters: dict[Channel, Any] = {app[WEB].channel: app[WEB]}

    async def handle(msg: InboundMessage) -> list[Reply]:
        return await app[PIPELINE].handle(msg)

    e = app[SETTINGS].email
    if e.enabled:
        async def ticket_thread(number: str, sender: str) -> str | None:
            return await store.tickets.conversation_key_for(number, Channel.EMAIL.value, sender)

        app[EMAIL] = EmailChannel(handle, app[MEDIA], EmailChannelSettings(
            addresses=frozenset(a.lower() for a in e.addresses), domain=e.domain,
            max_message_bytes=e.max_message_bytes, relay_host=e.relay_host, relay_port=e.relay_port,
            max_auto_replies_per_hour=e.max_auto_replies_per_hour,
            max_mails_per_sender_per_hour=e.max_mails_per_sender_per_hour),
            ticket_thread, store.messages.reply_context, dns_txt(e.dns_timeout_seconds, e.dns_server))
        adapters[Channel.EMAIL] = app[EMAIL]
    w = app[SETTINGS].wechat
    if w.enabled:
        async def token_get(app_id: str) -> Any:
            return await store.tokens.get("wechat", app_id)

        async def token_put(app_id: str, token: str, expires: Any) -> None:
            await store.tokens.put("wechat", app_id, token, expires)

        accounts = {a.app_id: WechatAccount(
            a.app_id, a.token.get_secret_value(),
            a.encoding_aes_key.get_secret_value() if a.encoding_aes_key else None,
            WechatApi(app[HTTP], w.api_base, a.app_id, a.app_secret.get_secret_value(), token_get, token_put))
            for a in w.accounts}
        app[WECHAT] = WechatChannel(handle, app[MEDIA], accounts, w.max_media_bytes, w.passive_wait_seconds)
        adapters[Channel.WECHAT] = app[WECHAT]
    i = app[SETTINGS].ivr
    if i.enabled:
        secrets = app[SETTINGS].secrets

        async def call_state(call_id: str) -> str | None:
            return await store.messages.state_of(Channel.IVR.value, f"call:{call_id}")

        app[IVR] = IvrChannel(handle, app[MEDIA], IvrChannelSettings(
            secret=secrets.ivr_secret.get_secret_value() if secrets.ivr_secret else None,
            twilio_auth_token=secrets.twilio_auth_token.get_secret_value() if secrets.twilio_auth_token else None,
            public_base_url=i.public_base_url or None, agent_seat=i.agent_seat,
            max_recording_bytes=i.max_recording_bytes,
            recordings=FetchPolicy(frozenset(i.recording_hosts), i.recording_require_https,
                                   i.recording_allow_private_addresses)), _screen(app), call_state, lambda: app[HTTP])
        adapters[Channel.IVR] = app[IVR]
    app[OUTBOX] = OutboxDispatcher(store.outbox, adapters, app[SETTINGS].outbox, app[METRICS])
    app[PIPELINE] = Pipeline(store, app[TRIAGER], app[BOT], app[OUTBOX], app[HUB], app[KB], app[INTAKE],
                             app[SETTINGS].abuse.messages_per_ten_minutes_per_contact,
                             app[SETTINGS].kb.choice_minutes, app[METRICS])

    async def outbox_check() -> dict[str, Any]:
        counts = await store.outbox.counts()
        return {"ok": True, "pending": counts.get("pending", 0), "failed": counts.get("failed", 0)}

    app[HEALTH].add("outbox", outbox_check, required=False)
    worker = asyncio.create_task(app[OUTBOX].run_forever(), name="outbox-worker")
    yield
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
