"""Dispatch (Art. 14): which unit leads a ticket, which cooperate, and how sure we are.

Scores come from what the citizen wrote (the units' keywords), the triage category and the
district. A specific department named by its matter outranks the county government; a local matter
with no department in sight goes to the county (属地). Unclear cases go to a supervisor's queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.units import Unit

AUTO_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Proposal:
    lead: str | None
    cooperating: tuple[str, ...]
    confidence: float
    reason: str

    @property
    def automatic(self) -> bool:
        return self.lead is not None and self.confidence >= AUTO_CONFIDENCE

    def as_json(self) -> dict[str, object]:
        return {"lead": self.lead, "cooperating": list(self.cooperating), "confidence": round(self.confidence, 2),
                "reason": self.reason, "automatic": self.automatic}


def propose(units: dict[str, Unit], text: str, category: str | None, district: str | None,
            utility: bool = False) -> Proposal:
    scores: dict[str, float] = {}
    reasons: dict[str, list[str]] = {}
    for unit in units.values():
        if not unit.serves(district) and unit.kind == "county":
            continue
        hits = unit.keyword_hits(text)
        score = 3.0 * len(hits)
        why = [f"关键词：{'、'.join(hits)}"] if hits else []
        if category and category in unit.categories:
            score += 1.0 if unit.kind == "county" else 1.5
            why.append(f"分类：{category}")
        if unit.kind == "utility" and utility and hits:
            score += 2.0  # Art. 18: water, power, gas, heat and telecom go to the company at once
        if unit.kind == "county" and district and unit.serves(district):
            score += 1.5
            why.append(f"属地：{district}")
        if score > 0:
            scores[unit.id], reasons[unit.id] = score, why
    if not scores:
        return Proposal(None, (), 0.0, "没有匹配的承办单位，需人工派单")
    ranked = sorted(scores, key=lambda u: (-scores[u], u))
    lead = ranked[0]
    top, second = scores[lead], scores[ranked[1]] if len(ranked) > 1 else 0.0
    confidence = (top - second) / top if top else 0.0
    # A department or company that clearly owns the matter leads; the county cooperates locally.
    # Cooperating: units the citizen's own words point to, or the county where it happens.
    cooperating = tuple(u for u in ranked[1:] if scores[u] >= 0.5 * top and (
        units[u].keyword_hits(text) or (units[u].kind == "county" and units[u].serves(district))))[:2]
    return Proposal(lead, cooperating, confidence, "；".join(reasons[lead]))
