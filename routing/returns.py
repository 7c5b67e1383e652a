"""Returning a wrongly dispatched ticket (Art. 14(4)): within the window, and what happens next.

A unit may return a ticket only within `window` working days of its dispatch. The ticket then goes to
the next unit when the proposal without the returning units is clear and the returns are still few;
otherwise a supervisor dispatches it by hand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, Iterable

from routing.dispatch import Dispatcher, Proposal


def within_return_window(dispatched_on: dt.date | None, today: dt.date, window_workdays: int,
                         add_workdays: Callable[[dt.date, int], dt.date]) -> bool:
    """Counted in working days from the (last) dispatch; a ticket never dispatched has no window."""
    return dispatched_on is None or today <= add_workdays(dispatched_on, window_workdays)


@dataclass(frozen=True, slots=True)
class Redispatch:
    lead: str | None            # the next unit, or None: a supervisor decides
    proposal: Proposal | None   # None when the returns reached the limit
    returns: int


def after_return(dispatcher: Dispatcher, returned_by: Iterable[str], max_returns: int, text: str,
                 category: str | None, district: str | None, utility: bool) -> Redispatch:
    returned = set(returned_by)
    if len(returned) >= max_returns:
        return Redispatch(None, None, len(returned))
    proposal = dispatcher.propose(text, category, district, utility, excluding=returned)
    return Redispatch(proposal.lead if proposal.automatic else None, proposal, len(returned))
