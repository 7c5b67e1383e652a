"""The analysis dashboard's API against the real app on SQLite and PostgreSQL: supervisors only, the
period checked, exports that a spreadsheet cannot turn into formulas, warnings stored once and sent live
to supervisors only."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io

from openpyxl import load_workbook

from gateway.app import ANALYSIS, STORE
from routing.analysis.warnings import Warning
from tests.analysis_helpers import small_history
from tests.console_helpers import add_agent, login


async def test_only_supervisors_see_the_figures_and_the_period_is_checked(make_client, db_url) -> None:
    client = await make_client(db_url=db_url)
    written = await small_history(client, db_url)
    assert written["tickets"] > 800
    await add_agent(client, "boss", "supervisor")
    await add_agent(client, "li")
    assert (await client.get("/console/api/analysis/units")).status == 401
    agent, _ = await login(client, "li")
    resp = await agent.get(client.make_url("/console/api/analysis/units"))
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "supervisor_only"
    await agent.close()
    boss, csrf = await login(client, "boss")
    try:
        units = await (await boss.get(client.make_url("/console/api/analysis/units"))).json()
        ranked = [u for u in units["units"] if u["rank"] is not None]
        assert len(ranked) >= 10 and [u["rank"] for u in ranked] == list(range(1, len(ranked) + 1))
        assert all(0 <= u["score"] <= 100 for u in ranked) and ranked[0]["score"] >= ranked[-1]["score"]
        assert {"name", "received", "overdue", "median_hours", "rates"} <= set(ranked[0])
        overview = await (await boss.get(client.make_url("/console/api/analysis/overview?from=2000-01-01&to=2000-12-31"))).json()
        assert overview["total"] == 0
        for bad, code in (("?from=2026-13-01", "bad_date"), ("?from=2026-02-01&to=2026-01-01", "bad_period"),
                          ("?from=2020-01-01&to=2026-01-01", "bad_period")):
            resp = await boss.get(client.make_url("/console/api/analysis/units" + bad))
            assert resp.status == 400 and (await resp.json())["error"]["code"] == code
        trend = await (await boss.get(client.make_url("/console/api/analysis/trend?months=3"))).json()
        assert len(trend["periods"]) == 3 and trend["names"]
        outlook = await (await boss.get(client.make_url("/console/api/analysis/outlook"))).json()
        assert "城乡建设" in outlook["categories"] and len(outlook["categories"]["城乡建设"]) == 6
        topics = await (await boss.get(client.make_url("/console/api/analysis/topics"))).json()
        assert topics["frequent"] and topics["frequent"][0]["tickets"]
        report = await (await boss.get(client.make_url("/console/api/analysis/report"))).json()
        assert report["total"] > 0 and report["by_category"]
        page = await boss.get(client.make_url("/console/analysis"))
        assert page.status == 200 and "default-src 'self'" in page.headers["Content-Security-Policy"]
    finally:
        await boss.close()


async def test_exports_write_formulas_as_text(make_client, db_url) -> None:
    client = await make_client(db_url=db_url)
    await small_history(client, db_url, per_day=10, days=20)
    await add_agent(client, "boss", "supervisor")
    store = client.app[STORE]
    await store.analysis.put_snapshot("topics", {"day": "2026-01-01", "topics": [{
        "district": "=HYPERLINK(\"http://evil\")", "label": "@SUM(A1)", "size": 3, "recent": 3, "growth": 1.0,
        "tickets": ["20260101-000001"], "categories": {}, "new": False}]})
    boss, _ = await login(client, "boss")
    try:
        resp = await boss.get(client.make_url("/console/api/analysis/export.csv"))
        assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
        text = (await resp.read()).decode("utf-8")
        assert text.startswith("\ufeff排名,承办单位,综合得分")
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        assert len(rows) > 5 and all(not str(c).startswith(("=", "+", "-", "@")) for r in rows for c in r)
        resp = await boss.get(client.make_url("/console/api/analysis/export.xlsx"))
        book = load_workbook(io.BytesIO(await resp.read()))
        assert book.sheetnames == ["承办单位评价", "热点问题"]
        assert [c.value for c in book["承办单位评价"][2]][:3] == ["排名", "承办单位", "综合得分"]
        topic = [c.value for c in book["热点问题"][2]]
        assert topic[0] == "'=HYPERLINK(\"http://evil\")" and topic[1] == "'@SUM(A1)"
    finally:
        await boss.close()


async def test_a_warning_is_stored_once_sent_live_to_supervisors_and_closed(make_client, db_url) -> None:
    client = await make_client(db_url=db_url)
    await add_agent(client, "boss", "supervisor")
    await add_agent(client, "li")
    boss, csrf = await login(client, "boss")
    agent, _ = await login(client, "li")
    try:
        boss_ws = await boss.ws_connect(client.make_url("/console/api/ws"), origin=str(client.make_url("/")))
        agent_ws = await agent.ws_connect(client.make_url("/console/api/ws"), origin=str(client.make_url("/")))
        today = client.app[STORE].clock.today()
        w = Warning("spike", "spike:unit:新泰市:water", today, "新泰市停水诉求激增", "新泰市", None, "water", 1e-9,
                    {"observed": 90, "expected": 12.0})
        svc = client.app[ANALYSIS]
        stored = await svc._store().analysis.add_warnings([w, w])
        assert len(stored) == 1
        assert await svc._store().analysis.add_warnings([w]) == []  # still open: not again
        svc._hub.publish("console", {"type": "risk_warning", "audience": "supervisor", "warning": stored[0]})
        got = await asyncio.wait_for(boss_ws.receive_json(), 5)
        while got.get("type") != "risk_warning":
            got = await asyncio.wait_for(boss_ws.receive_json(), 5)
        assert got["warning"]["key"] == "spike:unit:新泰市:water"
        svc._hub.publish("console", {"type": "probe"})
        seen = [(await asyncio.wait_for(agent_ws.receive_json(), 5))["type"]]
        while seen[-1] != "probe":
            seen.append((await asyncio.wait_for(agent_ws.receive_json(), 5))["type"])
        assert "risk_warning" not in seen  # the agent got the probe sent after the warning, never the warning
        url = client.make_url(f"/console/api/analysis/warnings/{stored[0]['id']}/close")
        assert (await boss.post(url)).status == 403  # no CSRF token
        assert (await boss.post(url, headers={"X-CSRF-Token": csrf})).status == 200
        resp = await boss.post(url, headers={"X-CSRF-Token": csrf})
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "warning_not_found"
        listed = await (await boss.get(client.make_url("/console/api/analysis/warnings"))).json()
        assert listed["items"][0]["closed_by"] == "agent:boss"
        assert len(await svc._store().analysis.add_warnings([w])) == 1  # closed: a new one may open
        await boss_ws.close()
        await agent_ws.close()
    finally:
        await boss.close()
        await agent.close()


async def test_the_daily_round_finds_the_injected_water_outage(make_client, db_url) -> None:
    """The background round on a generated history whose water outage burst is in its last days."""
    client = await make_client(db_url=db_url)
    store = client.app[STORE]
    from benchmarks import history
    end = store.clock.today() + dt.timedelta(days=1)
    gen = history.Generator(end - dt.timedelta(days=60), 60, 25, 3, now=store.clock.now())
    gen.incidents = [history.Incident("water_burst", "spike", 57, 3, "新泰市", "water", 40, tuple(history.WATER_OUTAGE))]
    await history._write(store, gen, 5000, db_url if store.db.dialect == "postgresql" else None)
    svc = client.app[ANALYSIS]
    await svc.step()
    kinds = {(w["kind"], w["district"], w["unit"]) for w in await store.analysis.warnings()}
    assert ("spike", "新泰市", "water") in kinds
    assert any(k == "group" and d == "新泰市" for k, d, _ in kinds)
