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
from datetime import timedelta
from typing import Any, AsyncIterator, Sequence

import aiohttp
from aiohttp import web

from bot.engine import BotEngine, DisabledBot, RasaBot
from channels.base import InboundMessage, Reply
from channels.media import MediaLimits, MediaStore
from channels.registry import ChannelConfigError, ChannelPlugin, ChannelServices, default_plugins
from gateway.api.conversations import ConversationsApi
from gateway.console.api import ConsoleApi
from gateway.console.supervisor_api import SupervisorApi
from gateway.console.analysis_api import AnalysisApi
from gateway.analysis import AnalysisService
from gateway.api.health import HealthApi
from gateway.api.middleware import make_error_middleware
from gateway.api.tickets import TicketsApi
from gateway.api.kb import KbApi
from gateway.api.triage import TriageApi
from gateway.api.units import UnitActions, UnitsApi, parse_tokens
from gateway.unit_portal.api import UnitPortalApi
from gateway.events import EventHub
from gateway.cluster import CLUSTER_TOPIC, Cluster, follow, instance_name
from gateway.kb_service import KbService
from gateway.media_reading import MediaReader
from gateway.api.openapi import OpenApi
from gateway.metrics import Metrics, MetricsApi
from routing.intake import TicketIntake
from routing.units import load_units
from routing.planner import TicketPlanner
from gateway.outbox import OutboxDispatcher
from gateway.events import CONSOLE_TOPIC
from gateway.pipeline import Pipeline
from gateway.errors import ConfigError
from gateway.settings import Settings
from routing.deadlines import WorkCalendar
from routing.dispatch import DispatcherSource
from routing.clock import Clock, ClockError
from gateway.store import Store, open_store
from nlu.kb_search import Analyzer
from nlu.kb_synonyms import SynonymFormatError, Synonyms
from gateway.triage_worker import TriageWorker
from nlu.triage import Triager

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
HUB = web.AppKey("hub", EventHub)
TRIAGER = web.AppKey("triager", Triager)
TRIAGE_WORKER = web.AppKey("triage_worker", TriageWorker)
DISPATCHER_SOURCE = web.AppKey("dispatcher_source", DispatcherSource)  # what the triage worker dispatches with
CLOCK = web.AppKey("clock", Clock)
MEDIA = web.AppKey("media", MediaStore)
HTTP = web.AppKey("http", aiohttp.ClientSession)
BOT = web.AppKey("bot", BotEngine)  # type: ignore[type-abstract]
OUTBOX = web.AppKey("outbox", OutboxDispatcher)
PIPELINE = web.AppKey("pipeline", Pipeline)
HEALTH = web.AppKey("health", HealthApi)
KB = web.AppKey("kb", KbService)
PLANNER = web.AppKey("ticket_planner", TicketPlanner)
INTAKE = web.AppKey("ticket_intake", TicketIntake)
# The channels the settings turn on, and their started adapters.
PLUGINS = web.AppKey("channel_plugins", list)
CHANNELS = web.AppKey("channels", dict)
METRICS = web.AppKey("metrics", Metrics)
READER = web.AppKey("media_reader", MediaReader)
# Set only with [cluster] redis_url: the Redis hub and shared abuse windows of this replica.
CLUSTER = web.AppKey("cluster", Cluster)
ANALYSIS = web.AppKey("analysis", AnalysisService)


def _categories(settings: Settings) -> frozenset[str]:
    import csv
    with settings.path(settings.triage.taxonomy).open(encoding="utf-8") as fh:
        return frozenset(row["level1"] for row in csv.DictReader(fh))


def _dispatcher_source(settings: Settings) -> DispatcherSource:
    r = settings.routing
    return DispatcherSource(load_units(settings.path(r.units), _categories(settings)),
                            settings.path(r.dispatch_model), r.auto_dispatch_confidence)


