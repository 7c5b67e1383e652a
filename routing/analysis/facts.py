"""One row per (ticket, unit it was dispatched to): what Art. 22 evaluates a unit on, read from the
ticket's audit trail.

A ticket dispatched to A, returned by A and then handled by B gives two rows: A received it and
returned it; B received it and handled it. A ticket never dispatched (answered by an agent, still in
the manual queue) gives one row with the unit "" so volumes count every ticket once (`first`).

"Overdue" of a ticket still being handled depends on today, not on an event: the row keeps the due
date and whether the unit still handles it (`open`), and the query decides (gateway/store/analysis.py).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

NO_UNIT = ""
BUCKETS_PER_E = 10  # hours buckets: round(ln(1 + hours) * 10), about 10 % wide


def hours_bucket(hours: float | None) -> int | None:
    """The log-spaced bucket of a handling time (medians of long periods are read from bucket counts)."""
    return None if hours is None else int(round(math.log1p(max(hours, 0.0)) * BUCKETS_PER_E))


def bucket_hours(bucket: int) -> float:
    """The handling time at the centre of a bucket."""
    return math.expm1(bucket / BUCKETS_PER_E)
HANDLING = frozenset({"dispatched", "in_progress"})


@dataclass(frozen=True, slots=True)
class Event:
    at: dt.datetime
    kind: str
    data: Mapping[str, Any] | None


@dataclass(slots=True)
class TicketFacts:
    ticket_id: int
    unit_id: str
    first: bool                 # the ticket's first row: volumes count these
    day: dt.date                # local day the ticket was received
    category: str | None
    district: str | None
    channel: str
    accepted: bool = False
    accepted_in_time: bool = False
    returned: bool = False
    extensions: int = 0         # approved extensions while this unit handled it
    rehandles: int = 0          # re-handlings ordered after a dissatisfied rating (Art. 16)
    resolved: bool = False      # the unit answered with a result
    on_time: bool = False       # its first result came by the due date then in force
    late: bool = False          # its first result came after the due date
    rating: str | None = None   # the citizen's latest rating of this unit's result
    first_contact: bool = False  # solved at the first handling: one result, not re-handled, not rated dissatisfied
    handling_hours: float | None = None  # dispatch to first result
    due_date: dt.date | None = None
    open: bool = False          # the unit still handles it (overdue is decided against today)
    done_day: dt.date | None = None   # local day of its first result
    rated_day: dt.date | None = None  # local day of the latest rating

    def row(self, seq: int) -> dict[str, Any]:
        return {"seq": seq, "hours_bucket": hours_bucket(self.handling_hours),
                **{f: getattr(self, f) for f in self.__slots__}}  # type: ignore[attr-defined]


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def derive(ticket_id: int, status: str, channel: str, category: str | None, district: str | None,
           created_at: dt.datetime, events: Iterable[Event], local_day: Callable[[dt.datetime], dt.date],
           add_workdays: Callable[[dt.date, int], dt.date], accept_workdays: int) -> list[TicketFacts]:
    """The rows of one ticket from its events, oldest first."""
    day = local_day(created_at)
    rows: list[TicketFacts] = []
    current: TicketFacts | None = None
    dispatched_at: dt.datetime | None = None
    for e in events:
        # The trail is the gateway's own writing, but one odd event must not stop the refresh for good.
        data = e.data if isinstance(e.data, Mapping) else {}
        if e.kind == "dispatched":
            unit = data.get("unit")
            if not isinstance(unit, str) or not unit:
                continue
            current = TicketFacts(ticket_id, unit, not rows, day, category, district, channel,
                                  due_date=_date(data.get("due_date")))
            rows.append(current)
            dispatched_at = e.at
        elif current is None:
            continue
        elif e.kind == "accept":
            if not current.accepted and dispatched_at is not None:
                current.accepted = True
                current.accepted_in_time = local_day(e.at) <= add_workdays(local_day(dispatched_at), accept_workdays)
        elif e.kind == "return":
            current.returned = True
            current = None
        elif e.kind == "extension_approved":
            current.extensions += 1
            current.due_date = _date(data.get("due_date")) or current.due_date
        elif e.kind == "result":
            if not current.resolved:
                current.resolved = True
                done = current.done_day = local_day(e.at)
                current.on_time = current.due_date is None or done <= current.due_date
                current.late = not current.on_time
                if dispatched_at is not None:
                    current.handling_hours = round((e.at - dispatched_at).total_seconds() / 3600, 2)
        elif e.kind == "rating":
            level = data.get("level")
            if level in ("satisfied", "basically_satisfied", "dissatisfied"):
                current.rating = level
                current.rated_day = local_day(e.at)
        elif e.kind == "rehandle":
            current.rehandles += 1
            current.due_date = _date(data.get("due_date")) or current.due_date
    if not rows:
        return [TicketFacts(ticket_id, NO_UNIT, True, day, category, district, channel)]
    for r in rows:
        r.first_contact = r.resolved and not r.returned and r.rehandles == 0 and r.rating != "dissatisfied"
    if current is not None and status in HANDLING:
        current.open = True
    return rows
