"""The agent console's HTTP and WebSocket API (`/console/api/...`) and its pages (`/console`).

Sessions are an HttpOnly, SameSite=Strict cookie; every state-changing request also needs the
session's CSRF token in `X-CSRF-Token`. Every console API answers 401 without a session.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import re
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import WSMsgType, web

from bot.engine import BotEngine, BotUnavailableError
from channels.base import Channel
from channels.http_body import json_object
from channels.rate_limit import SlidingWindow
from channels.web.adapter import topic as web_topic, typing_ref
from channels.media import MediaStore
from gateway.errors import BadRequest, Conflict, Forbidden, NotFound, StoreUnavailable, Unauthorized
from gateway.api.tickets import TicketsApi
from gateway.events import CONSOLE_TOPIC, EventHub
from gateway.kb_service import KbService
from gateway.login import TooManyAttempts, credentials, from_our_origin, set_session_cookie
from gateway.outbox import OutboxDispatcher
from gateway.store import Store
from gateway.store.agents import token_hash
from gateway.console.citizens import citizen_label
from gateway.console.labels import CHANNEL_ZH, labels
from gateway.store.agents import PAGE_LIMIT, Agent, ContactNotFound, ConversationQuery, TakeoverRefused
from gateway.store.schema import CONVERSATION_STATES
from gateway.store.tickets import TicketFilter
from gateway.store.workspace import AgentNotFound, CannedNotFound, DuplicateShortcut, Transfer
from routing.seats import SEATS
from nlu.pii import mask_phone, normalize_phone
from routing.lifecycle import STATUS_ZH, TransitionRefused
from routing.supervision import board, extended_due
from routing.satisfaction import RATING_LEVELS

log = logging.getLogger(__name__)

COOKIE = "hotline_console"
STATIC = Path(__file__).resolve().parent / "static"
HANDBACK_NOTE = "人工客服已结束本次服务，智能客服将继续为您服务。"
MAX_REPLY = 2000
TICKET_NUMBER = re.compile(r"^\d{8}-\d{6}$")
SHORTCUT = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# WebSocket close code for "your session ended": the page shows the login instead of reconnecting.
SESSION_ENDED = 4401


def _iso(at: Any) -> str | None:
    return at.isoformat() if at is not None else None


def _int_param(query: Any, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number", code=f"bad_{name}", message_zh="分页参数不正确。") from None
    if value < low:
        raise BadRequest(f"{name} must be at least {low}", code=f"bad_{name}", message_zh="分页参数不正确。")
    return min(value, high)


def conversation_query(query: Any, page_size: int = 50) -> ConversationQuery:
    """The list's filters from the query string; the page size is capped at PAGE_LIMIT whatever is asked."""
    state, channel = query.get("state") or None, query.get("channel") or None
    if state is not None and state not in CONVERSATION_STATES:
        raise BadRequest("unknown state", code="bad_state", message_zh="会话状态不正确。")
    if channel is not None and channel not in CHANNEL_ZH:
        raise BadRequest("unknown channel", code="bad_channel", message_zh="渠道不正确。")
    q = (query.get("q") or "").strip()[:64] or None
    only = query.get("id")
    return ConversationQuery(
        q=q, phone=normalize_phone(q) if q else None, channel=channel, state=state,
        category=(query.get("category") or "").strip()[:64] or None,
        only_id=_int_param(query, "id", 0, 1, 10**18) if only else None,
        offset=_int_param(query, "offset", 0, 0, 10**9), limit=_int_param(query, "limit", page_size, 1, PAGE_LIMIT))


def _list_item(c: dict[str, Any]) -> dict[str, Any]:
    waiting = c["state"] == "waiting_for_agent"
    since = (c["handoff_at"] or c["created_at"]) if waiting else None
    return {
        "id": c["id"], "channel": c["channel"], "state": c["state"], "agent": c["agent_id"],
        "emergency": bool(c["emergency"]), "citizen": citizen_label(c["channel"], c["external_user"]),
        "last_text": (c["last_text"] or "")[:120], "last_at": c["last_at"].isoformat(),
        "last_from_citizen": c["last_direction"] == "in",
        # The wait counts from the request for a human, not from the conversation's first message.
        "waiting_since": _iso(since), "handoff_at": _iso(c["handoff_at"]),
        "contact_id": c["contact_id"], "contact_blocked": bool(c["contact_blocked"]),
        "seat": c["seat"] if waiting else None,
        # The server's order as a key, so a live update can put one row in its place.
        "sort": [c["rank_group"], since.timestamp() if since else 0, -c["id"]]}


