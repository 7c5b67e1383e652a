"""The one way a ticket is opened (Art. 13-14), whoever opens it: the pipeline, the tickets API the bot
uses, the agents' console.

Opening means: the citizen's contact is on it (without it a later message from the same person is
never recognised as a repeat, Art. 13(4)), dispatch is planned (lead unit when clear, due date), and
another citizen's open ticket about the same problem in the same place is linked (并单). The pipeline
stores its ticket, its link and the reply in one unit of work, so it uses `plan` and
`routing.links.same_problem_finder` inside that; everyone else calls `open`.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Protocol

from routing.dispatch import Proposal
from routing.links import SameProblemStore, link_same_problem
from routing.planner import TicketPlanner
from routing.tickets import TicketDraft

log = logging.getLogger(__name__)


class TicketRepository(SameProblemStore, Protocol):
    """Persistence as intake needs it (gateway.store.tickets.TicketStore)."""

    async def create(self, draft: TicketDraft, actor: str) -> Any: ...

    async def get(self, number: str) -> Any: ...

    async def conversation_contact(self, conversation_id: int) -> int | None: ...


class TicketIntake:
    def __init__(self, planner: TicketPlanner, tickets: Callable[[], TicketRepository]) -> None:
        self.planner = planner
        self._tickets = tickets  # a getter: the store opens after the routes are built

    def plan(self, draft: TicketDraft, proposal: Proposal | None = None) -> TicketDraft:
        return self.planner.plan(draft, proposal)

    async def open(self, draft: TicketDraft, actor: str) -> Any:
        """Create the ticket with its contact, plan and link; the stored ticket (with the link event)."""
        tickets = self._tickets()
        if draft.contact_id is None and draft.conversation_id is not None:
            contact = await tickets.conversation_contact(draft.conversation_id)
            draft = dataclasses.replace(draft, contact_id=contact)
        ticket = await tickets.create(self.plan(draft), actor)
        if await self.link(ticket.number, draft):
            ticket = await tickets.get(ticket.number) or ticket
        return ticket

    async def link(self, number: str, draft: TicketDraft) -> str | None:
        """Link a just-stored ticket to another citizen's report of the same problem; its number or None."""
        return await link_same_problem(self._tickets(), number, draft.description, draft.category, draft.district)
