"""Tickets (工单) and their append-only audit trail.

Numbers are `YYYYMMDD-NNNNNN` in the hotline's local day (Asia/Shanghai),
drawn from a per-day counter row with an atomic upsert, so they are unique
and gap-free per day on SQLite and PostgreSQL alike, across replicas.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
import functools
from datetime import date, datetime, timedelta
from typing import Any, Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.store.common import PerDialect
from gateway.store.prepared import Prepared
from routing.clock import Clock
from gateway.store.database import Database
from gateway.store.messages import ConversationRef, OutboundDraft, record_outbound
from routing.lifecycle import ENDED, FINISHED, RequestPending, TransitionRefused, step
from routing.supervision import REQUESTS, pending_request
from routing.tickets import TicketDraft
from gateway.store.ticket_files import claim_files
from gateway.store.schema import (attachments, contacts, conversations, media_readings, messages, ticket_counters,
                                  ticket_events, tickets)



@dataclass(frozen=True, slots=True)
class TicketEvent:
    at: datetime
    actor: str
    kind: str
    public: bool
    data: dict[str, Any] | None
    id: int | None = None  # set when read back: a decision names the request event it decides

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "actor": self.actor, "kind": self.kind, "data": self.data or {}}


@dataclass(frozen=True, slots=True)
class TicketRecord:
    id: int
    number: str
    status: str
    channel: str
    source: str
    description: str
    request_type: str | None
    category: str | None
    district: str | None
    location: str | None
    contact_name: str | None
    contact_phone: str | None
    anonymous: bool
    utility: bool
    conversation_id: int | None
    created_at: datetime
    updated_at: datetime
    events: tuple[TicketEvent, ...] = field(default=())
    unit_id: str | None = None
    due_date: date | None = None
    # Where the citizen's photo was taken (EXIF): latitude, longitude and, when known, district.
    reported_position: dict[str, Any] | None = None

    def as_json(self, with_events: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["due_date"] = self.due_date.isoformat() if self.due_date else None
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        data["events"] = [e.as_json() for e in self.events] if with_events else None
        if not with_events:
            del data["events"]
        return data


@dataclass(frozen=True, slots=True)
class TicketFilter:
    status: str | None = None
    channel: str | None = None
    category: str | None = None
    district: str | None = None
    request_type: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    phone: str | None = None
    unit_id: str | None = None
    number: str | None = None  # part of a ticket number
    text: str | None = None  # part of the description (the console's search)


def ticket_day(clock: Clock, now: datetime) -> str:
    return clock.local_day(now).strftime("%Y%m%d")


_TICKET_COLS = [c for c in tickets.c if c.name not in ("contact_id",)]


def _record(row: sa.Row[Any], events: Sequence[TicketEvent] = ()) -> TicketRecord:
    m = row._mapping
    return TicketRecord(
        id=m["id"], number=m["number"], status=m["status"], channel=m["channel"], source=m["source"],
        description=m["description"], request_type=m["request_type"], category=m["category"],
        district=m["district"], location=m["location"], contact_name=m["contact_name"],
        contact_phone=m["contact_phone"], anonymous=bool(m["anonymous"]), utility=bool(m["utility"]),
        conversation_id=m["conversation_id"], created_at=m["created_at"], updated_at=m["updated_at"],
        events=tuple(events), unit_id=m["unit_id"], due_date=m["due_date"],
        reported_position=m.get("reported_position"))


_COUNTER_NEXT = Prepared(PerDialect(lambda insert: insert(ticket_counters).on_conflict_do_update(
    index_elements=["day"], set_={"last": ticket_counters.c.last + 1}).returning(ticket_counters.c.last)))
_EVENT_INSERT = Prepared(ticket_events.insert())
_TICKET_INSERT = Prepared(tickets.insert().returning(tickets.c.id))
_DRAFT_FIELDS = tuple(f.name for f in fields(TicketDraft) if f.name != "dispatch")
_TICKET_TOUCH = Prepared(tickets.update().where(tickets.c.id == sa.bindparam("b_id")).values(
    updated_at=sa.bindparam("b_now")))
_TICKET_IS_OPEN = sa.text("tickets.status IN ('open', 'dispatched', 'in_progress')")
_LOCK_CONVERSATION = Prepared(sa.select(conversations.c.id).where(conversations.c.id == sa.bindparam("b_id"))
                              .with_for_update())
_OPEN_TICKET_ID = Prepared(sa.select(tickets.c.id, tickets.c.number)
                            .where(tickets.c.conversation_id == sa.bindparam("b_conv"), _TICKET_IS_OPEN)
                            .order_by(tickets.c.id.desc()).limit(1))
_OPEN_FOR_CONVERSATION = (sa.select(*_TICKET_COLS)
                          .where(tickets.c.conversation_id == sa.bindparam("b_conv"),
                                 _TICKET_IS_OPEN)
                          .order_by(tickets.c.id.desc()).limit(1))


_LATEST_RESULT = (sa.select(sa.func.max(ticket_events.c.id))
                  .where(ticket_events.c.ticket_id == sa.bindparam("b_id"), ticket_events.c.kind == "result")
                  .scalar_subquery())
# A rating newer than the ticket's latest result: that result has been rated already.
_RATED_SINCE_RESULT = (sa.select(ticket_events.c.id)
                       .where(ticket_events.c.ticket_id == sa.bindparam("b_id"), ticket_events.c.kind == "rating",
                              ticket_events.c.id > sa.func.coalesce(_LATEST_RESULT, 0)).limit(1))


def _request_kinds(conn: Connection, ticket_id: int, request: str) -> list[str]:
    """The kinds of a ticket's events about one request (asked, approved, rejected), oldest first."""
    return list(conn.execute(sa.select(ticket_events.c.kind).where(
        ticket_events.c.ticket_id == ticket_id,
        ticket_events.c.kind.in_((request, f"{request}_approved", f"{request}_rejected"))
    ).order_by(ticket_events.c.id)).scalars())


