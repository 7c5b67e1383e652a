"""Seasonal outlook (Art. 25(2)): the expected tickets per category for the coming weeks, for units to
prepare (heating in winter, flooding in summer).

Seasonal naive with a level correction: next year's week is last year's same week, scaled by how the
last `level_weeks` weeks compare with the same weeks a year before (when the history reaches back that
far; otherwise unscaled). Without last year's week the recent weekly mean is the forecast. The range is the Poisson 10-90 % interval around it (scipy.stats).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping


WEEK = dt.timedelta(days=7)


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def outlook(weekly: Mapping[str, Mapping[dt.date, int]], this_week: dt.date, weeks: int = 4,
            level_weeks: int = 8, history_start: dt.date | None = None) -> dict[str, list[dict[str, Any]]]:
    """`weekly`: per category, tickets per week (keyed by the Monday); `this_week`: the current Monday
    (not complete: the forecast starts with it)."""
    from scipy import stats  # imported when used: ~1 s at every start otherwise

    out: dict[str, list[dict[str, Any]]] = {}
    for category, series in weekly.items():
        recent = [series.get(this_week - WEEK * i, 0) for i in range(1, level_weeks + 1)]
        year_ago = [series.get(this_week - WEEK * (i + 52), 0) for i in range(1, level_weeks + 1)]
        has_level = history_start is not None and this_week - WEEK * (52 + level_weeks) >= history_start
        level = (sum(recent) + 1) / (sum(year_ago) + 1) if has_level else 1.0
        rows = []
        for k in range(weeks):
            week = this_week + WEEK * k
            if history_start is not None and week - WEEK * 52 >= history_start:
                expected = series.get(week - WEEK * 52, 0) * level
                basis = "seasonal" if has_level else "last_year"
            else:
                expected = sum(recent) / level_weeks
                basis = "recent"
            low, high = stats.poisson.interval(0.8, max(expected, 1e-9))
            rows.append({"week": week.isoformat(), "expected": round(expected, 1), "low": int(low), "high": int(high),
                         "basis": basis, "last_year": series.get(week - WEEK * 52) if basis != "recent" else None})
        out[category] = rows
    return out
