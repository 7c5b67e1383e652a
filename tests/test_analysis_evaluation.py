"""Unit evaluation (Art. 22) on a small fixed history, against figures computed by hand; the facts are
refreshed incrementally from the trail on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.store import Store
from gateway.store.analysis import FactsRule
from gateway.store.schema import tickets
from gateway.store.tickets import add_event
from routing.analysis.evaluation import evaluate
from routing.clock import Clock
from routing.deadlines import WorkCalendar
from gateway.settings import AnalysisSettings

CLOCK = Clock.create()
CAL = WorkCalendar()
RULE = FactsRule(CLOCK, CAL.add_workdays, 1)


def at(day: int, hour: int) -> dt.datetime:
    """2026-11-<day> <hour>:00 in Tai'an, as UTC (Monday 2 November is day 2)."""
    return dt.datetime(2026, 11, day, hour, tzinfo=CLOCK.tz).astimezone(dt.timezone.utc)


def _ticket(conn: Any, n: int, status: str, unit: str | None, due: dt.date | None) -> int:
    return conn.execute(tickets.insert().returning(tickets.c.id), {
        "number": f"20261102-{n:06d}", "channel": "web", "status": status, "source": "bot",
        "request_type": "complaint", "category": "城乡建设", "district": "泰山区", "description": f"工单{n}",
        "unit_id": unit, "due_date": due, "created_at": at(2, 9), "updated_at": at(2, 9)}).scalar_one()


def history(conn: Any) -> dict[str, int]:
    """Five tickets received on Monday 2 November 2026 (see the expected figures below)."""
    ids = {}
    # T1: water accepts in time, answers the same day (6 h), citizen satisfied.
    t = ids["t1"] = _ticket(conn, 1, "closed", "water", dt.date(2026, 11, 3))
    add_event(conn, at(2, 9), t, "system", "created", {"channel": "web"})
    add_event(conn, at(2, 9), t, "system", "dispatched", {"unit": "water", "due_date": "2026-11-03"})
    add_event(conn, at(2, 10), t, "unit:water", "accept", {"unit": "water"})
    add_event(conn, at(2, 15), t, "unit:water", "result", {"unit": "water"})
    add_event(conn, at(2, 18), t, "citizen", "rating", {"level": "satisfied"})
    # T2: water accepts late (Wednesday), answers Thursday after the due Tuesday (72 h), rated dissatisfied,
    # re-handled, answered again, rated basically satisfied.
    t = ids["t2"] = _ticket(conn, 2, "closed", "water", dt.date(2026, 11, 10))
    add_event(conn, at(2, 9), t, "system", "dispatched", {"unit": "water", "due_date": "2026-11-03"})
    add_event(conn, at(4, 9), t, "unit:water", "accept", {"unit": "water"})
    add_event(conn, at(5, 9), t, "unit:water", "result", {"unit": "water"})
    add_event(conn, at(5, 12), t, "citizen", "rating", {"level": "dissatisfied"})
    add_event(conn, at(5, 14), t, "agent:wang", "rehandle", {"due_date": "2026-11-10"})
    add_event(conn, at(6, 9), t, "unit:water", "result", {"unit": "water"})
    add_event(conn, at(6, 12), t, "citizen", "rating", {"level": "basically_satisfied"})
    # T3: housing returns it, then water has it, not accepted, due Tuesday: overdue on the 10th.
    t = ids["t3"] = _ticket(conn, 3, "dispatched", "water", dt.date(2026, 11, 3))
    add_event(conn, at(2, 9), t, "system", "dispatched", {"unit": "housing", "due_date": "2026-11-16"})
    add_event(conn, at(2, 11), t, "unit:housing", "return", {"unit": "housing", "reason": "不属于本单位"})
    add_event(conn, at(2, 12), t, "agent:wang", "dispatched", {"unit": "water", "due_date": "2026-11-03"})
    # T4: housing accepts in time, gets an extension to the 20th, answers on the 18th (384 h), satisfied.
    t = ids["t4"] = _ticket(conn, 4, "closed", "housing", dt.date(2026, 11, 20))
    add_event(conn, at(2, 9), t, "system", "dispatched", {"unit": "housing", "due_date": "2026-11-16"})
    add_event(conn, at(3, 9), t, "unit:housing", "accept", {"unit": "housing"})
    add_event(conn, at(10, 9), t, "unit:housing", "extension", {"unit": "housing", "days": 4})
    add_event(conn, at(10, 10), t, "agent:wang", "extension_approved", {"due_date": "2026-11-20"})
    add_event(conn, at(18, 9), t, "unit:housing", "result", {"unit": "housing"})
    add_event(conn, at(18, 12), t, "citizen", "rating", {"level": "satisfied"})
    # T5: answered by the agent, never dispatched.
    t = ids["t5"] = _ticket(conn, 5, "closed", None, None)
    add_event(conn, at(2, 9), t, "system", "created", {"channel": "web"})
    return ids


