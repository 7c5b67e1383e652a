"""Dispatch on a labelled set (`tests/data/dispatch.jsonl`: citizen text and the expected lead unit):
accuracy, how many would be dispatched automatically and how right those are, the confusions.

    .venv/bin/python benchmarks/dispatch_eval.py [--errors]
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

from gateway.settings import load_settings
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def evaluate(rows: list[dict[str, Any]], auto_at: float | None = None, model: Path | None = None) -> dict[str, Any]:
    from nlu.triage import Triager
    from routing.dispatch import Dispatcher
    from routing.dispatch_model import MatterModel
    from routing.units import load_units

    settings = load_settings(ROOT / "config" / "hotline.toml", env={})
    categories = frozenset(r["level1"] for r in csv.DictReader((ROOT / "config" / "taxonomy.csv").open(encoding="utf-8")))
    units = load_units(ROOT / "config" / "units.yaml", categories)
    triager = Triager.from_settings(settings)
    dispatcher = Dispatcher(units, MatterModel.load(model or settings.path(settings.routing.dispatch_model)),
                            triager.gazetteer, auto_at if auto_at is not None else settings.routing.auto_dispatch_confidence)
    right = auto = auto_right = 0
    errors: list[tuple[str, str, str | None]] = []
    confusion: Counter[tuple[str, str | None]] = Counter()
    for r in rows:
        t = triager.analyze(r["text"])
        p = dispatcher.propose(r["text"], t.category, t.district, t.utility)
        right += p.lead == r["lead"]
        if p.automatic:
            auto += 1
            auto_right += p.lead == r["lead"]
        if p.lead != r["lead"]:
            errors.append((r["text"], r["lead"], p.lead))
            confusion[(r["lead"], p.lead)] += 1
    n = len(rows)
    return {"n": n, "accuracy": right / n, "automatic": auto / n, "automatic_right": auto_right / max(auto, 1),
            "errors": errors, "confusion": confusion}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "dispatch.jsonl")
    ap.add_argument("--errors", action="store_true")
    ap.add_argument("--model", type=Path, default=None, help="a dispatch model file other than the settings' one")
    ap.add_argument("--sweep", action="store_true", help="automatic share and rightness at several bars")
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.sweep:
        for bar in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7):
            r = evaluate(rows, bar, args.model)
            print(f"bar {bar:.2f}: automatic {r['automatic']:.1%}, of which right {r['automatic_right']:.1%}")
    r = evaluate(rows, None, args.model)
    print(f"labelled texts: {r['n']}  lead unit accuracy: {r['accuracy']:.1%}")
    print(f"dispatched automatically: {r['automatic']:.1%}, of which right: {r['automatic_right']:.1%}")
    for (gold, pred), n in r["confusion"].most_common(10):
        print(f"  {gold} -> {pred}: {n}")
    if args.errors:
        for text, gold, pred in r["errors"]:
            print(f"  [{gold} -> {pred}] {text}")


if __name__ == "__main__":
    main()
