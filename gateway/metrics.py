"""Prometheus metrics at `/metrics`: what the hotline's operators watch (issue 15).

One registry per application, not prometheus-client's process-wide default: tests run many apps in
one process, and a second gateway in the same process must not double-count. Counters are bumped
where things happen (pipeline, outbox, KB API); the store's gauges (outbox backlog, tickets by
status, overdue tickets) are read when Prometheus scrapes, so they are never stale and cost nothing
in between. Scraping needs the API token: message volumes per channel are not public.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.api.auth import require_token

# Bot turns: Rasa answers in ~0.1 s; the phone's target is 2 s.
BOT_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages = Counter("hotline_messages", "Messages stored, by channel and direction (in: from citizens, "
                                "duplicates not counted; out: delivered by the outbox)", ["channel", "direction"],
                                registry=r)
        self.triage = Counter("hotline_triage_outcomes", "Triage of citizens' texts: disposition and request type",
                              ["disposition", "request_type"], registry=r)
        self.emergencies = Counter("hotline_emergencies", "Emergency referrals, by line (110/119/120/122)",
                                   ["line"], registry=r)
        self.bot_turn = Histogram("hotline_bot_turn_seconds", "Time the bot took to answer a turn",
                                  buckets=BOT_BUCKETS, registry=r)
        self.bot_unavailable = Counter("hotline_bot_unavailable", "Turns answered without the bot (it was down "
                                       "or slow)", registry=r)
        self.kb_outcomes = Counter("hotline_kb_outcomes", "Knowledge-base replies: answer, choose (「您是想问」), none",
                                   ["outcome"], registry=r)
        self.delivery_failures = Counter("hotline_outbox_delivery_failures", "Failed delivery attempts, by channel; "
                                         "permanent = given up", ["channel", "permanent"], registry=r)
        self.outbox = Gauge("hotline_outbox_items", "Outbox items by status (pending = backlog, failed = given up)",
                            ["status"], registry=r)
        self.tickets = Gauge("hotline_tickets", "Tickets by status", ["status"], registry=r)
        self.overdue = Gauge("hotline_tickets_overdue", "Unfinished tickets past their due date", registry=r)


StoreGauges = Callable[[], Awaitable[tuple[dict[str, int], dict[str, int], int]]]


class MetricsApi:
    """`/metrics` in Prometheus' text format; `read_store` gives outbox counts, ticket counts, overdue."""

    def __init__(self, metrics: Callable[[], Metrics], read_store: StoreGauges, token: str | None) -> None:
        self._metrics = metrics
        self._read_store = read_store
        self._token = token

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/metrics", self.scrape)]

    async def scrape(self, request: web.Request) -> web.Response:
        require_token(request, self._token)
        m = self._metrics()
        outbox, tickets, overdue = await self._read_store()
        for status in ("pending", "sent", "failed"):
            m.outbox.labels(status).set(outbox.get(status, 0))
        for status, n in tickets.items():
            m.tickets.labels(status).set(n)
        m.overdue.set(overdue)
        body = generate_latest(m.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
