"""Hostile and careless clients against the real server on loopback: a clear 4xx with a reason,
never a 5xx; stored files never run script on our origin; secrets never reach the logs."""

from __future__ import annotations

import gzip
import json
import logging
import uuid

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from channels.media import serving_headers
from gateway.app import STORE
from gateway.logs import PiiMaskingFilter
from gateway.store.schema import attachments
from tests.conftest import auth
from tests.test_console import add_agent, login
from tests.test_email import asend, plain_mail

WEB = "/api/v1/web/messages"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def session() -> str:
    return f"hostile-{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize("raw,why", [
    (b"[" * 6000 + b"]" * 6000, "nested"),
    (b'{"session": "hostile-abcdefgh", "text": ' + b"9" * 5000 + b"}", "digits"),
    (b'{"session": "hostile-abcdefgh", "text": "\\ud800"}', "surrogate"),
    (b'{"session": "hostile-abcdefgh", "text": "a\\u0000b"}', "NUL"),
    (b'{"session": "hostile-abcdefgh", "text": NaN}', "NaN"),
    (b'{"session": "hostile-abcdefgh", "text": "\xff\xfe"}', "utf-8"),
    (b"\xef\xbb\xbf{}", "JSON"),
])
async def test_malformed_json_gets_400_with_a_reason(client: TestClient, raw: bytes, why: str) -> None:
    resp = await client.post(WEB, data=raw, headers={"Content-Type": "application/json"})
    body = await resp.json()
    assert resp.status == 400 and body["error"]["code"] in ("malformed_json", "bad_session", "bad_text"), body


async def test_a_bogus_charset_is_read_as_utf8(client: TestClient) -> None:
    raw = json.dumps({"session": session(), "text": "路灯坏了好几天了"}, ensure_ascii=False).encode()
    resp = await client.post(WEB, data=raw, headers={"Content-Type": "application/json; charset=bogus"})
    assert resp.status == 200


async def test_the_same_limits_hold_on_the_internal_api(client: TestClient) -> None:
    resp = await client.post("/api/v1/tickets", data=b'{"description": "\\udfff"}',
                             headers={**auth(), "Content-Type": "application/json"})
    assert resp.status == 400


async def test_compressed_bodies_are_refused_before_they_are_inflated(client: TestClient) -> None:
    bomb = gzip.compress(b"0" * 5_000_000)
    resp = await client.post(WEB, data=bomb, headers={"Content-Type": "application/json",
                                                       "Content-Encoding": "gzip"})
    body = await resp.json()
    assert resp.status == 415 and body["error"]["code"] == "unsupported_encoding"


async def test_a_huge_media_id_is_a_404_not_a_500(client: TestClient) -> None:
    resp = await client.get("/api/v1/web/media/" + "9" * 40, params={"session": session()})
    assert resp.status == 404


def test_only_safe_types_are_shown_inline() -> None:
    png = serving_headers(PNG, "a.png")
    assert png["Content-Type"] == "image/png" and png["Content-Disposition"] == "inline"
    html = serving_headers(b"<html><script>alert(document.cookie)</script></html>", "x.html")
    svg = serving_headers(b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "x.svg")
    for headers in (html, svg):
        assert headers["Content-Type"] == "application/octet-stream"
        assert headers["Content-Disposition"].startswith("attachment")
        assert headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in headers["Content-Security-Policy"]


async def test_an_html_attachment_mailed_in_is_served_to_agents_as_a_sandboxed_download(make_client, db_url) -> None:
    client = await make_client(db_url=db_url)
    m = plain_mail("evil@example.com", "投诉", "<xss@example.com>", "小区路灯坏了好几天了，附件是照片")
    m.add_attachment(b"<html><script>fetch('/console/api/me')</script></html>", maintype="text", subtype="html",
                     filename="photo.html")
    await asend(client, m, sender="evil@example.com")
    [att] = await client.app[STORE].db.run(lambda conn: conn.execute(sa.select(attachments)).all())
    await add_agent(client, "sec1")
    http, _ = await login(client, "sec1")
    try:
        resp = await http.get(client.make_url(f"/console/api/media/{att.id}"))
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert resp.headers["Content-Disposition"].startswith("attachment")
        assert "sandbox" in resp.headers["Content-Security-Policy"]
    finally:
        await http.close()


def test_bot_tokens_and_phone_numbers_are_masked_in_logs() -> None:
    record = logging.LogRecord("httpx", logging.INFO, "", 0,
                               "HTTP Request: POST https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
                               "/sendMessage for 13812345678", None, None)
    PiiMaskingFilter().filter(record)
    message = record.getMessage()
    assert "AAHdqTcv" not in message and "13812345678" not in message


def test_httpx_request_lines_are_not_logged_at_info() -> None:
    from gateway.logs import configure
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure("INFO")
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


async def test_one_session_flooding_gets_429_but_an_emergency_still_gets_through(make_client) -> None:
    client = await make_client(abuse={"messages_per_minute_per_session": 5, "new_sessions_per_hour_per_address": 100})
    s = session()
    statuses = [(await client.post(WEB, json={"session": s, "text": f"路灯坏了第{i}次"})).status for i in range(8)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429] * 3
    limited = await client.post(WEB, json={"session": s, "text": "又来了"})
    body = await limited.json()
    assert limited.status == 429 and "110" in body["error"]["message"] and "频繁" in body["error"]["message"]
    danger = await client.post(WEB, json={"session": s, "text": "救命 我家着火了 火很大"})
    assert danger.status == 200 and (await danger.json())["replies"][0]["emergency_lines"][0] == "119"


async def test_many_new_sessions_from_one_address_are_limited_and_agents_are_told(make_client) -> None:
    from gateway.app import HUB
    client = await make_client(abuse={"messages_per_minute_per_session": 100, "new_sessions_per_hour_per_address": 3})
    with client.app[HUB].subscribe("console") as events:
        statuses = [(await client.post(WEB, json={"session": session(), "text": "小区路灯坏了好几天"})).status
                    for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        flagged = []
        while not events.empty():
            event = events.get_nowait()
            if event.get("type") == "abuse":
                flagged.append(event)
    assert len(flagged) == 1 and "第三十二条" in flagged[0]["warning"]


async def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(make_client) -> None:
    client = await make_client(abuse={"messages_per_minute_per_session": 100, "new_sessions_per_hour_per_address": 2},
                               server={"trusted_proxies": ["127.0.0.1/32"]})
    async def from_(address: str) -> int:
        resp = await client.post(WEB, json={"session": session(), "text": "小区路灯坏了好几天"},
                                 headers={"X-Forwarded-For": f"6.6.6.6, {address}"})
        return resp.status
    assert [await from_("203.0.113.5") for _ in range(3)] == [200, 200, 429]
    assert await from_("203.0.113.9") == 200  # another citizen behind the same proxy
    # Without a trusted proxy the header is the client's own claim and is ignored.
    plain = await make_client(abuse={"messages_per_minute_per_session": 100, "new_sessions_per_hour_per_address": 2})
    statuses = [(await plain.post(WEB, json={"session": session(), "text": "小区路灯坏了好几天"},
                                  headers={"X-Forwarded-For": f"198.51.100.{i}"})).status for i in range(3)]
    assert statuses == [200, 200, 429]
