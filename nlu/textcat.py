"""Trained text classifiers: request type (as the boards coarsen it) and level-1 category.

A linear model over character n-grams (1–3, TF-IDF, sublinear tf, L2-normalised) plus the rule
lexicons' cue scores as extra features, trained by `hotline nlu train` (nlu/train.py). It measured
better than spaCy's bag-of-words textcat on the same dev split (docs/benchmarks.md), needs no
segmentation (so it is faster than jieba) and is a few MB of numpy arrays: the trained artefact
ships in the repository (nlu/models/, provenance beside it) and is loaded once per process.

Inference is ours (numpy), not scikit-learn's: the product does not need the training stack, and a
dot product over the text's n-grams is linear in the text's length.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from nlu.text import normalize

NGRAM_RANGE = (1, 3)
# Long letters: the subject is in the title and the first lines, the request at the end.
HEAD_CHARS, TAIL_CHARS = 1200, 800
_DIGITS = re.compile(r"\d+")
_LATIN = re.compile(r"[a-z]+")
_SEPARATORS = re.compile(r"[\s\W_]+")


class ModelError(RuntimeError):
    """The model file is missing or does not fit this code."""


def prepare(text: str) -> str:
    """The form n-grams are taken from: normalised, capped, digits and Latin words as one symbol each,
    punctuation as a single separator."""
    text = normalize(text)
    if len(text) > HEAD_CHARS + TAIL_CHARS:
        text = text[:HEAD_CHARS] + " " + text[-TAIL_CHARS:]
    text = _DIGITS.sub("0", text)
    text = _LATIN.sub("a", text)
    return _SEPARATORS.sub(" ", text).strip()


def ngrams(prepared: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    lo, hi = NGRAM_RANGE
    for part in prepared.split(" "):
        n_part = len(part)
        for n in range(lo, hi + 1):
            for i in range(n_part - n + 1):
                g = part[i:i + n]
                counts[g] = counts.get(g, 0) + 1
    return counts


@dataclass(frozen=True)
class Head:
    """One classification task: labels and the weights of every feature for each label."""

    labels: tuple[str, ...]
    extra: tuple[str, ...]       # names of the cue features appended after the n-grams
    coef: np.ndarray             # (n_ngrams + len(extra), n_labels)
    intercept: np.ndarray        # (n_labels,)


@dataclass(slots=True)
class Features:
    """A text's known n-grams (`ix`) with their weights (`v`); every head's n-gram logits are filled in
    the first time a head is asked, so the others reuse them."""

    ix: np.ndarray
    v: np.ndarray
    ngram_logits: np.ndarray | None = None


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    scores: Mapping[str, float]


class TextModel:
    def __init__(self, vocab: Sequence[str], idf: np.ndarray, heads: Mapping[str, Head],
                 meta: Mapping[str, object]) -> None:
        self._index = {g: i for i, g in enumerate(vocab)}
        self._idf = idf
        self.heads = dict(heads)
        self.meta = dict(meta)
        # Every head's n-gram weights side by side: a text's rows are gathered once for all heads (triage
        # asks three or four heads about every message, and the gather is most of each head's cost).
        n_ngrams, start = len(idf), 0
        self._columns: dict[str, slice] = {}
        for name, head in self.heads.items():
            self._columns[name] = slice(start, start + len(head.labels))
            start += len(head.labels)
        self._stacked = np.ascontiguousarray(np.hstack([h.coef[:n_ngrams] for h in self.heads.values()]))

    @classmethod
    def load(cls, path: Path) -> "TextModel":
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the text model {path}: {exc}") from exc
        meta = json.loads(str(data["meta"]))
        vocab = json.loads(str(data["vocab"]))
        heads = {}
        for name, spec in meta["heads"].items():
            heads[name] = Head(tuple(spec["labels"]), tuple(spec["extra"]),
                               data[f"{name}_coef"].astype(np.float32), data[f"{name}_intercept"].astype(np.float32))
        return cls(vocab, data["idf"].astype(np.float32), heads, meta)

    def vectorize(self, text: str) -> "Features":
        """Indices and L2-normalised sublinear TF-IDF values of the text's known n-grams."""
        index = self._index
        counts: dict[int, int] = {}
        lo, hi = NGRAM_RANGE
        for part in prepare(text).split(" "):
            n_part = len(part)
            for n in range(lo, hi + 1):
                for i in range(n_part - n + 1):
                    j = index.get(part[i:i + n])
                    if j is not None:
                        counts[j] = counts.get(j, 0) + 1
        if not counts:
            return Features(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        ix = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        v = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))) * self._idf[ix]
        return Features(ix, v / np.float32(np.sqrt(v @ v)))

    def _logits(self, head_name: str, head: Head, text: str, extra: Mapping[str, float] | None,
                vector: "Features | None") -> np.ndarray:
        features = vector if vector is not None else self.vectorize(text)
        if features.ngram_logits is None:
            features.ngram_logits = (features.v @ self._stacked[features.ix] if len(features.ix)
                                     else np.zeros(self._stacked.shape[1], dtype=np.float32))
        logits = head.intercept + features.ngram_logits[self._columns[head_name]]
        if head.extra and extra:
            n_ngrams = len(self._idf)
            ev = np.asarray([extra.get(name, 0.0) for name in head.extra], dtype=np.float32)
            logits += ev @ head.coef[n_ngrams:]
        return logits

    def label(self, head_name: str, text: str, extra: Mapping[str, float] | None = None,
              vector: "Features | None" = None) -> str:
        """`predict(...).label` without the probabilities: triage runs it on every message."""
        head = self.heads[head_name]
        return head.labels[int(self._logits(head_name, head, text, extra, vector).argmax())]

    def predict(self, head_name: str, text: str, extra: Mapping[str, float] | None = None,
                vector: "Features | None" = None) -> Prediction:
        head = self.heads[head_name]
        logits = self._logits(head_name, head, text, extra, vector)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        best = int(p.argmax())
        return Prediction(head.labels[best], float(p[best]), {l: float(x) for l, x in zip(head.labels, p)})


CueScorer = Callable[[str], Mapping[str, float]]


def cue_features(prefix: str, scores: Mapping[str, float]) -> dict[str, float]:
    """Rule cue scores as model features, compressed (a long letter repeats its cues)."""
    return {f"{prefix}:{k}": float(np.log1p(v)) for k, v in scores.items() if v > 0}
