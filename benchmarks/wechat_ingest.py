"""Messages/s through the WeChat endpoint in safe (AES) mode with the bot off, SQLite.

`hotline serve` runs in its own process; the requests are signed and encrypted beforehand with
wechatpy's crypto (as WeChat's servers send them) and sent by C concurrent clients. Each citizen sends
five messages (the first opens a ticket); every answer is a passive, encrypted reply.

    .venv/bin/python benchmarks/wechat_ingest.py [--messages 4000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
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
APP_ID, TOKEN, AES_KEY = "wx0123456789abcdef", "benchtoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEXTS = ["小区门口的路灯坏了一个星期了晚上很黑", "补充一下是东门那盏灯", "之前反映过一次没人处理", "希望尽快派人来修一下",
         "我的电话就是这个号码"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def requests(n: int) -> list[tuple[dict[str, str], bytes]]:
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    out = []
    for i in range(n):
        ts, nonce = str(int(time.time())), str(i)
        xml = (f"<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o_{i // 5}]]></FromUserName>"
               f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
               f"<Content><![CDATA[{TEXTS[i % 5]}]]></Content><MsgId>{10**15 + i}</MsgId></xml>")
        body = crypto.encrypt_message(xml, nonce, ts)
        encrypt = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", body).group(1)
        sig = hashlib.sha1("".join(sorted([TOKEN, ts, nonce])).encode()).hexdigest()
        msg_sig = hashlib.sha1("".join(sorted([TOKEN, ts, nonce, encrypt])).encode()).hexdigest()
        out.append(({"signature": sig, "timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
                     "msg_signature": msg_sig, "openid": f"o_{i // 5}"}, body.encode()))
    return out


async def run(n: int, concurrency: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/channels/wechat/{APP_ID}"
    reqs = requests(n + 400)
    warm, reqs = reqs[n:], reqs[:n]
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

                await asyncio.gather(*(worker(warm[i::concurrency], False) for i in range(concurrency)))
                t0 = time.perf_counter()
                # Each worker keeps whole conversations (five messages of one citizen in order).
                chunks = [reqs[i * 5:(i + 1) * 5] for i in range(n // 5)]
                await asyncio.gather(*(worker([r for c in chunks[i::concurrency] for r in c], True)
                                       for i in range(concurrency)))
                elapsed = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(10)
    q = statistics.quantiles(latencies, n=100)
    print(f"messages: {len(latencies)}  concurrency: {concurrency}  errors: {errors}")
    print(f"throughput: {len(latencies) / elapsed:,.0f} messages/s  p50 {q[49] * 1000:.1f} ms  p95 {q[94] * 1000:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    asyncio.run(run(args.messages, args.concurrency))


if __name__ == "__main__":
    main()