def _next_number(conn: Connection, clock: Clock, now: datetime) -> str:
    day = ticket_day(clock, now)
    n = _COUNTER_NEXT(conn, {"day": day, "last": 1}).scalar_one()
    return f"{day}-{n:06d}"


def _insert_event(conn: Connection, ticket_id: int, e: TicketEvent) -> None:
    _EVENT_INSERT(conn, {"ticket_id": ticket_id, "at": e.at, "actor": e.actor, "kind": e.kind,
                                 "public": e.public, "data": e.data})


MAX_CREATION_MEDIA = 20


def _media_messages_since_last_ticket(conn: Connection, conversation_id: int, ticket_id: int) -> list[int]:
    previous = conn.execute(sa.select(sa.func.max(tickets.c.created_at)).where(
        tickets.c.conversation_id == conversation_id, tickets.c.id != ticket_id)).scalar()
    query = (sa.select(messages.c.id)
             .where(messages.c.conversation_id == conversation_id, messages.c.direction == "in",
                    messages.c.id.in_(sa.select(attachments.c.message_id)))
             .order_by(messages.c.id.desc()).limit(MAX_CREATION_MEDIA))
    if previous is not None:
        query = query.where(messages.c.created_at >= previous)
    found = conn.execute(query).scalars().all()
    if not found:
        return []
    # Messages another ticket of the conversation names in its trail are that ticket's.
    taken: set[int] = set()
    for data in conn.execute(sa.select(ticket_events.c.data).join(tickets, tickets.c.id == ticket_events.c.ticket_id)
                             .where(tickets.c.conversation_id == conversation_id, tickets.c.id != ticket_id)).scalars():
        taken.update(named_messages(data))
    return sorted(m for m in found if m not in taken)


_READINGS_OF_MESSAGE = Prepared(sa.select(media_readings.c.result).where(
    media_readings.c.message_id == sa.bindparam("b_msg"), media_readings.c.state == "done")
    .order_by(media_readings.c.attachment_id.desc()))


def _photo_position(conn: Connection, message_ids: list[int]) -> dict[str, Any] | None:
    """Where the newest of the citizen's photos for this ticket was taken, when its EXIF said."""
    # Every ticket the pipeline opens names one message: that lookup is prepared.
    rows = (_READINGS_OF_MESSAGE(conn, {"b_msg": message_ids[0]}).all() if len(message_ids) == 1 else
            conn.execute(sa.select(media_readings.c.result).where(
                media_readings.c.message_id.in_(message_ids), media_readings.c.state == "done")
                .order_by(media_readings.c.attachment_id.desc())).all())
    for (result,) in rows:
        if isinstance(result, dict) and isinstance(result.get("location"), dict):
            return result["location"]
    return None


def named_messages(data: Any) -> list[int]:
    """The citizen's messages a trail event names: one for the pipeline's tickets, the conversation's media
    messages for those the bot, an agent or the API opened (`create_ticket`)."""
    if not isinstance(data, dict):
        return []
    return [m for m in [data.get("message_id"), *(data.get("message_ids") or [])]
            if isinstance(m, int) and not isinstance(m, bool)]


