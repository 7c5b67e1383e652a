"""Triage of one text (DESIGN.md "Contracts"): emergency first, then the Art. 13 disposition,
request type, category, district and the utility flag.

Pure CPU and synchronous: it runs in the gateway on every message, before and
whatever the bot does, so it must never depend on the bot being up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlu.classify import Classifier
from nlu.disposition import REPLIES, disposition, emergency_reply
from nlu.emergency import EmergencyFinding, screen
from nlu.gazetteer import Gazetteer
from nlu.segment import Segmenter, user_words
from nlu.text import normalize
from nlu.textcat import TextModel, cue_features

# What the classifiers and the disposition read of a very long text: its beginning (subject) and its end
# (the request); the whole text is still stored. Emergency screening has its own cap (nlu.emergency).
MAX_ANALYSED_CHARS = 4000
RAW_TEXT_CAP = 16_000
# The learned emergency model speaks only about texts that describe something (Chinese characters).
LEARNED_EMERGENCY_MIN_CHARS = 10


@dataclass(frozen=True, slots=True)
class TriageResult:
    emergency: EmergencyFinding | None
    disposition: str
    request_type: str | None
    category: str | None
    district: str | None
    utility: bool
    # An emergency found in a text that also asks for something else (a complaint with a danger told
    # at its end; or a false alarm): the request must not be lost with the referral.
    carries_request: bool = False

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
            "carries_request": self.carries_request,
        }


# Characters of text besides the sentence that reports the danger that make it a request of its own.
REQUEST_BESIDES_EMERGENCY_CHARS = 25
_SENTENCE_END = re.compile(r"[。！？!?\n]")


def carries_request(norm: str, evidence: str) -> bool:
    """Whether the text says more than the emergency: its other sentences hold a request."""
    at = norm.find(evidence)
    if at < 0:
        return len(norm) >= 2 * REQUEST_BESIDES_EMERGENCY_CHARS
    starts = [m.end() for m in _SENTENCE_END.finditer(norm, 0, at)]
    start = starts[-1] if starts else 0
    end_match = _SENTENCE_END.search(norm, at)
    end = end_match.end() if end_match else len(norm)
    rest = norm[:start] + norm[end:]
    return sum(1 for ch in rest if "\u4e00" <= ch <= "\u9fff") >= REQUEST_BESIDES_EMERGENCY_CHARS


class Triager:
    def __init__(self, gazetteer: Gazetteer, classifier: Classifier, segmenter: Segmenter, model: TextModel) -> None:
        self._gazetteer = gazetteer
        self._classifier = classifier
        self._model = model
        # Shared with the knowledge-base search, so jieba's dictionary is loaded once.
        self.segmenter = segmenter

    @property
    def gazetteer(self) -> Gazetteer:
        return self._gazetteer

    @classmethod
    def load(cls, gazetteer_path: Path, taxonomy_path: Path, model_path: Path) -> "Triager":
        gazetteer = Gazetteer.load(gazetteer_path)
        segmenter = Segmenter(user_words(gazetteer, taxonomy_path))
        return cls(gazetteer, Classifier(taxonomy_path, segmenter), segmenter, TextModel.load(model_path))

    @classmethod
    def from_settings(cls, settings: Any) -> "Triager":
        """From the gateway's settings (`[triage]` paths resolved against the project)."""
        t = settings.triage
        return cls.load(settings.path(t.gazetteer), settings.path(t.taxonomy), settings.path(t.model))

    @property
    def categories(self) -> tuple[str, ...]:
        return self._model.heads["category"].labels

    def classify(self, norm: str, vector: Any = None) -> tuple[str, str]:
        """Request type and category of a normalised text: the trained model, with the rule lexicons'
        cues among its features; within the boards' 投诉/求助 the rules tell a report, a request for
        help and a complaint apart."""
        vector = vector if vector is not None else self._model.vectorize(norm)
        type_scores = self._classifier.type_scores(norm)
        coarse = self._model.label("coarse_type", norm, cue_features("type", type_scores), vector)
        request_type = self._classifier.grievance_type(norm, type_scores) if coarse == "grievance" else coarse
        category = self._model.label(
            "category", norm, cue_features("cat", self._classifier.category_scores(norm)), vector)
        return request_type, category

    def _learned_emergency(self, norm: str, vector: Any) -> EmergencyFinding | None:
        """The trained model may add an emergency the rules missed, never remove one they found."""
        threshold = self._model.meta.get("emergency_threshold")
        if "emergency" not in self._model.heads or threshold is None:
            return None
        if sum(1 for ch in norm if "\u4e00" <= ch <= "\u9fff") < LEARNED_EMERGENCY_MIN_CHARS:
            # A few words ("又来了") tell no situation: n-grams of emergencies then decide alone.
            return None
        p = self._model.predict("emergency", norm, None, vector).scores.get("yes", 0.0)
        if p < float(threshold):  # type: ignore[arg-type]
            return None
        line = self._model.label("emergency_line", norm, None, vector)
        return EmergencyFinding((line,), "model", f"p={p:.2f}")

    def analyze(self, text: str) -> TriageResult:
        # A megabyte mail must cost what a few pages cost: its beginning and end are read, the whole
        # text is still stored. Every step below is linear in what is left.
        if len(text) > RAW_TEXT_CAP:
            text = text[:RAW_TEXT_CAP // 2] + "\n" + text[-RAW_TEXT_CAP // 2:]
        norm = normalize(text)
        if len(norm) > MAX_ANALYSED_CHARS:
            norm = norm[:MAX_ANALYSED_CHARS // 2] + "。" + norm[-MAX_ANALYSED_CHARS // 2:]
        vector = self._model.vectorize(norm)
        emergency = screen(text) or self._learned_emergency(norm, vector)
        request_type, category = self.classify(norm, vector)
        if emergency is not None:
            hits = self._gazetteer.find(norm)
            district = next((h.district for h in hits if h.district), None)
            # Type and category are kept: if it turns out not to be happening now, the request goes on.
            return TriageResult(emergency, "emergency", request_type, category, district, False,
                                carries_request(norm, emergency.evidence))
        disp, district = disposition(norm, self._gazetteer)
        return TriageResult(None, disp, request_type, category, district, self._classifier.utility(norm))
