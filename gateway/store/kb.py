"""Knowledge-base entries (Art. 6(4), 8(4)): versioned, so an edit never destroys the previous text.

An entry row holds the status, validity and the current version number; every
text change appends a version row. Only published entries within their
validity dates are served to citizens and the bot.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from routing.clock import Clock
from gateway.store.database import Database
from gateway.store.schema import kb_choices, kb_entries, kb_versions, messages
from nlu.kb import KbEntry


@dataclass(frozen=True, slots=True)
class SaveResult:
    entry: KbEntry
    created: bool
    changed: bool
    previous: tuple[dict[str, Any], ...] = field(default=())


_TEXT_FIELDS = ("question", "alternates", "answer", "department", "category", "tags")
_CURRENT = (sa.select(kb_entries, kb_versions.c.question, kb_versions.c.alternates, kb_versions.c.answer,
                      kb_versions.c.department, kb_versions.c.category, kb_versions.c.tags)
            .join(kb_versions, sa.and_(kb_versions.c.entry_id == kb_entries.c.id,
                                       kb_versions.c.version == kb_entries.c.version)))


def _entry(row: sa.Row[Any]) -> KbEntry:
    m = row._mapping
    return KbEntry(key=m["key"], question=m["question"], answer=m["answer"], alternates=tuple(m["alternates"] or ()),
                   department=m["department"], category=m["category"], tags=tuple(m["tags"] or ()),
                   status=m["status"], valid_from=m["valid_from"], valid_to=m["valid_to"],
                   reviewed_at=m["reviewed_at"], version=m["version"], updated_at=m["updated_at"])


def _texts(e: KbEntry) -> dict[str, Any]:
    return {"question": e.question, "alternates": list(e.alternates), "answer": e.answer,
            "department": e.department, "category": e.category, "tags": list(e.tags)}


def _save(conn: Connection, now: datetime, entry: KbEntry, author: str) -> SaveResult:
    row = conn.execute(_CURRENT.where(kb_entries.c.key == entry.key)).one_or_none()
    meta = {"status": entry.status, "valid_from": entry.valid_from, "valid_to": entry.valid_to,
            "reviewed_at": entry.reviewed_at}
    if row is None:
        entry_id = conn.execute(kb_entries.insert().values(key=entry.key, version=1, created_at=now, updated_at=now,
                                                           **meta).returning(kb_entries.c.id)).scalar_one()
        conn.execute(kb_versions.insert().values(entry_id=entry_id, version=1, author=author, created_at=now,
                                                 **_texts(entry)))
        return SaveResult(_reload(conn, entry.key), created=True, changed=True)
    current = _entry(row)
    text_changed = _texts(current) != _texts(entry)
    meta_changed = any(getattr(current, k) != v for k, v in meta.items())
    if not (text_changed or meta_changed):
        return SaveResult(current, created=False, changed=False)
    version = current.version + 1 if text_changed else current.version
    if text_changed:
        conn.execute(kb_versions.insert().values(entry_id=row.id, version=version, author=author, created_at=now,
                                                 **_texts(entry)))
    conn.execute(kb_entries.update().where(kb_entries.c.id == row.id).values(version=version, updated_at=now, **meta))
    return SaveResult(_reload(conn, entry.key), created=False, changed=True)


def _reload(conn: Connection, key: str) -> KbEntry:
    return _entry(conn.execute(_CURRENT.where(kb_entries.c.key == key)).one())


def _history(conn: Connection, key: str) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(kb_versions).join(kb_entries, kb_entries.c.id == kb_versions.c.entry_id)
                        .where(kb_entries.c.key == key).order_by(kb_versions.c.version)).all()
    return [{"version": r.version, "question": r.question, "alternates": r.alternates, "answer": r.answer,
             "department": r.department, "category": r.category, "tags": r.tags, "author": r.author,
             "created_at": r.created_at.isoformat()} for r in rows]


class KbStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def save(self, entry: KbEntry, author: str) -> SaveResult:
        """Create or update; a text change appends a version, an unchanged entry writes nothing."""
        return await self._db.run(_save, self._clock.now(), entry, author)

    async def save_many(self, entries: list[KbEntry], author: str) -> list[SaveResult]:
        now = self._clock.now()

        def work(conn: Connection) -> list[SaveResult]:
            return [_save(conn, now, e, author) for e in entries]
        return await self._db.run(work)

    async def get(self, key: str) -> KbEntry | None:
        def work(conn: Connection) -> KbEntry | None:
            row = conn.execute(_CURRENT.where(kb_entries.c.key == key)).one_or_none()
            return None if row is None else _entry(row)
        return await self._db.run(work)

    async def history(self, key: str) -> list[dict[str, Any]]:
        return await self._db.run(_history, key)

    async def all(self, status: str | None = None) -> list[KbEntry]:
        def work(conn: Connection) -> list[KbEntry]:
            query = _CURRENT.order_by(kb_entries.c.key)
            if status is not None:
                query = query.where(kb_entries.c.status == status)
            return [_entry(r) for r in conn.execute(query).all()]
        return await self._db.run(work)

    async def last_change(self) -> datetime | None:
        """Cheap check replicas use to know their search index is stale."""
        return await self._db.run(lambda conn: conn.execute(sa.select(sa.func.max(kb_entries.c.updated_at))).scalar())


@dataclass(frozen=True, slots=True)
class UnitEntry:
    """A KB entry as its owning unit looks after it (Art. 8(4))."""
    entry: KbEntry
    unit_id: str | None
    review_due: date | None
    reviewed_by: str | None


def _owned_by(unit_id: str, unit_name: str) -> Any:
    """The unit's entries: named as its own, or (entries imported before units owned any) whose
    department is the unit's name."""
    return sa.or_(kb_entries.c.unit_id == unit_id,
                  sa.and_(kb_entries.c.unit_id.is_(None), kb_versions.c.department == unit_name))