class ConsoleApi:
    def __init__(self, store: Callable[[], Store], bot: Callable[[], BotEngine],
                 outbox: Callable[[], OutboxDispatcher], media: Callable[[], MediaStore],
                 kb: Callable[[], KbService], tickets: Callable[[], TicketsApi], hub: EventHub,
                 secure_cookies: bool, trusted_proxies: tuple[str, ...] = (),
                 session_recheck_seconds: float = 30.0, presence: Any = None) -> None:
        self._store = store
        self._media = media
        self._kb = kb
        self._tickets = tickets
        self._bot = bot
        self._outbox = outbox
        self._hub = hub
        self._secure = secure_cookies
        self._trusted_proxies = trusted_proxies
        self._online: dict[str, int] = {}
        # Several gateways: the agents online on the others too (gateway.cluster.SharedPresence).
        self._shared_presence = presence
        self._background: set["asyncio.Future[None]"] = set()
        self._typing = SlidingWindow(1, 2)
        # Open console sockets per session (by token digest): logging out closes them at once, and each
        # re-checks its session every `session_recheck_seconds` (expiry, a logout in another process).
        self._sockets: dict[str, set[web.WebSocketResponse]] = {}
        self._recheck = session_recheck_seconds

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/console", self.page), web.get("/console/", self.page),
            web.static("/console/static", STATIC),
            web.post("/console/api/login", self.login), web.post("/console/api/logout", self.logout),
            web.get("/console/api/me", self.me),
            web.get("/console/api/conversations", self.conversations),
            web.get("/console/api/labels", self.labels),
            web.get("/console/api/agents", self.agents),
            web.put("/console/api/agents/{username}/skills", self.set_skills),
            web.get("/console/api/tickets", self.tickets),
            web.get("/console/api/tickets/{number}", self.ticket),
            web.get("/console/api/conversations/{id:\\d+}/history", self.history),
            web.post("/console/api/conversations/{id:\\d+}/notes", self.add_note),
            web.post("/console/api/conversations/{id:\\d+}/transfer", self.transfer),
            web.get("/console/api/canned", self.canned),
            web.post("/console/api/canned", self.save_canned),
            web.put("/console/api/canned/{canned_id:\\d{1,18}}", self.save_canned),
            web.delete("/console/api/canned/{canned_id:\\d{1,18}}", self.delete_canned),
            web.get("/console/api/conversations/{id:\\d+}", self.conversation),
            web.post("/console/api/conversations/{id:\\d+}/takeover", self.takeover),
            web.post("/console/api/conversations/{id:\\d+}/reply", self.reply),
            web.post("/console/api/conversations/{id:\\d+}/handback", self.handback),
            web.post("/console/api/conversations/{id:\\d+}/close", self.close),
            web.get("/console/api/ws", self.websocket),
            web.get("/console/api/media/{attachment_id:\\d{1,18}}", self.media),
            web.get("/console/api/media/{attachment_id:\\d{1,18}}/{derived:poster|audio}", self.derived_media),
            web.get("/console/api/ticket-files/{file_id:\\d{1,18}}", self.ticket_file),
            web.post("/console/api/contacts/{contact_id:\\d{1,18}}/block", self.block_contact),
            web.post("/console/api/contacts/{contact_id:\\d{1,18}}/unblock", self.unblock_contact),
            web.post("/console/api/conversations/{id:\\d+}/tickets", self.create_ticket),
            web.patch("/console/api/tickets/{number}", self.edit_ticket),
            web.get("/console/api/kb/search", self.kb_search),
            web.post("/console/api/tickets/{number}/{action:rehandle|close}", self.supervise),
            web.post("/console/api/tickets/{number}/assign", self.assign),
            web.get("/console/api/supervision", self.supervision),
            web.get("/console/api/callbacks", self.callbacks),
            web.post("/console/api/tickets/{number}/callback", self.record_callback),
            web.post("/console/api/tickets/{number}/supervise", self.supervise_record),
            web.post("/console/api/tickets/{number}/{request:extension|termination}/{decision:approve|reject}",
                     self.decide),
        ]

    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={
            "Cache-Control": "no-cache", "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; img-src 'self' blob: data:"})

    # --- sessions

    async def login(self, request: web.Request) -> web.Response:
        username, password = await credentials(request)
        result = await self._store().agents.login(username, password)
        if result.locked:
            raise TooManyAttempts(f"account {username!r} locked")
        if result.agent is None or result.token is None:
            raise Unauthorized("wrong username or password", code="bad_credentials", message_zh="用户名或密码错误。")
        skills = await self._skills(result.agent.username)
        resp = web.json_response({"username": result.agent.username, "display_name": result.agent.display_name,
                                  "role": result.agent.role, "csrf": result.csrf, "skills": skills})
        set_session_cookie(resp, request, COOKIE, result.token, "/console", self._secure, self._trusted_proxies)
        return resp

    async def _agent(self, request: web.Request, change: bool = False) -> Agent:
        token = request.cookies.get(COOKIE)
        found = await self._store().agents.session(token) if token else None
        if found is None:
            raise Unauthorized("no console session", code="login_required", message_zh="请先登录。")
        agent, csrf = found
        if change and request.headers.get("X-CSRF-Token") != csrf:
            raise Forbidden("missing or wrong CSRF token", code="bad_csrf", message_zh="页面已过期，请刷新后重试。")
        return agent

    async def _skills(self, username: str) -> list[str]:
        return next((a["skills"] for a in await self._store().workspace.agents() if a["username"] == username), [])

    async def logout(self, request: web.Request) -> web.Response:
        await self._agent(request, change=True)
        token = request.cookies[COOKIE]
        await self._store().agents.logout(token)
        for ws in list(self._sockets.pop(token_hash(token), ())):
            await ws.close(code=SESSION_ENDED, message=b"logged out")
        resp = web.json_response({"ok": True})
        resp.del_cookie(COOKIE, path="/console")
        return resp

    async def me(self, request: web.Request) -> web.Response:
        agent = await self._agent(request)
        _, csrf = await self._store().agents.session(request.cookies[COOKIE]) or (None, "")
        skills = await self._skills(agent.username)
        return web.json_response({"username": agent.username, "display_name": agent.display_name,
                                  "role": agent.role, "csrf": csrf, "skills": skills})

    # --- conversations

    async def conversations(self, request: web.Request) -> web.Response:
        """One page of the list (`offset`, `limit` at most 100), filtered on the server; `id=` asks for
        one row only, so the page can update a single row from a live event."""
        agent = await self._agent(request)
        query = await self._seat_rule(agent, conversation_query(request.query), request.query.get("queue") == "seat")
        rows, total = await self._store().agents.conversations(query)
        return web.json_response({"items": [_list_item(r) for r in rows], "total": total,
                                  "offset": query.offset, "limit": query.limit})

    async def _seat_rule(self, agent: Agent, query: ConversationQuery, own_queue: bool) -> ConversationQuery:
        """Art. 17 special seats: a skilled agent's own waiting list (`queue=seat`); and while an agent with
        the skill is online, the conversations waiting for that seat leave the other agents' lists
        (supervisors see everything; with nobody of the skill online they stay in the general queue)."""
        everyone = await self._store().workspace.agents()
        mine = next((tuple(a["skills"]) for a in everyone if a["username"] == agent.username), ())
        if own_queue:
            return dataclasses.replace(query, seats=mine)
        if agent.role == "supervisor":
            return query
        online = await self._online_anywhere()
        staffed = {s for a in everyone if a["username"] in online for s in a["skills"]}
        return dataclasses.replace(query, hide_seats=tuple(sorted(staffed - set(mine))))

    async def labels(self, request: web.Request) -> web.Response:
        await self._agent(request)
        api = self._tickets()
        return web.json_response({**labels(), "categories": sorted(api.categories), "seat": SEATS,
                                  "units": {u.id: u.name for u in api.planner.units.values()}})

    async def conversation(self, request: web.Request) -> web.Response:
        await self._agent(request)
        cid = int(request.match_info["id"])
        store = self._store()
        found = await store.messages.conversation(cid)
        if found is None:
            raise NotFound("no such conversation", code="conversation_not_found")
        conv, citizen = found
        history = await store.messages.history(conv.channel, conv.key)
        tickets = await store.tickets.for_conversation(cid)
        info = await store.agents.conversation_info(cid)
        return web.json_response({
            "id": conv.id, "channel": conv.channel, "state": conv.state, "agent": conv.agent_id,
            "agent_name": info["agent_name"], "handoff_at": _iso(info["handoff_at"]),
            "contact_id": conv.contact_id,
            "emergency": conv.emergency, "citizen": citizen_label(conv.channel, citizen),
            "messages": [{**m.as_json(), "triage": m.triage} for m in history if m.conversation_id == cid],
            "tickets": [t.as_json(with_events=False) for t in tickets],
            "notes": await store.workspace.notes(cid),
            # Matches the web chat's typing events without showing agents the citizen's session.
            "typing_ref": typing_ref(conv.key) if conv.channel == "web" else None,
            "audit": [{**a, "at": a["at"].isoformat()} for a in await store.agents.audit(cid)]})

    async def takeover(self, request: web.Request) -> web.Response:
        """An agent takes a conversation nobody holds; with `{"force": true}` a supervisor takes over one
        another agent holds (Art. 17 supervision; audited as `supervisor_takeover`)."""
        agent = await self._agent(request, change=True)
        cid = int(request.match_info["id"])
        body = await json_object(request) if request.can_read_body else {}
        if body.get("force") is True:
            if agent.role != "supervisor":
                raise Forbidden("supervisors only", code="supervisor_only", message_zh="只有值班长可以强制接管。")
            moved = await self._move(cid, agent, None, supervisor_takeover=True)
            self._hub.publish(CONSOLE_TOPIC, {"type": "assigned", "conversation_id": cid, "agent": agent.username,
                                              "from": moved.from_agent, "by": agent.username, "takeover": True})
            return web.json_response({"id": cid, "state": "agent", "agent": agent.username})
        try:
            conv = await self._store().agents.takeover(cid, agent)
        except TakeoverRefused as exc:
            raise Conflict(str(exc), code="already_taken",
                           message_zh=f"该会话已由{exc.owner or '其他客服'}接管。" if exc.owner else "该会话无法接管。")
        await self._pause(conv.key)
        self._hub.publish(CONSOLE_TOPIC, {"type": "state", "conversation_id": cid, "state": "agent",
                                          "agent": agent.username})
        return web.json_response({"id": cid, "state": "agent", "agent": agent.username})

    async def transfer(self, request: web.Request) -> web.Response:
        """The owner hands a conversation to another agent, or a supervisor assigns one; the receiver's
        console is told (event `assigned`)."""
        agent = await self._agent(request, change=True)
        cid = int(request.match_info["id"])
        to = (await json_object(request)).get("to")
        if not isinstance(to, str) or not to or len(to) > 64:
            raise BadRequest("to: the receiving agent's username", code="bad_agent", message_zh="请选择接收的坐席。")
        if to == agent.username:
            raise BadRequest("transfer to oneself", code="bad_agent", message_zh="不能转交给自己。")
        moved = await self._move(cid, agent, to, supervisor_takeover=False)
        self._hub.publish(CONSOLE_TOPIC, {"type": "assigned", "conversation_id": cid, "agent": to,
                                          "from": moved.from_agent, "by": agent.username})
        return web.json_response({"id": cid, "state": "agent", "agent": to})

    async def _move(self, cid: int, agent: Agent, to: str | None, supervisor_takeover: bool) -> Transfer:
        try:
            moved = await self._store().workspace.transfer(cid, agent, to, supervisor_takeover)
        except AgentNotFound:
            raise BadRequest("no such agent", code="bad_agent", message_zh="没有该坐席。") from None
        except TakeoverRefused as exc:
            if exc.state in ("closed", "missing"):
                raise Conflict(str(exc), code="conversation_closed", message_zh="会话已结束或不存在。") from None
            raise Conflict(str(exc), code="not_owner", message_zh=(
                f"该会话由{exc.owner}接管，只有{exc.owner}或值班长可以转交。" if exc.owner else
                "只有接管该会话的坐席或值班长可以转交。")) from None
        await self._pause(moved.conversation.key)
        log.info("conversation %d moved from %s to %s by %s", cid, moved.from_agent, moved.conversation.agent_id,
                 agent.username)
        return moved

    async def _owned(self, request: web.Request, agent: Agent) -> tuple[Any, str]:
        cid = int(request.match_info["id"])
        found = await self._store().agents.owned(cid, agent)
        if found is None:
            owner = (await self._store().agents.conversation_info(cid))["agent_name"]
            raise Conflict("take the conversation over first", code="not_owner",
                           message_zh=f"该会话由{owner}接管，只有{owner}可以操作。" if owner else "请先接管该会话。")
        return found

    async def reply(self, request: web.Request) -> web.Response:
        agent = await self._agent(request, change=True)
        body = await json_object(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_REPLY:
            raise BadRequest("text required (at most 2000 characters)", code="bad_text", message_zh="请输入回复内容。")
        conv, citizen = await self._owned(request, agent)
        outbox = self._outbox()
        items = await self._store().agents.agent_reply(conv, citizen, agent, text.strip(),
                                                       outbox.queues(Channel(conv.channel)))
        await outbox.deliver_now(items)
        return web.json_response({"message_id": items[0].message_id})

    async def handback(self, request: web.Request) -> web.Response:
        return await self._release(request, "handback")

    async def close(self, request: web.Request) -> web.Response:
        return await self._release(request, "close")

    async def _release(self, request: web.Request, action: str) -> web.Response:
        agent = await self._agent(request, change=True)
        conv, citizen = await self._owned(request, agent)
        outbox = self._outbox()
        note = HANDBACK_NOTE if action == "handback" else None
        items = await self._store().agents.release(conv, citizen, agent, action, note,
                                                   outbox.queues(Channel(conv.channel)))
        await outbox.deliver_now(items)
        if action == "handback":
            await self._resume(conv.key)
        state = "bot" if action == "handback" else "closed"
        self._hub.publish(CONSOLE_TOPIC, {"type": "state", "conversation_id": conv.id, "state": state})
        return web.json_response({"id": conv.id, "state": state})

    async def _pause(self, key: str) -> None:
        try:
            await self._bot().pause(key)
        except BotUnavailableError as exc:  # the gateway already keeps the bot out of it
            log.warning("console: bot not paused: %s", exc)

    async def _resume(self, key: str) -> None:
        try:
            await self._bot().resume(key)
        except BotUnavailableError as exc:
            log.warning("console: bot not resumed: %s", exc)

    async def create_ticket(self, request: web.Request) -> web.Response:
        """A ticket from the conversation, with what the agent has established."""
        agent = await self._agent(request, change=True)
        cid = int(request.match_info["id"])
        found = await self._store().messages.conversation(cid)
        if found is None:
            raise NotFound("no such conversation", code="conversation_not_found")
        conv, _ = found
        api = self._tickets()
        draft = api.draft({**await json_object(request), "channel": conv.channel, "source": "agent",
                           "conversation_id": cid})
        ticket = await api.intake.open(dataclasses.replace(draft, contact_id=conv.contact_id),
                                       actor=f"agent:{agent.username}")
        await self._store().agents.log(agent, "ticket_created", cid, {"number": ticket.number})
        return web.json_response(ticket.as_json(), status=201)

    async def edit_ticket(self, request: web.Request) -> web.Response:
        agent = await self._agent(request, change=True)
        body = await json_object(request)
        changes = self._tickets().changes(body)
        ticket = await self._store().tickets.update(request.match_info["number"], f"agent:{agent.username}", changes)
        if ticket is None:
            raise NotFound("no such ticket", code="ticket_not_found", message_zh="没有找到该工单。")
        return web.json_response(ticket.as_json())

    async def supervise(self, request: web.Request) -> web.Response:
        """After a dissatisfied rating, a supervisor decides: re-handle (new deadline) or close."""
        agent = await self.supervisor(request)
        body = await json_object(request) if request.can_read_body else {}
        note = body.get("note") if isinstance(body.get("note"), str) else None
        action, number = request.match_info["action"], request.match_info["number"]
        due = self._rehandle_due(body.get("due_date")) if action == "rehandle" else None
        try:
            ticket = await self._store().tickets.supervise(number, f"agent:{agent.username}", action, due, note)
        except TransitionRefused as exc:
            raise Conflict(str(exc), code="invalid_transition", message_zh="工单当前状态不允许该操作。") from exc
        if ticket is None:
            raise NotFound("no such ticket", code="ticket_not_found", message_zh="没有找到该工单。")
        self._ticket_changed(number, action)
        return web.json_response(ticket.as_json())

    def _rehandle_due(self, given: Any) -> dt.date:
        """The supervisor's new deadline for re-handling, or the usual one when none is given."""
        if given in (None, ""):
            return self._tickets().new_due_date()
        try:
            due = dt.date.fromisoformat(given) if isinstance(given, str) else None
        except ValueError:
            due = None
        if due is None or due <= self._store().clock.today():
            raise BadRequest("due_date must be a date after today", code="bad_due_date",
                             message_zh="新的办理期限须是今天以后的日期。")
        return due

    async def block_contact(self, request: web.Request) -> web.Response:
        """Art. 32: a supervisor stops accepting a contact's messages (kept, not handled; emergencies still
        answered), with a reason; audited, and undone with `unblock`."""
        agent = await self.supervisor(request)
        body = await json_object(request)
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 255:
            raise BadRequest("a reason (1-255 characters) is required", code="bad_reason",
                             message_zh="请填写暂停受理的理由。")
        return web.json_response(await self._contact_block(request, agent, reason.strip()))

    async def unblock_contact(self, request: web.Request) -> web.Response:
        agent = await self.supervisor(request)
        return web.json_response(await self._contact_block(request, agent, None))

    async def _contact_block(self, request: web.Request, agent: Agent, reason: str | None) -> dict[str, Any]:
        blocks = self._store().contacts
        contact_id = int(request.match_info["contact_id"])
        try:
            result = (await blocks.block(contact_id, agent, reason) if reason is not None
                      else await blocks.unblock(contact_id, agent))
        except ContactNotFound as exc:
            raise NotFound("no such contact", code="contact_not_found", message_zh="没有找到该联系人。") from exc
        log.info("contact %d %s by %s", contact_id, "blocked" if reason else "unblocked", agent.username)
        self._hub.publish(CONSOLE_TOPIC, {"type": "contact_block", "contact_id": contact_id,
                                          "blocked": reason is not None})
        return result

    async def supervisor(self, request: web.Request, change: bool = True) -> Agent:
        """The signed-in supervisor (值班长); 403 for anyone else. Every supervisor-only endpoint asks this."""
        agent = await self._agent(request, change=change)
        if agent.role != "supervisor":
            raise Forbidden("supervisors only", code="supervisor_only", message_zh="只有值班长可以执行此操作。")
        return agent

    def _ticket_changed(self, number: str, action: str) -> None:
        """Tell every open console (the supervisor's screen refreshes its lists) that a ticket moved."""
        self._hub.publish(CONSOLE_TOPIC, {"type": "ticket_changed", "ticket_number": number, "action": action})

    async def supervision(self, request: web.Request) -> web.Response:
        """Art. 19: per unit, tickets due within one working day (yellow) and overdue (red), with returns
        and dissatisfied ratings counted."""
        await self._agent(request)
        planner = self._tickets().planner
        today = planner.clock.today()
        rows = board(await self._store().tickets.supervision(), planner.units, today, planner.add_workdays(today, 1))
        return web.json_response({"today": today.isoformat(), "units": rows})

    async def callbacks(self, request: web.Request) -> web.Response:
        """Results waiting for the citizen's rating: agents call them back (回访, Art. 16)."""
        await self._agent(request)
        items = [{**t.as_json(with_events=False), "contact": contact}
                 for t, contact in await self._store().tickets.awaiting_callback()]
        return web.json_response({"items": items})

    async def record_callback(self, request: web.Request) -> web.Response:
        """The rating a citizen gave an agent on a callback call, recorded as theirs."""
        agent = await self._agent(request, change=True)
        body = await json_object(request)
        level, solved, note = body.get("level"), body.get("solved"), body.get("note")
        if level not in RATING_LEVELS or solved not in (True, False, None) or not isinstance(note, (str, type(None))):
            raise BadRequest("level (satisfied|basically_satisfied|dissatisfied), solved (bool) and note expected",
                             code="bad_rating", message_zh="请选择满意度（满意、基本满意、不满意）。")
        ticket = await self._store().tickets.get(request.match_info["number"])
        if ticket is None:
            raise NotFound("no such ticket", code="ticket_not_found", message_zh="没有找到该工单。")
        try:
            # The store checks "still awaiting a rating" under the ticket's lock: a concurrent second
            # callback (or the citizen rating at the same time) is refused, never counted twice.
            await self._store().tickets.rate(ticket.id, level, solved, actor=f"agent:{agent.username}",
                                             note=(note or "").strip()[:500] or None)
        except TransitionRefused as exc:
            raise Conflict(f"the ticket has no result waiting for a rating: {exc}", code="not_awaiting_rating",
                           message_zh="该工单当前没有待回访的办理结果（可能已由他人回访）。") from exc
        log.info("callback on ticket %s recorded by %s: %s", ticket.number, agent.username, level)
        return web.json_response((await self._store().tickets.get(ticket.number)).as_json())  # type: ignore[union-attr]

    async def supervise_record(self, request: web.Request) -> web.Response:
        """A supervision record (督办) on a ticket: who urged which unit, how, and why."""
        agent = await self.supervisor(request)
        body = await json_object(request)
        method, note = body.get("method"), body.get("note")
        if method not in ("phone", "system", "written", "on_site") or not isinstance(note, str) or not note.strip():
            raise BadRequest("method (phone|system|written|on_site) and note required", code="bad_supervision",
                             message_zh="请选择督办方式并填写督办意见。")
        ticket = await self._store().tickets.get(request.match_info["number"])
        if ticket is None:
            raise NotFound("no such ticket", code="ticket_not_found", message_zh="没有找到该工单。")
        await self._store().tickets.add_event(ticket.id, f"agent:{agent.username}", "supervision",
                                              {"method": method, "note": note.strip(), "unit": ticket.unit_id})
        self._ticket_changed(ticket.number, "supervision")
        return web.json_response((await self._store().tickets.get(ticket.number)).as_json())  # type: ignore[union-attr]

    async def assign(self, request: web.Request) -> web.Response:
        """The manual dispatch queue (Art. 14(3)): a supervisor names the lead unit."""
        agent = await self.supervisor(request)
        body = await json_object(request)
        unit, cooperating = body.get("unit"), body.get("cooperating") or []
        planner = self._tickets().planner
        if unit not in planner.units:
            raise BadRequest("unknown unit", code="bad_unit", message_zh="没有该承办单位。")
        if (not isinstance(cooperating, list) or len(cooperating) > 5 or unit in cooperating
                or len(set(cooperating)) != len(cooperating) or not all(c in planner.units for c in cooperating)):
            raise BadRequest("cooperating: up to 5 other units of the catalogue", code="bad_cooperating",
                             message_zh="协办单位须是目录中的其他单位（最多5个）。")
        number = request.match_info["number"]
        current = await self._store().tickets.get(number)
        if current is None:
            raise NotFound("no such ticket", code="ticket_not_found", message_zh="没有找到该工单。")
        try:
            ticket = await self._store().tickets.assign(number, unit, planner.due_for(current.request_type,
                                                                                       current.utility),
                                                        f"agent:{agent.username}", str(body.get("reason") or "人工派单")[:255],
                                                        cooperating)
        except TransitionRefused as exc:
            raise Conflict(str(exc), code="invalid_transition", message_zh="工单当前状态不允许该操作。") from exc
        self._ticket_changed(number, "assign")
        return web.json_response(ticket.as_json() if ticket else {})

    async def decide(self, request: web.Request) -> web.Response:
        """Extension (Art. 15(4)) or termination (Art. 15(5)(6)) requests need a supervisor's approval."""
        agent = await self.supervisor(request)
        body = await json_object(request) if request.can_read_body else {}
        number, kind = request.match_info["number"], request.match_info["request"]
        approve = request.match_info["decision"] == "approve"
        current = await self._store().tickets.get(number)
        if current is None:
            raise NotFound("no such ticket", code="ticket_not_found", message_zh="没有找到该工单。")
        request_id = body.get("request_id")
        if not isinstance(request_id, int) or isinstance(request_id, bool):
            raise BadRequest("request_id (the request event the decision is about) required",
                             code="missing_request_id", message_zh="页面已过期，请刷新后重新审批。")
        # The request the supervisor read; the store refuses the decision if it is not the pending one.
        asked = next((e for e in current.events if e.id == request_id and e.kind == kind), None)
        if asked is None:
            raise Conflict("no such request on this ticket", code="request_changed",
                           message_zh="该申请已变更或已处理，请刷新后重新审批。")
        extend_to = None
        if approve and kind == "extension":
            days = int((asked.data or {}).get("days", 0))
            extend_to = extended_due(days, current.due_date, self._store().clock.today(),
                                     self._tickets().planner.add_workdays)
        note = body.get("note").strip()[:500] if isinstance(body.get("note"), str) else None
        if not approve and not note:
            raise BadRequest("a rejection needs a reason (note)", code="missing_reason",
                             message_zh="请填写不予批准的理由。")
        try:
            ticket = await self._store().tickets.decide(number, f"agent:{agent.username}", kind, approve, note,
                                                        extend_to, request_id)
        except TransitionRefused as exc:
            raise Conflict(str(exc), code="request_changed",
                           message_zh="该申请已变更或已处理，请刷新后重新审批。") from exc
        self._ticket_changed(number, f"{kind}_{'approved' if approve else 'rejected'}")
        return web.json_response(ticket.as_json() if ticket else {})

    # --- the agents' workspace

    async def agents(self, request: web.Request) -> web.Response:
        """Every agent, and who is online now (has the console open: a live WebSocket)."""
        await self._agent(request)
        online = await self._online_anywhere()
        return web.json_response({"items": [{**a, "online": a["username"] in online}
                                            for a in await self._store().workspace.agents()]})

    async def _online_anywhere(self) -> set[str]:
        here = set(self._online)
        return here | await self._shared_presence.elsewhere() if self._shared_presence is not None else here

    async def set_skills(self, request: web.Request) -> web.Response:
        """A supervisor names an agent's special seats (Art. 17); audited."""
        boss = await self.supervisor(request)
        skills = (await json_object(request)).get("skills")
        if not isinstance(skills, list) or any(s not in SEATS for s in skills):
            raise BadRequest("skills: a list of legal|enterprise", code="bad_skills", message_zh="专席类型不正确。")
        username = request.match_info["username"]
        chosen = sorted(set(skills))
        if not await self._store().workspace.set_skills(username, chosen):
            raise NotFound("no such agent", code="agent_not_found", message_zh="没有该坐席。")
        await self._store().agents.log(boss, "skills_set", None, {"agent": username, "skills": chosen})
        return web.json_response({"username": username, "skills": chosen})

    async def tickets(self, request: web.Request) -> web.Response:
        """Ticket search: `q` is a ticket number, a phone number or words of the description."""
        await self._agent(request)
        query = request.query
        status = query.get("status") or None
        if status is not None and status not in STATUS_ZH:
            raise BadRequest("unknown status", code="bad_status", message_zh="工单状态不正确。")
        channel = query.get("channel") or None
        if channel is not None and channel not in CHANNEL_ZH:
            raise BadRequest("unknown channel", code="bad_channel", message_zh="渠道不正确。")
        q = (query.get("q") or "").strip()[:64] or None
        phone = normalize_phone(q) if q else None
        number = q if q and TICKET_NUMBER.match(q) else None
        flt = TicketFilter(status=status, channel=channel, category=(query.get("category") or "").strip()[:64] or None,
                           number=number, phone=phone if not number else None,
                           text=q if q and not number and not phone else None)
        offset = _int_param(query, "offset", 0, 0, 10**9)
        limit = _int_param(query, "limit", 50, 1, PAGE_LIMIT)
        items, total = await self._store().tickets.list(flt, offset=offset, limit=limit)
        return web.json_response({"items": [t.as_json(with_events=False) for t in items], "total": total,
                                  "offset": offset, "limit": limit})

    async def ticket(self, request: web.Request) -> web.Response:
        """One ticket with its whole trail (every event, internal ones included)."""
        await self._agent(request)
        ticket = await self._store().tickets.get(request.match_info["number"])
        if ticket is None:
            raise NotFound("no such ticket", code="ticket_not_found", message_zh="没有找到该工单。")
        return web.json_response(ticket.as_json())

    async def history(self, request: web.Request) -> web.Response:
        await self._agent(request)
        found = await self._store().workspace.history(int(request.match_info["id"]))
        if found is None:
            raise NotFound("no such conversation", code="conversation_not_found", message_zh="没有找到该会话。")
        found["phones"] = [mask_phone(p) or p for p in found["phones"]]
        for c in found["conversations"]:
            c["citizen"] = citizen_label(c["channel"], c.pop("external_user"))
        return web.json_response(found)

    async def add_note(self, request: web.Request) -> web.Response:
        """An internal note: shown to agents in the transcript, never sent to the citizen; audited."""
        agent = await self._agent(request, change=True)
        text = (await json_object(request)).get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_REPLY:
            raise BadRequest("text required (at most 2000 characters)", code="bad_text", message_zh="请输入备注内容。")
        cid = int(request.match_info["id"])
        note = await self._store().workspace.add_note(cid, agent, text.strip())
        if note is None:
            raise NotFound("no such conversation", code="conversation_not_found", message_zh="没有找到该会话。")
        self._hub.publish(CONSOLE_TOPIC, {"type": "note", "conversation_id": cid, "note_id": note["id"]})
        return web.json_response(note, status=201)

    async def canned(self, request: web.Request) -> web.Response:
        await self._agent(request)
        q = (request.query.get("q") or "").strip()[:64] or None
        return web.json_response({"items": await self._store().workspace.canned(q)})

    async def save_canned(self, request: web.Request) -> web.Response:
        """Supervisors keep the team's canned replies (create with POST, replace with PUT)."""
        agent = await self.supervisor(request)
        body = await json_object(request)
        shortcut, title, text = body.get("shortcut"), body.get("title"), body.get("text")
        if not (isinstance(shortcut, str) and SHORTCUT.match(shortcut) and isinstance(title, str)
                and 0 < len(title.strip()) <= 64 and isinstance(text, str) and 0 < len(text.strip()) <= MAX_REPLY):
            raise BadRequest("shortcut (1-32 letters, digits, - or _), title (1-64) and text (1-2000) required",
                             code="bad_canned", message_zh="请填写快捷短语（字母、数字）、标题和回复内容。")
        canned_id = int(request.match_info["canned_id"]) if "canned_id" in request.match_info else None
        try:
            saved = await self._store().workspace.save_canned(agent, shortcut, title.strip(), text.strip(), canned_id)
        except DuplicateShortcut:
            raise Conflict("shortcut taken", code="duplicate_shortcut", message_zh="该快捷短语已存在。") from None
        except CannedNotFound:
            raise NotFound("no such canned reply", code="canned_not_found", message_zh="没有找到该快捷回复。") from None
        return web.json_response({"id": saved}, status=201 if canned_id is None else 200)

    async def delete_canned(self, request: web.Request) -> web.Response:
        agent = await self.supervisor(request)
        try:
            await self._store().workspace.delete_canned(agent, int(request.match_info["canned_id"]))
        except CannedNotFound:
            raise NotFound("no such canned reply", code="canned_not_found", message_zh="没有找到该快捷回复。") from None
        return web.json_response({"ok": True})

    async def kb_search(self, request: web.Request) -> web.Response:
        await self._agent(request)
        q = request.query.get("q", "").strip()[:500]
        # Only what the bot itself would answer with or offer: an agent is not shown unrelated entries.
        hits = self._kb().suggestions(q) if q else []
        return web.json_response({"results": [
            {"id": e.key, "question": e.question, "answer": e.answer, "confidence": round(h.confidence, 3)}
            for e, h in hits]})

    async def media(self, request: web.Request) -> web.FileResponse:
        await self._agent(request)
        found = await self._store().messages.attachment(int(request.match_info["attachment_id"]))
        if found is None:
            raise NotFound("no such attachment", code="attachment_not_found")
        row = found[0]
        path, headers = self._media().serve(row["storage_key"], row.get("filename"))
        return web.FileResponse(path, headers=headers)

    async def derived_media(self, request: web.Request) -> web.FileResponse:
        """A video's poster frame or sound track, made when it was read (issue 18)."""
        await self._agent(request)
        result = await self._store().readings.result_of(int(request.match_info["attachment_id"]))
        key = (result or {}).get(f"{request.match_info['derived']}_key")
        if not isinstance(key, str):
            raise NotFound("nothing derived from this attachment", code="attachment_not_found")
        path, headers = self._media().serve(key, None)
        return web.FileResponse(path, headers=headers)

    async def ticket_file(self, request: web.Request) -> web.FileResponse:
        """A file a handling unit attached to its result, progress or termination material."""
        await self._agent(request)
        found = await self._store().ticket_files.get(int(request.match_info["file_id"]))
        if found is None:
            raise NotFound("no such file", code="file_not_found", message_zh="没有找到该文件。")
        path, headers = self._media().serve(found.storage_key, found.filename)
        return web.FileResponse(path, headers=headers)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        agent = await self._agent(request)
        if not from_our_origin(request):
            # Cookies ride along on a cross-site WebSocket: another site must not read the live list.
            raise Forbidden(f"WebSocket from a foreign origin {request.headers.get('Origin', '')[:80]}",
                            code="foreign_origin", message_zh="不允许从其他网站连接。")
        ws = web.WebSocketResponse(heartbeat=25)
        await ws.prepare(request)
        token = request.cookies[COOKIE]
        key = token_hash(token)
        self._sockets.setdefault(key, set()).add(ws)
        with self._hub.subscribe(CONSOLE_TOPIC) as queue:
            async def pump() -> None:
                while True:
                    event = await queue.get()
                    if ws.closed:
                        return  # the session ended: nothing more reaches this socket
                    if event.get("audience") == "supervisor" and agent.role != "supervisor":
                        continue  # risk warnings and summaries (Art. 24) are for supervisors only
                    await ws.send_json(event)
            tasks = [asyncio.ensure_future(pump()), asyncio.ensure_future(self._watch_session(ws, token))]
            self._presence(agent.username, +1)
            try:
                async for msg in ws:
                    if msg.type == WSMsgType.TEXT:
                        await self._from_agent(agent, msg.data)
            finally:
                for task in tasks:
                    task.cancel()
                held = self._sockets.get(key)
                if held is not None:
                    held.discard(ws)
                    if not held:
                        self._sockets.pop(key, None)
                self._presence(agent.username, -1)
        return ws

    async def _watch_session(self, ws: web.WebSocketResponse, token: str) -> None:
        """Close the socket once its session is gone (expired, or logged out in another process)."""
        while not ws.closed:
            await asyncio.sleep(self._recheck)
            try:
                alive = await self._store().agents.session(token) is not None
            except StoreUnavailable:
                continue  # the database is away: keep the socket, ask again next time
            if not alive:
                log.info("console socket closed: its session ended")
                await ws.close(code=SESSION_ENDED, message=b"session ended")
                return

    def _presence(self, username: str, change: int) -> None:
        """Who has the console open, per process (the connections are this process's)."""
        before = username in self._online
        count = self._online.get(username, 0) + change
        if count > 0:
            self._online[username] = count
        else:
            self._online.pop(username, None)
        if before != (username in self._online):
            self._hub.publish(CONSOLE_TOPIC, {"type": "presence", "agent": username, "online": not before})
            if self._shared_presence is not None:
                task = asyncio.ensure_future(self._shared_presence.publish(frozenset(self._online)))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _from_agent(self, agent: Agent, data: str) -> None:
        """What the console page sends on its socket: only "I am typing in conversation N" (for the web
        chat's 客服正在输入…), at most every two seconds per agent."""
        try:
            event = json.loads(data) if len(data) < 200 else None
        except ValueError:
            return
        if not isinstance(event, dict) or event.get("type") != "typing":
            return
        cid = event.get("conversation_id")
        if not isinstance(cid, int) or not self._typing.allow(agent.username):
            return
        found = await self._store().agents.owned(cid, agent)
        if found is not None and found[0].channel == "web":
            self._hub.publish(web_topic(found[0].key), {"type": "typing", "from": "agent"})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
