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
from gateway.store.tickets import Candidate, Placement, attach_message, place_message
from routing.clock import Clock
from routing.tickets import TicketDraft

ComposeReplies = Callable[[str, bool], Sequence[OutboundDraft]]


def ticket_turn(conn: Connection, clock: Clock, conversation: ConversationRef, draft: TicketDraft, event_data: dict[str, Any],
                conversation_state: str | None, compose: ComposeReplies, recipient: str, in_reply_to: int,
                queue: bool, plan: Callable[[TicketDraft], TicketDraft] | None = None
                ) -> tuple[str, bool, list[OutboxItem]]:
    """Open or extend the conversation's ticket and store the replies `compose(number, created)` gives;
    a new ticket is `plan(draft)` (dispatch and due date), worked out only when one is opened."""
    _, number, created = attach_message(conn, clock, conversation, draft, "system", "citizen_message", event_data,
                                        conversation_state, plan)
    items = record_outbound(conn, clock.now(), conversation, recipient, in_reply_to, compose(number, created), queue)
    return number, created, items


def request_turn(conn: Connection, clock: Clock, conversation: ConversationRef, draft: TicketDraft,
                 event_data: dict[str, Any], compose: Callable[[Placement], Sequence[OutboundDraft]], recipient: str,
                 in_reply_to: int, queue: bool, plan: Callable[[TicketDraft], TicketDraft],
                 find_earlier: Callable[[list[Candidate]], Any], lookback: timedelta
                 ) -> tuple[Placement, list[OutboxItem]]:
    """A citizen's request without the bot: placed (`place_message`: the conversation's ticket, an earlier
    request of theirs, or a new ticket) and answered (`compose(placement)`) in one transaction."""
    placed = place_message(conn, clock, conversation, draft, event_data, plan, find_earlier, lookback)
    return placed, record_outbound(conn, clock.now(), conversation, recipient, in_reply_to, compose(placed), queue)
