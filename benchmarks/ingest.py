"""Web messages through the whole pipeline, bot switched off, SQLite: messages/s and latency.

Starts `hotline serve` in its own process (as deployed) on a free loopback
port with a fresh SQLite file, then loads it with C concurrent clients. Each
client plays citizens who send five messages per conversation (the first
opens a ticket, the rest join it). The load comes from `wrk` (Debian package
`wrk`) when it is installed, since a Python client takes a core of its own on a
2-core machine; otherwise from an aiohttp client in this process (`--client
python`). Afterwards the store is checked: every answered message is there,
and one ticket per conversation.

    .venv/bin/python benchmarks/ingest.py [--seconds 20] [--concurrency 16] [--client wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
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


async def python_load(url: str, seconds: float, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[int] = []
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as http:
        t0 = time.perf_counter()
        deadline = t0 + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await client(http, url, 5, latencies, errors)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    q = statistics.quantiles(sorted(latencies), n=100)
    return {"requests": len(latencies), "seconds": elapsed, "p50_ms": q[49] * 1000, "p95_ms": q[94] * 1000,
            "p99_ms": q[98] * 1000, "max_ms": max(latencies) * 1000, "errors": len(errors)}


def wrk_load(url: str, seconds: float, concurrency: int) -> dict[str, float]:
    script = ROOT / "benchmarks" / "wrk" / "web_messages.lua"
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:.0f}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"RESULT (.*)", out)
    if not m:
        raise SystemExit(f"wrk printed no result:\n{out}")
    return {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def stored_counts(db_path: str) -> tuple[int, int, int]:
    with sqlite3.connect(db_path) as db:
        (inbound,), = db.execute("SELECT count(*) FROM messages WHERE direction = 'in'")
        (conversations,), = db.execute("SELECT count(*) FROM conversations")
        (tickets,), = db.execute("SELECT count(*) FROM tickets")
    return inbound, conversations, tickets


def conversations_with_two_open_tickets(db_path: str) -> int:
    """The invariant: one open ticket per conversation (the counts above can differ by a few at the
    window's edges, where a conversation began in the warm-up and its ticket after it)."""
    with sqlite3.connect(db_path) as db:
        (n,), = db.execute("SELECT count(*) FROM (SELECT conversation_id FROM tickets WHERE conversation_id IS NOT NULL "
                           "AND status IN "
                           "('open', 'dispatched', 'in_progress') GROUP BY conversation_id HAVING count(*) > 1)")
    return n


def seed_tickets(db_url: str, n: int) -> None:
    """N open tickets of the benchmark's own category and district (the worst case for the repeat and
    same-problem lookups), written straight into a migrated store before the gateway starts."""
    if n <= 0:
        return
    import datetime as dt

    import sqlalchemy as sa

    from gateway.store.schema import tickets
    subprocess.run([sys.executable, "-m", "gateway.cli", "db", "upgrade"], cwd=ROOT, check=True,
                   env={**os.environ, "HOTLINE_DATABASE_URL": db_url}, stdout=subprocess.DEVNULL)
    engine = sa.create_engine(db_url)
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        for start in range(0, n, 5000):
            conn.execute(tickets.insert(), [{
                "number": f"19990101-{i:06d}", "channel": "web", "status": "open", "source": "api",
                "request_type": "complaint", "category": "城乡建设", "district": None,
                "description": f"小区门口的路灯坏了{i % 97}天了，晚上很黑", "anonymous": False, "utility": False,
                "created_at": now, "updated_at": now} for i in range(start, min(n, start + 5000))])
    engine.dispose()


async def run(seconds: float, concurrency: int, warmup: float, use_wrk: bool, seed: int = 0) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        seed_tickets(f"sqlite:///{tmp}/bench.db", seed)
        env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
               "HOTLINE_MEDIA_ROOT": f"{tmp}/media", "HOTLINE_BOT_ENABLED": "false",
               "HOTLINE_SERVER_PORT": str(port), "HOTLINE_LOGGING_LEVEL": "WARNING",
               # The load plays thousands of citizens from one loopback address.
               "HOTLINE_ABUSE_NEW_SESSIONS_PER_HOUR_PER_ADDRESS": "1000000",
               "HOTLINE_ABUSE_MESSAGES_PER_MINUTE_PER_SESSION": "1000000",
               "HOTLINE_ABUSE_MESSAGES_PER_TEN_MINUTES_PER_CONTACT": "1000000"}
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], cwd=ROOT, env=env)
        try:
            await wait_ready(url, proc)
            if use_wrk:
                wrk_load(url, warmup, concurrency)
                before = stored_counts(f"{tmp}/bench.db")
                result = wrk_load(url, seconds, concurrency)
            else:
                await python_load(url, warmup, concurrency)
                before = stored_counts(f"{tmp}/bench.db")
                result = await python_load(url, seconds, concurrency)
            after = stored_counts(f"{tmp}/bench.db")
            doubled = conversations_with_two_open_tickets(f"{tmp}/bench.db")
        finally:
            proc.terminate()
            proc.wait(10)
    stored = after[0] - before[0]
    print(f"client: {'wrk' if use_wrk else 'python aiohttp'}  concurrency: {concurrency}  "
          f"duration: {result['seconds']:.1f} s  errors: {result['errors']:.0f}")
    print(f"throughput: {result['requests'] / result['seconds']:,.0f} messages/s  "
          f"({result['requests']:.0f} answered, {stored} stored, "
          f"{after[2] - before[2]} tickets for {after[1] - before[1]} conversations; "
          f"conversations with two open tickets: {doubled})")
    print(f"latency: p50 {result['p50_ms']:.1f} ms  p95 {result['p95_ms']:.1f} ms  "
          f"p99 {result['p99_ms']:.1f} ms  max {result['max_ms']:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    ap.add_argument("--seed-tickets", type=int, default=0, help="open tickets in the store before the run")
    args = ap.parse_args()
    if args.seed_tickets:
        print(f"store seeded with {args.seed_tickets:,} open tickets of the benchmark's category")
    asyncio.run(run(args.seconds, args.concurrency, args.warmup, args.client == "wrk", args.seed_tickets))


if __name__ == "__main__":
    main()
