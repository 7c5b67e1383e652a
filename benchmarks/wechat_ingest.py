"""Messages/s through the WeChat endpoint in safe (AES) mode with the bot off, SQLite.

`hotline serve` runs in its own process; the requests are signed and encrypted beforehand with
wechatpy's crypto (as WeChat's servers send them) and sent by C concurrent clients. Each citizen sends
five messages (the first opens a ticket); every answer is a passive, encrypted reply.

The load comes from `wrk` replaying the prepared requests when it is installed (for `--seconds`; a
Python client takes a core of its own on a 2-core machine, and the gateway then competes with it);
otherwise, or with `--client python`, from aiohttp in this process (`--messages` of them). Printed:
the rate, latency, and the gateway's CPU per message (all threads and worker processes).

    .venv/bin/python benchmarks/wechat_ingest.py [--client wrk|python] [--seconds 15]
        [--messages 4000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from wechatpy.crypto import WeChatCrypto

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.ingest import cpu_seconds, own_cpu_seconds  # noqa: E402
APP_ID, TOKEN, AES_KEY = "wx0123456789abcdef", "benchtoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEXTS = ["小区门口的路灯坏了一个星期了晚上很黑", "补充一下是东门那盏灯", "之前反映过一次没人处理", "希望尽快派人来修一下",
         "我的电话就是这个号码"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def requests(n: int, concurrency: int = 1, first_citizen: int = 0) -> list[tuple[dict[str, str], bytes]]:
    """N requests of citizens who send five messages each. With `concurrency` C > 1 (a replaying client
    that sends them in this order over C connections), C citizens at a time take turns, so one citizen's
    next message is C requests after the previous one."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    order = [(first_citizen + c, m) for block in range(0, (n + 4) // 5, concurrency)
             for m in range(5) for c in range(block, min(block + concurrency, (n + 4) // 5))]
    out = []
    for i, (citizen, m) in enumerate(order[:n]):
        # A signed query (timestamp, nonce) is accepted once: nonces unique across calls too.
        ts, nonce = str(int(time.time())), str(first_citizen * 5 + i)
        xml = (f"<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o_{citizen}]]></FromUserName>"
               f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
               f"<Content><![CDATA[{TEXTS[m]}]]></Content><MsgId>{10**15 + citizen * 5 + m}</MsgId></xml>")
        body = crypto.encrypt_message(xml, nonce, ts)
        encrypt = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", body).group(1)
        sig = hashlib.sha1("".join(sorted([TOKEN, ts, nonce])).encode()).hexdigest()
        msg_sig = hashlib.sha1("".join(sorted([TOKEN, ts, nonce, encrypt])).encode()).hexdigest()
        out.append(({"signature": sig, "timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
                     "msg_signature": msg_sig, "openid": f"o_{citizen}"}, body.encode()))
    return out


def wrk_replay(url: str, reqs: list[tuple[dict[str, str], bytes]], seconds: float, concurrency: int,
               tmp: str) -> dict[str, float]:
    """Sends the requests in order, each once, from wrk for `seconds`; fails if they run out first."""
    import urllib.parse
    path = Path(tmp) / "requests.tsv"
    with path.open("w") as f:
        for params, body in reqs:
            f.write(urllib.parse.urlencode(params) + "\t" + body.decode().replace("\n", "") + "\n")
    script = ROOT / "benchmarks" / "wrk" / "wechat_messages.lua"
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:.0f}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True, env={**os.environ, "WECHAT_REQUESTS": str(path)}
                         ).stdout
    m = re.search(r"RESULT (.*)", out)
    if not m:
        raise SystemExit(f"wrk printed no result:\n{out}")
    result = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    if result["sent"] >= len(reqs):
        raise SystemExit(f"wrk sent all {len(reqs)} prepared requests before the {seconds:.0f} s were over: "
                         "the rate is not measured; prepare more")
    return result


