"""The handling units' API (Art. 15): each unit authenticates with its own token and works its tickets:
list, accept, return a wrongly dispatched ticket, record progress, submit the result (which the citizen
is told on the channel they used)."""

from __future__ import annotations

import logging

import hmac
from typing import Any, Callable

from aiohttp import web

from channels.base import Channel
from channels.http_body import json_object
from gateway.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from gateway.events import EventHub
from gateway.outbox import OutboxDispatcher
from gateway.events import CONSOLE_TOPIC
from gateway.store.tickets import TicketFilter, TicketRecord, TicketStore
from gateway.api.openapi import UnitActionIn, parse_body
from gateway.api.unit_view import ticket_for_unit
from routing.planner import TicketPlanner
from routing.lifecycle import RequestPending, TransitionRefused
from routing.returns import after_return, within_return_window
from routing.satisfaction import ASK
from routing.unit_roles import may

log = logging.getLogger(__name__)

RESULT_TEXT = "您反映的问题（工单号 {number}）已由{unit}办理答复：{text}\n\n" + ASK


class UnitActions:
    """A unit's lifecycle actions on its tickets, whoever asks: the unit's API token (UnitsApi) or a
    person of the unit logged in to the unit portal (gateway/unit_portal). One code path for both."""

    def __init__(self, tickets: Callable[[], TicketStore], outbox: Callable[[], OutboxDispatcher],
                 planner: TicketPlanner, return_window_workdays: int, max_returns: int, hub: EventHub) -> None:
        self._tickets = tickets
        self._hub = hub
        self._return_window = return_window_workdays
        self._max_returns = max_returns
        self.planner = planner
        self._outbox = outbox
        self.names = {u.id: u.name for u in planner.units.values()}

    async def act(self, unit: str, number: str, action: str, body: dict[str, Any], role: str = "head",
                  actor: str | None = None) -> TicketRecord:
        """Validate the body, check the role (routing.unit_roles), apply the transition, tell the
        citizen a result, and send a returned ticket back to dispatch. 404 when not this unit's."""
        if not may(role, action):
            raise Forbidden(f"role {role} may not {action}", code="head_only",
                            message_zh="延期和终止办理申请须由单位负责人提交。")
        missing_text = ("missing_text", "请填写说明。")
        bad_days = ("bad_days", "请填写延期天数（1至30个工作日）。")
        missing_material = ("missing_material", "终止办理需提供相关材料。")
        given = parse_body(UnitActionIn, body, {"text": missing_text, "reason": missing_text, "days": bad_days,
                                                "material": missing_material,
                                                "files": ("bad_files", "附件有误，请重新上传。")})
        text = given.text or given.reason
        if action != "accept" and not text:
            raise BadRequest(f"'{action}' needs a text (reason, progress or result)", code=missing_text[0],
                             message_zh=missing_text[1])
        data: dict[str, Any] = {"text": text} if text else {}
        if action == "extension":
            if given.days is None:
                raise BadRequest("an extension needs days (1-30)", code=bad_days[0], message_zh=bad_days[1])
            data["days"] = given.days
        if action == "termination":
            if not given.material and not given.files:
                raise BadRequest("termination needs the material (Art. 15(5)(6))", code=missing_material[0],
                                 message_zh=missing_material[1])
            if given.material:
                data["material"] = given.material
        if action == "return":
            await self._check_return_window(number, unit)
        outbox = self._outbox()
        notify = (RESULT_TEXT.format(number=number, unit=self.names.get(unit, unit), text=text.strip())
                  if action == "result" else None)
        try:
            done = await self._tickets().unit_step(number, unit, action, data, notify,
                                                   lambda channel: outbox.queues(Channel(channel)), actor,
                                                   tuple(given.files or ()))
        except RequestPending as exc:
            raise Conflict(str(exc), code="request_pending", message_zh=(
                "已有延期申请正在等待审批，请待审批后再申请。" if exc.request == "extension"
                else "已有终止办理申请正在等待审批，请待审批后再申请。")) from exc
        except TransitionRefused as exc:
            raise Conflict(str(exc), code="invalid_transition", message_zh="工单当前状态不允许该操作。") from exc
        except LookupError as exc:
            raise BadRequest(f"file {exc} is not an unused upload of this unit for this ticket",
                             code="bad_files", message_zh="附件有误，请重新上传。") from exc
        if done is None:
            raise NotFound("no such ticket for this unit", code="ticket_not_found", message_zh="没有找到该工单。")
        ticket, items = done
        await outbox.deliver_now(items)
        if action == "result":
            # The console's callback list (回访) grows; a channel that cannot carry the result needs a call.
            self._hub.publish(CONSOLE_TOPIC, {"type": "ticket_result", "ticket_number": number,
                                              "conversation_id": ticket.conversation_id})
        if action == "return":
            ticket = await self._redispatch(ticket)
        if action != "result":  # requests and returns wait for a supervisor: their screen refreshes
            self._hub.publish(CONSOLE_TOPIC, {"type": "ticket_changed", "ticket_number": number, "action": action})
        return ticket

    async def _check_return_window(self, number: str, unit: str) -> None:
        ticket = await self._tickets().get(number)
        if ticket is None or ticket.unit_id != unit:
            return  # the step refuses it with 404
        dispatched = [e for e in ticket.events if e.kind == "dispatched"]
        since = self.planner.clock.local_day(dispatched[-1].at) if dispatched else None
        if not within_return_window(since, self.planner.clock.today(), self._return_window,
                                    self.planner.add_workdays):
            raise Conflict("the return window has passed", code="return_window_passed",
                           message_zh=f"已超过{self._return_window}个工作日的退回时限，请按规定办理或申请协调。")

    async def _redispatch(self, ticket: Any) -> Any:
        """Back to dispatch: the next unit when it is clear and the returns are few, else a supervisor."""
        returned = [e.data.get("unit") for e in ticket.events if e.kind == "return" and e.data]
        decision = after_return(self.planner.dispatcher, returned, self._max_returns,
                                f"{ticket.location or ''} {ticket.description}", ticket.category, ticket.district,
                                ticket.utility)
        if decision.lead is None:
            reason = {"proposal": decision.proposal.as_json()} if decision.proposal else {"returns": decision.returns}
            await self._tickets().add_event(ticket.id, "system", "needs_supervisor", reason)
            return await self._tickets().get(ticket.number)
        assert decision.proposal is not None
        try:
            return await self._tickets().assign(ticket.number, decision.lead, self.planner.due_for(
                ticket.request_type, ticket.utility), "system", f"退回后重新派单：{decision.proposal.reason}") or ticket
        except TransitionRefused:
            # A supervisor assigned it between the return and this re-dispatch: theirs stands, the return too.
            log.info("ticket %s was assigned while it was being re-dispatched after a return", ticket.number)
            return await self._tickets().get(ticket.number) or ticket


class UnitsApi:
    def __init__(self, tickets: Callable[[], TicketStore], tokens: dict[str, str], actions: UnitActions) -> None:
        self._tickets = tickets
        self._tokens = tokens
        self._actions = actions

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/api/v1/unit/tickets", self.list),
                web.post("/api/v1/unit/tickets/{number}/{action:accept|return|progress|result|extension|termination}",
                         self.act)]

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
        return web.json_response({"unit": unit, "total": total,
                                  "items": [ticket_for_unit(t, unit, with_events=False) for t in items]})

    async def act(self, request: web.Request) -> web.Response:
        unit = self._unit(request)
        body = await json_object(request) if request.can_read_body else {}
        ticket = await self._actions.act(unit, request.match_info["number"], request.match_info["action"], body)
        return web.json_response(ticket_for_unit(ticket, unit))


def parse_tokens(raw: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (raw or {}).items()}

