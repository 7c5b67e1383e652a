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
        [--seed-tickets N] [--postgres postgresql://postgres@127.0.0.1:5432/test]
        [--profile FILE [--profile-gil]]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import AsyncIterator
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


async def _scalars(db_url: str, *sql: str) -> list[int]:
    """Counts through the gateway's own database layer (SQLite or PostgreSQL alike)."""
    import sqlalchemy as sa

    from gateway.store.database import open_database
    db = open_database(db_url)
    try:
        return [int(await db.run(lambda conn, q=q: conn.execute(sa.text(q)).scalar_one())) for q in sql]
    finally:
        await db.dispose()


async def stored_counts(db_url: str) -> tuple[int, int, int]:
    inbound, conversations, tickets = await _scalars(
        db_url, "SELECT count(*) FROM messages WHERE direction = 'in'", "SELECT count(*) FROM conversations",
        "SELECT count(*) FROM tickets")
    return inbound, conversations, tickets


async def conversations_with_two_open_tickets(db_url: str) -> int:
    """The invariant: one open ticket per conversation (the counts above can differ by a few at the
    window's edges, where a conversation began in the warm-up and its ticket after it)."""
    [n] = await _scalars(db_url, "SELECT count(*) FROM (SELECT conversation_id FROM tickets WHERE conversation_id "
                                 "IS NOT NULL AND status IN ('open', 'dispatched', 'in_progress') "
                                 "GROUP BY conversation_id HAVING count(*) > 1) AS doubled")
    return n


@contextlib.asynccontextmanager
async def fresh_database(pg_server: str | None, tmp: str) -> AsyncIterator[str]:
    """A SQLite file in `tmp`, or a new database on the PostgreSQL server `pg_server` (dropped after)."""
    if not pg_server:
        yield f"sqlite:///{tmp}/bench.db"
        return
    import asyncpg
    from sqlalchemy.engine import make_url
    name = "hotline_bench_" + uuid.uuid4().hex[:8]
    admin = await asyncpg.connect(pg_server)
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        # The same server with the new database (a Unix-socket URL keeps its ?host=...).
        yield make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def seed_tickets(db_url: str, n: int) -> None:
    """N open tickets of the benchmark's own category and district (the worst case for the repeat and
    same-problem lookups), written straight into a migrated store before the gateway starts."""
    if n <= 0:
        return
    import datetime as dt

    from gateway.store.database import open_database
    from gateway.store.schema import tickets
    subprocess.run([sys.executable, "-m", "gateway.cli", "db", "upgrade"], cwd=ROOT, check=True,
                   env={**os.environ, "HOTLINE_DATABASE_URL": db_url}, stdout=subprocess.DEVNULL)
    now = dt.datetime.now(dt.timezone.utc)
    db = open_database(db_url)
    try:
        for start in range(0, n, 5000):
            rows = [{"number": f"19990101-{i:06d}", "channel": "web", "status": "open", "source": "api",
                     "request_type": "complaint", "category": "城乡建设", "district": None,
                     "description": f"小区门口的路灯坏了{i % 97}天了，晚上很黑", "anonymous": False, "utility": False,
                     "created_at": now, "updated_at": now} for i in range(start, min(n, start + 5000))]
            await db.run(lambda conn, rows=rows: conn.execute(tickets.insert(), rows))
    finally:
        await db.dispose()


async def run(seconds: float, concurrency: int, warmup: float, use_wrk: bool, seed: int = 0,
              pg_server: str | None = None, profile: str | None = None, profile_gil: bool = False) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        async with fresh_database(pg_server, tmp) as db_url:
            await seed_tickets(db_url, seed)
            env = {**os.environ, "HOTLINE_DATABASE_URL": db_url,
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
                    before = await stored_counts(db_url)
                    spy = start_profiler(proc.pid, seconds, profile, profile_gil) if profile else None
                    cpu_before, own_before = cpu_seconds(proc.pid), own_cpu_seconds(proc.pid)
                    result = wrk_load(url, seconds, concurrency)
                    result["cpu_seconds"] = cpu_seconds(proc.pid) - cpu_before
                    result["own_cpu_seconds"] = own_cpu_seconds(proc.pid) - own_before
                    if spy:
                        spy.wait(30)
                else:
                    await python_load(url, warmup, concurrency)
                    before = await stored_counts(db_url)
                    result = await python_load(url, seconds, concurrency)
                after = await stored_counts(db_url)
                doubled = await conversations_with_two_open_tickets(db_url)
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
    if "cpu_seconds" in result and result["requests"]:
        # Steadier than messages/s on a shared machine: what one message costs the gateway's process.
        print(f"gateway CPU: {result['cpu_seconds'] / result['requests'] * 1000:.2f} ms per message "
              f"(all threads and worker processes, user + system; "
              f"{result['cpu_seconds'] / result['seconds']:.2f} cores busy); in the gateway's own process "
              f"{result['own_cpu_seconds'] / result['requests'] * 1000:.2f} ms "
              f"({result['own_cpu_seconds'] / result['seconds']:.2f} cores busy)")
    if use_wrk:
        ceiling = await measure_ceiling(seconds, warmup, concurrency)
        ours = result["requests"] / result["seconds"]
        print(f"ceiling (same run: aiohttp + one SQLite row per request): {ceiling:,.0f} requests/s; "
              f"the gateway is at {ours / ceiling:.2f} of it")


def own_cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of the process itself (all its threads, not its worker processes):
    the gateway's process is the one that keeps a core busy (its event loop and SQLite writer share the
    GIL), so this is the cost that sets the rate; work moved to a worker process leaves it."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process, all its threads and its child processes (the triage
    and reading workers), from Linux's /proc."""
    total = 0.0
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    return total


def start_profiler(pid: int, seconds: float, out: str, gil_only: bool) -> subprocess.Popen[bytes]:
    """Samples the gateway (all threads, collapsed stacks) while wrk loads it; py-spy from pip. With
    `gil_only`, only the thread holding the GIL is sampled: where the process's one busy core goes (a
    thread waiting for the GIL otherwise shows at the line it waits on)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "200", "--duration",
                             str(max(1, int(seconds) - 1)), "--threads", "--format", "raw", "--output", out,
                             "--nonblocking", *(["--gil"] if gil_only else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def measure_ceiling(seconds: float, warmup: float, concurrency: int) -> float:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "ceiling_app.py"), str(port),
                                 f"{tmp}/ceiling.db"], cwd=ROOT)
        try:
            await wait_ready(url, proc)
            wrk_load(url, warmup, concurrency)
            result = wrk_load(url, seconds, concurrency)
        finally:
            proc.terminate()
            proc.wait(10)
    return result["requests"] / result["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    ap.add_argument("--seed-tickets", type=int, default=0, help="open tickets in the store before the run")
    ap.add_argument("--postgres", metavar="URL", help="run on a new database of this PostgreSQL server "
                    "(e.g. postgresql://postgres@127.0.0.1:5432/test), dropped afterwards; default SQLite")
    ap.add_argument("--profile", metavar="FILE", help="record the gateway with py-spy during the measured "
                    "load (collapsed stacks, all threads) into FILE")
    ap.add_argument("--profile-gil", action="store_true", help="with --profile: sample only the thread "
                    "holding the GIL (py-spy --gil)")
    args = ap.parse_args()
    if args.seed_tickets:
        print(f"store seeded with {args.seed_tickets:,} open tickets of the benchmark's category")
    asyncio.run(run(args.seconds, args.concurrency, args.warmup, args.client == "wrk", args.seed_tickets,
                    args.postgres, args.profile, args.profile_gil))


if __name__ == "__main__":
    main()