async def run(n: int, concurrency: int, use_wrk: bool, seconds: float) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/channels/wechat/{APP_ID}"
    if use_wrk:
        # Enough for 4,000 messages/s: wrk must not run out before the time is up.
        n = int(seconds * 4000)
        warm_n = 2000
    else:
        warm_n = 400
    reqs = requests(n, concurrency if use_wrk else 1)
    warm = requests(warm_n, concurrency if use_wrk else 1, first_citizen=n)  # other citizens
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite:///{tmp}/b.db", "HOTLINE_MEDIA_ROOT": f"{tmp}/m",
               "HOTLINE_BOT_ENABLED": "false", "HOTLINE_SERVER_PORT": str(port), "HOTLINE_EMAIL_ENABLED": "false",
               "HOTLINE_LOGGING_LEVEL": "WARNING", "HOTLINE_WECHAT_ACCOUNTS": json.dumps(
                   [{"app_id": APP_ID, "token": TOKEN, "encoding_aes_key": AES_KEY, "app_secret": "x"}])}
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], cwd=ROOT, env=env)
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
                for _ in range(200):
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.1)
                latencies: list[float] = []
                errors = 0

                async def worker(items: list[tuple[dict[str, str], bytes]], record: bool) -> None:
                    nonlocal errors
                    for params, body in items:
                        t0 = time.perf_counter()
                        async with http.post(url, params=params, data=body) as resp:
                            text = await resp.text()
                            if resp.status != 200 or "<Encrypt>" not in text:
                                errors += 1
                        if record:
                            latencies.append(time.perf_counter() - t0)

                if not use_wrk:
                    await asyncio.gather(*(worker(warm[i::concurrency], False) for i in range(concurrency)))
            if use_wrk:
                wrk_replay(url, warm, 1, concurrency, tmp)
                cpu0, gw0, t0 = cpu_seconds(proc.pid), own_cpu_seconds(proc.pid), time.perf_counter()
                result = await asyncio.to_thread(wrk_replay, url, reqs, seconds, concurrency, tmp)
                cpu, gw, elapsed = cpu_seconds(proc.pid) - cpu0, own_cpu_seconds(proc.pid) - gw0, time.perf_counter() - t0
                count, errors = int(result["requests"]), int(result["errors"])
                p50, p95, p99 = result["p50_ms"], result["p95_ms"], result["p99_ms"]
                rate = result["requests"] / result["seconds"]
            else:
                async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
                    cpu0, gw0, t0 = cpu_seconds(proc.pid), own_cpu_seconds(proc.pid), time.perf_counter()
                    # Each worker keeps whole conversations (five messages of one citizen in order).
                    chunks = [reqs[i * 5:(i + 1) * 5] for i in range(n // 5)]
                    await asyncio.gather(*(worker([r for c in chunks[i::concurrency] for r in c], True)
                                           for i in range(concurrency)))
                    cpu, gw, elapsed = cpu_seconds(proc.pid) - cpu0, own_cpu_seconds(proc.pid) - gw0, time.perf_counter() - t0
                q = statistics.quantiles(latencies, n=100)
                count, rate = len(latencies), len(latencies) / elapsed
                p50, p95, p99 = q[49] * 1000, q[94] * 1000, q[98] * 1000
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"client: {'wrk' if use_wrk else 'python aiohttp'}  messages: {count}  concurrency: {concurrency}  "
          f"errors: {errors}")
    print(f"throughput: {rate:,.0f} messages/s  p50 {p50:.1f} ms  p95 {p95:.1f} ms  p99 {p99:.1f} ms")
    print(f"gateway CPU: {1000 * cpu / max(count, 1):.2f} ms per message (all threads and worker processes; "
          f"{cpu / elapsed:.2f} cores busy); in the gateway's own process {1000 * gw / max(count, 1):.2f} ms "
          f"({gw / elapsed:.2f} cores busy)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    ap.add_argument("--seconds", type=float, default=15, help="with wrk: how long the measured load lasts")
    ap.add_argument("--messages", type=int, default=4000, help="with the Python client: how many messages")
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    asyncio.run(run(args.messages, args.concurrency, args.client == "wrk", args.seconds))


if __name__ == "__main__":
    main()
