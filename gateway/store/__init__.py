"""The gateway's durable store: one engine, one repository object per concern."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.engine import check_connection, create_engine, ensure_schema
from gateway.store.messages import MessageStore
from gateway.store.outbox import OutboxStore
from gateway.store.tickets import TicketStore


@dataclass(frozen=True)
class Store:
    engine: AsyncEngine
    messages: MessageStore
    tickets: TicketStore
    outbox: OutboxStore

    @classmethod
    def over(cls, engine: AsyncEngine) -> "Store":
        return cls(engine, MessageStore(engine), TicketStore(engine), OutboxStore(engine))


async def open_store(url: str, *, auto_migrate: bool, pool_size: int = 10, echo: bool = False,
                     connect_timeout: float = 5.0) -> Store:
    """Connect, check the database answers, bring the schema to head. Raises StoreUnavailable."""
    engine = create_engine(url, pool_size=pool_size, echo=echo, connect_timeout=connect_timeout)
    try:
        await check_connection(engine, timeout=connect_timeout)
        await ensure_schema(engine, auto_migrate)
    except BaseException:
        await engine.dispose()
        raise
    return Store.over(engine)