WATER = {"received": 3, "accepted": 2, "accepted_in_time": 1, "returned": 0, "extensions": 0, "rehandles": 1,
         "resolved": 2, "on_time": 1, "late": 1, "overdue_open": 1, "satisfied": 1, "basically_satisfied": 1,
         "dissatisfied": 0, "first_contact": 1}
HOUSING = {"received": 2, "accepted": 1, "accepted_in_time": 1, "returned": 1, "extensions": 1, "rehandles": 0,
           "resolved": 1, "on_time": 1, "late": 0, "overdue_open": 0, "satisfied": 1, "basically_satisfied": 0,
           "dissatisfied": 0, "first_contact": 1}


async def test_unit_figures_match_the_hand_computed_ones(store: Store) -> None:
    await store.db.run(history)
    assert await store.analysis.refresh(RULE) > 0
    nov, dec = dt.date(2026, 11, 1), dt.date(2026, 12, 1)
    figures = {f.unit_id: f for f in await store.analysis.unit_figures(nov, dec, dt.date(2026, 11, 10))}
    assert set(figures) == {"water", "housing"}
    assert {k: figures["water"][k] for k in WATER} == WATER
    assert {k: figures["housing"][k] for k in HOUSING} == HOUSING
    assert figures["water"].overdue == 2
    assert figures["water"].median_hours == 39.0     # (6 + 72) / 2
    assert figures["housing"].median_hours == 384.0
    assert figures["water"].rates() == {"accepted_in_time": 0.5, "on_time": 0.3333, "satisfaction": 0.9,
                                        "first_contact": 0.5, "not_returned": 1.0}
    assert figures["housing"].rates() == {"accepted_in_time": 1.0, "on_time": 1.0, "satisfaction": 1.0,
                                          "first_contact": 1.0, "not_returned": 0.5}
    ranked = evaluate(list(figures.values()), AnalysisSettings().score_weights)
    # 100 * (.15*.5 + .3*.3333 + .3*.9 + .15*.5 + .1*1) and 100 * (.15 + .3 + .3 + .15 + .1*.5)
    assert [(e.unit_id, e.rank, e.score) for e in ranked] == [("housing", 1, 95.0), ("water", 2, 62.0)]
    # Every ticket counts once in the volumes, the one without a unit too.
    assert sum(n for _, _, n in await store.analysis.volume(nov, dec, "category")) == 5
    # Beyond 92 days the median comes from the hours buckets (about 10 % wide).
    long = {f.unit_id: f for f in await store.analysis.unit_figures(dt.date(2026, 8, 1), dec, dt.date(2026, 11, 10))}
    assert abs(long["housing"].median_hours - 384) / 384 < 0.1 and long["housing"]["received"] == 2
    # Outside the period: nothing.
    assert await store.analysis.unit_figures(dec, dt.date(2027, 1, 1), dt.date(2026, 11, 10)) == []


async def test_new_events_update_the_figures_incrementally(store: Store) -> None:
    ids = await store.db.run(history)
    await store.analysis.refresh(RULE)
    assert await store.analysis.refresh(RULE) == 0  # up to date: nothing read again

    def water_answers(conn: Any) -> None:
        add_event(conn, at(11, 9), ids["t3"], "unit:water", "accept", {"unit": "water"})
        add_event(conn, at(11, 10), ids["t3"], "unit:water", "result", {"unit": "water"})
        conn.execute(tickets.update().where(tickets.c.id == ids["t3"]).values(status="resolved"))
    await store.db.run(water_answers)
    assert await store.analysis.refresh(RULE) == 2
    nov, dec = dt.date(2026, 11, 1), dt.date(2026, 12, 1)
    water = {f.unit_id: f for f in await store.analysis.unit_figures(nov, dec, dt.date(2026, 11, 12))}["water"]
    assert (water["accepted"], water["resolved"], water["late"], water["overdue_open"]) == (3, 3, 2, 0)


@pytest.mark.parametrize("weights", [{"satisfaction": 1.0}])
def test_a_rate_without_anything_to_measure_is_left_out_of_the_score(weights: dict[str, float]) -> None:
    from routing.analysis.evaluation import UnitFigures
    nothing_rated = UnitFigures("gas", {"received": 4, "resolved": 4, "on_time": 4})
    assert evaluate([nothing_rated], weights)[0].score is None
    assert evaluate([nothing_rated], {"on_time": 1.0, "satisfaction": 3.0})[0].score == 100.0
