"""The handling units' API (Art. 15): each unit authenticates with its own token and works its tickets:
list, accept, return a wrongly dispatched ticket, record progress, submit the result (which the citizen
is told on the channel they used)."""

from __future__ import annotations

import hmac
from typing import Any, Callable

from aiohttp import web

from channels.base import Channel
from channels.http_body import json_object
from gateway.errors import BadRequest, Conflict, NotFound, Unauthorized
from gateway.outbox import OutboxDispatcher
from gateway.store.tickets import TicketFilter, TicketStore
from routing.lifecycle import TransitionRefused
from routing.satisfaction import ASK

RESULT_TEXT = "您反映的问题（工单号 {number}）已由{unit}办理答复：{text}\n\n" + ASK
MAX_TEXT = 4000


class UnitsApi:
    def __init__(self, tickets: Callable[[], TicketStore], outbox: Callable[[], OutboxDispatcher],
                 tokens: dict[str, str], unit_names: dict[str, str]) -> None:
        self._tickets = tickets
        self._outbox = outbox
        self._tokens = tokens
        self._names = unit_names

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/api/v1/unit/tickets", self.list),
                web.post("/api/v1/unit/tickets/{number}/{action:accept|return|progress|result}", self.act)]

    def _unit(self, request: web.Request) -> str:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            for unit_id, token in self._tokens.items():
                if hmac.compare_digest(given.strip().encode(), token.encode()):
                    return unit_id
        raise Unauthorized("unknown unit token", code="bad_unit_token")

    async def list(self, request: web.Request) -> web.Response:
        unit = self._unit(request)
        items, total = await self._tickets().list(TicketFilter(status=request.query.get("status"), unit_id=unit),
                                                  limit=200)
        return web.json_response({"unit": unit, "total": total, "items": [t.as_json(with_events=False) for t in items]})

    async def act(self, request: web.Request) -> web.Response:
        unit = self._unit(request)
        action, number = request.match_info["action"], request.match_info["number"]
        body = await json_object(request) if request.can_read_body else {}
        text = body.get("text") or body.get("reason")
        if action in ("return", "progress", "result") and (not isinstance(text, str) or not text.strip()
                                                          or len(text) > MAX_TEXT):
            raise BadRequest(f"'{action}' needs a text (reason, progress or result)", code="missing_text",
                             message_zh="请填写说明。")
        outbox = self._outbox()
        notify = (RESULT_TEXT.format(number=number, unit=self._names.get(unit, unit), text=text.strip())
                  if action == "result" else None)
        try:
            done = await self._tickets().unit_step(number, unit, action, {"text": text} if text else {}, notify,
                                                   lambda channel: outbox.queues(Channel(channel)))
        except TransitionRefused as exc:
            raise Conflict(str(exc), code="invalid_transition", message_zh="工单当前状态不允许该操作。") from exc
        if done is None:
            raise NotFound("no such ticket for this unit", code="ticket_not_found", message_zh="没有找到该工单。")
        ticket, items = done
        await outbox.deliver_now(items)
        return web.json_response(ticket.as_json())


def parse_tokens(raw: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (raw or {}).items()}
