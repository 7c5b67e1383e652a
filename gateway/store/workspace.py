"""What agents work with beside the conversation itself: internal notes, the team's canned replies,
the citizen's history across channels, transfers between agents. Every change is in the audit log, in
the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gateway.store.agents import Agent, TakeoverRefused, _audit, _like
from gateway.store.database import Database
from gateway.store.messages import ConversationRef
from gateway.store.schema import (agents, canned_replies, contacts, conversation_notes, conversations, messages,
                                  tickets)
from routing.clock import Clock

HISTORY_LIMIT = 50


class DuplicateShortcut(Exception):
    pass


class CannedNotFound(Exception):
    pass


class AgentNotFound(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Transfer:
    conversation: ConversationRef
    from_agent: str | None


def _note_json(r: Any) -> dict[str, Any]:
    return {"id": r.id, "conversation_id": r.conversation_id, "author": r.author, "author_name": r.author_name,
            "text": r.text, "created_at": r.created_at.isoformat()}


_NOTES = (sa.select(conversation_notes, agents.c.display_name.label("author_name"))
          .outerjoin(agents, agents.c.username == conversation_notes.c.author))


class Workspace:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # --- internal notes

    async def add_note(self, conversation_id: int, agent: Agent, text: str) -> dict[str, Any] | None:
        """None when there is no such conversation. Never queued for delivery: it is not a message."""
        def work(conn: Connection) -> dict[str, Any] | None:
            if conn.execute(sa.select(conversations.c.id).where(conversations.c.id == conversation_id)
                            ).one_or_none() is None:
                return None
            now = self._clock.now()
            note_id = conn.execute(conversation_notes.insert().values(
                conversation_id=conversation_id, author=agent.username, text=text, created_at=now)
                .returning(conversation_notes.c.id)).scalar_one()
            _audit(conn, now, f"agent:{agent.username}", "note", conversation_id, {"note_id": note_id})
            return _note_json(conn.execute(_NOTES.where(conversation_notes.c.id == note_id)).one())
        return await self._db.run(work)

    async def notes(self, conversation_id: int) -> list[dict[str, Any]]:
        return await self._db.run(lambda conn: [_note_json(r) for r in conn.execute(
            _NOTES.where(conversation_notes.c.conversation_id == conversation_id).order_by(conversation_notes.c.id))])

    # --- canned replies

    async def canned(self, q: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        def work(conn: Connection) -> list[dict[str, Any]]:
            query = sa.select(canned_replies).order_by(canned_replies.c.shortcut).limit(limit)
            if q:
                pattern = _like(q)
                query = query.where(sa.or_(*(c.like(pattern, escape="\\") for c in
                                             (canned_replies.c.shortcut, canned_replies.c.title, canned_replies.c.text))))
            return [{"id": r.id, "shortcut": r.shortcut, "title": r.title, "text": r.text, "author": r.author,
                     "updated_at": r.updated_at.isoformat()} for r in conn.execute(query)]
        return await self._db.run(work)

    async def save_canned(self, agent: Agent, shortcut: str, title: str, text: str,
                          canned_id: int | None = None) -> int:
        def work(conn: Connection) -> int:
            now = self._clock.now()
            values = {"shortcut": shortcut, "title": title, "text": text, "author": agent.username, "updated_at": now}
            if canned_id is None:
                new_id = conn.execute(canned_replies.insert().values(created_at=now, **values)
                                      .returning(canned_replies.c.id)).scalar_one()
            else:
                if conn.execute(canned_replies.update().where(canned_replies.c.id == canned_id)
                                .values(**values)).rowcount != 1:
                    raise CannedNotFound(canned_id)
                new_id = canned_id
            _audit(conn, now, f"agent:{agent.username}", "canned_saved", None, {"id": new_id, "shortcut": shortcut})
            return new_id
        try:
            return await self._db.run(work)
        except IntegrityError as exc:
            raise DuplicateShortcut(shortcut) from exc

    async def delete_canned(self, agent: Agent, canned_id: int) -> None:
        def work(conn: Connection) -> None:
            row = conn.execute(sa.select(canned_replies.c.shortcut).where(canned_replies.c.id == canned_id)).one_or_none()
            if row is None:
                raise CannedNotFound(canned_id)
            conn.execute(canned_replies.delete().where(canned_replies.c.id == canned_id))
            _audit(conn, self._clock.now(), f"agent:{agent.username}", "canned_deleted", None,
                   {"id": canned_id, "shortcut": row.shortcut})
        await self._db.run(work)

    # --- agents and transfers

    async def agents(self) -> list[dict[str, Any]]:
        return await self._db.run(lambda conn: [
            {"username": r.username, "display_name": r.display_name, "role": r.role, "skills": r.skills or []}
            for r in conn.execute(sa.select(agents.c.username, agents.c.display_name, agents.c.role, agents.c.skills)
                                  .order_by(agents.c.username))])

    async def set_skills(self, username: str, skills: list[str]) -> bool:
        return await self._db.run(lambda conn: conn.execute(agents.update().where(agents.c.username == username)
                                                            .values(skills=skills or None)).rowcount == 1)

    async def transfer(self, conversation_id: int, actor: Agent, to: str | None, supervisor_takeover: bool) -> Transfer:
        """Give an open conversation to agent `to` (its owner hands it on; a supervisor may assign any), or,
        with `supervisor_takeover`, a supervisor takes over one another agent owns. Audited either way."""
        def work(conn: Connection) -> Transfer:
            row = conn.execute(sa.select(conversations).where(conversations.c.id == conversation_id)
                               .with_for_update()).one_or_none()
            if row is None or row.state == "closed":
                raise TakeoverRefused(None, "closed" if row else "missing")
            receiver = actor.username if supervisor_takeover else to
            if receiver is None or conn.execute(sa.select(agents.c.id).where(agents.c.username == receiver)
                                                ).one_or_none() is None:
                raise AgentNotFound(receiver)
            is_owner = row.state == "agent" and row.agent_id == actor.username
            if actor.role != "supervisor" and not is_owner:
                raise TakeoverRefused(row.agent_id, row.state)
            done = conn.execute(conversations.update().where(
                conversations.c.id == conversation_id, conversations.c.state == row.state,
                (conversations.c.agent_id.is_(None) if row.agent_id is None else conversations.c.agent_id == row.agent_id))
                .values(state="agent", agent_id=receiver)).rowcount
            if done != 1:
                raise TakeoverRefused(None, "taken")
            action = "supervisor_takeover" if supervisor_takeover else "transfer"
            _audit(conn, self._clock.now(), f"agent:{actor.username}", action, conversation_id,
                   {"from": row.agent_id, "to": receiver, "from_state": row.state})
            return Transfer(ConversationRef(row.id, row.channel, row.key, row.contact_id, "agent", receiver,
                                            bool(row.emergency)), row.agent_id)
        return await self._db.run(work)

    # --- the citizen's history

    async def history(self, conversation_id: int) -> dict[str, Any] | None:
        """Other conversations and tickets of the same citizen: the same contact, or the same phone number
        (a caller's number, a number given on a ticket or recorded on a contact), WeChat openid or
        e-mail address (those are the contact's own address on its channel)."""
        def work(conn: Connection) -> dict[str, Any] | None:
            me = conn.execute(sa.select(contacts).join(conversations, conversations.c.contact_id == contacts.c.id)
                              .where(conversations.c.id == conversation_id)).one_or_none()
            if me is None:
                return None
            phones = {p for p in (me.phone, me.external_user if me.channel == "ivr" else None) if p}
            phones |= set(conn.execute(sa.select(tickets.c.contact_phone).where(
                tickets.c.contact_id == me.id, tickets.c.contact_phone.is_not(None)).distinct().limit(20)).scalars())
            contact_ids = {me.id}
            if phones:
                contact_ids |= set(conn.execute(sa.select(contacts.c.id).where(sa.or_(
                    contacts.c.phone.in_(phones),
                    sa.and_(contacts.c.channel == "ivr", contacts.c.external_user.in_(phones)))).limit(50)).scalars())
                contact_ids |= {c for c in conn.execute(sa.select(tickets.c.contact_id).where(
                    tickets.c.contact_phone.in_(phones), tickets.c.contact_id.is_not(None)).distinct().limit(50)
                ).scalars()}
            convs = conn.execute(
                sa.select(conversations.c.id, conversations.c.channel, conversations.c.state,
                          conversations.c.created_at, contacts.c.external_user)
                .join(contacts, contacts.c.id == conversations.c.contact_id)
                .where(conversations.c.contact_id.in_(contact_ids), conversations.c.id != conversation_id)
                .order_by(conversations.c.id.desc()).limit(HISTORY_LIMIT)).all()
            firsts: dict[int, str] = {}
            if convs:
                first_ids = (sa.select(sa.func.min(messages.c.id))
                             .where(messages.c.conversation_id.in_([c.id for c in convs]), messages.c.direction == "in")
                             .group_by(messages.c.conversation_id))
                firsts = {r.conversation_id: r.text for r in conn.execute(
                    sa.select(messages.c.conversation_id, messages.c.text).where(messages.c.id.in_(first_ids)))}
            match = [tickets.c.contact_id.in_(contact_ids)] + ([tickets.c.contact_phone.in_(phones)] if phones else [])
            ticket_rows = conn.execute(
                sa.select(tickets.c.number, tickets.c.status, tickets.c.channel, tickets.c.category,
                          tickets.c.description, tickets.c.created_at, tickets.c.conversation_id)
                .where(sa.or_(*match), sa.or_(tickets.c.conversation_id.is_(None),  # this one's are shown above
                                              tickets.c.conversation_id != conversation_id))
                .order_by(tickets.c.id.desc()).limit(HISTORY_LIMIT)).all()
            return {
                "phones": sorted(phones),
                "conversations": [{"id": c.id, "channel": c.channel, "state": c.state, "external_user": c.external_user,
                                   "created_at": c.created_at.isoformat(), "first_text": (firsts.get(c.id) or "")[:120]}
                                  for c in convs],
                "tickets": [{"number": t.number, "status": t.status, "channel": t.channel, "category": t.category,
                             "description": t.description[:120], "created_at": t.created_at.isoformat(),
                             "conversation_id": t.conversation_id} for t in ticket_rows]}
        return await self._db.run(work)
