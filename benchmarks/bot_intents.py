"""Which intent the bot's NLU gives texts it was not trained on (issue 14): the bot answers from the
knowledge base only for `ask_question`; `report_problem` opens the ticket form.

Runs in the Rasa virtualenv with a trained model (scripts/lib.sh `train_bot` prints its path) and
writes {text: intent} for benchmarks/bot_routing.py, which adds the gateway's part:

    .venv-rasa/bin/python benchmarks/bot_intents.py var/rasa/models/hotline-<hash>.tar.gz /tmp/intents.json
    .venv/bin/python benchmarks/bot_routing.py /tmp/intents.json
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

SETS = ("types_holdout_a", "types_holdout_b", "kb_citizens_calibration", "kb_citizens_report",
        "kb_citizens_report_c")


async def main(model: str, out: str) -> None:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    data = Path(__file__).resolve().parent.parent / "tests" / "data"
    intents = {}
    for name in SETS:
        for line in (data / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                text = row.get("text") or row["q"]
                intents[text] = (await agent.parse_message(text))["intent"]["name"]
    Path(out).write_text(json.dumps(intents, ensure_ascii=False), encoding="utf-8")
    print(f"{len(intents)} texts classified by {Path(model).name}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
