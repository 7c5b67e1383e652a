"""Knowledge-base API: search (public: answers are public information), list, read, create and edit
(internal token; per-unit accounts come with the agent console)."""

from __future__ import annotations

import json
from typing import Any, Callable

from aiohttp import web

from channels.base import Channel
from channels.http_body import json_object
from gateway.api.auth import actor_of, require_token
from gateway.errors import BadRequest, NotFound
from gateway.kb_service import KbService
from gateway.metrics import Metrics
from nlu.kb import KbFormatError, entry_from_mapping

MAX_QUERY = 500
CHANNELS = frozenset(c.value for c in Channel)


class KbApi:
    def __init__(self, service: Callable[[], KbService], token: str | None, metrics: Metrics | None = None) -> None:
        self._service = service  # a getter: routes exist before the store is opened
        self._token = token
        self._metrics = metrics

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/api/v1/kb/search", self.search),
            web.get("/api/v1/kb/entries", self.list),
            web.post("/api/v1/kb/entries", self.create),
            web.get("/api/v1/kb/entries/{key}", self.get),
            web.put("/api/v1/kb/entries/{key}", self.update),
            web.get("/api/v1/kb/choices", self.choices),
        ]

    async def search(self, request: web.Request) -> web.Response:
        q = request.query.get("q", "").strip()
        if not q:
            raise BadRequest("q is required", code="missing_query", message_zh="请输入要查询的问题。")
        if len(q) > MAX_QUERY:
            raise BadRequest("q too long", code="query_too_long")
        try:
            k = int(request.query.get("k", "5"))
        except ValueError as exc:
            raise BadRequest("k must be an integer", code="bad_k") from exc
        if not 1 <= k <= 20:
            raise BadRequest("k must be between 1 and 20", code="bad_k")
        channel = request.query.get("channel", "web")
        if channel not in CHANNELS:
            raise BadRequest("unknown channel", code="bad_channel")
        hits, reply = self._service().search_and_reply(q, k, channel)
        results = [{"id": e.key, "question": e.question, "answer": e.answer, "score": round(h.score, 3),
                    "confidence": round(h.confidence, 3), "matched_question": h.matched_question,
                    "department": e.department, "category": e.category} for e, h in hits]
        # `reply`: what to say — answer, ask which (「您是想问」), or no match, worded for the channel.
        if self._metrics is not None:
            self._metrics.kb_outcomes.labels(reply.outcome).inc()
        decision = {"outcome": reply.outcome, "text": reply.text, "buttons": list(reply.buttons),
                    "entries": [e.key for e in reply.entries]}
        return web.json_response({"results": results, "decision": decision, "matched": reply.outcome == "answer"},
                                 dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def choices(self, request: web.Request) -> web.Response:
        """Citizens' picks after 「您是想问」 with their questions: labelled data for the next calibration."""
        require_token(request, self._token)
        store = self._service().choices
        items = await store.labelled() if store is not None else []
        return web.json_response({"items": items, "total": len(items)},
                                 dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def list(self, request: web.Request) -> web.Response:
        require_token(request, self._token)
        status = request.query.get("status")
        entries = await self._service().entries(status)
        return web.json_response({"items": [e.as_json() for e in entries], "total": len(entries)})

    async def get(self, request: web.Request) -> web.Response:
        require_token(request, self._token)
        key = request.match_info["key"]
        entry = await self._service().get(key)
        if entry is None:
            raise NotFound("no such entry", code="kb_entry_not_found", message_zh="没有找到该知识条目。")
        history = await self._service().history(key)
        return web.json_response({**entry.as_json(), "versions": history})

    async def create(self, request: web.Request) -> web.Response:
        require_token(request, self._token)
        body = await json_object(request)
        entry = _entry(body)
        [result] = await self._service().save([entry], author=actor_of(request))
        if not result.created:
            raise BadRequest("an entry with this id exists; use PUT to edit it", code="kb_entry_exists")
        return web.json_response(result.entry.as_json(), status=201)

    async def update(self, request: web.Request) -> web.Response:
        require_token(request, self._token)
        key = request.match_info["key"]
        if await self._service().get(key) is None:
            raise NotFound("no such entry", code="kb_entry_not_found", message_zh="没有找到该知识条目。")
        body = await json_object(request)
        entry = _entry({**body, "id": key})
        [result] = await self._service().save([entry], author=actor_of(request))
        return web.json_response({**result.entry.as_json(), "changed": result.changed})


def _entry(body: dict[str, Any]) -> Any:
    try:
        return entry_from_mapping(body)
    except KbFormatError as exc:
        raise BadRequest(str(exc), code="bad_kb_entry", message_zh="知识条目格式有误。") from exc
