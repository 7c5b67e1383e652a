from __future__ import annotations

import json
import subprocess
import sys

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import create_app
from gateway.errors import StoreUnavailable
from gateway.settings import PROJECT_ROOT
from tests.conftest import PG_URL, auth, base_settings


async def test_healthz_reports_components(client: TestClient) -> None:
    resp = await client.get("/healthz")
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "ok"
    assert body["components"]["database"]["ok"] is True and body["components"]["database"]["required"] is True
    assert body["components"]["bot"] == {"ok": False, "detail": "disabled", "required": False}
    calendar = body["components"]["calendar"]
    assert calendar["required"] is False and calendar["known_until"] >= "2026-12-31"


async def test_healthz_warns_when_the_working_day_calendar_runs_out(make_client, tmp_path) -> None:
    client = await make_client(clock={"start_at": "2026-12-11T09:00:00"},
                               routing={"holidays": str(tmp_path / "no-operator-list.yaml")})
    body = await (await client.get("/healthz")).json()
    assert body["status"] == "ok"  # not required: tickets are still taken
    calendar = body["components"]["calendar"]
    assert calendar["ok"] is False and calendar["known_until"] == "2026-12-31" and calendar["days_left"] == 20
    assert "config/holidays.yaml" in calendar["message_zh"]


@pytest.mark.skipif(not PG_URL, reason="needs a PostgreSQL server whose database can be dropped under the app "
                                       "(HOTLINE_TEST_PG_URL; .ci/run sets it)")
async def test_healthz_is_503_when_the_database_goes_away(make_client, pg_database: str) -> None:
    import asyncpg
    client = await make_client(db_url=pg_database)
    assert (await client.get("/healthz")).status == 200
    admin = await asyncpg.connect(PG_URL)
    try:
        await admin.execute(f'DROP DATABASE "{pg_database.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()
    resp = await client.get("/healthz")
    body = await resp.json()
    assert resp.status == 503 and body["components"]["database"]["ok"] is False
    # A citizen's message now gets a clear 503, not a crash.
    resp = await client.post("/api/v1/web/messages", json={"session": "abcdefgh1234", "text": "路灯坏了"})
    assert resp.status == 503 and (await resp.json())["error"]["code"] == "store_unavailable"


async def test_app_does_not_start_on_an_unreachable_database(tmp_path) -> None:
    from aiohttp.test_utils import TestServer
    app = create_app(base_settings(tmp_path, "postgresql+asyncpg://nobody@127.0.0.1:1/none",
                                   database={"connect_timeout_seconds": 2}))
    server = TestServer(app)
    with pytest.raises(StoreUnavailable):
        await server.start_server()
    await server.close()


async def test_triage_api(client: TestClient) -> None:
    resp = await client.post("/api/v1/triage", json={"text": "楼道里冒黑烟了，好像着火了"}, headers=auth())
    body = await resp.json()
    assert resp.status == 200 and body["emergency"] == {"lines": ["119"], "reason": "fire"}
    assert set(body) >= {"emergency", "disposition", "request_type", "category", "district"}
    bad = await client.post("/api/v1/triage", json={"txt": "x"}, headers=auth())
    assert bad.status == 400


def test_triage_cli_reads_json_lines() -> None:
    lines = [{"text": "119号楼门口的垃圾好几天没人收"}, {"text": "我爸突然晕倒了叫不醒"}]
    stdin = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\nnot json\n"
    proc = subprocess.run([sys.executable, "-m", "gateway.cli", "triage"], input=stdin, capture_output=True,
                          text=True, cwd=PROJECT_ROOT, timeout=60)
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert out[0]["emergency"] is None and out[0]["disposition"] == "accept"
    assert out[1]["emergency"]["lines"] == ["120"]
    assert out[2] == {"error": "bad_input", "line": 3} and proc.returncode == 1
