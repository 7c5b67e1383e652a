"""Web messages through the whole pipeline, bot switched off, SQLite: messages/s and latency.

Starts `hotline serve` in its own process (as deployed) on a free loopback
port with a fresh SQLite file, then drives it from this process with N
messages over C concurrent clients. Each client plays citizens who send five
messages per conversation (the first opens a ticket, the rest join it).

    .venv/bin/python benchmarks/ingest.py [--messages 20000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["小区门口的路灯坏了一个星期了晚上很黑", "补充一下是东门那盏灯", "之前反映过一次没人处理",
         "希望尽快派人来修一下", "我的电话就是这个号码"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            if proc.poll() is not None:
                raise SystemExit("gateway exited during start-up")
            try:
                async with http.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("gateway did not become ready")


async def client(http: aiohttp.ClientSession, url: str, n: int, latencies: list[float], errors: list[int]) -> None:
    sess = ""
    for i in range(n):
        if i % len(TEXTS) == 0:
            sess = uuid.uuid4().hex
        t0 = time.perf_counter()
        async with http.post(url + "/api/v1/web/messages",
                             json={"session": sess, "text": TEXTS[i % len(TEXTS)], "client_id": f"m{i}"}) as resp:
            body = await resp.json()
            if resp.status != 200 or not body["replies"]:
                errors.append(resp.status)
        latencies.append(time.perf_counter() - t0)


async def run(messages: int, concurrency: int, warmup: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
               "HOTLINE_MEDIA_ROOT": f"{tmp}/media", "HOTLINE_BOT_ENABLED": "false",
               "HOTLINE_SERVER_PORT": str(port), "HOTLINE_LOGGING_LEVEL": "WARNING"}
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], cwd=ROOT, env=env)
        try:
            await wait_ready(url, proc)
            conn = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(connector=conn) as http:
                await asyncio.gather(*(client(http, url, warmup // concurrency, [], []) for _ in range(concurrency)))
                latencies: list[float] = []
                errors: list[int] = []
                t0 = time.perf_counter()
                await asyncio.gather(*(client(http, url, messages // concurrency, latencies, errors)
                                       for _ in range(concurrency)))
                elapsed = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(10)
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    print(f"messages: {len(latencies)}  concurrency: {concurrency}  errors: {len(errors)}")
    print(f"throughput: {len(latencies) / elapsed:,.0f} messages/s  ({elapsed:.1f} s)")
    print(f"latency: p50 {q[49] * 1000:.1f} ms  p95 {q[94] * 1000:.1f} ms  p99 {q[98] * 1000:.1f} ms  "
          f"max {latencies[-1] * 1000:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=800)
    args = ap.parse_args()
    asyncio.run(run(args.messages, args.concurrency, args.warmup))


if __name__ == "__main__":
    main()
