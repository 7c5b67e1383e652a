"""The gateway's durable store: one database, one repository object per concern."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.store.agents import AgentStore, ContactBlocks
from gateway.store.analysis import AnalysisStore
from gateway.store.database import Database, open_database
from gateway.store.kb import KbChoices, KbStore, UnitKb
from gateway.store.messages import MessageStore
from gateway.store.migrate import ensure_schema
from gateway.store.outbox import OutboxStore
from gateway.store.readings import MediaReadings
from gateway.store.tickets import TicketStore
from gateway.store.tokens import TokenStore
from gateway.store.turns import ticket_turn
from gateway.store.ticket_files import TicketFiles
from gateway.store.unit_users import UnitUserStore
from gateway.store.workspace import Workspace
from routing.clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True)
class Store:
    db: Database
    messages: MessageStore
    tickets: TicketStore
    outbox: OutboxStore
    kb: KbStore
    tokens: TokenStore
    agents: AgentStore
    clock: Clock
    contacts: ContactBlocks
    kb_choices: KbChoices
    unit_users: UnitUserStore
    ticket_files: TicketFiles
    unit_kb: UnitKb
    workspace: Workspace
    readings: MediaReadings
    analysis: AnalysisStore

    async def ticket_turn(self, *args: Any) -> Any:
        """See `gateway.store.turns.ticket_turn`."""
        return await self.db.run(ticket_turn, self.clock, *args)

    @classmethod
    def over(cls, db: Database, clock: Clock = SYSTEM_CLOCK) -> "Store":
        return cls(db, MessageStore(db, clock), TicketStore(db, clock), OutboxStore(db, clock), KbStore(db, clock),
                   TokenStore(db, clock), AgentStore(db, clock), clock, ContactBlocks(db, clock), KbChoices(db, clock),
                   UnitUserStore(db, clock), TicketFiles(db, clock), UnitKb(db, clock), Workspace(db, clock),
                   MediaReadings(db, clock), AnalysisStore(db, clock))


async def open_store(url: str, *, auto_migrate: bool, pool_size: int = 10, echo: bool = False,
                     connect_timeout: float = 5.0, clock: Clock = SYSTEM_CLOCK) -> Store:
    """Connect, check the database answers, bring the schema to head. Raises StoreUnavailable."""
    db = open_database(url, pool_size=pool_size, echo=echo, connect_timeout=connect_timeout)
    try:
        await db.ping(connect_timeout + 1)
        await ensure_schema(db, auto_migrate)
        store = Store.over(db, clock)
        await store.contacts.load()
    except BaseException:
        await db.dispose()
        raise
    return store
