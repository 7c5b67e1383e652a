"""Returning a wrongly dispatched ticket (Art. 14(4)): within the window, and what happens next.

A unit may return a ticket only within `window` working days of its dispatch. The ticket then goes to
the next unit when the proposal without the returning units is clear and the returns are still few;
otherwise a supervisor dispatches it by hand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from routing.dispatch import Proposal, propose
from routing.units import Unit


def within_return_window(dispatched_on: dt.date | None, today: dt.date, window_workdays: int,
                         add_workdays: Callable[[dt.date, int], dt.date]) -> bool:
    """Counted in working days from the (last) dispatch; a ticket never dispatched has no window."""
    return dispatched_on is None or today <= add_workdays(dispatched_on, window_workdays)


@dataclass(frozen=True, slots=True)
class Redispatch:
    lead: str | None            # the next unit, or None: a supervisor decides
    proposal: Proposal | None   # None when the returns reached the limit
    returns: int


def after_return(units: Mapping[str, Unit], returned_by: Iterable[str], max_returns: int, text: str,
                 category: str | None, district: str | None, utility: bool) -> Redispatch:
    returned = set(returned_by)
    if len(returned) >= max_returns:
        return Redispatch(None, None, len(returned))
    proposal = propose({k: u for k, u in units.items() if k not in returned}, text, category, district, utility)
    return Redispatch(proposal.lead if proposal.automatic else None, proposal, len(returned))