def create_app(settings: Settings, channels: Sequence[ChannelPlugin] | None = None) -> web.Application:
    """`channels`: the channel plugins to build from (default: channels.registry.default_plugins())."""
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
    if settings.cluster.redis_url:
        if settings.database_url.startswith("sqlite"):
            raise ConfigError("[cluster] redis_url is set but the database is SQLite: replicas share one "
                              "PostgreSQL ([database] url = postgresql://...)")
        app[CLUSTER] = Cluster(settings.cluster.redis_url, instance_name(settings.cluster.instance),
                               settings.cluster.namespace)
        app[HUB] = app[CLUSTER].hub
    else:
        app[HUB] = EventHub()
    app[METRICS] = Metrics()
    app[TRIAGER] = Triager.from_settings(settings)
    m = settings.media
    app[MEDIA] = MediaStore(settings.path(m.root), MediaLimits(m.max_image_bytes, m.max_video_bytes,
                                                               m.max_voice_bytes, m.max_file_bytes))
    token = settings.secrets.api_token.get_secret_value() if settings.secrets.api_token else None

    app[HEALTH] = HealthApi()
    # Channels: each plugin's routes now, its adapter when the store is open (_channels_ctx).
    app[PLUGINS] = [p for p in (default_plugins() if channels is None else list(channels)) if p.enabled(settings)]
    app[CHANNELS] = {}
    for plugin in app[PLUGINS]:
        app.router.add_routes(plugin.routes(lambda ch=plugin.channel: app[CHANNELS][ch]))
    app[DISPATCHER_SOURCE] = _dispatcher_source(settings)
    dispatcher = app[DISPATCHER_SOURCE].load(app[TRIAGER].gazetteer)
    app[PLANNER] = TicketPlanner(dispatcher,
                                 WorkCalendar.load(settings.path(settings.routing.holidays)),
                                 settings.routing.deadline_workdays, settings.routing.urgent_workdays, app[CLOCK])
    app[INTAKE] = TicketIntake(app[PLANNER], lambda: app[STORE].tickets)

    async def calendar_check(planner: TicketPlanner = app[PLANNER]) -> dict[str, Any]:
        return planner.calendar.coverage(planner.clock.today()).as_json()
    app[HEALTH].add("calendar", calendar_check, required=False)
    tickets_api = TicketsApi(lambda: app[STORE].tickets, app[TRIAGER], _categories(settings), token, app[INTAKE],
                             _windows(app), tuple(settings.server.trusted_proxies))
    app.router.add_routes(tickets_api.routes())
    unit_tokens = (json.loads(settings.secrets.unit_tokens.get_secret_value())
                   if settings.secrets.unit_tokens else {})
    unknown = set(unit_tokens) - set(app[PLANNER].units)
    if unknown:
        raise ConfigError(f"HOTLINE_UNIT_TOKENS names units not in {settings.routing.units}: {sorted(unknown)}")
    unit_actions = UnitActions(lambda: app[STORE].tickets, lambda: app[OUTBOX], app[PLANNER],
                               settings.routing.return_window_workdays, settings.routing.max_returns, app[HUB])
    app.router.add_routes(UnitsApi(lambda: app[STORE].tickets, parse_tokens(unit_tokens), unit_actions).routes())
    app.router.add_routes(UnitPortalApi(lambda: app[STORE], lambda: app[MEDIA], lambda: app[KB], unit_actions,
                                        secure_cookies=settings.server.secure_cookies,
                                        trusted_proxies=tuple(settings.server.trusted_proxies)).routes())
    app.router.add_routes(TriageApi(app[TRIAGER], token).routes())
    app.router.add_routes(KbApi(lambda: app[KB], token, app[METRICS]).routes())

    async def store_gauges() -> tuple[dict[str, int], dict[str, int], int]:
        by_status, overdue = await app[STORE].tickets.status_counts()
        return await app[STORE].outbox.counts(), by_status, overdue

    app.router.add_routes(OpenApi().routes())
    app.router.add_routes(MetricsApi(lambda: app[METRICS], store_gauges, token).routes())
    app.router.add_routes(ConversationsApi(lambda: app[STORE].messages, app[HUB], token).routes())
    app.router.add_routes(app[HEALTH].routes())
    console = ConsoleApi(lambda: app[STORE], lambda: app[BOT], lambda: app[OUTBOX], lambda: app[MEDIA],
                         lambda: app[KB], lambda: tickets_api, app[HUB],
                         secure_cookies=settings.server.secure_cookies,
                         trusted_proxies=tuple(settings.server.trusted_proxies),
                         session_recheck_seconds=settings.server.console_session_recheck_seconds,
                         presence=app[CLUSTER].presence if CLUSTER in app else None)
    app.router.add_routes(console.routes())
    app.router.add_routes(SupervisorApi(lambda: app[STORE], app[PLANNER], console.supervisor).routes())
    if CLUSTER in app:
        app.cleanup_ctx.append(_cluster_ctx)
    app[ANALYSIS] = AnalysisService(lambda: app[STORE], settings.analysis, app[CLOCK], app[PLANNER].add_workdays,
                                    app[PLANNER].units, app[TRIAGER].segmenter.cut, app[HUB])
    app.router.add_routes(AnalysisApi(lambda: app[ANALYSIS], console.supervisor).routes())
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_kb_ctx)
    app.cleanup_ctx.append(_bot_ctx)
    app.cleanup_ctx.append(_reading_ctx)
    app.cleanup_ctx.append(_triage_worker_ctx)
    app.cleanup_ctx.append(_pipeline_ctx)
    app.cleanup_ctx.append(_reading_sweep_ctx)
    app.cleanup_ctx.append(_analysis_ctx)
    return app


