"""Units of work that span several tables for one turn of a conversation.

A turn's writes commit together: a ticket is never opened without the reply
that tells the citizen its number, and vice versa.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Sequence

from sqlalchemy.engine import Connection

from gateway.store.messages import ConversationRef, OutboundDraft, record_outbound
from gateway.store.outbox import OutboxItem
from gateway.store.tickets import Candidate, Placement, place_message
from routing.clock import Clock
from routing.tickets import TicketDraft


def ticket_turn(conn: Connection, clock: Clock, conversation: ConversationRef, draft: TicketDraft,
                event_data: dict[str, Any], compose: Callable[[Placement], Sequence[OutboundDraft]], recipient: str,
                in_reply_to: int, queue: bool, plan: Callable[[TicketDraft], TicketDraft],
                find_earlier: Callable[[list[Candidate]], Any] | None = None, lookback: timedelta = timedelta(0),
                find_same: Callable[[str, list[Candidate]], Any] | None = None,
                same_lookback: timedelta = timedelta(0)) -> tuple[Placement, list[OutboxItem]]:
    """A citizen's message placed (`place_message`: the conversation's ticket, with `find_earlier` an
    earlier request of theirs, or a new ticket, linked with `find_same` to another citizen's ticket about
    the same problem) and answered (`compose(placement)`) in one transaction."""
    placed = place_message(conn, clock, conversation, draft, event_data, plan, find_earlier, lookback, find_same,
                           same_lookback)
    return placed, record_outbound(conn, clock.now(), conversation, recipient, in_reply_to, compose(placed), queue)
