"""`/metrics` scraped as Prometheus does: the text format parses, and the figures follow what happened."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from datetime import timedelta

from gateway.app import STORE
from routing.tickets import TicketDraft
from tests.conftest import auth


async def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await client.get("/metrics", headers=auth())
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


async def test_metrics_follow_messages_emergencies_tickets_and_the_outbox(client: TestClient) -> None:
    assert (await client.get("/metrics")).status == 401  # volumes per channel are not public
    before = await scrape(client)
    assert before[("hotline_tickets_overdue", ())] == 0
    assert before[("hotline_outbox_items", (("status", "pending"),))] == 0

    async def say(session: str, text: str) -> dict:
        resp = await client.post("/api/v1/web/messages", json={"session": session, "text": text})
        assert resp.status == 200
        return await resp.json()

    await say("metrics00001", "我们小区门口的路灯坏了一个星期了，晚上很黑")
    await say("metrics00002", "楼道里着火了，好多烟")
    await say("metrics00003", "你好")
    after = await scrape(client)
    web_in = after[("hotline_messages_total", (("channel", "web"), ("direction", "in")))]
    assert web_in == 3
    assert after[("hotline_messages_total", (("channel", "web"), ("direction", "out")))] >= 3
    assert after[("hotline_emergencies_total", (("line", "119"),))] == 1
    assert sum(v for (name, _), v in after.items() if name == "hotline_triage_outcomes_total") == 3
    # The bot is off in these tests: every conversational turn is answered without it.
    assert after[("hotline_bot_unavailable_total", ())] >= 1
    tickets = {dict(labels)["status"]: v for (name, labels), v in after.items() if name == "hotline_tickets"}
    assert sum(tickets.values()) >= 1


async def test_an_unfinished_ticket_past_its_due_date_is_counted_overdue(client: TestClient) -> None:
    store = client.app[STORE]
    today = store.clock.today()
    await store.tickets.create(TicketDraft(description="路灯不亮", channel="api", source="api",
                                           due_date=today - timedelta(days=3)), actor="test")
    await store.tickets.create(TicketDraft(description="井盖缺失", channel="api", source="api",
                                           due_date=today + timedelta(days=3)), actor="test")
    samples = await scrape(client)
    assert samples[("hotline_tickets_overdue", ())] == 1
    assert samples[("hotline_tickets", (("status", "open"),))] == 2
