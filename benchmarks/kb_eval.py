"""Knowledge-base ranking on questions it was not built from (top-1 / top-3), and search latency with
thousands of entries. Whether to answer, ask or decline is measured by benchmarks/kb_calibrate.py.

    .venv/bin/python benchmarks/kb_eval.py [--data tests/data/kb_citizens_report.jsonl] [--errors] [--scale 5000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluate(rows: list[dict[str, Any]], search: Any, threshold: float) -> dict[str, Any]:
    answerable = [r for r in rows if r["expected"]]
    none = [r for r in rows if not r["expected"]]
    top1 = top3 = 0
    errors = []
    predicted_none = correct_none = answered_right = answered = 0
    for r in rows:
        hits = search(r["q"])
        best = hits[0] if hits else None
        says_match = best is not None and best.confidence >= threshold
        if r["expected"]:
            keys = [h.key for h in hits]
            top1 += bool(keys) and keys[0] == r["expected"]
            top3 += r["expected"] in keys[:3]
            if not keys or keys[0] != r["expected"]:
                errors.append((r["q"], r["expected"], keys[:3], best.confidence if best else 0.0))
        if says_match:
            answered += 1
            answered_right += best.key == r["expected"]
        else:
            predicted_none += 1
            correct_none += not r["expected"]
            if r["expected"]:
                errors.append((r["q"], r["expected"], "below threshold", best.confidence if best else 0.0))
    return {"answerable": len(answerable), "none": len(none), "top1": top1 / len(answerable),
            "top3": top3 / len(answerable), "no_match_precision": correct_none / max(predicted_none, 1),
            "no_match_recall": correct_none / max(len(none), 1), "answer_precision": answered_right / max(answered, 1),
            "answered": answered, "errors": errors}


def scaled_search_times(analyzer: Any, seed: list[Any], rows: list[dict[str, Any]], size: int) -> None:
    """Search latency with `size` entries: the seed entries repeated with local variants
    (a district in the question, a unit and a variant number in the answer)."""
    import dataclasses
    import statistics
    from nlu.kb_search import KbIndex

    places = ["泰山区", "岱岳区", "新泰市", "肥城市", "宁阳县", "东平县", "高新区", "旅游经济开发区"]
    entries = []
    for i in range(size):
        e = seed[i % len(seed)]
        place = places[(i // len(seed)) % len(places)]
        entries.append(dataclasses.replace(
            e, key=f"{e.key}-{i}", question=f"{place}{e.question}",
            alternates=tuple(f"{place}{a}" for a in e.alternates),
            answer=f"{e.answer}（{place}第{i}号办事指南）"))
    t0 = time.perf_counter()
    index = KbIndex(entries, analyzer)
    build = time.perf_counter() - t0
    times = []
    for _ in range(3):
        for r in rows:
            t1 = time.perf_counter()
            index.search(r["q"], 5)
            times.append(time.perf_counter() - t1)
    q = statistics.quantiles(times, n=100)
    print(f"{size} entries: index build {build:.2f} s; search p50 {q[49] * 1000:.2f} ms  p95 {q[94] * 1000:.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append",
                    help="JSON lines {q, expected}; default: every KB evaluation set in tests/data")
    ap.add_argument("--errors", action="store_true")
    ap.add_argument("--scale", type=int, action="append", help="entries for the latency measurement (1000, 5000)")
    args = ap.parse_args()
    from gateway.settings import load_settings
    from nlu.gazetteer import Gazetteer
    from nlu.kb import load_entries
    from nlu.kb_search import Analyzer, KbIndex
    from nlu.kb_synonyms import Synonyms
    from nlu.segment import Segmenter, user_words

    settings = load_settings(None)
    t0 = time.perf_counter()
    gazetteer = Gazetteer.load(ROOT / "config" / "gazetteer.yaml")
    analyzer = Analyzer(Segmenter(user_words(gazetteer, ROOT / "config" / "taxonomy.csv")),
                        Synonyms.load(settings.path(settings.kb.synonyms)))
    seed = load_entries(ROOT / "config" / "kb" / "seed_kb.yaml")
    index = KbIndex(seed, analyzer)
    build = time.perf_counter() - t0
    paths = args.data or sorted((ROOT / "tests" / "data").glob("kb_*.jsonl"))
    every: list[dict[str, Any]] = []
    for path in paths:
        rows = load(path)
        every += rows
        t1 = time.perf_counter()
        report = evaluate(rows, lambda q: index.search(q, 5), 2.0)  # ranking only: the decision is kb_calibrate's
        per_query = (time.perf_counter() - t1) / len(rows)
        print(f"{path.name}: {report['answerable']} answerable, {report['none']} not; top-1 {report['top1']:.1%}  "
              f"top-3 {report['top3']:.1%}  ({per_query * 1000:.2f} ms per query)")
        if args.errors:
            for e in report["errors"]:
                if e[2] != "below threshold":
                    print("   ", e)
    print(f"index build {build:.2f} s (includes loading jieba)")
    for size in args.scale or [1000, 5000]:
        scaled_search_times(analyzer, seed, every, size)


if __name__ == "__main__":
    main()
