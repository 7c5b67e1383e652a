"""Fuzzing the entry points with Hypothesis: whatever arrives as JSON, WeChat XML or a mail, the answer
is a 2xx/4xx (SMTP: 250 or a permanent 5xx), never a 500/503 or a 451 a sender would retry forever.

Inputs are drawn fresh on every run (bounded: a few hundred per entry point, seconds in CI), so the
test keeps looking in new places; a failure prints the input that caused it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import smtplib
import time
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


from tests.conftest import auth, smtp_port
from tests.test_wechat import fake_wechat  # noqa: F401  (the WeChat API stand-in fixture)

FUZZ = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=()), max_size=60) | st.sampled_from(
    ["", "着火了", "\u0000", "\ud800", "🔥" * 20, "<script>alert(1)</script>", "a" * 5000, "\r\n.\r\n", "%s%n"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4), max_leaves=12)
web_bodies = st.fixed_dictionaries({}, optional={"session": text | st.text(min_size=8, max_size=64),
                                                 "text": json_values, "client_id": json_values}) | json_values


def draw(strategy: st.SearchStrategy[Any]) -> list[Any]:
    """Inputs from Hypothesis, run afterwards against the async server."""
    out: list[Any] = []

    @FUZZ
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


def _encode(value: Any) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):
        return repr(value).encode("utf-8", "surrogatepass")


async def test_json_entry_points_never_answer_5xx(client) -> None:
    failures = []
    for body in draw(web_bodies):
        raw = _encode(body)
        for path, headers in (("/api/v1/web/messages", {}), ("/api/v1/triage", auth()), ("/api/v1/tickets", auth())):
            resp = await client.post(path, data=raw, headers={**headers, "Content-Type": "application/json"})
            if resp.status >= 500:
                failures.append((path, resp.status, raw[:200]))
    assert failures == []


async def test_wechat_xml_never_answers_5xx(make_client, fake_wechat, db_url) -> None:
    from tests.test_wechat import APP_ID, TOKEN, accounts
    _, base = fake_wechat
    client = await make_client(db_url=db_url, wechat={"api_base": base, "accounts": accounts()})
    fields = st.fixed_dictionaries({
        "MsgType": st.sampled_from(["text", "image", "voice", "video", "event", "location", "link", "bogus", ""]) | text,
        "Content": text, "MsgId": text | st.integers().map(str), "MediaId": text,
        "FromUserName": text, "Event": text})
    failures = []
    for f in draw(fields):
        xml = "<xml><ToUserName>gh</ToUserName>" + "".join(
            f"<{k}><![CDATA[{v}]]></{k}>" for k, v in f.items()) + f"<CreateTime>{int(time.time())}</CreateTime></xml>"
        ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        sig = hashlib.sha1("".join(sorted([TOKEN, ts, nonce])).encode()).hexdigest()
        resp = await client.post(f"/channels/wechat/{APP_ID}", params={"signature": sig, "timestamp": ts, "nonce": nonce},
                                 data=xml.encode("utf-8", "surrogatepass"))
        if resp.status >= 500:
            failures.append((resp.status, xml[:200]))
    assert failures == []


async def test_mail_never_gets_a_transient_or_500_answer(make_client, db_url) -> None:
    client = await make_client(db_url=db_url, email={"max_message_bytes": 300_000})
    headers = st.dictionaries(st.sampled_from(["From", "To", "Subject", "Content-Type", "Content-Transfer-Encoding",
                                               "Message-ID", "In-Reply-To", "DKIM-Signature", "MIME-Version"]),
                              st.binary(max_size=80) | text.map(lambda t: t.encode("utf-8", "surrogatepass")),
                              max_size=6)
    mails = st.tuples(headers, st.binary(max_size=400))

    def send_all(items: list[tuple[dict[str, bytes], bytes]]) -> list[tuple[int, bytes]]:
        bad = []
        for n, (hdrs, body) in enumerate(items):
            raw = b"".join(k.encode() + b": " + v.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"
                           for k, v in hdrs.items()) + b"\r\n" + body.replace(b"\r\n.\r\n", b"\r\n..\r\n")
            try:
                with smtplib.SMTP("127.0.0.1", smtp_port(client), timeout=20) as smtp:
                    smtp.sendmail(f"fuzz{n}@example.com", ["12345@hotline.taian.gov.cn"], raw)
            except smtplib.SMTPDataError as exc:
                if exc.smtp_code in (451, 500) or exc.smtp_code < 500:
                    bad.append((exc.smtp_code, raw[:200]))
            except smtplib.SMTPRecipientsRefused as exc:
                bad.append((0, repr(exc).encode()[:200]))
        return bad

    assert await asyncio.to_thread(send_all, draw(mails)) == []
