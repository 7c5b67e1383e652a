"""`hotline nlu train-dispatch`: fit the matter model (routing/dispatch_model.py) on labelled requests.

Deterministic (sorted vocabulary, fixed seed); seconds. Needs scikit-learn (the `train` extra).
Training texts: `tests/data/dispatch.jsonl` and `tests/data/dispatch_train_*.jsonl` (written by
helper sessions from the unit names alone, never from the catalogue's keywords). The sets used to
measure dispatch (`tests/data/dispatch_eval_*.jsonl`) are never trained on.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from nlu.train import _build_vocab, _fit, _matrix
from nlu.triage import Triager
from routing.dispatch_model import HEAD, dispatch_features, keyword_hits, matter_label, matter_text
from routing.units import Unit

C = 16.0


def read_rows(paths: Sequence[Path]) -> list[dict[str, str]]:
    rows = []
    for path in paths:
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def train_dispatch(units: dict[str, Unit], triager: Triager, files: Sequence[Path], out: Path,
                   log: Callable[[str], None] = print) -> dict[str, object]:
    t0 = time.perf_counter()
    rows = read_rows(files)
    labels = [matter_label(units[r["lead"]]) for r in rows]
    features, texts = [], []
    for r in rows:
        t = triager.analyze(r["text"])
        features.append(dispatch_features(units, keyword_hits(units, r["text"]), t.category, t.utility))
        texts.append(matter_text(triager.gazetteer, r["text"]))
    vocab, idf = _build_vocab(texts)
    extra = sorted({k for f in features for k in f})
    x = _matrix(texts, vocab, idf, features, extra)
    model = _fit(x, labels, C)
    order = sorted(model.classes_)
    cols = [list(model.classes_).index(label) for label in order]
    meta = {"trained_at": time.strftime("%Y-%m-%d"), "ngram_range": [1, 3], "c": C,
            "files": [p.name for p in files],
            "heads": {HEAD: {"labels": order, "extra": extra, "train_rows": len(rows),
                             "label_counts": dict(Counter(labels))}}}
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, vocab=np.asarray(json.dumps(vocab, ensure_ascii=False)),
                        meta=np.asarray(json.dumps(meta, ensure_ascii=False)), idf=idf,
                        **{f"{HEAD}_coef": model.coef_.T[:, cols].astype(np.float16),
                           f"{HEAD}_intercept": model.intercept_[cols].astype(np.float32)})
    log(f"{len(rows)} texts, {len(order)} owners, {len(vocab)} n-grams; saved {out} "
        f"({out.stat().st_size / 1e3:.0f} kB) in {time.perf_counter() - t0:.1f} s")
    return meta