def create_ticket(conn: Connection, clock: Clock, draft: TicketDraft, actor: str,
                  message_id: int | None = None) -> TicketRecord:
    """`message_id`: the citizen's message that opened it, named in the trail (its attachments are the
    ticket's, gateway/api/unit_view.py)."""
    now = clock.now()
    values = {f: getattr(draft, f) for f in _DRAFT_FIELDS}
    number = _next_number(conn, clock, now)
    status = "dispatched" if draft.unit_id else "open"
    ticket_id = _TICKET_INSERT(conn, {
        "number": number, "status": status, "created_at": now, "updated_at": now, **values}).scalar_one()
    created: dict[str, Any] = {"source": draft.source, "channel": draft.channel}
    if message_id:
        created["message_id"] = message_id
    elif draft.conversation_id is not None:
        # Opened by the bot, an agent or an integrator: the citizen's photos, videos and recordings of this
        # matter are those sent in the conversation since its previous ticket (none of another ticket's).
        shown = _media_messages_since_last_ticket(conn, draft.conversation_id, ticket_id)
        if shown:
            created["message_ids"] = shown
    named = named_messages(created)
    position = _photo_position(conn, named) if named else None
    if position is not None:
        conn.execute(tickets.update().where(tickets.c.id == ticket_id).values(reported_position=position))
    events = [TicketEvent(now, actor, "created", True, created)]
    if draft.dispatch is not None:
        events.append(TicketEvent(now, "system", "dispatch_proposed", False, draft.dispatch))
    if draft.unit_id:
        events.append(TicketEvent(now, "system", "dispatched", True, {
            "unit": draft.unit_id, "due_date": draft.due_date.isoformat() if draft.due_date else None}))
    for event in events:
        _insert_event(conn, ticket_id, event)
    values.pop("contact_id")
    return TicketRecord(id=ticket_id, number=number, status=status, created_at=now, updated_at=now,
                        events=tuple(events), **values)


def add_event(conn: Connection, now: datetime, ticket_id: int, actor: str, kind: str,
              data: dict[str, Any] | None = None, public: bool = False) -> TicketEvent:
    event = TicketEvent(now, actor, kind, public, data)
    _insert_event(conn, ticket_id, event)
    _TICKET_TOUCH(conn, {"b_id": ticket_id, "b_now": event.at})
    return event


def open_for_conversation(conn: Connection, conversation_id: int) -> TicketRecord | None:
    row = conn.execute(_OPEN_FOR_CONVERSATION, {"b_conv": conversation_id}).one_or_none()
    return None if row is None else _record(row)


def _get(conn: Connection, number: str) -> TicketRecord | None:
    row = conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.number == number)).one_or_none()
    if row is None:
        return None
    events = conn.execute(sa.select(ticket_events).where(ticket_events.c.ticket_id == row.id)
                          .order_by(ticket_events.c.id)).all()
    return _record(row, [TicketEvent(e.at, e.actor, e.kind, bool(e.public), e.data, e.id) for e in events])


def _update(conn: Connection, now: datetime, number: str, actor: str, changes: dict[str, Any]) -> TicketRecord | None:
    row = conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.number == number)).one_or_none()
    if row is None:
        return None
    diff = {k: {"from": row._mapping[k], "to": v} for k, v in changes.items() if row._mapping[k] != v}
    if diff:
        conn.execute(tickets.update().where(tickets.c.id == row.id).values(updated_at=now, **changes))
        kind = "status_changed" if set(diff) == {"status"} else "updated"
        _insert_event(conn, row.id, TicketEvent(now, actor, kind, "status" in diff, diff))
    return _get(conn, number)


