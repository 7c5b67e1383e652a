"""Tickets API: create, get, list (internal, bearer token) and the citizen's progress query."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Callable

from aiohttp import web

from channels.http_body import json_object
from channels.rate_limit import Windows, client_address, local_windows
from gateway.api.auth import actor_of, require_token
from gateway.errors import BadRequest, NotFound, ServiceError
from gateway.store.schema import TICKET_STATUSES
from gateway.store.tickets import TicketFilter, TicketRecord, TicketStore
from routing.intake import TicketIntake
from routing.planner import TicketPlanner
from routing.tickets import TicketDraft
from nlu.pii import normalize_phone
from routing.lifecycle import STATUS_ZH
from gateway.api.openapi import ProgressIn, TicketIn, parse_body
from nlu.triage import Triager

EVENT_ZH = {"created": "诉求已受理", "status_changed": "办理状态更新", "dispatched": "已派发至承办单位",
            "result": "承办单位已反馈办理结果"}
# Which error a client gets for a field the model refuses (codes the bot and integrators rely on).
TICKET_FIELD_ERRORS = {
    "description": ("missing_description", "请填写诉求内容。"),
    "request_type": ("bad_request_type", "诉求类型不正确。"),
    "anonymous": ("bad_anonymous", "是否匿名的取值不正确。"),
    "conversation_id": ("bad_conversation_id", "会话编号不正确。"),
    "contact_phone": ("bad_phone", "联系电话格式不正确。"),
}


class TooManyRequests(ServiceError):
    status = 429
    code = "too_many_requests"
    message_zh = "查询过于频繁，请稍后再试。"


PROGRESS_QUERIES_PER_MINUTE = 20


class TicketsApi:
    def __init__(self, tickets: Callable[[], TicketStore], triager: Triager, categories: frozenset[str],
                 token: str | None, intake: TicketIntake, windows: Windows = local_windows,
                 trusted_proxies: tuple[str, ...] = ()) -> None:
        self.intake = intake
        self.planner: TicketPlanner = intake.planner
        # A getter: routes are registered before the database is opened.
        self._tickets_of = tickets
        self._triager = triager
        self._categories = categories
        self._token = token
        # Per client, enough to stop enumerating ticket numbers from one address; counted by every gateway
        # (windows), the client being the one behind our balancer (trusted_proxies), not the balancer.
        self._progress_limit = windows("progress", PROGRESS_QUERIES_PER_MINUTE, 60)
        self._trusted_proxies = trusted_proxies

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.post("/api/v1/tickets", self.create),
            web.get("/api/v1/tickets", self.list),
            web.post("/api/v1/tickets/progress", self.progress),
            web.get("/api/v1/tickets/{number}", self.get),
        ]

    async def create(self, request: web.Request) -> web.Response:
        require_token(request, self._token)
        # The bot names its conversation: the ticket gets the citizen's contact from it (intake).
        ticket = await self.intake.open(self.draft(await json_object(request)), actor=actor_of(request))
        return web.json_response(ticket.as_json(), status=201)

    def draft(self, body: dict[str, Any]) -> TicketDraft:
        """A validated ticket draft from a JSON body; missing fields filled in by triage."""
        # An empty field is an absent one (forms send "" for what was left blank).
        data = parse_body(TicketIn, {k: v for k, v in body.items() if v != ""}, TICKET_FIELD_ERRORS)
        # The place may be given apart from the description (the bot asks for it separately).
        location = data.location or None
        triage = self._triager.analyze(f"{location}：{data.description}" if location else data.description)
        category = data.category or triage.category
        if category is not None and category not in self._categories:
            raise BadRequest("category is not a level-1 name of the taxonomy", code="bad_category")
        phone = None
        if data.contact_phone:
            phone = normalize_phone(data.contact_phone)
            if phone is None:
                raise BadRequest("contact_phone is not a valid phone number", code="bad_phone",
                                 message_zh="联系电话格式不正确。")
        return TicketDraft(
            description=data.description, channel=data.channel or "api", source=data.source or "api",
            conversation_id=data.conversation_id, request_type=data.request_type or triage.request_type,
            category=category, district=data.district or triage.district, location=location,
            contact_name=data.contact_name or None, contact_phone=phone, anonymous=data.anonymous,
            utility=triage.utility)

    @property
    def categories(self) -> frozenset[str]:
        """The taxonomy's level-1 names (the console offers them as filters)."""
        return self._categories

    def new_due_date(self) -> Any:
        """A fresh deadline for re-handling, counted from today like a new complaint."""
        return self.planner.due_for("complaint", utility=False)

    def changes(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validated field changes for an edit (only the fields given)."""
        allowed = {"request_type", "category", "district", "location", "description", "contact_name",
                   "contact_phone", "anonymous"}
        unknown = set(body) - allowed
        if unknown:
            raise BadRequest(f"fields not editable: {sorted(unknown)}", code="bad_fields")
        merged = self.draft({"description": body.get("description") or "（未改）", **body})
        return {k: getattr(merged, k) for k in body}

    async def get(self, request: web.Request) -> web.Response:
        require_token(request, self._token)
        ticket = await self._tickets_of().get(request.match_info["number"])
        if ticket is None:
            raise NotFound("no such ticket", code="ticket_not_found", message_zh="没有找到该工单。")
        return web.json_response(ticket.as_json())

    async def list(self, request: web.Request) -> web.Response:
        require_token(request, self._token)
        q = request.query
        page, page_size = _int(q, "page", 1, 1, 10**6), _int(q, "page_size", 20, 1, 200)
        status = q.get("status")
        if status is not None and status not in TICKET_STATUSES:
            raise BadRequest(f"status must be one of {TICKET_STATUSES}", code="bad_status")
        phone = q.get("phone")
        tz = self.planner.clock.tz
        flt = TicketFilter(status=status, channel=q.get("channel"), category=q.get("category"),
                           district=q.get("district"), request_type=q.get("request_type"),
                           created_from=_date(q, "created_from", tz), created_to=_date(q, "created_to", tz),
                           phone=normalize_phone(phone) if phone else None)
        items, total = await self._tickets_of().list(flt, offset=(page - 1) * page_size, limit=page_size)
        return web.json_response({"items": [t.as_json(with_events=False) for t in items], "total": total,
                                  "page": page, "page_size": page_size})

    async def progress(self, request: web.Request) -> web.Response:
        """Citizen's query: ticket number plus the phone given with it. Same answer for
        'no such ticket' and 'wrong phone', so numbers cannot be probed for phones."""
        if not await self._progress_limit.hit(client_address(request, self._trusted_proxies)):
            raise TooManyRequests(f"progress queries over {PROGRESS_QUERIES_PER_MINUTE} per minute")
        missing = ("missing_fields", "请输入工单号和提交诉求时留的联系电话。")
        query = parse_body(ProgressIn, await json_object(request), {"number": missing, "phone": missing})
        number, phone = query.number, query.phone
        ticket = await self._tickets_of().get(number)
        given = normalize_phone(phone)
        if ticket is None or given is None or ticket.contact_phone != given:
            raise NotFound("no ticket with this number and phone", code="ticket_not_found",
                           message_zh="没有查到该工单，请核对工单号和联系电话。")
        return web.json_response(_public_progress(ticket, self.planner.units))


def _public_progress(ticket: TicketRecord, units: dict[str, Any]) -> dict[str, Any]:
    def text(kind: str, data: dict[str, Any] | None) -> str:
        unit = units.get((data or {}).get("unit", ""))
        if kind == "dispatched" and unit is not None:
            return f"已派发至{unit.name}办理"
        return EVENT_ZH.get(kind, "办理进展更新")

    unit = units.get(ticket.unit_id or "")
    return {
        "number": ticket.number, "status": ticket.status, "status_zh": STATUS_ZH.get(ticket.status, ticket.status),
        "unit": unit.name if unit else None, "due_date": ticket.due_date.isoformat() if ticket.due_date else None,
        "created_at": ticket.created_at.isoformat(), "updated_at": ticket.updated_at.isoformat(),
        "events": [{"at": e.at.isoformat(), "kind": e.kind, "text_zh": text(e.kind, e.data)}
                   for e in ticket.events if e.public],
    }


def _int(q: Any, key: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{key} must be an integer", code=f"bad_{key}") from exc
    if not lo <= value <= hi:
        raise BadRequest(f"{key} must be between {lo} and {hi}", code=f"bad_{key}")
    return value


def _date(q: Any, key: str, tz: tzinfo) -> datetime | None:
    raw = q.get(key)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise BadRequest(f"{key} must be an ISO date or datetime", code=f"bad_{key}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value
