"""Triage on the labelled set: per-field accuracy and confusion matrices, emergency recall and
false-positive rate, and speed (characters/s after warm-up, start-up time).

    .venv/bin/python benchmarks/triage_eval.py [--data tests/data/triage.jsonl] [--errors] [--speed]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

from gateway.settings import load_settings
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("disposition", "request_type", "category", "district", "utility")


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluate(rows: list[dict[str, Any]], predict: Any) -> dict[str, Any]:
    preds = [predict(r["text"]) for r in rows]
    report: dict[str, Any] = {"n": len(rows), "fields": {}, "errors": []}
    tp = fn = fp = tn = lines_ok = 0
    for r, p in zip(rows, preds):
        gold_e, pred_e = r["emergency"], p["emergency"]
        if gold_e:
            if pred_e:
                tp += 1
                lines_ok += pred_e["lines"][0] == gold_e[0] and set(pred_e["lines"]) >= set(gold_e)
            else:
                fn += 1
        elif pred_e:
            fp += 1
        else:
            tn += 1
    report["emergency"] = {"recall": tp / max(tp + fn, 1), "false_positive_rate": fp / max(fp + tn, 1),
                           "tp": tp, "fn": fn, "fp": fp, "tn": tn, "lines_correct": lines_ok / max(tp, 1)}
    for field in FIELDS:
        # request_type/category/utility are judged where the gold says the request is accepted.
        scope = [(r, p) for r, p in zip(rows, preds)
                 if field in ("disposition", "district") or r["disposition"] == "accept"]
        correct = sum(r[field] == p[field] for r, p in scope)
        confusion: dict[str, Counter[str]] = defaultdict(Counter)
        for r, p in scope:
            confusion[str(r[field])][str(p[field])] += 1
            if r[field] != p[field]:
                report["errors"].append((field, r[field], p[field], r["text"]))
        report["fields"][field] = {"accuracy": correct / max(len(scope), 1), "n": len(scope),
                                   "confusion": {g: dict(c) for g, c in confusion.items()}}
    for r, p in zip(rows, preds):
        if bool(r["emergency"]) != bool(p["emergency"]):
            report["errors"].append(("emergency", r["emergency"], p["emergency"], r["text"]))
    return report


def print_confusion(name: str, confusion: dict[str, dict[str, int]]) -> None:
    labels = sorted(set(confusion) | {p for c in confusion.values() for p in c})
    if len(labels) > 16:
        off = sorted(((g, p, n) for g, c in confusion.items() for p, n in c.items() if g != p), key=lambda x: -x[2])
        print(f"  {name}: {len(labels)} labels; off-diagonal cells (gold -> predicted: count):")
        for g, p, n in off[:20]:
            print(f"    {g} -> {p}: {n}")
        return
    width = max(len(x) for x in labels) + 2
    print(f"  {name} (rows gold, columns predicted)")
    print(" " * (width + 2) + "".join(f"{lab[:8]:>9}" for lab in labels))
    for g in labels:
        row = confusion.get(g, {})
        print(f"  {g:<{width}}" + "".join(f"{row.get(p, 0):>9}" for p in labels))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "triage.jsonl")
    ap.add_argument("--errors", action="store_true", help="list every wrong prediction")
    ap.add_argument("--speed", action="store_true", help="measure characters/s and start-up")
    args = ap.parse_args()

    t0 = time.perf_counter()
    from nlu.triage import Triager
    triager = Triager.from_settings(load_settings(ROOT / "config" / "hotline.toml", env={}))
    startup = time.perf_counter() - t0
    rows = load(args.data)
    report = evaluate(rows, lambda text: triager.analyze(text).as_json())
    e = report["emergency"]
    print(f"labelled texts: {report['n']} ({args.data.relative_to(ROOT) if args.data.is_relative_to(ROOT) else args.data})")
    print(f"emergency recall: {e['recall']:.1%} ({e['tp']}/{e['tp'] + e['fn']})  "
          f"false-positive rate: {e['false_positive_rate']:.1%} ({e['fp']}/{e['fp'] + e['tn']})  "
          f"first line right: {e['lines_correct']:.1%}")
    for field, f in report["fields"].items():
        print(f"{field}: accuracy {f['accuracy']:.1%} on {f['n']}")
    for field, f in report["fields"].items():
        if field != "utility":
            print_confusion(field, f["confusion"])
    if args.errors:
        for field, gold, pred, text in report["errors"]:
            print(f"  [{field}] gold={gold} pred={pred}: {text}")
    if args.speed:
        texts = [r["text"] for r in rows]
        chars = sum(map(len, texts))
        for t in texts:
            triager.analyze(t)
        rounds, t1 = 0, time.perf_counter()
        while time.perf_counter() - t1 < 3:
            for t in texts:
                triager.analyze(t)
            rounds += 1
        elapsed = time.perf_counter() - t1
        print(f"speed: {chars * rounds / elapsed:,.0f} characters/s ({len(texts) * rounds / elapsed:,.0f} texts/s, "
              f"one core)  start-up: {startup:.2f} s")


if __name__ == "__main__":
    main()
