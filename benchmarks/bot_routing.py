"""Where the bot sends texts nobody here wrote: the KB answer path, the ticket form, or neither
(fallback, greeting, progress query...). Combines the Rasa intents written by bot_intents.py with
what the action server does with the gateway's help (bot/actions/actions.py): a "question" the KB
has nothing for, or a message not understood, goes to the form when the gateway's request-type model
reads a complaint, report or suggestion.

    .venv/bin/python benchmarks/bot_routing.py /tmp/intents.json
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TICKET_TYPES = ("complaint", "report", "suggestion")  # as in bot/actions/actions.py


def main(path: str) -> None:
    from gateway.settings import load_settings
    from nlu.gazetteer import Gazetteer
    from nlu.kb import load_entries
    from nlu.kb_decision import decide
    from nlu.kb_search import Analyzer, KbIndex
    from nlu.kb_synonyms import Synonyms
    from nlu.segment import Segmenter, user_words
    from nlu.triage import Triager

    settings = load_settings(None)
    triager = Triager.from_settings(settings)
    analyzer = Analyzer(Segmenter(user_words(Gazetteer.load(ROOT / "config" / "gazetteer.yaml"),
                                             ROOT / "config" / "taxonomy.csv")),
                        Synonyms.load(settings.path(settings.kb.synonyms)))
    index = KbIndex(load_entries(ROOT / "config" / "kb" / "seed_kb.yaml"), analyzer)
    intents = json.loads(Path(path).read_text(encoding="utf-8"))
    groups: dict[str, dict[str, Counter[str]]] = {"as Rasa alone": defaultdict(Counter), "with the gateway": defaultdict(Counter)}
    for name, group_of in (("types_holdout_a", None), ("types_holdout_b", None), ("kb_citizens_report", "KB questions"),
                           ("kb_citizens_report_c", "KB questions")):
        for line in (ROOT / "tests" / "data" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if group_of and not row["expected"]:
                continue
            text = row.get("text") or row["q"]
            group = group_of or ("consultations" if row["request_type"] == "consultation"
                                 else "complaints, reports, help, suggestions")
            intent = intents[text]
            path0 = "KB" if intent == "ask_question" else "form" if intent == "report_problem" else "other"
            groups["as Rasa alone"][group][path0] += 1
            strong = triager.analyze(text).request_type in TICKET_TYPES
            path1 = path0
            if path0 == "KB" and strong and decide(index.search(text, 5), settings.kb.thresholds).outcome == "none":
                path1 = "form"
            elif intent == "nlu_fallback" and strong and len(text.strip()) >= 6:
                path1 = "form"
            groups["with the gateway"][group][path1] += 1
    for how, by_group in groups.items():
        print(how)
        for group, counts in by_group.items():
            n = sum(counts.values())
            print(f"  {group} ({n}): " + ", ".join(f"{k} {v / n:.0%}" for k, v in counts.most_common()))


if __name__ == "__main__":
    main(sys.argv[1])
