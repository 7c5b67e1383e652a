"""Supervision colours (Art. 19): a ticket due within one working day is yellow, one past its due date red.

The counts per unit (handling, returns, dissatisfied ratings) come from the store; the colours and the
order of the list are rules, here, with what waits for a supervisor's decision (Art. 15-16): a unit's
pending extension or termination request, a dissatisfied rating of a result.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Iterable, Mapping

from routing.units import Unit


def colour(due: dt.date | None, today: dt.date, next_workday: dt.date) -> str | None:
    if due is None:
        return None
    if due < today:
        return "red"
    if due <= next_workday:
        return "yellow"
    return None


def board(per_unit: Iterable[Mapping[str, Any]], units: Mapping[str, Unit], today: dt.date,
          next_workday: dt.date) -> list[dict[str, Any]]:
    """One row per unit, the most overdue first."""
    rows = []
    for u in per_unit:
        colours = [(t["number"], colour(t["due_date"], today, next_workday)) for t in u["tickets"]]
        unit = units.get(u["unit"])
        rows.append({"unit": u["unit"], "name": unit.name if unit else u["unit"], "handling": len(u["tickets"]),
                     "yellow": [n for n, c in colours if c == "yellow"], "red": [n for n, c in colours if c == "red"],
                     "returns": u["returns"], "dissatisfied": u["dissatisfied"]})
    rows.sort(key=lambda r: (-len(r["red"]), -len(r["yellow"]), r["unit"]))
    return rows


# Requests a unit makes that wait for a supervisor (Art. 15(4)-(6)), and the decisions that settle them.
REQUESTS = ("extension", "termination")


def pending_request(kinds: Iterable[str], request: str) -> bool:
    """A request is pending while no approval or rejection came after the unit's latest one."""
    family = (request, f"{request}_approved", f"{request}_rejected")
    last = None
    for kind in kinds:
        if kind in family:
            last = kind
    return last == request


def extended_due(asked_days: int, due: dt.date | None, today: dt.date,
                 add_workdays: Callable[[dt.date, int], dt.date]) -> dt.date:
    """An approved extension adds the working days the unit asked for to its current due date."""
    return add_workdays(due or today, asked_days)


def awaiting_decision(events: Iterable[tuple[str, Mapping[str, Any] | None]]) -> bool:
    """Art. 16: the citizen's latest rating of the latest result is 'dissatisfied', and nobody has
    decided on re-handling since (a decision moves the ticket out of `resolved`, so callers look
    only at resolved tickets)."""
    last: tuple[str, Mapping[str, Any] | None] | None = None
    for kind, data in events:
        if kind in ("result", "rating"):
            last = (kind, data)
    return last is not None and last[0] == "rating" and (last[1] or {}).get("level") == "dissatisfied"
