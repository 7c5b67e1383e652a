"""What reading photos costs a citizen waiting for the web chat's answer, and how many photos a second
the gateway reads (issue 18).

`hotline serve` runs in its own process (bot off, SQLite, OCR workers warmed up at start); C citizens each
send photos of the rendered texts in tests/data/ocr_texts.jsonl (no caption), one after the other. Printed:
the reply latency (it never exceeds `[media_reading] default_wait_seconds` plus the answer itself: what is not
read by then follows), how many replies already used the photo's text, and photos read per second once
the queue has drained.

    .venv/bin/python benchmarks/media_reply.py [--photos 24] [--concurrency 2] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ocr_eval import render  # noqa: E402
from benchmarks.wechat_ingest import free_port  # noqa: E402


async def run(photos: int, concurrency: int, workers: int, wait: float) -> None:
    items = [json.loads(line) for line in (ROOT / "tests/data/ocr_texts.jsonl").read_text().splitlines() if line]
    rng = random.Random(7)
    images = [render(items[i % len(items)], rng, degraded=i % 2 == 1) for i in range(photos)]
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite:///{tmp}/b.db", "HOTLINE_MEDIA_ROOT": f"{tmp}/m",
               "HOTLINE_BOT_ENABLED": "false", "HOTLINE_SERVER_PORT": str(port), "HOTLINE_EMAIL_ENABLED": "false",
               "HOTLINE_LOGGING_LEVEL": "WARNING", "HOTLINE_MEDIA_READING_WORKERS": str(workers),
               "HOTLINE_MEDIA_READING_DEFAULT_WAIT_SECONDS": str(wait)}
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], cwd=ROOT, env=env)
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(300):
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.1)
                await asyncio.sleep(5)  # the workers load their models
                latencies: list[float] = []
                inline = 0

                async def citizen(k: int, mine: list[bytes]) -> None:
                    nonlocal inline
                    for j, data in enumerate(mine):
                        form = aiohttp.FormData()
                        form.add_field("session", f"bench{k:04d}{j:04d}")
                        form.add_field("file", data, filename="photo.jpg")
                        t0 = time.perf_counter()
                        async with http.post(f"http://127.0.0.1:{port}/api/v1/web/messages", data=form) as resp:
                            body = await resp.json()
                        latencies.append(time.perf_counter() - t0)
                        inline += "正在识别" not in " ".join(r["text"] for r in body.get("replies", []))

                t0 = time.perf_counter()
                await asyncio.gather(*(citizen(k, images[k::concurrency]) for k in range(concurrency)))
                answered = time.perf_counter() - t0
                db = sqlite3.connect(f"{tmp}/b.db")
                for _ in range(1200):
                    left = db.execute("SELECT count(*) FROM media_readings WHERE state = 'pending'").fetchone()[0]
                    if not left:
                        break
                    await asyncio.sleep(0.25)
                drained = time.perf_counter() - t0
                seconds = [json.loads(r)["seconds"] for (r,) in db.execute("SELECT result FROM media_readings")]
        finally:
            proc.terminate()
            proc.wait(20)
    q = statistics.quantiles(latencies, n=20)
    print(f"photos: {photos}  citizens at once: {concurrency}  workers: {workers}  reply wait: {wait:.1f} s")
    print(f"reply latency: median {statistics.median(latencies):.2f} s  p95 {q[18]:.2f} s  max {max(latencies):.2f} s;"
          f" replies using the photo's text: {inline}/{photos}")
    print(f"read: {photos / drained:.2f} photos/s ({drained:.1f} s for all, answering took {answered:.1f} s);"
          f" per photo in the worker: median {statistics.median(seconds):.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--wait", type=float, default=4.0)
    args = ap.parse_args()
    asyncio.run(run(args.photos, args.concurrency, args.workers, args.wait))


if __name__ == "__main__":
    main()
