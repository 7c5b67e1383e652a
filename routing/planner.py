"""Dispatch planning for new tickets: the lead unit (when clear), cooperating units, the due date.

Runs before the ticket's unit of work (pure CPU), so creation and dispatch commit together.
Unclear proposals leave the ticket `open` in the manual dispatch queue (Art. 14(3)).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from routing.clock import Clock
from routing.deadlines import WorkCalendar, due_date
from routing.dispatch import Dispatcher, Proposal
from routing.tickets import TicketDraft
from routing.units import Unit


class TicketPlanner:
    def __init__(self, dispatcher: Dispatcher, calendar: WorkCalendar, deadline_workdays: dict[str, int],
                 urgent_workdays: int, clock: Clock) -> None:
        self.dispatcher = dispatcher
        self.units: dict[str, Unit] = dispatcher.units
        self.clock = clock
        self._calendar = calendar
        self._days = deadline_workdays
        self._urgent = urgent_workdays

    @property
    def calendar(self) -> WorkCalendar:
        return self._calendar

    def add_workdays(self, start: dt.date, days: int) -> dt.date:
        return self._calendar.add_workdays(start, days)

    def due_for(self, request_type: str | None, utility: bool) -> dt.date:
        return due_date(self._calendar, self.clock.today(), request_type, utility,
                        self._days, self._urgent)

    def plan(self, draft: TicketDraft, proposal: Proposal | None = None) -> TicketDraft:
        """`proposal`: the dispatcher's proposal for this draft made elsewhere (`proposal_input`), e.g. by
        the triage worker process while the gateway's own core did other work."""
        if proposal is None:
            proposal = self.dispatcher.propose(*proposal_input(draft))
        return dataclasses.replace(
            draft, dispatch=proposal.as_json(), unit_id=proposal.lead if proposal.automatic else None,
            due_date=self.due_for(draft.request_type, draft.utility))


def proposal_input(draft: TicketDraft) -> tuple[str, str | None, str | None, bool]:
    """What the dispatcher is asked about a draft (`Dispatcher.propose`'s arguments), wherever it runs."""
    return f"{draft.location or ''} {draft.description}", draft.category, draft.district, draft.utility
