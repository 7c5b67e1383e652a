"""The unit portal's HTTP API (`/unit/api/...`) and page (`/unit/`).

Sessions: an HttpOnly, SameSite=Strict cookie scoped to `/unit` whose SHA-256 is stored; every state
change also needs the session's CSRF token in `X-CSRF-Token`. A user only ever reaches tickets, files
and KB entries of their own unit: anything else is 404, the same answer as "does not exist".

The citizen's contact is masked in lists and in the ticket view. Art. 15(1) obliges the unit to
contact the citizen (及时联系诉求人), so a user may reveal the contact of one of their unit's tickets
with an explicit click, which is written to the audit log; a citizen who asked to stay anonymous is
never revealed (Art. 28: the hotline keeps the contact for the callback).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from channels.http_body import json_object, read_part
from channels.media import MediaStore
from gateway.api.unit_view import position_for_unit, citizen_message_ids, mask_name, mask_numbers, may_open, unit_trail
from gateway.api.units import UnitActions
from gateway.login import TooManyAttempts, credentials, set_session_cookie
from gateway.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from gateway.store.ticket_files import MAX_UNUSED, UploadRefused
from gateway.kb_service import KbService
from gateway.store import Store
from gateway.store.kb import UnitEntry
from gateway.store.schema import audit_log
from gateway.store.tickets import TicketFilter, TicketRecord
from gateway.store.unit_users import UnitUser
from gateway.unit_portal.files import store_unit_file
from nlu.pii import mask_phone
from routing import kb_review
from routing.lifecycle import FINISHED, STATUS_ZH, TransitionRefused, step
from routing.supervision import colour
from routing.unit_roles import ROLE_ZH, UNIT_ACTIONS, may

log = logging.getLogger(__name__)

COOKIE = "hotline_unit"
STATIC = Path(__file__).resolve().parent / "static"
MAX_LIST = 500
MAX_ANSWER = 4000


class UnitPortalApi:
    def __init__(self, store: Callable[[], Store], media: Callable[[], MediaStore], kb: Callable[[], KbService],
                 actions: UnitActions, secure_cookies: bool, trusted_proxies: tuple[str, ...] = ()) -> None:
        self._store = store
        self._media = media
        self._kb = kb
        self._actions = actions
        self._secure = secure_cookies
        self._trusted_proxies = trusted_proxies

    def routes(self) -> list[web.AbstractRouteDef]:
        actions = "|".join(UNIT_ACTIONS)
        return [
            web.get("/unit", self.page), web.get("/unit/", self.page),
            web.static("/unit/static", STATIC),
            web.post("/unit/api/login", self.login), web.post("/unit/api/logout", self.logout),
            web.get("/unit/api/me", self.me),
            web.get("/unit/api/tickets", self.tickets),
            web.get("/unit/api/tickets/{number}", self.ticket),
            web.post("/unit/api/tickets/{number}/contact", self.contact),
            web.post("/unit/api/tickets/{number}/files", self.upload),
            web.post(f"/unit/api/tickets/{{number}}/{{action:{actions}}}", self.act),
            web.get("/unit/api/files/{file_id:\\d{1,18}}", self.file),
            web.get("/unit/api/tickets/{number}/citizen-media/{attachment_id:\\d{1,18}}", self.citizen_media),
            web.get("/unit/api/kb", self.kb_entries),
            web.post("/unit/api/kb/{key}/confirm", self.kb_confirm),
            web.post("/unit/api/kb/{key}/revise", self.kb_revise),
        ]

    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={
            "Cache-Control": "no-cache", "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:"})

    # --- sessions

    async def login(self, request: web.Request) -> web.Response:
        username, password = await credentials(request)
        user, attempt = await self._store().unit_users.login(username, password)
        if attempt.locked:
            raise TooManyAttempts(f"unit account {username!r} locked")
        if user is None or attempt.token is None:
            raise Unauthorized("wrong username or password", code="bad_credentials", message_zh="用户名或密码错误。")
        resp = web.json_response({**self._me(user), "csrf": attempt.csrf})
        set_session_cookie(resp, request, COOKIE, attempt.token, "/unit", self._secure, self._trusted_proxies)
        return resp

    def _me(self, user: UnitUser) -> dict[str, Any]:
        return {"username": user.username, "display_name": user.display_name, "role": user.role,
                "role_zh": ROLE_ZH[user.role], "unit": user.unit_id,
                "unit_name": self._actions.names.get(user.unit_id, user.unit_id)}

    async def _user(self, request: web.Request, change: bool = False) -> UnitUser:
        token = request.cookies.get(COOKIE)
        found = await self._store().unit_users.session(token) if token else None
        if found is None:
            raise Unauthorized("no unit session", code="login_required", message_zh="请先登录。")
        user, csrf = found
        if change and request.headers.get("X-CSRF-Token") != csrf:
            raise Forbidden("missing or wrong CSRF token", code="bad_csrf", message_zh="页面已过期，请刷新后重试。")
        return user

    async def logout(self, request: web.Request) -> web.Response:
        await self._user(request, change=True)
        await self._store().unit_users.logout(request.cookies[COOKIE])
        resp = web.json_response({"ok": True})
        resp.del_cookie(COOKIE, path="/unit")
        return resp

    async def me(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        _, csrf = await self._store().unit_users.session(request.cookies[COOKIE]) or (None, "")
        # Names for the trail, which may mention units that had the ticket before.
        return web.json_response({**self._me(user), "csrf": csrf, "units": self._actions.names,
                                  "timezone": str(self._actions.planner.clock.tz)})

    # --- tickets

    def _summary(self, t: TicketRecord) -> dict[str, Any]:
        planner = self._actions.planner
        today = planner.clock.today()
        finished = t.status in FINISHED
        return {"number": t.number, "status": t.status, "status_zh": STATUS_ZH.get(t.status, t.status),
                "due_date": t.due_date.isoformat() if t.due_date else None,
                "colour": None if finished else colour(t.due_date, today, planner.add_workdays(today, 1)),
                "description": (mask_numbers(t.description) or "")[:140], "category": t.category,
                "district": t.district, "request_type": t.request_type, "created_at": t.created_at.isoformat(),
                "utility": t.utility}

    async def tickets(self, request: web.Request) -> web.Response:
        """The unit's tickets: unfinished first, the earliest due date first."""
        user = await self._user(request)
        status = request.query.get("status") or None
        if status is not None and status not in STATUS_ZH:
            raise BadRequest("unknown status", code="bad_status", message_zh="状态筛选有误。")
        q = request.query.get("q", "").strip()[:32] or None
        items, total = await self._store().tickets.list(
            TicketFilter(status=status, unit_id=user.unit_id, number=q), limit=MAX_LIST)
        items.sort(key=lambda t: (t.status in FINISHED, t.due_date is None, t.due_date or t.created_at.date(),
                                  t.number))
        return web.json_response({"today": self._actions.planner.clock.today().isoformat(), "total": total,
                                  "items": [self._summary(t) for t in items]})

    async def _own_ticket(self, user: UnitUser, number: str) -> TicketRecord:
        ticket = await self._store().tickets.get(number)
        if ticket is None or ticket.unit_id != user.unit_id:
            raise NotFound("no such ticket for this unit", code="ticket_not_found", message_zh="没有找到该工单。")
        return ticket

    def _view(self, user: UnitUser, ticket: TicketRecord, files: list[Any],
              citizen_media: list[dict[str, Any]]) -> dict[str, Any]:
        def allowed(action: str) -> bool:
            try:
                step(action, ticket.status)
            except TransitionRefused:
                return False
            return may(user.role, action)

        return {**self._summary(ticket), "description": mask_numbers(ticket.description),
                "location": mask_numbers(ticket.location), "channel": ticket.channel, "anonymous": ticket.anonymous,
                "contact_name": None if ticket.anonymous else mask_name(ticket.contact_name),
                "contact_phone": None if ticket.anonymous else mask_phone(ticket.contact_phone),
                "events": unit_trail(ticket.events, user.unit_id),
                "files": [f.as_json() for f in files if may_open(f.unit_id, user.unit_id)],
                "citizen_media": [{**{k: m[k] for k in ("id", "kind", "content_type", "filename")},
                                   "read_text": mask_numbers(m.get("read_text")) or None,
                                   "location": position_for_unit((m.get("read_result") or {}).get("location"),
                                                                 ticket.anonymous)} for m in citizen_media],
                "actions": [a for a in UNIT_ACTIONS if allowed(a)],
                "head_only": [a for a in UNIT_ACTIONS if not may(user.role, a)]}

    async def ticket(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        ticket = await self._own_ticket(user, request.match_info["number"])
        return web.json_response(await self._full_view(user, ticket))

    async def _full_view(self, user: UnitUser, ticket: TicketRecord) -> dict[str, Any]:
        files = self._store().ticket_files
        return self._view(user, ticket, await files.for_ticket(ticket.number),
                          await files.citizen_media(citizen_message_ids(ticket.events)))

    async def citizen_media(self, request: web.Request) -> web.FileResponse:
        """A photo or recording the citizen sent with the request."""
        user = await self._user(request)
        ticket = await self._own_ticket(user, request.match_info["number"])
        found = await self._store().ticket_files.citizen_media(citizen_message_ids(ticket.events),
                                                               int(request.match_info["attachment_id"]))
        if not found:
            raise NotFound("no such attachment on this ticket", code="file_not_found", message_zh="没有找到该文件。")
        path, headers = self._media().serve(found[0]["storage_key"], found[0]["filename"])
        return web.FileResponse(path, headers=headers)

    async def contact(self, request: web.Request) -> web.Response:
        """The citizen's contact, for calling them (Art. 15(1)); every look is audited."""
        user = await self._user(request, change=True)
        ticket = await self._own_ticket(user, request.match_info["number"])
        if ticket.anonymous:
            raise Conflict("the citizen asked to stay anonymous", code="anonymous",
                           message_zh="诉求人要求匿名，联系方式由热线保管，请通过热线答复。")
        await self._store().db.run(_audit_contact, self._store().clock.now(), user.actor, ticket.number,
                                   ticket.conversation_id)
        log.info("unit user %s of %s looked up the contact of ticket %s", user.username, user.unit_id, ticket.number)
        return web.json_response({"contact_name": ticket.contact_name, "contact_phone": ticket.contact_phone})

    async def upload(self, request: web.Request) -> web.Response:
        """One file (image or PDF) for a later action of this ticket; its id goes into that action."""
        user = await self._user(request, change=True)
        await self._own_ticket(user, request.match_info["number"])
        media = self._media()
        if not request.content_type.startswith("multipart/"):
            raise BadRequest("multipart/form-data with one file expected", code="malformed_multipart",
                             message_zh="请选择要上传的文件。")
        data, filename = b"", None
        try:
            reader = await request.multipart()
            async for part in reader:
                if isinstance(part, BodyPartReader) and part.name == "file":
                    data = await read_part(part, max(media.limits.image, media.limits.file))
                    # Some clients percent-encode non-ASCII names (RFC 7578 allows it); browsers send UTF-8.
                    filename = unquote(part.filename) if part.filename else None
                    break
        except (ValueError, AssertionError) as exc:
            raise BadRequest(f"malformed multipart body: {exc}", code="malformed_multipart",
                             message_zh="上传失败，请重试。") from exc
        if not data:
            raise BadRequest("no file", code="missing_file", message_zh="请选择要上传的文件。")
        att = await store_unit_file(media, data, filename)
        try:
            saved = await self._store().ticket_files.add(request.match_info["number"], user.unit_id, user.actor, att)
        except UploadRefused as exc:
            if exc.reason == "closed":
                raise Conflict("the unit can no longer act on this ticket", code="upload_closed",
                               message_zh="该工单当前状态不能再上传附件。") from exc
            raise Conflict(f"more than {MAX_UNUSED} unused uploads", code="too_many_uploads",
                           message_zh=f"已上传{MAX_UNUSED}个尚未使用的附件，请先提交办理结果或进度。") from exc
        if saved is None:
            raise NotFound("no such ticket for this unit", code="ticket_not_found", message_zh="没有找到该工单。")
        return web.json_response(saved.as_json(), status=201)

    async def file(self, request: web.Request) -> web.FileResponse:
        user = await self._user(request)
        found = await self._store().ticket_files.get(int(request.match_info["file_id"]))
        if found is None or not may_open(found.unit_id, user.unit_id):
            raise NotFound("no such file for this unit", code="file_not_found", message_zh="没有找到该文件。")
        path, headers = self._media().serve(found.storage_key, found.filename)
        return web.FileResponse(path, headers=headers)

    async def act(self, request: web.Request) -> web.Response:
        """The same code path as the units' token API (UnitActions.act), as this person of the unit."""
        user = await self._user(request, change=True)
        body = await json_object(request) if request.can_read_body else {}
        ticket = await self._actions.act(user.unit_id, request.match_info["number"], request.match_info["action"],
                                         body, role=user.role, actor=user.actor)
        if ticket.unit_id != user.unit_id:  # returned: no longer theirs to look at
            return web.json_response({"number": ticket.number, "returned": True})
        return web.json_response(await self._full_view(user, ticket))

    # --- knowledge base (Art. 8(4))

    def _kb_json(self, item: UnitEntry) -> dict[str, Any]:
        today = self._actions.planner.clock.today()
        due = kb_review.due(item.review_due, item.entry.reviewed_at)
        state = kb_review.state(due, today)
        return {**item.entry.as_json(), "review_due": due.isoformat() if due else None, "review_state": state,
                "review_state_zh": kb_review.STATE_ZH[state], "reviewed_by": item.reviewed_by}

    async def kb_entries(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        items = await self._store().unit_kb.entries(user.unit_id, self._actions.names.get(user.unit_id, ""))
        order = {"overdue": 0, "soon": 1, "ok": 2}
        rows = sorted((self._kb_json(i) for i in items),
                      key=lambda r: (order[r["review_state"]], r["review_due"] or "", r["id"]))
        return web.json_response({"items": rows, "review_days": kb_review.REVIEW_DAYS})

    async def kb_confirm(self, request: web.Request) -> web.Response:
        return await self._kb_review(request, None)

    async def kb_revise(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        answer = body.get("answer")
        if not isinstance(answer, str) or not answer.strip() or len(answer) > MAX_ANSWER:
            raise BadRequest("answer required (at most 4000 characters)", code="bad_answer",
                             message_zh="请填写修改后的答复内容。")
        return await self._kb_review(request, answer.strip())

    async def _kb_review(self, request: web.Request, answer: str | None) -> web.Response:
        user = await self._user(request, change=True)
        today = self._actions.planner.clock.today()
        done = await self._store().unit_kb.review(request.match_info["key"], user.unit_id,
                                                  self._actions.names.get(user.unit_id, ""), user.actor, today,
                                                  kb_review.next_review(today), answer)
        if done is None:
            raise NotFound("no such entry for this unit", code="kb_entry_not_found", message_zh="没有找到该知识条目。")
        item, changed = done
        if changed:
            await self._kb().changed()  # citizens get the new answer at once, on every replica
        return web.json_response({**self._kb_json(item), "changed": changed})


def _audit_contact(conn: Any, now: Any, actor: str, number: str, conversation_id: int | None) -> None:
    conn.execute(audit_log.insert().values(at=now, actor=actor, action="contact_viewed",
                                           conversation_id=conversation_id, data={"ticket": number}))
