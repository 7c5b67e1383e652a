"""Mails/s accepted end to end: SMTP transaction to the ticket stored (and the reply queued).

Starts `hotline serve` in its own process with a fresh SQLite file and a relay on loopback that
accepts the replies, then 10 concurrent smtplib clients send citizen mails (each its own thread of
conversation, so each mail opens a ticket).

    .venv/bin/python benchmarks/email_ingest.py [--mails 1000] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import smtplib
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.ingest import cpu_seconds, own_cpu_seconds  # noqa: E402
HOTLINE = "12345@hotline.taian.gov.cn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_relay(port: int) -> None:
    from aiosmtpd.smtp import SMTP

    class Sink:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 OK"

    def run() -> None:
        loop = asyncio.new_event_loop()
        loop.run_until_complete(loop.create_server(lambda: SMTP(Sink()), "127.0.0.1", port))
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()


def mail(i: int) -> bytes:
    m = EmailMessage()
    # One citizen per mail: each opens a ticket (the same citizen writing again would be a repeat, Art. 13(4)).
    m["From"], m["To"] = f"citizen{i}@example.com", HOTLINE
    m["Subject"], m["Message-ID"] = f"反映问题 {i}", f"<bench{i}.{time.time_ns()}@example.com>"
    m.set_content(f"第{i}号来信：泰山区财源街道某小区门口的路灯坏了一个多星期了，晚上很黑，请尽快维修。")
    return m.as_bytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mails", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=10)
    args = ap.parse_args()
    http_port, smtp_port, relay_port = free_port(), free_port(), free_port()
    start_relay(relay_port)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite:///{tmp}/bench.db", "HOTLINE_MEDIA_ROOT": f"{tmp}/m",
               "HOTLINE_BOT_ENABLED": "false", "HOTLINE_SERVER_PORT": str(http_port),
               "HOTLINE_EMAIL_PORT": str(smtp_port), "HOTLINE_EMAIL_RELAY_PORT": str(relay_port),
               "HOTLINE_EMAIL_MAX_MAILS_PER_SENDER_PER_HOUR": "100000", "HOTLINE_LOGGING_LEVEL": "WARNING"}
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], cwd=ROOT, env=env)
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            mails = [mail(i) for i in range(args.mails)]
            local = threading.local()

            def send(raw: bytes) -> float:
                if not hasattr(local, "smtp"):
                    local.smtp = smtplib.SMTP("127.0.0.1", smtp_port, timeout=30)
                t0 = time.perf_counter()
                local.smtp.sendmail("citizen@example.com", [HOTLINE], raw)
                return time.perf_counter() - t0

            t0, cpu0, gw0, own0 = time.perf_counter(), cpu_seconds(proc.pid), own_cpu_seconds(proc.pid), _own_cpu()
            with ThreadPoolExecutor(args.concurrency) as pool:
                latencies = sorted(pool.map(send, mails))
            elapsed = time.perf_counter() - t0
            cpu, gw, own = cpu_seconds(proc.pid) - cpu0, own_cpu_seconds(proc.pid) - gw0, _own_cpu() - own0
            time.sleep(1)
            with sqlite3.connect(f"{tmp}/bench.db") as db:
                (stored,), = db.execute("SELECT count(*) FROM messages WHERE direction = 'in'")
                (ticketed,), = db.execute("SELECT count(*) FROM tickets")
        finally:
            proc.terminate()
            proc.wait(10)
    q = statistics.quantiles(latencies, n=100)
    print(f"mails: {len(latencies)}  concurrency: {args.concurrency}  stored: {stored}  tickets: {ticketed}")
    print(f"throughput: {len(latencies) / elapsed:,.0f} mails/s  ({elapsed:.1f} s)")
    print(f"per mail (DATA to 250): p50 {q[49] * 1000:.1f} ms  p95 {q[94] * 1000:.1f} ms")
    print(f"gateway CPU: {1000 * cpu / len(latencies):.2f} ms per mail ({cpu / elapsed:.2f} cores busy), in its "
          f"own process {1000 * gw / len(latencies):.2f} ms ({gw / elapsed:.2f} cores busy); this process (the SMTP clients and the relay): {own / elapsed:.2f} cores busy")


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


if __name__ == "__main__":
    main()
