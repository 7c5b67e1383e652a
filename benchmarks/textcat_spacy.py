"""spaCy's text classifier against ours, on the same train/dev split (issue 13: keep the better).

    .venv/bin/pip install 'spacy>=3.7,<3.9'
    .venv/bin/python -m benchmarks.textcat_spacy [--train-dir ../shared/data/train] [--epochs 5]

Trains `spacy.blank("zh")` (jieba segmenter) with a bag-of-words `textcat` (unigrams and bigrams of
words, spaCy's TextCatBOW) for the level-1 category and for the boards' request type, and prints dev
accuracy and macro-F1 beside the shipped model's (nlu/models/textcat.npz) on the same rows.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from benchmarks.triage_real import accuracy, macro_f1
from gateway.settings import PROJECT_ROOT, load_settings
from nlu.corpus import board_examples, own_examples, split
from nlu.text import normalize
from nlu.triage import Triager


def train_spacy(rows: list[tuple[str, str]], labels: list[str], epochs: int):  # -> spacy Language
    import spacy
    from spacy.training import Example
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    textcat = nlp.add_pipe("textcat", config={"model": {
        "@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True, "ngram_size": 2,
        "no_output_layer": False, "length": 262144}})
    for label in labels:
        textcat.add_label(label)
    docs = [(nlp.make_doc(normalize(t)[:2000]), label) for t, label in rows]
    examples = [Example.from_dict(d, {"cats": {l: float(l == label) for l in labels}}) for d, label in docs]
    random.seed(0)
    optimizer = nlp.initialize(lambda: examples)
    for epoch in range(epochs):
        random.shuffle(examples)
        losses: dict[str, float] = {}
        for i in range(0, len(examples), 64):
            nlp.update(examples[i:i + 64], sgd=optimizer, losses=losses)
        print(f"    epoch {epoch + 1}: loss {losses.get('textcat', 0):.2f}")
    return nlp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-dir", default=str(PROJECT_ROOT.parent / "shared" / "data" / "train"))
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    own = sorted((PROJECT_ROOT / "tests" / "data").glob("triage*.jsonl")) + sorted(
        (PROJECT_ROOT / "tests" / "data").glob("types*.jsonl"))
    train, dev = split(board_examples(Path(args.train_dir)) + own_examples(own))
    ours = Triager.from_settings(load_settings())
    for task, label_of, ours_of in (
            ("category", lambda e: e.category, lambda t: ours.classify(normalize(t))[1]),
            ("coarse_type", lambda e: e.coarse_type,
             lambda t: {"complaint": "grievance", "help": "grievance", "report": "grievance"}.get(
                 ours.classify(normalize(t))[0], ours.classify(normalize(t))[0]))):
        rows = [(e.text, label_of(e)) for e in train if label_of(e)]
        labels = sorted({l for _, l in rows})
        t0 = time.perf_counter()
        print(f"{task}: training spaCy on {len(rows)} texts")
        nlp = train_spacy(rows, labels, args.epochs)  # type: ignore[arg-type]
        print(f"  trained in {time.perf_counter() - t0:.0f} s")
        for source in sorted({e.source for e in dev if label_of(e)}):
            d = [e for e in dev if e.source == source and label_of(e)]
            gold = [label_of(e) for e in d]
            t0 = time.perf_counter()
            spacy_pred = [max(doc.cats, key=doc.cats.get) for doc in nlp.pipe(normalize(e.text)[:2000] for e in d)]
            spacy_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            our_pred = [ours_of(e.text) for e in d]
            our_s = time.perf_counter() - t0
            print(f"  dev {source:22s} n={len(d):5d}  spaCy textcat {accuracy(list(zip(gold, spacy_pred))):.3f} "
                  f"(macro-F1 {macro_f1(list(zip(gold, spacy_pred))):.3f}, {spacy_s:.1f} s)  ours "
                  f"{accuracy(list(zip(gold, our_pred))):.3f} (macro-F1 {macro_f1(list(zip(gold, our_pred))):.3f}, "
                  f"{our_s:.1f} s)")


if __name__ == "__main__":
    main()