def _unit_entry(row: sa.Row[Any]) -> UnitEntry:
    return UnitEntry(_entry(row), row.unit_id, row.review_due, row.reviewed_by)


class UnitKb:
    """The units' side of the KB: their entries, confirming one is still right, and an edited answer
    saved as a new version by the same `_save` every KB edit goes through."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def entries(self, unit_id: str, unit_name: str) -> list[UnitEntry]:
        def work(conn: Connection) -> list[UnitEntry]:
            rows = conn.execute(_CURRENT.where(_owned_by(unit_id, unit_name), kb_entries.c.status != "archived")
                                .order_by(kb_entries.c.key)).all()
            return [_unit_entry(r) for r in rows]
        return await self._db.run(work)

    async def review(self, key: str, unit_id: str, unit_name: str, actor: str, today: date, next_due: date,
                     answer: str | None = None) -> tuple[UnitEntry, bool] | None:
        """Confirm the entry (answer None) or save an edited answer as a new version; either way it is
        reviewed today and due again on `next_due`. None when the entry is not the unit's. The bool:
        whether the text changed (the search index must be rebuilt)."""
        now = self._clock.now()

        def work(conn: Connection) -> tuple[UnitEntry, bool] | None:
            row = conn.execute(_CURRENT.where(kb_entries.c.key == key, _owned_by(unit_id, unit_name))
                               .with_for_update(of=kb_entries)).one_or_none()
            if row is None:
                return None
            changed = False
            if answer is not None:
                result = _save(conn, now, dataclasses.replace(_entry(row), answer=answer, reviewed_at=today), actor)
                changed = result.changed
            conn.execute(kb_entries.update().where(kb_entries.c.id == row.id).values(
                unit_id=unit_id, reviewed_at=today, review_due=next_due, reviewed_by=actor[:64], updated_at=now))
            return _unit_entry(conn.execute(_CURRENT.where(kb_entries.c.id == row.id)).one()), changed
        return await self._db.run(work)


@dataclass(frozen=True, slots=True)
class PendingChoice:
    id: int
    message_id: int
    candidates: tuple[str, ...]
    created_at: datetime


class KbChoices:
    """「您是想问」 offers: one pending per conversation at most, settled by the citizen's next message."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def offer(self, conversation_id: int, message_id: int, channel: str, candidates: list[str]) -> int:
        now = self._clock.now()

        def work(conn: Connection) -> int:
            # A newer question replaces an unanswered older offer.
            conn.execute(kb_choices.update().where(kb_choices.c.conversation_id == conversation_id,
                                                   kb_choices.c.settled_at.is_(None))
                         .values(settled_at=now, outcome="ignored"))
            return int(conn.execute(kb_choices.insert().values(
                conversation_id=conversation_id, message_id=message_id, channel=channel, candidates=candidates,
                created_at=now).returning(kb_choices.c.id)).scalar_one())
        return await self._db.run(work)

    async def pending(self, conversation_id: int, max_age: timedelta) -> PendingChoice | None:
        since = self._clock.now() - max_age

        def work(conn: Connection) -> PendingChoice | None:
            row = conn.execute(sa.select(kb_choices).where(
                kb_choices.c.conversation_id == conversation_id, kb_choices.c.settled_at.is_(None),
                kb_choices.c.created_at >= since).order_by(kb_choices.c.id.desc()).limit(1)).one_or_none()
            if row is None:
                return None
            return PendingChoice(row.id, row.message_id, tuple(row.candidates), row.created_at)
        return await self._db.run(work)

    async def settle(self, choice_id: int, outcome: str) -> bool:
        """False when it was settled already (a duplicate delivery, another replica)."""
        now = self._clock.now()

        def work(conn: Connection) -> bool:
            return conn.execute(kb_choices.update().where(kb_choices.c.id == choice_id,
                                                          kb_choices.c.settled_at.is_(None))
                                .values(settled_at=now, outcome=outcome)).rowcount == 1
        return await self._db.run(work)

    async def labelled(self) -> list[dict[str, Any]]:
        """Settled picks with the question asked, for calibration: {"q", "expected", "offered", "channel", "at"}."""
        def work(conn: Connection) -> list[dict[str, Any]]:
            rows = conn.execute(sa.select(kb_choices, messages.c.text).join(
                messages, messages.c.id == kb_choices.c.message_id).where(
                kb_choices.c.outcome.is_not(None), kb_choices.c.outcome != "ignored")
                .order_by(kb_choices.c.id)).all()
            return [{"q": r.text, "expected": None if r.outcome == "none" else r.outcome,
                     "offered": list(r.candidates), "channel": r.channel, "at": r.settled_at.isoformat()}
                    for r in rows]
        return await self._db.run(work)
