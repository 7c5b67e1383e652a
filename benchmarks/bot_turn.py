"""Turn latency with the real bot, through the gateway and straight to Rasa's REST webhook.

Each conversation greets, asks a knowledge-base question and walks the ticket form to the end, so the
turns include NLU, rules, forms and custom actions calling back into the gateway. The difference
between the two paths is the gateway's own cost per turn (triage, store, outbox).

    .venv/bin/python benchmarks/bot_turn.py [--conversations 30] [--concurrency 1,8]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import tempfile
import time
import sys
import uuid
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.rasa_stack import RasaStack, http, trained_model  # noqa: E402

SCRIPT = ["你好", "社保卡丢了怎么补办", "我要反映一下小区门口的路灯坏了", "泰山区财源街道幸福小区",
          "上周开始的", "13812345678", "确认", "谢谢"]


def conversation(stack: RasaStack, direct: bool | str) -> list[float]:
    session = "bench" + uuid.uuid4().hex[:12]
    times = []
    for seq, text in enumerate(SCRIPT):
        t0 = time.perf_counter()
        if direct == "ivr":
            assert stack.call(session, seq, text)["actions"]
        elif direct:
            status, _ = http("POST", f"{stack.rasa}/webhooks/rest/webhook", {"sender": session, "message": text})
            assert status == 200
        else:
            stack.say(session, text)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conversations", type=int, default=40)
    ap.add_argument("--concurrency", default="1,8")
    args = ap.parse_args()
    # The load plays many citizens from one loopback address: the abuse limits (issue 12) are not measured here.
    for var in ("HOTLINE_ABUSE_NEW_SESSIONS_PER_HOUR_PER_ADDRESS", "HOTLINE_ABUSE_MESSAGES_PER_MINUTE_PER_SESSION",
                "HOTLINE_ABUSE_MESSAGES_PER_TEN_MINUTES_PER_CONTACT"):
        os.environ.setdefault(var, "1000000")
    stack = RasaStack(Path(tempfile.mkdtemp(prefix="bot-bench-")))
    t0 = time.perf_counter()
    stack.start(trained_model())
    print(f"stack ready in {time.perf_counter() - t0:.1f} s (gateway, Rasa server, action server)")
    try:
        conversation(stack, False)  # warm-up
        for c in (int(x) for x in args.concurrency.split(",")):
            p50 = {}
            for direct in (True, False, "ivr"):
                t1 = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(c) as pool:
                    runs = list(pool.map(lambda _: conversation(stack, direct), range(args.conversations)))
                elapsed = time.perf_counter() - t1
                turns = sorted(t for run in runs for t in run)
                q = statistics.quantiles(turns, n=100)
                p50[direct] = q[49]
                path = {True: "Rasa webhook", False: "gateway web ", "ivr": "gateway IVR "}[direct]
                print(f"{path} concurrency {c}: {len(turns)} turns in {elapsed:.1f} s ({len(turns) / elapsed:.1f}/s); "
                      f"p50 {q[49] * 1000:.0f} ms  p95 {q[94] * 1000:.0f} ms  max {turns[-1] * 1000:.0f} ms")
            print(f"  gateway overhead at p50, concurrency {c}: {(p50[False] - p50[True]) * 1000:.1f} ms (web), "
                  f"{(p50['ivr'] - p50[True]) * 1000:.1f} ms (IVR)")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