def _reading_wait(settings: Settings) -> Any:
    waits, default = settings.media_reading.wait_seconds, settings.media_reading.default_wait_seconds

    def wait(channel: str) -> float:
        return float(waits.get(channel, default))
    return wait


def _screen(app: web.Application) -> Any:
    """Emergency lines for a text, nothing stored: for channels that must screen before the pipeline
    (phone partials, web senders over their limit)."""
    def screen(text: str) -> Any:
        found = app[TRIAGER].analyze(text).emergency
        return found.lines if found else None
    return screen


async def _cluster_ctx(app: web.Application) -> AsyncIterator[None]:
    """First: a replica that cannot reach Redis must not start and serve alone."""
    cluster = app[CLUSTER]
    await cluster.start()
    app[HEALTH].add("cluster", cluster.health, required=False)
    yield
    await cluster.close()


def _windows(app: web.Application) -> Any:
    """The abuse counters: every replica's through Redis, or this process's."""
    from channels.rate_limit import local_windows
    return app[CLUSTER].windows if CLUSTER in app else local_windows


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
    hub = app[HUB]
    app[KB] = KbService(app[STORE].kb, Analyzer(app[TRIAGER].segmenter, synonyms), app[CLOCK], kb.thresholds,
                        app[STORE].kb_choices,
                        notify=lambda: hub.publish(CLUSTER_TOPIC, {"type": "kb_changed"}))
    await app[KB].refresh(force=True)
    tasks = [asyncio.create_task(app[KB].run_refresher(), name="kb-refresher")]
    if CLUSTER in app:
        # In-memory state other replicas change: the KB index (rebuilt only when the newest edit differs
        # from what this one has seen) and the blocked contacts (the console's block event).
        tasks.append(asyncio.create_task(follow(hub, CLUSTER_TOPIC, {"kb_changed": app[KB].refresh}),
                                         name="cluster-kb"))
        tasks.append(asyncio.create_task(follow(hub, CONSOLE_TOPIC, {"contact_block": app[STORE].contacts.load}),
                                         name="cluster-blocks"))
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


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


async def _triage_worker_ctx(app: web.Application) -> AsyncIterator[None]:
    """A process that triages short texts beside the event loop (`[triage] worker`); the pipeline
    triages in this process whenever it is not there."""
    s = app[SETTINGS]
    t = s.triage
    if not t.worker:
        yield
        return
    worker = TriageWorker(app[TRIAGER], (s.path(t.gazetteer), s.path(t.taxonomy), s.path(t.model)),
                          app[DISPATCHER_SOURCE])
    await worker.start()
    app[TRIAGE_WORKER] = worker

    async def health() -> dict[str, Any]:
        # Not required: without it the gateway triages every text itself, only slower.
        return {"ok": worker.alive, "pid": worker.pid, "triaged_here": worker.fallbacks}

    app[HEALTH].add("triage_worker", health, required=False)
    yield
    await worker.stop()


