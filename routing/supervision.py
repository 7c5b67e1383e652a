"""Supervision colours (Art. 19): a ticket due within one working day is yellow, one past its due date red.

The counts per unit (handling, returns, dissatisfied ratings) come from the store; the colours and the
order of the list are rules, here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Mapping

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
