"""The store contract, on SQLite and (when HOTLINE_TEST_PG_URL is set) PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from channels.base import Attachment, AttachmentKind, Channel, InboundMessage
from gateway.errors import StoreUnavailable
from gateway.store import Store, open_store
from gateway.store.database import open_database
from gateway.store.migrate import current_revision, ensure_schema, head_revision
from gateway.store.messages import OutboundDraft
from gateway.store.schema import contacts, conversations, emergency_referrals, messages, ticket_events
from gateway.store.tickets import TicketDraft, TicketFilter, ticket_day


def inbound(ext: str, key: str = "conv-1", text: str = "路灯坏了", **kw) -> InboundMessage:
    return InboundMessage(channel=Channel.WEB, external_id=ext, sender=key, conversation_key=key, text=text, **kw)


async def count(store: Store, table: sa.Table) -> int:
    return await store.db.run(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


async def test_schema_is_at_head(store: Store) -> None:
    assert await current_revision(store.db) == head_revision() is not None


async def test_inbound_creates_contact_conversation_and_message(store: Store) -> None:
    att = Attachment(AttachmentKind.IMAGE, "image/png", 10, "a" * 64, "aa/aa/" + "a" * 64, "p.png")
    r = await store.messages.record_inbound(inbound("m1", attachments=(att,)), {"disposition": "accept"})
    assert not r.duplicate and r.conversation.state == "bot"
    r2 = await store.messages.record_inbound(inbound("m2"), None)
    assert r2.conversation.id == r.conversation.id and r2.message_id != r.message_id
    assert await count(store, contacts) == 1 and await count(store, conversations) == 1
    history = await store.messages.history("web", "conv-1")
    assert [m.id for m in history] == [r.message_id, r2.message_id]
    assert history[0].attachments[0]["filename"] == "p.png"


async def test_redelivery_is_recognised_and_changes_nothing(store: Store) -> None:
    first = await store.messages.record_inbound(inbound("dup"), None)
    await store.messages.record_outbound(first.conversation, "conv-1", first.message_id, [OutboundDraft("答复")])
    again = await store.messages.record_inbound(inbound("dup", text="另一段文字"), None)
    assert again.duplicate and again.message_id == first.message_id
    assert await count(store, messages) == 2  # the inbound and its one reply
    assert [m.text for m in await store.messages.replies_to(first.message_id)] == ["答复"]


async def test_concurrent_duplicate_deliveries_store_one_message(store: Store) -> None:
    results = await asyncio.gather(*(store.messages.record_inbound(inbound("same", key="k9"), None)
                                     for _ in range(8)))
    assert len({r.message_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert await count(store, messages) == 1


async def test_closed_conversation_starts_a_new_one(store: Store) -> None:
    first = await store.messages.record_inbound(inbound("a1"), None)
    await store.messages.set_state(first.conversation.id, "closed")
    second = await store.messages.record_inbound(inbound("a2"), None)
    assert second.conversation.id != first.conversation.id and second.conversation.state == "bot"


async def test_emergency_referral_is_stored_with_the_message(store: Store) -> None:
    r = await store.messages.record_inbound(inbound("e1", text="着火了"), {"disposition": "emergency"},
                                            emergency=(["119"], "fire"))
    assert r.conversation.emergency
    row = await store.db.run(lambda conn: conn.execute(sa.select(emergency_referrals)).one())
    assert row.message_id == r.message_id and row.lines == ["119"] and row.reason == "fire"


async def test_ticket_numbers_are_unique_and_sequential_per_day(store: Store) -> None:
    drafts = [TicketDraft(description=f"诉求{i}", channel="web", source="api") for i in range(15)]
    created = await asyncio.gather(*(store.tickets.create(d, actor="test") for d in drafts))
    numbers = sorted(t.number for t in created)
    day = ticket_day(store.clock, store.clock.now())
    assert numbers == [f"{day}-{i:06d}" for i in range(1, 16)]


async def test_ticket_events_are_an_append_only_audit_trail(store: Store) -> None:
    t = await store.tickets.create(TicketDraft(description="噪音扰民", channel="web", source="api",
                                               contact_phone="13800138000"), actor="agent:li")
    await store.tickets.update(t.number, "agent:li", {"category": "环境保护", "status": "dispatched"})
    got = await store.tickets.get(t.number)
    assert got is not None and got.category == "环境保护" and got.status == "dispatched"
    assert [e.kind for e in got.events] == ["created", "updated"]
    assert got.events[1].data == {"category": {"from": None, "to": "环境保护"},
                                  "status": {"from": "open", "to": "dispatched"}}
    for stmt in (ticket_events.update().values(actor="x"), ticket_events.delete()):
        with pytest.raises((IntegrityError, StoreUnavailable), match="append-only"):
            await store.db.run(lambda conn: conn.execute(stmt))
    assert len((await store.tickets.get(t.number)).events) == 2


async def test_ticket_list_filters_and_pages(store: Store) -> None:
    for i in range(5):
        await store.tickets.create(TicketDraft(description=f"d{i}", channel="web" if i % 2 else "email",
                                               source="api", category="城乡建设" if i < 3 else "政法"), "t")
    items, total = await store.tickets.list(TicketFilter(category="城乡建设"), offset=0, limit=2)
    assert total == 3 and len(items) == 2
    items, total = await store.tickets.list(TicketFilter(channel="web", category="城乡建设"))
    assert total == 1 and items[0].description == "d1"
    future = store.clock.now() + timedelta(days=1)
    assert (await store.tickets.list(TicketFilter(created_from=future)))[1] == 0


async def test_outbox_claim_retry_and_sent(store: Store) -> None:
    r = await store.messages.record_inbound(inbound("o1"), None)
    claimed = await store.messages.record_outbound(r.conversation, "conv-1", r.message_id,
                                                   [OutboundDraft("一"), OutboundDraft("二")])
    assert [c.text for c in claimed] == ["一", "二"] and all(c.attempts == 1 for c in claimed)
    assert await store.outbox.claim() == []  # leased to the writer for its first attempt, not due
    await store.outbox.mark_sent([claimed[0].id])
    await store.outbox.mark_retry(claimed[1].id, "platform down", timedelta(seconds=-1))
    due = await store.outbox.claim()
    assert [d.text for d in due] == ["二"] and due[0].attempts == 2
    assert await store.outbox.counts() == {"sent": 1, "pending": 1}


async def test_unreachable_database_is_a_startup_error(tmp_path) -> None:
    with pytest.raises(StoreUnavailable, match="ConnectionRefused"):
        await open_store("postgresql+asyncpg://nobody@127.0.0.1:1/none", auto_migrate=True, connect_timeout=2)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreUnavailable, match="cannot open"):
        await open_store(f"sqlite:///{blocker}/hotline.db", auto_migrate=True)


async def test_outdated_schema_without_auto_migrate_refuses_to_start(tmp_path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        with pytest.raises(StoreUnavailable, match="hotline db upgrade"):
            await ensure_schema(db, auto_migrate=False)
    finally:
        await db.dispose()


async def test_failed_replies_can_be_sent_again(store: Store) -> None:
    r = await store.messages.record_inbound(inbound("redrive1"), None)
    [item] = await store.messages.record_outbound(r.conversation, "conv-1", r.message_id, [OutboundDraft("回复")])
    await store.outbox.mark_failed(item.id, "relay down for an hour")
    assert await store.outbox.counts() == {"failed": 1}
    assert await store.outbox.redrive_failed("wechat") == 0  # another channel: untouched
    assert await store.outbox.redrive_failed() == 1
    [due] = await store.outbox.claim()
    assert due.id == item.id and due.attempts == 1


def test_the_retry_failed_command_runs(tmp_path) -> None:
    import os
    import subprocess
    import sys

    from gateway.settings import PROJECT_ROOT
    env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    proc = subprocess.run([sys.executable, "-m", "gateway.cli", "outbox", "retry-failed", "--channel", "email"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, timeout=120)
    assert proc.returncode == 0 and "0 failed replies queued again" in proc.stdout, proc.stderr
