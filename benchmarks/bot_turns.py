"""Turn latency through the whole system with the real bot: gateway + Rasa server + action server.

Each conversation greets, asks a knowledge-base question and walks the ticket form to the end, so the
turns include NLU, rules, forms and custom actions calling back into the gateway.

    .venv/bin/python benchmarks/bot_turns.py [--conversations 40] [--concurrency 1,8]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import tempfile
import time
import sys
import uuid
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.rasa_stack import RasaStack, trained_model  # noqa: E402

SCRIPT = ["你好", "社保卡丢了怎么补办", "我要反映一下小区门口的路灯坏了", "泰山区财源街道幸福小区",
          "上周开始的", "13812345678", "确认", "谢谢"]


def conversation(stack: RasaStack) -> list[float]:
    session = "bench" + uuid.uuid4().hex[:12]
    times = []
    for text in SCRIPT:
        t0 = time.perf_counter()
        stack.say(session, text)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conversations", type=int, default=40)
    ap.add_argument("--concurrency", default="1,8")
    args = ap.parse_args()
    stack = RasaStack(Path(tempfile.mkdtemp(prefix="bot-bench-")))
    t0 = time.perf_counter()
    stack.start(trained_model())
    print(f"stack ready in {time.perf_counter() - t0:.1f} s (gateway, Rasa server, action server)")
    try:
        conversation(stack)  # warm-up
        for c in (int(x) for x in args.concurrency.split(",")):
            t1 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(c) as pool:
                runs = list(pool.map(lambda _: conversation(stack), range(args.conversations)))
            elapsed = time.perf_counter() - t1
            turns = sorted(t for run in runs for t in run)
            q = statistics.quantiles(turns, n=100)
            print(f"concurrency {c}: {len(turns)} turns in {elapsed:.1f} s ({len(turns) / elapsed:.1f} turns/s); "
                  f"p50 {q[49] * 1000:.0f} ms  p95 {q[94] * 1000:.0f} ms  max {turns[-1] * 1000:.0f} ms")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
