"""Answer, ask which, or say there is no match: what the bot does with the knowledge base's ranking.

A citizen's long question often fits two or three entries about as well; answering the
first would be a confident wrong answer and refusing would be a shrug. So there are three
outcomes. The thresholds are calibrated on questions written independently of the KB
(`benchmarks/kb_calibrate.py`) and live in `[kb]` of the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from nlu.kb_search import SearchHit

Outcome = Literal["answer", "choose", "none"]


@dataclass(frozen=True, slots=True)
class DecisionThresholds:
    # Answer directly: `certainty` (the best question asked, discounted by a close runner-up) is high.
    answer_confidence: float = 0.4
    answer_margin: float = 0.0
    # Offer choices: the best entry is at least this close; the others offered must be near it.
    choose_confidence: float = 0.12
    choice_relative_score: float = 0.5
    choice_min_confidence: float = 0.12
    max_choices: int = 3


@dataclass(frozen=True, slots=True)
class KbDecision:
    outcome: Outcome
    hits: tuple[SearchHit, ...]  # the answer (one), the choices (two or three), or nothing


def margin(hits: Sequence[SearchHit]) -> float:
    """How far the best score is ahead of the runner-up's, 0..1 (1 when there is no runner-up)."""
    if not hits or hits[0].score <= 0:
        return 0.0
    if len(hits) == 1:
        return 1.0
    return max(0.0, 1.0 - hits[1].score / hits[0].score)


def certainty(hits: Sequence[SearchHit]) -> float:
    """How sure the ranking is of its first entry, 0..1: how much of that entry's best question the
    citizen asked, discounted when the runner-up is about as good. Measured on independently written
    questions it separates right first entries from wrong or unanswerable ones better than either
    part alone (benchmarks/kb_calibrate.py prints it)."""
    if not hits:
        return 0.0
    return hits[0].of_question * (0.3 + margin(hits)) / 1.3


def decide(hits: Sequence[SearchHit], thresholds: DecisionThresholds, max_choices: int | None = None) -> KbDecision:
    """`max_choices` lower than the thresholds' for channels that read the choices out (the phone: 2)."""
    if not hits:
        return KbDecision("none", ())
    best = hits[0]
    sure = certainty(hits)
    if sure >= thresholds.answer_confidence and margin(hits) >= thresholds.answer_margin:
        return KbDecision("answer", (best,))
    if best.confidence < thresholds.choose_confidence:
        return KbDecision("none", ())
    limit = min(max_choices or thresholds.max_choices, thresholds.max_choices)
    choices = [best] + [h for h in hits[1:] if h.score >= thresholds.choice_relative_score * best.score
                        and h.confidence >= thresholds.choice_min_confidence]
    if len(choices) == 1:
        # Nothing else is near: one choice is a question with one answer; confirm it by asking.
        return KbDecision("choose", (best,))
    return KbDecision("choose", tuple(choices[:limit]))
