"""Dispatch (Art. 14): which unit leads a ticket, which cooperate, and how sure we are.

The lead is the unit that owns the matter, as the matter model (routing/dispatch_model.py) reads it
from the citizen's words, the catalogue's keyword hits, the triage category and the place; a county
government's own business goes to the county of the district named (属地). The catalogue's hits
also name the cooperating units and the reason a supervisor sees. Below `auto_at` the ticket waits
in the supervisor's queue (Art. 14(3)) with the proposal; `auto_at` is set on a calibration set
written independently of the catalogue (docs/benchmarks.md) so that automatic dispatches are right
at least 95% of the time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from nlu.gazetteer import Gazetteer
from routing.dispatch_model import COUNTY, MatterModel, dispatch_features, keyword_hits, matter_label, matter_text
from routing.units import Unit

log = logging.getLogger(__name__)

AUTO_CONFIDENCE = 0.65
MIN_PROPOSAL = 0.12   # below this the model has nothing to go on: no unit is proposed


@dataclass(frozen=True)
class Proposal:
    lead: str | None
    cooperating: tuple[str, ...]
    confidence: float
    reason: str
    auto_at: float = AUTO_CONFIDENCE

    @property
    def automatic(self) -> bool:
        return self.lead is not None and self.confidence >= self.auto_at

    def as_json(self) -> dict[str, object]:
        return {"lead": self.lead, "cooperating": list(self.cooperating), "confidence": round(self.confidence, 2),
                "reason": self.reason, "automatic": self.automatic}


@dataclass(frozen=True)
class DispatcherSource:
    """What a dispatcher is built from, as plain values another process can be given: the gateway's
    triage worker (gateway/triage_worker.py) proposes over the gateway's own unit catalogue, never over
    a catalogue file read again later."""

    units: dict[str, Unit]
    model: Path
    auto_at: float = AUTO_CONFIDENCE

    def load(self, places: Gazetteer) -> "Dispatcher":
        return Dispatcher(self.units, MatterModel.load(self.model), places, self.auto_at)


def _county_of(units: dict[str, Unit], district: str | None) -> Unit | None:
    return next((u for u in units.values() if u.kind == "county" and u.serves(district)), None)


class Dispatcher:
    """The catalogue, the matter model and the automatic-dispatch bar, loaded once per process."""

    def __init__(self, units: dict[str, Unit], model: MatterModel, places: Gazetteer,
                 auto_at: float = AUTO_CONFIDENCE) -> None:
        self.units = units
        self.model = model
        self.places = places
        unseen = sorted(u.id for u in units.values() if matter_label(u) not in model.owners)
        if unseen:  # they are only reached by a supervisor's assignment until the model is retrained
            log.warning("the dispatch model has never seen units %s: retrain it (hotline nlu train-dispatch)",
                        ", ".join(unseen))
        self.auto_at = auto_at

    def propose(self, text: str, category: str | None, district: str | None, utility: bool = False,
                excluding: Iterable[str] = ()) -> Proposal:
        """`excluding`: units that returned the ticket (they are not proposed again)."""
        left = set(excluding)
        units = {k: u for k, u in self.units.items() if k not in left} if left else self.units
        return _propose(units, self.model, self.places, text, category, district, utility, self.auto_at)


def _propose(units: dict[str, Unit], model: MatterModel, places: Gazetteer, text: str, category: str | None,
             district: str | None, utility: bool, auto_at: float) -> Proposal:
    hits = keyword_hits(units, text)
    allowed = frozenset(matter_label(u) for u in units.values())
    guess = model.guess(matter_text(places, text), dispatch_features(units, hits, category, utility), allowed)
    if guess.probability < MIN_PROPOSAL:
        return Proposal(None, (), guess.probability, "没有匹配的承办单位，需人工派单", auto_at)
    county = _county_of(units, district)
    if guess.owner == COUNTY:
        if county is None:
            return Proposal(None, (), 0.0, "可能是属地事项，但未说明所在区县，需人工派单", auto_at)
        lead = county
    else:
        lead = units[guess.owner]
    why = ["按诉求内容判断"]
    if lead.id in hits:
        why.append(f"关键词：{'、'.join(hits[lead.id])}")
    if category and category in lead.categories:
        why.append(f"分类：{category}")
    if lead.kind == "county":
        why.append(f"属地：{district}")
    # Cooperating: other units the citizen's own words point to (most words first), and the county where
    # it happens.
    cooperating = sorted((uid for uid in hits if uid != lead.id and units[uid].kind != "county"),
                         key=lambda uid: -len(hits[uid]))
    if county is not None and lead.kind != "county" and category in county.categories:
        cooperating.insert(0, county.id)
    return Proposal(lead.id, tuple(cooperating[:2]), guess.probability, "；".join(why), auto_at)
