"""`hotline nlu train`: fit the request-type and category models on the real boards and our own texts.

Deterministic (fixed seeds, sorted vocabulary, a hash-decided dev split that is never trained on);
a few minutes on two cores. Needs scikit-learn (the `train` extra); the product only needs the
saved arrays. The dev figures printed at the end are the ones to record in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from nlu.classify import Classifier
from nlu.corpus import Example, board_examples, own_examples, split
from nlu.textcat import cue_features, ngrams, prepare

MAX_FEATURES = 80_000
MIN_DF = 2
SEED = 12345


def _build_vocab(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    df: Counter[str] = Counter()
    for t in texts:
        df.update(ngrams(prepare(t)).keys())
    kept = sorted((g for g, n in df.items() if n >= MIN_DF), key=lambda g: (-df[g], g))[:MAX_FEATURES]
    kept.sort()
    n = len(texts)
    idf = np.asarray([np.log((1 + n) / (1 + df[g])) + 1.0 for g in kept], dtype=np.float32)
    return kept, idf


def _matrix(texts: Sequence[str], vocab: list[str], idf: np.ndarray, extras: Sequence[Mapping[str, float]],
            extra_names: Sequence[str]):  # -> scipy.sparse.csr_matrix
    from scipy import sparse
    index = {g: i for i, g in enumerate(vocab)}
    extra_index = {name: len(vocab) + j for j, name in enumerate(extra_names)}
    rows, cols, vals = [], [], []
    for r, (t, ex) in enumerate(zip(texts, extras)):
        feats = [(index[g], 1.0 + np.log(c)) for g, c in ngrams(prepare(t)).items() if g in index]
        if feats:
            ix = np.asarray([i for i, _ in feats])
            v = np.asarray([x for _, x in feats], dtype=np.float32) * idf[ix]
            v /= np.linalg.norm(v)
            rows.extend([r] * len(ix))
            cols.extend(ix.tolist())
            vals.extend(v.tolist())
        for name, value in ex.items():
            if name in extra_index:
                rows.append(r)
                cols.append(extra_index[name])
                vals.append(value)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(texts), len(vocab) + len(extra_names)),
                             dtype=np.float32)


def _fit(x, y: Sequence[str], c: float):
    from sklearn.linear_model import LogisticRegression
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=SEED)
    model.fit(x, list(y))
    return model


def _accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    return sum(g == p for g, p in zip(gold, pred)) / max(1, len(gold))


def _macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    f1 = []
    for label in sorted(set(gold)):
        tp = sum(g == p == label for g, p in zip(gold, pred))
        fp = sum(g != label and p == label for g, p in zip(gold, pred))
        fn = sum(g == label and p != label for g, p in zip(gold, pred))
        f1.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1) / max(1, len(f1))


HEADS: dict[str, tuple[Callable[[Example], str | None], str, float]] = {
    # head: (label of an example, cue prefix, regularisation C)
    "category": (lambda e: e.category, "cat", 8.0),
    "coarse_type": (lambda e: e.coarse_type, "type", 4.0),
    # May only add emergencies the rules missed (nlu.triage); its threshold is set below.
    "emergency": (lambda e: e.emergency, "none", 4.0),
    "emergency_line": (lambda e: e.line if e.emergency == "yes" else None, "none", 4.0),
}
# The emergency model speaks only above the probability at which it raises at most this share of
# false alarms on the ordinary texts it was trained with (it is stricter on texts it never saw).
EMERGENCY_MAX_TRAIN_ALARMS = 0.0005
EMERGENCY_MAX_OWN_ALARMS = 0.005


def train(train_dir: Path, own_files: Sequence[Path], taxonomy: Path, out: Path,
          log: Callable[[str], None] = print) -> dict[str, object]:
    t0 = time.perf_counter()
    classifier = Classifier(taxonomy)
    examples = board_examples(train_dir) + own_examples(own_files)
    train_set, dev_set = split(examples)
    log(f"{len(examples)} labelled texts: {len(train_set)} to train on, {len(dev_set)} kept apart (dev)")
    vocab, idf = _build_vocab([e.text for e in train_set])
    log(f"vocabulary: {len(vocab)} character n-grams")
    cues = {id(e): {**cue_features("cat", classifier.category_scores(prepare_cues(e.text))),
                    **cue_features("type", classifier.type_scores(prepare_cues(e.text)))}
            for e in examples}
    arrays: dict[str, np.ndarray] = {"idf": idf}
    meta: dict[str, object] = {"trained_at": time.strftime("%Y-%m-%d"), "ngram_range": [1, 3],
                               "max_features": MAX_FEATURES, "heads": {}, "dev": {}}
    for name, (label_of, prefix, c) in HEADS.items():
        rows = [e for e in train_set if label_of(e)]
        labels = sorted({label_of(e) for e in rows})  # type: ignore[type-var]
        if len(labels) < 2:
            log(f"  {name}: nothing to learn from ({labels}), skipped")
            continue
        extra = sorted({k for e in rows for k in cues[id(e)] if k.startswith(prefix + ":")})
        x = _matrix([e.text for e in rows], vocab, idf, [cues[id(e)] for e in rows], extra)
        model = _fit(x, [label_of(e) for e in rows], c)  # type: ignore[misc]
        order = [list(model.classes_).index(l) for l in labels]
        # Two labels: scikit-learn keeps one weight vector for the second; logits (0, w·x) give the same
        # probability through the softmax that inference uses.
        arrays[f"{name}_coef"] = model.coef_.T[:, order].astype(np.float16) if len(labels) > 2 else \
            np.hstack([np.zeros_like(model.coef_.T), model.coef_.T]).astype(np.float16)
        arrays[f"{name}_intercept"] = (model.intercept_[order] if len(labels) > 2 else
                                       np.asarray([0.0, model.intercept_[0]])).astype(np.float32)
        meta["heads"][name] = {"labels": labels, "extra": extra, "train_rows": len(rows),  # type: ignore[index]
                               "label_counts": dict(Counter(label_of(e) for e in rows))}
        dev_rows = [e for e in dev_set if label_of(e)]
        xd = _matrix([e.text for e in dev_rows], vocab, idf, [cues[id(e)] for e in dev_rows], extra)
        pred = model.predict(xd)
        by_source: dict[str, dict[str, float]] = {}
        for source in sorted({e.source for e in dev_rows}):
            g = [label_of(e) for e in dev_rows if e.source == source]
            p = [pp for e, pp in zip(dev_rows, pred) if e.source == source]
            by_source[source] = {"n": len(g), "accuracy": round(_accuracy(g, p), 3),  # type: ignore[arg-type]
                                 "macro_f1": round(_macro_f1(g, p), 3)}  # type: ignore[arg-type]
            log(f"  dev {name:12s} {source:22s} n={len(g):5d} accuracy {by_source[source]['accuracy']:.3f} "
                f"macro-F1 {by_source[source]['macro_f1']:.3f}")
        meta["dev"][name] = by_source  # type: ignore[index]
        if name == "emergency":
            yes = labels.index("yes")
            cuts = [0.5]
            # Long board letters and our own short hard negatives score differently: the bar must hold
            # for both (a share of each group's training texts).
            for own in (False, True):
                idx = [i for i, e in enumerate(rows) if label_of(e) == "no" and e.source.startswith("own:") == own]
                if idx:
                    neg = np.sort(model.predict_proba(x[idx])[:, yes])
                    share = EMERGENCY_MAX_TRAIN_ALARMS if not own else EMERGENCY_MAX_OWN_ALARMS
                    cuts.append(float(neg[min(len(neg) - 1, int(len(neg) * (1 - share)))]))
            meta["emergency_threshold"] = round(max(cuts), 4)
            log(f"  emergency model threshold {meta['emergency_threshold']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, vocab=np.asarray(json.dumps(vocab, ensure_ascii=False)),
                        meta=np.asarray(json.dumps(meta, ensure_ascii=False)), **arrays)
    log(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.0f} s")
    return meta


def prepare_cues(text: str) -> str:
    """The rule lexicons read normalised text (nlu.text.normalize), as in triage."""
    from nlu.text import normalize
    return normalize(text)
