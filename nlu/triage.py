"""Triage of one text (DESIGN.md "Contracts"): emergency first, then the Art. 13 disposition,
request type, category, district and the utility flag.

Pure CPU and synchronous: it runs in the gateway on every message, before and
whatever the bot does, so it must never depend on the bot being up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlu.classify import Classifier
from nlu.disposition import REPLIES, disposition, emergency_reply
from nlu.emergency import EmergencyFinding, screen
from nlu.gazetteer import Gazetteer
from nlu.segment import Segmenter, user_words
from nlu.text import normalize


@dataclass(frozen=True, slots=True)
class TriageResult:
    emergency: EmergencyFinding | None
    disposition: str
    request_type: str | None
    category: str | None
    district: str | None
    utility: bool

    @property
    def reply_zh(self) -> str:
        """What the citizen is told when the disposition itself is the answer."""
        if self.emergency is not None:
            return emergency_reply(self.emergency.lines)
        return REPLIES[self.disposition]

    def as_json(self) -> dict[str, Any]:
        return {
            "emergency": self.emergency.as_json() if self.emergency else None,
            "disposition": self.disposition,
            "request_type": self.request_type,
            "category": self.category,
            "district": self.district,
            "utility": self.utility,
        }


class Triager:
    def __init__(self, gazetteer: Gazetteer, classifier: Classifier, segmenter: Segmenter) -> None:
        self._gazetteer = gazetteer
        self._classifier = classifier
        # Shared with the knowledge-base search, so jieba's dictionary is loaded once.
        self.segmenter = segmenter

    @classmethod
    def load(cls, gazetteer_path: Path, taxonomy_path: Path) -> "Triager":
        gazetteer = Gazetteer.load(gazetteer_path)
        segmenter = Segmenter(user_words(gazetteer, taxonomy_path))
        return cls(gazetteer, Classifier(taxonomy_path, segmenter), segmenter)

    def analyze(self, text: str) -> TriageResult:
        norm = normalize(text)
        emergency = screen(text)
        if emergency is not None:
            hits = self._gazetteer.find(norm)
            district = next((h.district for h in hits if h.district), None)
            return TriageResult(emergency, "emergency", None, None, district, False)
        disp, district = disposition(norm, self._gazetteer)
        accepted = disp == "accept"
        return TriageResult(
            None, disp,
            self._classifier.request_type(norm) if accepted else None,
            self._classifier.category(norm) if accepted else None,
            district,
            self._classifier.utility(norm) if accepted else False,
        )
