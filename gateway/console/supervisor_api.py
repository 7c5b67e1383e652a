"""The supervisor's screen (值班长/督办台, Art. 14-16, 19, 32) at `/console/supervisor` and what it reads.

Everything here is for supervisors only (403 for other agents, 401 without a session). The screen's
decisions — assign, approve or reject a request, re-handle or close, supervision notes, block and
unblock — are the console's existing endpoints (`gateway.console.api`), which apply the lifecycle;
this module adds the lists a supervisor decides from.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import web

from gateway.console.citizens import citizen_label
from gateway.errors import NotFound
from gateway.store import Store
from gateway.store.agents import Agent
from gateway.store.supervision import SupervisionQueries
from gateway.store.tickets import TicketEvent, TicketRecord
from routing.planner import TicketPlanner
from routing.supervision import board, colour

STATIC = Path(__file__).resolve().parent / "static"
DRILLS = ("red", "yellow", "open", "returns", "dissatisfied")
CSP = "default-src 'self'; img-src 'self' data:"


class SupervisorApi:
    def __init__(self, store: Callable[[], Store], planner: TicketPlanner,
                 supervisor: Callable[[web.Request, bool], Awaitable[Agent]]) -> None:
        self._store = store
        self._planner = planner
        self._supervisor = supervisor  # ConsoleApi.supervisor: the session, CSRF and role check

    def routes(self) -> list[web.AbstractRouteDef]:
        base = "/console/api/supervisor"
        return [
            web.get("/console/supervisor", self.page),
            web.get(f"{base}/units", self.units),
            web.get(f"{base}/queue", self.queue),
            web.get(f"{base}/board", self.board),
            web.get(f"{base}/board/{{unit:[a-z][a-z0-9_]{{0,31}}}}/{{kind:{'|'.join(DRILLS)}}}", self.drill),
            web.get(f"{base}/requests", self.requests),
            web.get(f"{base}/rehandling", self.rehandling),
            web.get(f"{base}/tickets/{{number:[0-9]{{8}}-[0-9]{{6,9}}}}", self.ticket),
            web.get(f"{base}/blocked", self.blocked),
            web.get(f"{base}/conversations/{{id:\\d{{1,18}}}}/contact", self.conversation_contact),
        ]

    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "supervisor.html", headers={
            "Cache-Control": "no-cache", "X-Frame-Options": "DENY", "Content-Security-Policy": CSP})

    def _q(self) -> SupervisionQueries:
        store = self._store()  # opened after the routes are built
        return SupervisionQueries(store.db, store.clock)

    def _days(self) -> tuple[dt.date, dt.date]:
        today = self._planner.clock.today()
        return today, self._planner.add_workdays(today, 1)

    def _unit_name(self, unit: str | None) -> str | None:
        found = self._planner.units.get(unit or "")
        return found.name if found else unit

    def _ticket(self, t: TicketRecord, today: dt.date, next_workday: dt.date) -> dict[str, Any]:
        """A ticket as the screen's lists show it: no trail, the unit's name and the supervision colour."""
        return {**t.as_json(with_events=False), "unit_name": self._unit_name(t.unit_id),
                "colour": colour(t.due_date, today, next_workday) if t.status in ("dispatched", "in_progress")
                else None}

    def _proposal(self, data: dict[str, Any] | None) -> dict[str, Any] | None:
        if not data:
            return None
        lead = data.get("lead")
        cooperating = [u for u in data.get("cooperating") or [] if isinstance(u, str)]
        return {"lead": lead, "lead_name": self._unit_name(lead) if lead else None,
                "cooperating": [{"id": u, "name": self._unit_name(u)} for u in cooperating],
                "confidence": data.get("confidence"), "reason": data.get("reason") or ""}

    async def units(self, request: web.Request) -> web.Response:
        """The catalogue (config/units.yaml), for choosing a lead and cooperating units."""
        await self._supervisor(request, False)
        return web.json_response({"units": [{"id": u.id, "name": u.name, "kind": u.kind}
                                            for u in self._planner.units.values()]})

    async def queue(self, request: web.Request) -> web.Response:
        """Art. 14(3): tickets waiting for a supervisor to name the lead unit, with the latest proposal."""
        await self._supervisor(request, False)
        today, next_workday = self._days()
        items = []
        for ticket, events in await self._q().manual_queue():
            proposal = None
            for e in events:  # the newest proposal counts: after returns, it leaves the returning units out
                if e.kind == "dispatch_proposed":
                    proposal = self._proposal(e.data)
                elif e.kind == "needs_supervisor" and e.data and e.data.get("proposal"):
                    proposal = self._proposal(e.data["proposal"])
            returns = [{"unit": (e.data or {}).get("unit"), "unit_name": self._unit_name((e.data or {}).get("unit")),
                        "reason": (e.data or {}).get("text") or "", "at": e.at.isoformat()}
                       for e in events if e.kind == "return"]
            items.append({**self._ticket(ticket, today, next_workday), "proposal": proposal, "returns": returns})
        return web.json_response({"items": items})

    async def board(self, request: web.Request) -> web.Response:
        """Art. 19: per unit, red (overdue), yellow (due by the next working day), handling, returns and
        dissatisfied ratings."""
        await self._supervisor(request, False)
        today, next_workday = self._days()
        rows = board(await self._store().tickets.supervision(), self._planner.units, today, next_workday)
        return web.json_response({"today": today.isoformat(), "next_workday": next_workday.isoformat(),
                                  "calendar": self._planner.calendar.coverage(today).as_json(), "units": [
            {**r, "open": r["handling"]} for r in rows]})

    async def drill(self, request: web.Request) -> web.Response:
        """The tickets behind one count of the board."""
        await self._supervisor(request, False)
        unit, kind = request.match_info["unit"], request.match_info["kind"]
        if unit not in self._planner.units:
            raise NotFound("no such unit", code="unit_not_found", message_zh="没有该承办单位。")
        today, next_workday = self._days()
        q = self._q()
        items: list[dict[str, Any]]
        if kind in ("red", "yellow", "open"):
            items = [self._ticket(t, today, next_workday) for t in await q.handling(unit)]
            if kind != "open":
                items = [i for i in items if i["colour"] == kind]
        elif kind == "returns":
            items = [{**self._ticket(t, today, next_workday), "times": n} for t, n in await q.returned_by(unit)]
        else:
            items = [{**self._ticket(t, today, next_workday), "times": n} for t, n in await q.rated_dissatisfied(unit)]
        return web.json_response({"unit": unit, "unit_name": self._unit_name(unit), "kind": kind, "items": items})

    async def requests(self, request: web.Request) -> web.Response:
        """Art. 15(4)-(6): a unit's extension and termination requests waiting for a decision."""
        await self._supervisor(request, False)
        today, next_workday = self._days()
        items = []
        for ticket, kind, asked in await self._q().pending_requests():
            data = asked.data or {}
            items.append({**self._ticket(ticket, today, next_workday), "request": kind, "request_id": asked.id,
                          "asked_at": asked.at.isoformat(),
                          "asked_by": asked.actor, "text": data.get("text") or "", "days": data.get("days"),
                          "material": data.get("material") or ""})
        return web.json_response({"items": items})

    async def rehandling(self, request: web.Request) -> web.Response:
        """Art. 16: results the citizen rated dissatisfied: re-handle with a new deadline, or close."""
        await self._supervisor(request, False)
        today, next_workday = self._days()
        items = []
        for ticket, rating, result in await self._q().awaiting_rehandling():
            data = rating.data or {}
            items.append({**self._ticket(ticket, today, next_workday), "rated_at": rating.at.isoformat(),
                          "rated_by": rating.actor, "solved": data.get("solved"), "rating_note": data.get("note") or "",
                          "result": ((result.data or {}).get("text") or "") if result else "",
                          "suggested_due": self._planner.due_for("complaint", utility=False).isoformat()})
        return web.json_response({"items": items, "today": today.isoformat()})

    async def ticket(self, request: web.Request) -> web.Response:
        """A ticket's whole trail, with its citizen's contact (for blocking, Art. 32)."""
        await self._supervisor(request, False)
        number = request.match_info["number"]
        ticket = await self._store().tickets.get(number)
        if ticket is None:
            raise NotFound("no such ticket", code="ticket_not_found", message_zh="没有找到该工单。")
        today, next_workday = self._days()
        contact = await self._q().ticket_contact(number)
        return web.json_response({**self._ticket(ticket, today, next_workday),
                                  "events": [_event(e) for e in ticket.events],
                                  "contact": _contact(contact) if contact else None})

    async def blocked(self, request: web.Request) -> web.Response:
        """Art. 32: contacts whose messages are not accepted, with the reason and who decided."""
        await self._supervisor(request, False)
        return web.json_response({"items": [_contact(c) for c in await self._q().blocked_contacts()]})

    async def conversation_contact(self, request: web.Request) -> web.Response:
        """The contact behind a conversation of the agents' console, to block it from there."""
        await self._supervisor(request, False)
        contact = await self._q().conversation_contact(int(request.match_info["id"]))
        if contact is None:
            raise NotFound("no such conversation", code="conversation_not_found", message_zh="没有找到该会话。")
        return web.json_response(_contact(contact))


def _event(e: TicketEvent) -> dict[str, Any]:
    return {**e.as_json(), "public": e.public}


def _contact(c: dict[str, Any]) -> dict[str, Any]:
    """A contact as supervisors see it: the platform address masked like the console's lists."""
    return {"id": c["id"], "channel": c["channel"], "citizen": citizen_label(c["channel"], c["external_user"]),
            "blocked": c["blocked_at"] is not None,
            "blocked_at": c["blocked_at"].isoformat() if c["blocked_at"] else None,
            "blocked_by": c["blocked_by"], "reason": c["blocked_reason"]}
