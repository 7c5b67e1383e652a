"""The learned part of dispatch: which unit owns the matter, read from the citizen's words.

Keyword lists alone sent matters to a department named by a stray word (a dog bite to housing
because 物业 was mentioned) and could not tell a county's own business from a department's (issue
17). A linear model over character n-grams (the triage model's format, `nlu.textcat.TextModel`)
learns the matter from texts labelled by their lead unit; the catalogue's keyword hits, the triage
category and the utility flag are features, so the catalogue still steers it. The six
county governments are one label, `county`: which county is decided by the district, not the words,
and place names are blanked before the n-grams are read (a matter is the same matter anywhere; with
them, naming a district pulled requests towards the county).

Trained by `hotline nlu train-dispatch` (routing/dispatch_train.py) on `tests/data/dispatch*.jsonl`;
the artefact is `nlu/models/dispatch.npz` (provenance in nlu/models/PROVENANCE.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlu.gazetteer import Gazetteer
from nlu.textcat import ModelError, TextModel
from routing.units import Unit

COUNTY = "county"
HEAD = "unit"
KEYWORD_WEIGHT = 0.5  # catalogue hits steer, the citizen's words decide (set on the calibration set)


def matter_label(unit: Unit) -> str:
    return COUNTY if unit.kind == "county" else unit.id


def keyword_hits(units: dict[str, Unit], text: str) -> dict[str, list[str]]:
    """Each unit's catalogue words in `text` (units without any left out): read once per proposal."""
    return {u.id: hits for u in units.values() if (hits := u.keyword_hits(text))}


def dispatch_features(units: dict[str, Unit], hits: dict[str, list[str]], category: str | None,
                      utility: bool) -> dict[str, float]:
    """The same features at training and at dispatch: catalogue hits (`keyword_hits`), category, utility.
    Whether a place was named is not one: it pulled matters of every kind towards the county (measured)."""
    features: dict[str, float] = {}
    for unit_id, found in hits.items():
        features[f"kw:{matter_label(units[unit_id])}"] = KEYWORD_WEIGHT * float(np.log1p(len(found)))
    if category:
        features[f"cat:{category}"] = 1.0
    if utility:
        features["utility"] = 1.0
    return features


def matter_text(places: Gazetteer, text: str) -> str:
    return places.without_places(text)


@dataclass(frozen=True)
class MatterGuess:
    owner: str                   # a unit id, or COUNTY
    probability: float


class MatterModel:
    def __init__(self, model: TextModel) -> None:
        if HEAD not in model.heads:
            raise ModelError("the dispatch model has no 'unit' head")
        self._model = model

    @classmethod
    def load(cls, path: Path) -> "MatterModel":
        return cls(TextModel.load(path))

    @property
    def owners(self) -> tuple[str, ...]:
        return self._model.heads[HEAD].labels

    def guess(self, matter: str, features: dict[str, float], allowed: frozenset[str] | None = None) -> MatterGuess:
        """`matter`: the text without place names (`matter_text`); `allowed`: owners still possible (a
        returned ticket excludes the units that returned it)."""
        scores = dict(self._model.predict(HEAD, matter, features).scores)
        if allowed is not None:
            scores = {k: v for k, v in scores.items() if k in allowed}
            total = sum(scores.values()) or 1.0
            scores = {k: v / total for k, v in scores.items()}
        owner = max(scores, key=lambda k: scores[k])
        return MatterGuess(owner, scores[owner])
