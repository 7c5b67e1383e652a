"""Triage on text nobody here wrote: the real boards' dev split and independently written holdouts.

    .venv/bin/python -m benchmarks.triage_real [--train-dir ../shared/data/train] [HOLDOUT.jsonl ...]

Prints: emergency false alarms on every real board text (they are ordinary requests); request type
(coarsened to the boards' 投诉/求助 · 咨询 · 建言) and category on the dev split the models never
trained on; and for each holdout file, emergency recall / false alarms (rows with "emergency") or
request type and category (rows with "request_type"). A missing label counts as wrong.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from gateway.settings import PROJECT_ROOT, load_settings
from nlu.corpus import COARSE_TYPE, board_examples, split
from nlu.triage import Triager


def macro_f1(pairs: list[tuple[str, str | None]]) -> float:
    labels = sorted({g for g, _ in pairs})
    f1s = []
    for label in labels:
        tp = sum(1 for g, p in pairs if g == label and p == label)
        fp = sum(1 for g, p in pairs if g != label and p == label)
        fn = sum(1 for g, p in pairs if g == label and p != label)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s)


def accuracy(pairs: list[tuple[str, str | None]]) -> float:
    return sum(1 for g, p in pairs if g == p) / max(1, len(pairs))


def report_pairs(name: str, pairs: list[tuple[str, str | None]]) -> None:
    missing = sum(1 for _, p in pairs if p is None)
    print(f"  {name}: accuracy {accuracy(pairs):.3f}, macro-F1 {macro_f1(pairs):.3f} (n={len(pairs)}, "
          f"missing {missing})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-dir", default=str(PROJECT_ROOT.parent / "shared" / "data" / "train"))
    ap.add_argument("--show-false-alarms", type=int, default=0)
    ap.add_argument("holdouts", nargs="*")
    args = ap.parse_args()
    settings = load_settings()
    t0 = time.perf_counter()
    triager = Triager.from_settings(settings)
    triager.analyze("预热")
    print(f"start-up {time.perf_counter() - t0:.2f} s")

    # Linear and bounded: a long letter or a megabyte mail costs what a few pages cost.
    for n in (1_000, 10_000, 100_000, 1_000_000):
        text = ("小区门口的路灯坏了好几天，晚上很黑，" * (n // 18 + 1))[:n]
        t0 = time.perf_counter()
        triager.analyze(text)
        print(f"  {n:>9,} characters: {(time.perf_counter() - t0) * 1000:.1f} ms")
    examples = board_examples(Path(args.train_dir))
    _, dev = split(examples)
    t0 = time.perf_counter()
    results = {e.key + e.source: triager.analyze(e.text) for e in examples}
    elapsed = time.perf_counter() - t0
    chars = sum(len(e.text) for e in examples)
    print(f"{len(examples)} board texts in {elapsed:.1f} s ({chars / elapsed:,.0f} chars/s)")
    alarms = [(e, results[e.key + e.source]) for e in examples if results[e.key + e.source].emergency]
    print(f"emergency false alarms on the real boards: {len(alarms)}/{len(examples)} "
          f"= {len(alarms) / len(examples):.2%}")
    for e, r in alarms[:args.show_false_alarms]:
        print(f"    {r.emergency.reason} [{r.emergency.evidence}] {e.text[:90]}")

    print("dev split (never trained on):")
    zj = [e for e in dev if e.source == "zhejiang"]
    report_pairs("request type, Zhejiang board (3 classes)",
                 [(e.coarse_type, COARSE_TYPE.get(results[e.key + e.source].request_type or "")) for e in zj])
    always = [(e.coarse_type, "grievance") for e in zj]
    print(f"    (always 投诉/求助 would score {accuracy(always):.3f})")
    for source in ("tipdm_raw", "tipdm_segmented", "zhejiang"):
        rows = [e for e in dev if e.source == source and e.category]
        report_pairs(f"category, {source}", [(e.category, results[e.key + e.source].category) for e in rows])

    for path in args.holdouts:
        rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
        print(f"holdout {path} ({len(rows)} texts):")
        if rows and "emergency" in rows[0] and not isinstance(rows[0]["emergency"], list):
            found = [(r, triager.analyze(r["text"])) for r in rows]
            pos = [(r, t) for r, t in found if r["emergency"]]
            neg = [(r, t) for r, t in found if not r["emergency"]]
            hit = sum(1 for _, t in pos if t.emergency)
            line_ok = sum(1 for r, t in pos if t.emergency and r["line"] in t.emergency.lines)
            fa = sum(1 for _, t in neg if t.emergency)
            print(f"  emergency recall {hit}/{len(pos)} = {hit / max(1, len(pos)):.3f} "
                  f"(right line among those told: {line_ok}); false alarms {fa}/{len(neg)}")
            for r, t in pos:
                if not t.emergency:
                    print(f"    missed: {r['text'][:80]}")
            for r, t in neg:
                if t.emergency:
                    print(f"    false alarm ({t.emergency.reason}): {r['text'][:80]}")
        else:
            found = [(r, triager.analyze(r["text"])) for r in rows]
            report_pairs("request type (5 classes)", [(r["request_type"], t.request_type) for r, t in found])
            report_pairs("request type (3 classes)", [(COARSE_TYPE[r["request_type"]],
                                                       COARSE_TYPE.get(t.request_type or "")) for r, t in found])
            report_pairs("category", [(r["category"], t.category) for r, t in found])
            print("  confusions (gold → predicted): " + ", ".join(
                f"{g}→{p} {n}" for (g, p), n in Counter(
                    (r["request_type"], t.request_type) for r, t in found if r["request_type"] != t.request_type
                ).most_common(8)))


if __name__ == "__main__":
    main()