def _list(conn: Connection, flt: TicketFilter, offset: int, limit: int) -> tuple[list[TicketRecord], int]:
    conds = []
    for name in ("status", "channel", "category", "district", "request_type", "unit_id"):
        value = getattr(flt, name)
        if value is not None:
            conds.append(tickets.c[name] == value)
    if flt.phone is not None:
        conds.append(tickets.c.contact_phone == flt.phone)
    if flt.number is not None:
        conds.append(tickets.c.number.contains(flt.number, autoescape=True))
    if flt.text is not None:
        pattern = "%" + flt.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conds.append(tickets.c.description.like(pattern, escape="\\"))
    if flt.created_from is not None:
        conds.append(tickets.c.created_at >= flt.created_from)
    if flt.created_to is not None:
        conds.append(tickets.c.created_at < flt.created_to)
    total = conn.execute(sa.select(sa.func.count()).select_from(tickets).where(*conds)).scalar_one()
    rows = conn.execute(sa.select(*_TICKET_COLS).where(*conds)
                        .order_by(tickets.c.id.desc()).offset(offset).limit(limit)).all()
    return [_record(r) for r in rows], total


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a citizen's message went: the conversation's own ticket, a new one, or an earlier request."""
    number: str
    kind: str                            # "appended" | "created" | "repeat" | "related"
    earlier: TicketRecord | None = None  # "repeat": the earlier ticket with its events (its result, if any)
    linked: str | None = None            # "created": the other citizen's ticket it was linked to (并单)


Candidate = tuple["CandidateTicket", int | None, str | None]


def place_message(conn: Connection, clock: Clock, conversation: ConversationRef, draft: TicketDraft,
                  event_data: dict[str, Any], plan: Callable[[TicketDraft], TicketDraft],
                  find_earlier: Callable[[list[Candidate]], Any] | None = None,
                  lookback: timedelta = timedelta(0),
                  find_same: Callable[[str, list[Candidate]], Any] | None = None,
                  same_lookback: timedelta = timedelta(0)) -> Placement:
    """The conversation's open ticket takes the message; otherwise, with `find_earlier`, the citizen's
    earlier request about it (Art. 13(4): over the citizen's tickets of the category and district of the
    past `lookback`, giving a `routing.repeats.EarlierRequest` or None); otherwise a new ticket,
    `plan(draft)`.

    Planning (dispatch, due date) is asked for only when a ticket is opened: most messages join the
    conversation's ticket, and planning every message cost a tenth of the ingest rate. One unit of work
    for what took three round trips to the writer (the open-ticket check, the candidates, the turn):
    the ingest rate is bound by those round trips (docs/benchmarks.md)."""
    # Serialize turns of one conversation (PostgreSQL; SQLite has a single writer, where the lock would be a
    # plain SELECT per message), so two messages sent at once cannot both open a ticket.
    if conn.dialect.name != "sqlite":
        _LOCK_CONVERSATION(conn, {"b_id": conversation.id})
    row = _OPEN_TICKET_ID(conn, {"b_conv": conversation.id}).one_or_none()
    if row is not None:
        # The citizen's follow-up is an event, not a change of the ticket: updated_at stays.
        _insert_event(conn, row.id, TicketEvent(clock.now(), "system", "citizen_message", False, event_data))
        return Placement(row.number, "appended")
    found = None if find_earlier is None else find_earlier(candidate_rows(
        conn, clock.now(), draft.category, draft.district, lookback, contact_id=conversation.contact_id))
    if found is not None:
        earlier = found.ticket
        if found.repeat:
            add_event(conn, clock.now(), earlier.id, "citizen", "repeat",
                      {"message_id": event_data.get("message_id"), "score": round(found.score, 2)})
            return Placement(earlier.number, "repeat", _get(conn, earlier.number))
        add_event(conn, clock.now(), earlier.id, "citizen", "citizen_message",
                  {"message_id": event_data.get("message_id"), "text": event_data.get("text")})
        return Placement(earlier.number, "related")
    ticket = create_ticket(conn, clock, plan(draft), "system", event_data.get("message_id"))
    if find_same is None:
        return Placement(ticket.number, "created")
    # Another citizen's open ticket about the same problem (`routing.links.same_problem`), linked in this
    # unit: two more round trips to the writer per new ticket otherwise.
    chosen = find_same(ticket.number, candidate_rows(conn, clock.now(), draft.category, draft.district,
                                                     same_lookback))
    if chosen is None:
        return Placement(ticket.number, "created")
    new, other, score = chosen
    _link_events(conn, clock.now(), (new.id, new.number), (other.id, other.number), round(score, 2))
    return Placement(ticket.number, "created", linked=other.number)


def _link_events(conn: Connection, now: datetime, a: tuple[int, str], b: tuple[int, str], score: float) -> None:
    """Several citizens, one problem (并单): each ticket (id, number) records the other."""
    _insert_event(conn, a[0], TicketEvent(now, "system", "linked", False, {"ticket": b[1], "score": score}))
    _insert_event(conn, b[0], TicketEvent(now, "system", "linked", False, {"ticket": a[1], "score": score}))


@dataclass(frozen=True, slots=True)
class CandidateTicket:
    """What the repeat and same-problem choices read of a candidate (`routing.repeats`, `routing.links`):
    up to 50 of them per new ticket, so not the whole `TicketRecord` (whose rows cost a quarter of a new
    e-mail ticket's time in the writer)."""
    id: int
    number: str
    status: str
    description: str
    conversation_id: int | None


def candidate_rows(conn: Connection, now: datetime, category: str | None, district: str | None, within: timedelta,
                   limit: int = 50, contact_id: int | None = None) -> list[Candidate]:
    """See `TicketStore.candidates`."""
    query = _candidates_query(contact_id is not None, category is not None, district is not None)
    params = {"b_since": now - within, "b_limit": limit, "b_contact": contact_id,
              "b_category": category, "b_district": district}
    return [(CandidateTicket(r[0], r[1], r[2], r[3], r[4]), r[5], r[6]) for r in query(conn, params).all()]


# A literal list (not an expanding parameter), so the prepared statement is compiled once.
_TICKET_NOT_ENDED = sa.text("tickets.status NOT IN (%s)" % ", ".join(f"'{s}'" for s in sorted(ENDED)))


@functools.cache
def _candidates_query(by_contact: bool, has_category: bool, has_district: bool) -> Prepared:
    """Built once per shape (see TicketStore.candidates): building a statement costs more than running it."""
    query = (sa.select(tickets.c.id, tickets.c.number, tickets.c.status, tickets.c.description,
                       tickets.c.conversation_id, tickets.c.contact_id, contacts.c.external_user)
             .outerjoin(contacts, contacts.c.id == tickets.c.contact_id)
             .where(sa.or_(_TICKET_NOT_ENDED,
                           tickets.c.updated_at >= sa.bindparam("b_since")))
             .order_by(tickets.c.id.desc()).limit(sa.bindparam("b_limit")))
    if by_contact:
        query = query.where(tickets.c.contact_id == sa.bindparam("b_contact"))
    query = query.where(tickets.c.category == sa.bindparam("b_category") if has_category
                        else tickets.c.category.is_(None))
    return Prepared(query.where(tickets.c.district == sa.bindparam("b_district") if has_district
                                else tickets.c.district.is_(None)))


class TicketStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def create(self, draft: TicketDraft, actor: str) -> TicketRecord:
        return await self._db.run(create_ticket, self._clock, draft, actor)

    async def add_event(self, ticket_id: int, actor: str, kind: str, data: dict[str, Any] | None = None,
                        public: bool = False) -> TicketEvent:
        return await self._db.run(add_event, self._clock.now(), ticket_id, actor, kind, data, public)

    async def update(self, number: str, actor: str, changes: dict[str, Any]) -> TicketRecord | None:
        """Change fields and record old and new values in the audit trail."""
        return await self._db.run(_update, self._clock.now(), number, actor, changes)

    async def get(self, number: str) -> TicketRecord | None:
        return await self._db.run(_get, number)

    async def open_for_conversation(self, conversation_id: int) -> TicketRecord | None:
        """The conversation's newest ticket still being worked on."""
        return await self._db.run(open_for_conversation, conversation_id)

    async def unit_step(self, number: str, unit_id: str, action: str, data: dict[str, Any],
                        notify_text: str | None = None,
                        queues: Callable[[str], bool] | None = None, actor: str | None = None,
                        files: Sequence[int] = ()) -> tuple[TicketRecord, list[Any]] | None:
        """Apply a lifecycle action of the ticket's lead unit (routing.lifecycle), in one transaction,
        with `notify_text` stored for the citizen on their channel when given and the unit's uploaded
        `files` attached to the event. None when the ticket is not this unit's; TransitionRefused when
        the action does not fit the status; LookupError naming a file that is not the unit's upload."""
        def work(conn: Connection) -> tuple[TicketRecord, list[Any]] | None:
            row = conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.number == number).with_for_update()
                               ).one_or_none()
            if row is None or row.unit_id != unit_id:
                return None
            s = step(action, row.status)
            if action in REQUESTS and pending_request(_request_kinds(conn, row.id, action), action):
                raise RequestPending(action)
            now = self._clock.now()
            values: dict[str, Any] = {"updated_at": now}
            if s.to is not None:
                values["status"] = s.to
            if action == "return":
                values["unit_id"] = None
            conn.execute(tickets.update().where(tickets.c.id == row.id).values(**values))
            event_data = {**data, "unit": unit_id, **({"status": {"from": row.status, "to": s.to}} if s.to else {})}
            if files:
                event_data["files"] = claim_files(conn, row.id, unit_id, files, action)
            _insert_event(conn, row.id, TicketEvent(now, actor or f"unit:{unit_id}", action, s.public_text is not None,
                                                    event_data))
            items: list[Any] = []
            if notify_text and row.conversation_id is not None:
                conv = conn.execute(sa.select(conversations, contacts.c.external_user)
                                    .join(contacts, contacts.c.id == conversations.c.contact_id)
                                    .where(conversations.c.id == row.conversation_id)).one()
                ref = ConversationRef(conv.id, conv.channel, conv.key, conv.contact_id, conv.state, conv.agent_id,
                                      bool(conv.emergency))
                items = record_outbound(conn, now, ref, conv.external_user, None,
                                        [OutboundDraft(notify_text, "system", f"unit:{unit_id}", {"ticket_number": number})],
                                        queues(conv.channel) if queues else True)
            ticket = _get(conn, number)
            assert ticket is not None
            return ticket, items
        return await self._db.run(work)

    async def awaiting_callback(self, limit: int = 100, number: str | None = None
                                ) -> list[tuple[TicketRecord, str | None]]:
        """Resolved tickets with no rating since their latest result, oldest first, with the citizen's
        platform address: the callback list (回访, Art. 16). Phone callers can only be reached this way."""
        def work(conn: Connection) -> list[tuple[TicketRecord, str | None]]:
            results, ratings = ticket_events.alias("results"), ticket_events.alias("ratings")
            last_result = (sa.select(sa.func.max(results.c.id)).where(
                results.c.ticket_id == tickets.c.id, results.c.kind == "result").scalar_subquery())
            rated = sa.exists().where(ratings.c.ticket_id == tickets.c.id, ratings.c.kind == "rating",
                                      ratings.c.id > last_result)
            rows = conn.execute(sa.select(*_TICKET_COLS, contacts.c.external_user)
                                .outerjoin(contacts, contacts.c.id == tickets.c.contact_id)
                                .where(tickets.c.status == "resolved", ~rated,
                                       *([tickets.c.number == number] if number else []))
                                .order_by(tickets.c.updated_at, tickets.c.id).limit(limit)).all()
            return [(_record(r), r.external_user) for r in rows]
        return await self._db.run(work)

    async def conversation_contact(self, conversation_id: int) -> int | None:
        """The contact a conversation belongs to: a ticket opened from it names that citizen."""
        return await self._db.run(lambda conn: conn.execute(
            sa.select(conversations.c.contact_id).where(conversations.c.id == conversation_id)).scalar_one_or_none())

    async def status_counts(self) -> tuple[dict[str, int], int]:
        """Tickets by status, and how many unfinished ones are past their due date (for /metrics)."""
        today = self._clock.today()

        def work(conn: Connection) -> tuple[dict[str, int], int]:
            by_status = {status: n for status, n in conn.execute(
                sa.select(tickets.c.status, sa.func.count()).group_by(tickets.c.status)).all()}
            overdue = conn.execute(sa.select(sa.func.count()).where(
                tickets.c.due_date < today, tickets.c.status.not_in(tuple(FINISHED)))).scalar_one()
            return by_status, int(overdue)
        return await self._db.run(work)

    async def awaiting_rating(self, conversation_id: int) -> TicketRecord | None:
        """The conversation's newest ticket with a result the citizen has not rated yet."""
        def work(conn: Connection) -> TicketRecord | None:
            row = conn.execute(sa.select(*_TICKET_COLS).where(
                tickets.c.conversation_id == conversation_id, tickets.c.status == "resolved")
                .order_by(tickets.c.id.desc()).limit(1)).one_or_none()
            if row is None:
                return None
            rated = conn.execute(sa.select(sa.func.count()).select_from(ticket_events).where(
                ticket_events.c.ticket_id == row.id, ticket_events.c.kind == "rating",
                ticket_events.c.id > sa.select(sa.func.max(ticket_events.c.id)).where(
                    ticket_events.c.ticket_id == row.id, ticket_events.c.kind == "result").scalar_subquery())
            ).scalar_one()
            return None if rated else _record(row)
        return await self._db.run(work)

    async def rate(self, ticket_id: int, level: str, solved: bool | None, actor: str = "citizen",
                   note: str | None = None) -> None:
        """Record the citizen's rating (given by them, or by an agent on a callback call); a satisfied
        citizen closes the ticket, a dissatisfied one leaves it resolved for a supervisor to decide on
        re-handling (Art. 16). The check that the latest result is still unrated happens under the
        ticket's row lock, so two concurrent ratings never both count: the second raises TransitionRefused."""
        def work(conn: Connection) -> None:
            now = self._clock.now()
            status = conn.execute(sa.select(tickets.c.status).where(tickets.c.id == ticket_id)
                                  .with_for_update()).scalar_one()
            s = step("rate_dissatisfied" if level == "dissatisfied" else "rate_satisfied", status)
            if conn.execute(_RATED_SINCE_RESULT, {"b_id": ticket_id}).first() is not None:
                raise TransitionRefused("rate", "already rated")
            data: dict[str, Any] = {"level": level, "solved": solved, **({"note": note} if note else {})}
            _insert_event(conn, ticket_id, TicketEvent(now, actor, "rating", True, data))
            if s.to is not None:
                conn.execute(tickets.update().where(tickets.c.id == ticket_id).values(status=s.to, updated_at=now))
                _insert_event(conn, ticket_id, TicketEvent(now, "system", "status_changed", True,
                                                           {"status": {"from": status, "to": s.to}}))
        await self._db.run(work)

    async def supervise(self, number: str, actor: str, action: str, due: date | None,
                        note: str | None) -> TicketRecord | None:
        """A supervisor's decision on a resolved ticket: `rehandle` (back to its unit with a new due
        date, Art. 16) or `close`. TransitionRefused when the ticket is not resolved."""
        def work(conn: Connection) -> TicketRecord | None:
            row = conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.number == number).with_for_update()
                               ).one_or_none()
            if row is None:
                return None
            if action not in ("rehandle", "close") or (action == "rehandle" and not row.unit_id):
                raise TransitionRefused(action, row.status)
            to = step(action, row.status).to
            now = self._clock.now()
            values: dict[str, Any] = {"status": to, "updated_at": now}
            if action == "rehandle":
                values["due_date"] = due
            conn.execute(tickets.update().where(tickets.c.id == row.id).values(**values))
            _insert_event(conn, row.id, TicketEvent(now, actor, action, True, {
                "status": {"from": row.status, "to": to}, "note": note,
                **({"due_date": due.isoformat()} if action == "rehandle" and due else {})}))
            return _get(conn, number)
        return await self._db.run(work)

    async def assign(self, number: str, unit_id: str, due: date, actor: str, reason: str,
                     cooperating: Sequence[str] = ()) -> TicketRecord | None:
        """Dispatch an `open` ticket (the manual queue) to a lead unit; cooperating units (协办) are
        named in the trail."""
        def work(conn: Connection) -> TicketRecord | None:
            row = conn.execute(sa.select(tickets.c.id, tickets.c.status).where(tickets.c.number == number)
                               .with_for_update()).one_or_none()
            if row is None:
                return None
            to = step("assign", row.status).to
            now = self._clock.now()
            conn.execute(tickets.update().where(tickets.c.id == row.id).values(
                status=to, unit_id=unit_id, due_date=due, updated_at=now))
            _insert_event(conn, row.id, TicketEvent(now, actor, "dispatched", True, {
                "unit": unit_id, "due_date": due.isoformat(), "reason": reason,
                **({"cooperating": list(cooperating)} if cooperating else {})}))
            return _get(conn, number)
        return await self._db.run(work)

    async def decide(self, number: str, actor: str, request: str, approve: bool, note: str | None,
                     extend_to: date | None = None, request_id: int | None = None) -> TicketRecord | None:
        """A supervisor's decision on a unit's pending extension or termination request. `request_id`
        names the request event the supervisor saw: if it is not the pending one any more (decided, or
        the unit asked again), TransitionRefused, so an approval never applies to a request nobody read."""
        def work(conn: Connection) -> TicketRecord | None:
            row = conn.execute(sa.select(tickets.c.id, tickets.c.status, tickets.c.due_date)
                               .where(tickets.c.number == number).with_for_update()).one_or_none()
            if row is None:
                return None
            family = conn.execute(sa.select(ticket_events.c.id, ticket_events.c.kind).where(
                ticket_events.c.ticket_id == row.id, ticket_events.c.kind.in_(
                    (request, f"{request}_approved", f"{request}_rejected"))).order_by(ticket_events.c.id)).all()
            if not pending_request([e.kind for e in family], request):
                raise TransitionRefused(f"decide {request}", "without a pending request")
            if request_id is not None and family[-1].id != request_id:
                raise TransitionRefused(f"decide {request}", f"with request {request_id} no longer pending")
            s = step(f"{'approve' if approve else 'reject'}_{request}", row.status)
            now = self._clock.now()
            values: dict[str, Any] = {"updated_at": now}
            if approve and request == "extension":
                values["due_date"] = extend_to
            if s.to is not None:
                values["status"] = s.to
            conn.execute(tickets.update().where(tickets.c.id == row.id).values(**values))
            _insert_event(conn, row.id, TicketEvent(now, actor, f"{request}_{'approved' if approve else 'rejected'}",
                                                    approve, {"note": note, **(
                                                        {"due_date": extend_to.isoformat()} if approve and extend_to
                                                        else {})}))
            return _get(conn, number)
        return await self._db.run(work)

    async def supervision(self) -> list[dict[str, Any]]:
        """Per unit: tickets being handled with their due dates, and counts of returns and dissatisfied
        ratings (Art. 19). Colours are decided by the caller, which knows the working-day calendar."""
        def work(conn: Connection) -> list[dict[str, Any]]:
            open_rows = conn.execute(sa.select(tickets.c.number, tickets.c.unit_id, tickets.c.due_date,
                                               tickets.c.status)
                                     .where(tickets.c.status.in_(("dispatched", "in_progress")),
                                            tickets.c.unit_id.is_not(None))).all()
            returns = conn.execute(sa.select(ticket_events.c.data).where(ticket_events.c.kind == "return")).scalars().all()
            ratings = conn.execute(
                sa.select(tickets.c.unit_id, ticket_events.c.data)
                .join(tickets, tickets.c.id == ticket_events.c.ticket_id)
                .where(ticket_events.c.kind == "rating")).all()
            units: dict[str, dict[str, Any]] = {}
            for r in open_rows:
                units.setdefault(r.unit_id, {"tickets": [], "returns": 0, "dissatisfied": 0})["tickets"].append(
                    {"number": r.number, "due_date": r.due_date, "status": r.status})
            for data in returns:
                if data and data.get("unit"):
                    units.setdefault(data["unit"], {"tickets": [], "returns": 0, "dissatisfied": 0})["returns"] += 1
            for unit_id, data in ratings:
                if unit_id and data and data.get("level") == "dissatisfied":
                    units.setdefault(unit_id, {"tickets": [], "returns": 0, "dissatisfied": 0})["dissatisfied"] += 1
            return [{"unit": k, **v} for k, v in sorted(units.items())]
        return await self._db.run(work)

    async def candidates(self, category: str | None, district: str | None, within: timedelta,
                         limit: int = 50, contact_id: int | None = None) -> list[Candidate]:
        """The latest `limit` tickets of the same category and district still open or closed `within`
        the past (only `contact_id`'s when given), with the citizen's contact id and address (None for
        tickets entered without a conversation): what repeats and links are looked for among. Both
        lookups walk an index backwards from the newest ticket and stop at `limit`."""
        return await self._db.run(candidate_rows, self._clock.now(), category, district, within, limit, contact_id)

    async def link(self, a: tuple[int, str], b: tuple[int, str], score: float) -> None:
        """Several citizens, one problem (并单): each ticket (id, number) records the other."""
        await self._db.run(lambda conn: _link_events(conn, self._clock.now(), a, b, score))

    async def for_conversation(self, conversation_id: int) -> list[TicketRecord]:
        def work(conn: Connection) -> list[TicketRecord]:
            rows = conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.conversation_id == conversation_id)
                                .order_by(tickets.c.id)).all()
            return [_record(r) for r in rows]
        return await self._db.run(work)

    async def conversation_key_for(self, number: str, channel: str, sender: str) -> str | None:
        """The key of the ticket's conversation when `sender` is the citizen who filed it on `channel`."""
        def work(conn: Connection) -> str | None:
            row = conn.execute(
                sa.select(conversations.c.key)
                .join(tickets, tickets.c.conversation_id == conversations.c.id)
                .join(contacts, contacts.c.id == conversations.c.contact_id)
                .where(tickets.c.number == number, conversations.c.channel == channel,
                       contacts.c.external_user == sender)).one_or_none()
            return None if row is None else row.key
        return await self._db.run(work)

    async def list(self, flt: TicketFilter, offset: int = 0, limit: int = 50) -> tuple[list[TicketRecord], int]:
        return await self._db.run(_list, flt, offset, limit)