async def _reading_ctx(app: web.Application) -> AsyncIterator[None]:
    """Worker processes that read citizens' images and videos; off with `[media_reading] enabled = false`."""
    s = app[SETTINGS].media_reading
    if not s.enabled:
        yield
        return
    from channels.reading.pool import ReadingPool
    from channels.reading.reader import ReadingLimits
    from nlu.positions import BoundaryFileError, DistrictMap

    try:
        districts = DistrictMap.load(app[SETTINGS].path(s.districts))
    except BoundaryFileError as exc:
        raise ConfigError(f"[media_reading] districts: {exc}") from exc
    pool = ReadingPool(s.workers, ReadingLimits(max_pixels=s.max_pixels, video_frames=s.video_frames),
                       s.seconds_per_file, s.memory_bytes_per_worker)
    app[READER] = MediaReader(app[STORE].readings, app[MEDIA], pool, districts,
                              timedelta(seconds=s.sweep_after_seconds))
    warming = asyncio.create_task(pool.warm_up(), name="media-reading-warm-up") if s.warm_up else None
    yield
    if warming is not None:
        warming.cancel()
    await app[READER].close()


async def _reading_sweep_ctx(app: web.Application) -> AsyncIterator[None]:
    """Readings a restart left pending are read once the pipeline can follow them up."""
    if READER not in app:
        yield
        return
    sweeper = asyncio.create_task(app[READER].run_forever(), name="media-reading-sweep")
    yield
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper


async def _pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]

    async def handle(msg: InboundMessage) -> list[Reply]:
        return await app[PIPELINE].handle(msg)

    async def history(channel: str, key: str) -> list[dict[str, Any]]:
        """The citizen's own history: without what was read from their photos (its position above all)."""
        shown = [m.as_json() for m in await store.messages.history(channel, key)]
        for m in shown:
            for a in m.get("attachments") or ():
                a.pop("reading", None)
        return shown

    async def ticket_thread(number: str, channel: str, sender: str) -> str | None:
        return await store.tickets.conversation_key_for(number, channel, sender)

    services = ChannelServices(
        handle=handle, media=app[MEDIA], settings=app[SETTINGS], http=lambda: app[HTTP], screen=_screen(app),
        events=app[HUB], agents_topic=CONSOLE_TOPIC, history=history, attachment=store.messages.attachment,
        conversation_state=store.messages.state_of, ticket_thread=ticket_thread,
        reply_context=store.messages.reply_context, token_get=store.tokens.get, token_put=store.tokens.put,
        add_health=app[HEALTH].add, windows=_windows(app))
    capabilities = {p.channel: p.capabilities for p in app[PLUGINS]}
    app[OUTBOX] = OutboxDispatcher(store.outbox, {}, capabilities, app[SETTINGS].outbox, app[METRICS])
    app[PIPELINE] = Pipeline(store, app[TRIAGER], app[BOT], app[OUTBOX], app[HUB], app[KB], app[INTAKE],
                             app[SETTINGS].abuse.messages_per_ten_minutes_per_contact,
                             app[SETTINGS].kb.choice_minutes, app[METRICS],
                             frozenset(ch for ch, c in capabilities.items() if c.conversational),
                             app.get(READER), _reading_wait(app[SETTINGS]),
                             _windows(app), app[CLUSTER].turns if CLUSTER in app else None,
                             triage_worker=app.get(TRIAGE_WORKER))
    # Channels start last: a mail or webhook arriving the moment a channel listens finds the pipeline.
    started: list[tuple[ChannelPlugin, Any]] = []
    for plugin in app[PLUGINS]:
        try:
            adapter = await plugin.start(services)
        except ChannelConfigError as exc:
            for done, done_adapter in reversed(started):
                await done.stop(done_adapter)
            raise ConfigError(f"channel {plugin.channel.value}: {exc}") from exc
        started.append((plugin, adapter))
        app[CHANNELS][plugin.channel] = adapter
        app[OUTBOX].register(adapter)

    async def outbox_check() -> dict[str, Any]:
        counts = await store.outbox.counts()
        return {"ok": True, "pending": counts.get("pending", 0), "failed": counts.get("failed", 0)}

    app[HEALTH].add("outbox", outbox_check, required=False)
    worker = asyncio.create_task(app[OUTBOX].run_forever(), name="outbox-worker")
    yield
    await app[OUTBOX].stop(worker)
    for plugin, adapter in reversed(started):
        await plugin.stop(adapter)


async def _analysis_ctx(app: web.Application) -> AsyncIterator[None]:
    """Facts, warnings, hot topics and the daily summary in the background (Art. 22-25)."""
    if not app[SETTINGS].analysis.enabled:
        yield
        return
    task = asyncio.create_task(app[ANALYSIS].run_forever(), name="analysis")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
