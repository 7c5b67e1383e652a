"""The supervisors' analysis dashboard in a real browser against the real app (SQLite and PostgreSQL):
charts drawn by the vendored ECharts, the unit ranking, hot topics, warnings arriving live and closed,
the printable weekly report, and agents kept out."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from benchmarks import history
from gateway.app import ANALYSIS, STORE
from tests.console_helpers import DESK, PASSWORD, PHONE, SHOTS, add_agent, chromium

pytestmark = pytest.mark.browser


async def _login(browser, client, username: str, viewport=DESK):
    page = await (await browser.new_context(viewport=viewport)).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(str(client.make_url("/console/analysis")))
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button")
    return page, errors


async def test_the_dashboard_shows_figures_topics_and_live_warnings(make_client, db_url) -> None:
    client = await make_client(db_url=db_url)
    store = client.app[STORE]
    end = store.clock.today() + dt.timedelta(days=1)
    gen = history.Generator(end - dt.timedelta(days=75), 75, 25, 5, now=store.clock.now())
    gen.incidents = [history.Incident("water_burst", "spike", 72, 3, "新泰市", "water", 40, tuple(history.WATER_OUTAGE))]
    await history._write(store, gen, 5000, db_url if store.db.dialect == "postgresql" else None)
    await add_agent(client, "boss", "supervisor", "王值班长")
    await add_agent(client, "li")
    backend = db_url.split(":")[0]
    os.makedirs(SHOTS, exist_ok=True)
    async with chromium() as browser:
        page, errors = await _login(browser, client, "boss")
        await page.wait_for_selector("body[data-loaded='1']", timeout=30000)
        assert await page.locator("#kpis .kpi").count() == 6
        assert int((await page.locator("#kpis .kpi .value").first.text_content()) or 0) > 500
        assert await page.locator("#units tr").count() > 12
        for chart in ("chart-volume", "chart-matrix", "chart-scores", "chart-trend", "chart-outlook"):
            assert await page.locator(f"#{chart} canvas").count() == 1, chart
        assert await page.locator("#topics-frequent li .label").count() >= 3
        assert (await page.locator("#warnings li").first.text_content()) == "暂无预警"
        # The background round finds the burst: the warning appears without reloading.
        await client.app[ANALYSIS].step()
        live = page.locator("#warnings li.fresh", has_text="新泰市")
        await live.first.wait_for(timeout=10000)
        assert "激增" in (await page.locator("#warnings li").all_text_contents())[-1] + "".join(
            await page.locator("#warnings .kind").all_text_contents())
        await page.screenshot(path=f"{SHOTS}/analysis-desk-{backend}.png", full_page=True)
        opened = await page.locator("#warnings li:not(.closed)").count()
        await page.locator("#warnings li:not(.closed)").first.locator("button").click()
        await page.locator("#warnings li.closed").first.wait_for()
        assert await page.locator("#warnings li:not(.closed)").count() == opened - 1
        assert len(await store.analysis.warnings(open_only=True)) == len(await store.analysis.warnings()) - 1
        # The period: the last 7 days give fewer tickets than the last 30.
        total30 = int(await page.locator("#kpis .kpi .value").first.text_content() or 0)
        await page.evaluate("document.body.dataset.loaded = ''")
        await page.click("[data-days='7']")
        await page.wait_for_selector("body[data-loaded='1']")
        assert 0 < int(await page.locator("#kpis .kpi .value").first.text_content() or 0) < total30
        report = await page.context.new_page()
        await report.goto(str(client.make_url("/console/analysis/report")))
        await report.wait_for_selector("body[data-loaded='1']")
        assert await report.locator("#units tr").count() > 5 and await report.locator("#categories tr").count() > 3
        await report.screenshot(path=f"{SHOTS}/analysis-report-{backend}.png", full_page=True)
        await report.emulate_media(media="print")
        assert not await report.locator("nav").is_visible()
        phone, _ = await _login(browser, client, "boss", PHONE)
        await phone.wait_for_selector("body[data-loaded='1']", timeout=30000)
        await phone.screenshot(path=f"{SHOTS}/analysis-phone-{backend}.png")
        agent, _ = await _login(browser, client, "li")
        await agent.wait_for_selector("#forbidden:not([hidden])")
        assert await agent.locator("#app").is_hidden()
        assert errors == []
