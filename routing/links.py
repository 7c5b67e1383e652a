"""Several citizens, one problem (并单): a new ticket is linked to another citizen's open ticket about
the same thing in the same place, so the unit can handle and answer them together.

Called by `routing.intake.TicketIntake` wherever a ticket is opened."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Callable, Protocol, Sequence

from routing.lifecycle import ENDED
from routing.repeats import LINK, bigrams, overlap

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=30)


class SameProblemStore(Protocol):
    """What linking needs from persistence (gateway.store.tickets.TicketStore has it)."""

    async def candidates(self, category: str | None, district: str | None, within: timedelta,
                         limit: int = 50, contact_id: int | None = None
                         ) -> Sequence[tuple[Any, int | None, str | None]]: ...

    async def link(self, a: tuple[int, str], b: tuple[int, str], score: float) -> None: ...


def same_problem(number: str, text: str, found: Sequence[tuple[Any, int | None, str | None]]
                 ) -> tuple[Any, Any, float] | None:
    """Among `found` (ticket, contact id, sender: the latest of the category and district, the new
    ticket `number` among them), the other citizen's open ticket most like `text`: (new ticket, that
    ticket, score), or None."""
    mine = next(((t, contact) for t, contact, _ in found if t.number == number), None)
    if mine is None:
        return None
    new, contact = mine
    best = None
    words = bigrams(text)
    for ticket, contact_id, _ in found:
        if ticket.number == number or ticket.status in ENDED:
            continue
        if contact is not None and contact_id == contact:
            continue  # the same citizen again is a repeat, not a second reporter
        score = overlap(words, bigrams(ticket.description))
        if score >= LINK and (best is None or score > best[1]):
            best = (ticket, score)
    return None if best is None else (new, best[0], best[1])


def same_problem_finder(text: str, district: str | None
                        ) -> Callable[[str, Sequence[tuple[Any, int | None, str | None]]], Any] | None:
    """For a store that links inside the unit of work that opens the ticket (the pipeline's ticket
    turn): `same_problem` over the text, or None when there is nothing to look for."""
    if not district:
        return None  # "the same place" needs a place
    return lambda number, found: same_problem(number, text, found)


async def link_same_problem(tickets: SameProblemStore, number: str, text: str, category: str | None,
                            district: str | None) -> str | None:
    """Link `number` to the most similar open ticket of another citizen; its number, or None."""
    find = same_problem_finder(text, district)
    if find is None:
        return None
    chosen = find(number, await tickets.candidates(category, district, LOOKBACK))
    if chosen is None:
        return None
    new, other, score = chosen
    await tickets.link((new.id, new.number), (other.id, other.number), round(score, 2))
    log.info("ticket %s linked to %s (same problem, %.2f)", number, other.number, score)
    return other.number
