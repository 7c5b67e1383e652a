"""Unit evaluation (Art. 22): figures per unit and period, a composite score and a ranking.

The figures are sums over `routing.analysis.facts` rows; rates are what the score weighs. A rate with
nothing to measure (no ratings yet, say) is left out of the score and the other weights are scaled up,
so a unit is neither rewarded nor punished for what did not happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# The counted columns, in the order the exports list them.
COUNTS = ("received", "accepted", "accepted_in_time", "returned", "extensions", "rehandles", "resolved",
          "on_time", "late", "overdue_open", "satisfied", "basically_satisfied", "dissatisfied", "first_contact")

# How much "basically satisfied" counts towards satisfaction.
BASICALLY = 0.8


@dataclass(frozen=True, slots=True)
class UnitFigures:
    unit_id: str
    counts: Mapping[str, int]
    median_hours: float | None = None

    def __getitem__(self, name: str) -> int:
        return int(self.counts.get(name, 0))

    @property
    def overdue(self) -> int:
        """Answered after the due date, or still unanswered past it."""
        return self["late"] + self["overdue_open"]

    @property
    def rated(self) -> int:
        return self["satisfied"] + self["basically_satisfied"] + self["dissatisfied"]

    def rates(self) -> dict[str, float | None]:
        def rate(num: float, den: int) -> float | None:
            return round(num / den, 4) if den else None
        received, rated = self["received"], self.rated
        return {
            # Of the tickets it accepted, those accepted in time (one not accepted yet is no failure until its
            # due date, where `on_time` counts it).
            "accepted_in_time": rate(self["accepted_in_time"], self["accepted"]),
            "on_time": rate(self["on_time"], self["resolved"] + self["overdue_open"]),
            "satisfaction": rate(self["satisfied"] + BASICALLY * self["basically_satisfied"], rated),
            "first_contact": rate(self["first_contact"], self["resolved"]),
            "not_returned": rate(received - self["returned"], received),
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    unit_id: str
    figures: UnitFigures
    rates: dict[str, float | None]
    score: float | None
    rank: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        f = self.figures
        return {"unit": self.unit_id, "rank": self.rank, "score": self.score, "rates": self.rates,
                **{c: f[c] for c in COUNTS}, "overdue": f.overdue, "median_hours": f.median_hours, **self.extra}


def score(rates: Mapping[str, float | None], weights: Mapping[str, float]) -> float | None:
    """0-100: the weighted mean of the rates that have something to measure."""
    used = [(weights[k], v) for k, v in rates.items() if v is not None and weights.get(k, 0) > 0]
    total = sum(w for w, _ in used)
    return round(100 * sum(w * v for w, v in used) / total, 1) if total else None


def evaluate(figures: list[UnitFigures], weights: Mapping[str, float], min_received: int = 1) -> list[Evaluation]:
    """Every unit with its score, ranked best first; units that received fewer than `min_received`
    tickets in the period are listed unranked (a score over two tickets says nothing)."""
    out = []
    for f in figures:
        r = f.rates()
        out.append(Evaluation(f.unit_id, f, r, score(r, weights)))
    ranked = sorted((e for e in out if e.score is not None and e.figures["received"] >= min_received),
                    key=lambda e: (-(e.score or 0), e.unit_id))
    ranks = {e.unit_id: i + 1 for i, e in enumerate(ranked)}
    result = [Evaluation(e.unit_id, e.figures, e.rates, e.score, ranks.get(e.unit_id)) for e in out]
    result.sort(key=lambda e: (e.rank is None, e.rank or 0, e.unit_id))
    return result


def trend(per_period: Mapping[str, list[UnitFigures]], weights: Mapping[str, float]) -> dict[str, list[Any]]:
    """Each unit's score per period (periods in the order given); None where it had no tickets."""
    periods = list(per_period)
    units = sorted({f.unit_id for fs in per_period.values() for f in fs})
    series: dict[str, list[Any]] = {u: [None] * len(periods) for u in units}
    for i, p in enumerate(periods):
        for f in per_period[p]:
            series[f.unit_id][i] = score(f.rates(), weights)
    return {"periods": periods, "series": series}
