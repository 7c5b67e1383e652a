"""Web messages through 1 and 2 gateways on PostgreSQL and Redis behind HAProxy: messages/s, latency,
and where the CPU went (why two replicas do not double the throughput on one 2-core machine).

Same load as benchmarks/ingest.py (wrk, citizens sending five messages per conversation, bot off), on a
fresh PostgreSQL database per run. Each run prints messages/s, p50/p95, and the CPU seconds per second of
wall time spent by the gateways, PostgreSQL (every `postgres` process of the server), Redis, HAProxy and
wrk, read from /proc before and after the measured window.

    .venv/bin/python benchmarks/cluster_throughput.py [--seconds 15] [--concurrency 16] [--replicas 1,2]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--redis redis://127.0.0.1:6379/0]
    (--replicas 0,1,2: 0 is one gateway without Redis, the single-process mode, for comparison)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from benchmarks.ingest import ROOT, fresh_database, free_port, stored_counts, wait_ready, wrk_load
from deploy.haproxy_render import TEMPLATE, render

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_of(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each process still there."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


def pids_named(name: str) -> list[int]:
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


async def run(replicas: int, seconds: float, concurrency: int, pg_server: str, redis_url: str) -> dict[str, float]:
    """`redis_url` empty: one gateway as before issue 20 (no cluster), still behind HAProxy."""
    with tempfile.TemporaryDirectory() as tmp:
        async with fresh_database(pg_server, tmp) as db_url:
            subprocess.run([sys.executable, "-m", "gateway.cli", "db", "upgrade"], cwd=ROOT, check=True,
                           env={**os.environ, "HOTLINE_DATABASE_URL": db_url}, stdout=subprocess.DEVNULL)
            ports = [free_port() for _ in range(replicas)]
            namespace = "bench" + uuid.uuid4().hex[:8]
            gateways = []
            for i, port in enumerate(ports):
                env = {**os.environ, "HOTLINE_DATABASE_URL": db_url, "HOTLINE_MEDIA_ROOT": f"{tmp}/media",
                       "HOTLINE_BOT_ENABLED": "false", "HOTLINE_EMAIL_ENABLED": "false",
                       "HOTLINE_SERVER_PORT": str(port), "HOTLINE_LOGGING_LEVEL": "WARNING",
                       **({"HOTLINE_CLUSTER_REDIS_URL": redis_url} if redis_url else {}),
                       "HOTLINE_CLUSTER_NAMESPACE": namespace,
                       "HOTLINE_CLUSTER_INSTANCE": f"bench{i}", "HOTLINE_SERVER_TRUSTED_PROXIES": "127.0.0.1",
                       "HOTLINE_ABUSE_NEW_SESSIONS_PER_HOUR_PER_ADDRESS": "1000000",
                       "HOTLINE_ABUSE_MESSAGES_PER_MINUTE_PER_SESSION": "1000000",
                       "HOTLINE_ABUSE_MESSAGES_PER_TEN_MINUTES_PER_CONTACT": "1000000"}
                gateways.append(subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], cwd=ROOT, env=env))
            lb_port = free_port()
            cfg = Path(tmp) / "haproxy.cfg"
            cfg.write_text(render(TEMPLATE.read_text(encoding="utf-8"), {
                "gateways": [f"127.0.0.1:{p}" for p in ports], "gateways_smtp": [], "rasa_servers": [],
                "action_servers": []}), encoding="utf-8")
            lb = subprocess.Popen(["/usr/sbin/haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env={
                                      **os.environ, "HOTLINE_LB_BIND": "127.0.0.1", "HOTLINE_LB_PORT": str(lb_port),
                                      "HOTLINE_LB_SMTP_PORT": str(free_port()),
                                      "HOTLINE_LB_RASA_PORT": str(free_port()),
                                      "HOTLINE_LB_ACTIONS_PORT": str(free_port())})
            url = f"http://127.0.0.1:{lb_port}"
            try:
                for port, proc in zip(ports, gateways):
                    await wait_ready(f"http://127.0.0.1:{port}", proc)
                await wait_ready(url, lb)
                await asyncio.sleep(2.5)  # HAProxy's checks mark every gateway up
                wrk_load(url, 3, concurrency)  # warm-up
                def groups() -> dict[str, list[int]]:
                    # PostgreSQL: every backend of the server (other users' too, on a shared machine).
                    return {"gateways": [p.pid for p in gateways], "postgres": pids_named("postgres"),
                            "redis": pids_named("redis-server"), "haproxy": [lb.pid]}
                before_cpu = {k: cpu_of(v) for k, v in groups().items()}
                before_machine = machine_busy()
                before_children = os.times()
                before = await stored_counts(db_url)
                result = wrk_load(url, seconds, concurrency)
                after = await stored_counts(db_url)
                after_children = os.times()
                after_machine = machine_busy()
                cpu = {k: sum(t - before_cpu[k].get(pid, 0.0) for pid, t in cpu_of(v).items()) / result["seconds"]
                       for k, v in groups().items()}
                # wrk ran as our child and has exited: its time is in the children's totals.
                cpu["wrk"] = ((after_children.children_user + after_children.children_system)
                              - (before_children.children_user + before_children.children_system)) / result["seconds"]
            finally:
                for proc in [lb, *gateways]:
                    proc.terminate()
                for proc in [lb, *gateways]:
                    proc.wait(30)
                import redis
                r = redis.Redis.from_url(redis_url or "redis://127.0.0.1:6379/0")
                for key in r.scan_iter(f"{namespace}:*", count=1000):
                    r.delete(key)
                r.close()
    rate = result["requests"] / result["seconds"]
    print(f"{replicas} gateway(s){'' if redis_url else ' without Redis'}: {rate:,.0f} messages/s  p50 {result['p50_ms']:.1f} ms  "
          f"p95 {result['p95_ms']:.1f} ms  errors {result['errors']:.0f}  "
          f"({result['requests']:.0f} answered, {after[0] - before[0]} stored)")
    busy = (after_machine[0] - before_machine[0]) / (after_machine[1] - before_machine[1]) * (os.cpu_count() or 1)
    print("  CPU (cores busy): " + "  ".join(f"{k} {v:.2f}" for k, v in cpu.items())
          + f"  = {sum(cpu.values()):.2f}; the machine: {busy:.2f} of {os.cpu_count()} "
            f"(other work: {max(busy - sum(cpu.values()), 0):.2f})")
    per_message = {k: v / rate * 1000 for k, v in cpu.items()}
    print("  CPU ms per message: " + "  ".join(f"{k} {v:.2f}" for k, v in per_message.items()))
    return {"rate": rate, **cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--replicas", default="0,1,2", help="0: one gateway without Redis (single-process mode)")
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average before: {os.getloadavg()[0]:.2f}")
    for n in (int(x) for x in args.replicas.split(",")):
        asyncio.run(run(max(n, 1), args.seconds, args.concurrency, args.postgres, args.redis if n else ""))


if __name__ == "__main__":
    main()
