"""Replay the hostile-input classes of the security issue against `hotline serve` and count failures.

    .venv/bin/python -m benchmarks.red_team

Starts the gateway in its own process on loopback (SQLite in a temporary directory, bot off, a
plaintext WeChat account and an IVR secret configured), sends every class — malformed JSON, compressed
bodies, huge ids, unsigned TwiML, forged WeChat and IVR webhooks, hostile mails over SMTP, a flood —
and prints "N inputs, X 5xx, Y hangs" (a hang: no answer within 15 s). Targets only 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid

import aiohttp

from benchmarks.ingest import ROOT, free_port, wait_ready

TOKEN, APP_ID = "redteamtoken", "wxredteam0000001"


def json_cases() -> list[tuple[str, bytes, dict[str, str]]]:
    web = "/api/v1/web/messages"
    ct = {"Content-Type": "application/json"}
    bodies = [b"[" * 6000 + b"]" * 6000, b'{"session":"redteam-0001","text":' + b"9" * 5000 + b"}",
              b'{"session":"redteam-0001","text":"\\ud800"}', b'{"session":"redteam-0001","text":"a\\u0000b"}',
              b'{"session":"redteam-0001","text":NaN}', b"\xff\xfe{}", b"", b"null", b'{"session": 5, "text": []}',
              b'{"session":"redteam-0001","text":"' + "着火".encode() * 50000 + b'"}']
    cases = [(web, b, ct) for b in bodies]
    cases.append((web, json.dumps({"session": "redteam-0002", "text": "路灯坏了"}).encode(),
                  {"Content-Type": "application/json; charset=bogus"}))
    cases.append((web, gzip.compress(b"0" * 2_000_000), {**ct, "Content-Encoding": "gzip"}))
    for b in bodies[:6]:
        cases.append(("/api/v1/triage", b, ct))
    return cases


async def http_cases(base: str) -> tuple[int, int, int]:
    n = errors = hangs = 0
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async def send(method: str, path: str, **kw: object) -> None:
            nonlocal n, errors, hangs
            n += 1
            try:
                async with http.request(method, base + path, **kw) as resp:  # type: ignore[arg-type]
                    await resp.read()
                    if resp.status >= 500:
                        errors += 1
                        print(f"  5xx {resp.status} {method} {path}")
            except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
                hangs += 1
                print(f"  hang {method} {path}")

        for path, body, headers in json_cases():
            await send("POST", path, data=body, headers=headers)
        for path in ("/api/v1/web/media/" + "9" * 40, "/console/api/media/" + "9" * 40, "/api/v1/tickets/%00",
                     "/api/v1/web/history?session=" + "x" * 5000):
            await send("GET", path)
        for body, ctype in ((b"\xff\xfe", "application/x-www-form-urlencoded"),
                            (b"CallSid=CA1", "application/x-www-form-urlencoded; charset=bogus"),
                            (b"--x\r\n\r\n--x--", "multipart/form-data; boundary=x"), (b"{}", "application/json")):
            await send("POST", "/channels/ivr/twiml", data=body, headers={"Content-Type": ctype})
        for body in (b"{}", b"[", json.dumps({"type": "transcript"}).encode()):
            await send("POST", "/channels/ivr/events", data=body,
                       headers={"X-Hotline-Timestamp": str(int(time.time())), "X-Hotline-Signature": "sha256=00"})
        for xml in ("<xml><MsgId>abc</MsgId><FromUserName>o</FromUserName><MsgType>text</MsgType></xml>",
                    "<xml><FromUserName>o</FromUserName><MsgType>image</MsgType></xml>",
                    "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><xml>&e;</xml>", "not xml", ""):
            ts, nonce = str(int(time.time())), uuid.uuid4().hex[:8]
            sig = hashlib.sha1("".join(sorted([TOKEN, ts, nonce])).encode()).hexdigest()
            await send("POST", f"/channels/wechat/{APP_ID}", params={"signature": sig, "timestamp": ts, "nonce": nonce},
                       data=xml.encode())
        await send("POST", f"/channels/wechat/{APP_ID}", params={"signature": "0", "timestamp": "1", "nonce": "1"},
                   data=b"<xml/>")
        session = "redteam-flood01"
        for i in range(40):
            await send("POST", "/api/v1/web/messages", json={"session": session, "text": f"刷屏{i}"})
        for i in range(40):
            await send("POST", "/api/v1/web/messages", json={"session": f"redteam-s{i:06d}", "text": "新会话"})
        for _ in range(12):
            await send("POST", "/console/api/login", json={"username": "nobody", "password": "x" * 20})
    return n, errors, hangs


def smtp_cases(port: int) -> tuple[int, int, int]:
    deep = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" * 3000
    mails = [deep, b"Subject: " + b"x" * 150_000 + b"\r\n\r\nbody", b"From: a@example.com\r\n\r\n\x00\x00body",
             b"To: 12345@hotline.taian.gov.cn\r\n\r\nno from", b"Message-ID: \xf0\x9f\x94\xa5\r\n\r\n\xff\xfe",
             b"Content-Type: text/plain; charset=bogus\r\n\r\n\xb2\xe2"]
    n = errors = hangs = 0
    for i, raw in enumerate(mails):
        n += 1
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=15) as smtp:
                smtp.sendmail(f"redteam{i}@example.com", ["12345@hotline.taian.gov.cn"], raw)
        except smtplib.SMTPDataError as exc:
            # A permanent 5xx with a reason is a right answer (the sender stops); a 4xx makes it retry
            # forever, and a bare 500 from our own failure would hide a bug: both count.
            if exc.smtp_code < 500 or not exc.smtp_error.strip():
                errors += 1
            print(f"  SMTP {exc.smtp_code} for mail {i}: {exc.smtp_error[:80]!r}")
        except (TimeoutError, OSError) as exc:
            hangs += 1
            print(f"  SMTP hang for mail {i}: {exc}")
    return n, errors, hangs


async def main() -> None:
    port, smtp_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite:///{tmp}/redteam.db", "HOTLINE_MEDIA_ROOT": f"{tmp}/media",
               "HOTLINE_BOT_ENABLED": "false", "HOTLINE_SERVER_PORT": str(port), "HOTLINE_EMAIL_PORT": str(smtp_port),
               "HOTLINE_LOGGING_LEVEL": "ERROR", "HOTLINE_IVR_SECRET": "redteam-secret",
               "HOTLINE_EMAIL_DNS_SERVER": "127.0.0.1:9", "HOTLINE_EMAIL_DNS_TIMEOUT_SECONDS": "0.5",
               "HOTLINE_WECHAT_ACCOUNTS": json.dumps([{"app_id": APP_ID, "token": TOKEN, "app_secret": "x"}]),
               "HOTLINE_WECHAT_API_BASE": "http://127.0.0.1:9"}
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], cwd=ROOT, env=env)
        try:
            await wait_ready(f"http://127.0.0.1:{port}", proc)
            n1, e1, h1 = await http_cases(f"http://127.0.0.1:{port}")
            n2, e2, h2 = await asyncio.to_thread(smtp_cases, smtp_port)
            alive = proc.poll() is None
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"{n1 + n2} inputs, {e1 + e2} 5xx, {h1 + h2} hangs; gateway {'still up' if alive else 'DIED'} "
          f"(SMTP: transient 4xx answers counted as 5xx; permanent 5xx with a reason are right answers)")


if __name__ == "__main__":
    asyncio.run(main())
