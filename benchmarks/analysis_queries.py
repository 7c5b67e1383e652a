"""Dashboard query times (issue 19): p50/p95 of each request the supervisors' dashboard makes, through
the real app over HTTP, on a database holding a generated history (benchmarks/history.py).

    .venv/bin/python -m benchmarks.analysis_queries --url postgresql://postgres@127.0.0.1:5432/analysis_bench
    .venv/bin/python -m benchmarks.analysis_queries --url sqlite:///var/history.db

Also times the background work the dashboard depends on: the incremental refresh of the facts after a
burst of new events, one warning round, and one hot-topic computation.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import time
from typing import Any

from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer

PASSWORD = "benchmark password 1"


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def main(url: str, rounds: int, today: dt.date, refold: int) -> None:
    from gateway.app import ANALYSIS, STORE, create_app
    from gateway.settings import load_settings

    settings = load_settings().replace(database={"url": url}, bot={"enabled": False}, email={"enabled": False},
                                       analysis={"enabled": False})
    app = create_app(settings)
    server = TestServer(app)
    await server.start_server()
    try:
        store = app[STORE]
        tickets = await store.db.run(lambda c: c.exec_driver_sql("SELECT count(*) FROM tickets").scalar())
        try:
            await store.agents.add("bench_boss", "压测值班长", "supervisor", PASSWORD)
        except Exception:  # added by an earlier run
            pass
        http = ClientSession(cookie_jar=CookieJar(unsafe=True))
        resp = await http.post(server.make_url("/console/api/login"), json={"username": "bench_boss", "password": PASSWORD})
        assert resp.status == 200, await resp.text()
        svc = app[ANALYSIS]
        out: dict[str, Any] = {"url": url.split("@")[-1], "tickets": tickets}
        # The incremental refresh: the last `--refold` events folded in again (as if they had just come).
        from gateway.store.analysis import _watermark, set_watermark
        mark = await store.db.run(_watermark)
        await store.db.run(set_watermark, max(mark - refold, 0))
        started = time.perf_counter()
        folded = await store.analysis.refresh(svc.rule)
        out["refresh"] = {"events": folded, "seconds": round(time.perf_counter() - started, 2)}
        started = time.perf_counter()
        await svc.topics(today)
        out["topics_seconds"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        await svc.detect(today)
        out["warning_round_seconds"] = round(time.perf_counter() - started, 2)
        last30 = f"from={(today - dt.timedelta(days=29)).isoformat()}&to={today.isoformat()}"
        last365 = f"from={(today - dt.timedelta(days=364)).isoformat()}&to={today.isoformat()}"
        week = (today - dt.timedelta(days=7)).isoformat()
        paths = {"overview 30 d": f"overview?{last30}", "units 30 d": f"units?{last30}",
                 "overview 365 d": f"overview?{last365}", "units 365 d": f"units?{last365}",
                 "trend 6 months": "trend?months=6", "topics": "topics", "warnings": "warnings",
                 "outlook": "outlook", "weekly report": f"report?week={week}", "export xlsx 30 d": f"export.xlsx?{last30}"}
        times: dict[str, list[float]] = {k: [] for k in paths}
        for _ in range(rounds):
            for name, path in paths.items():
                t0 = time.perf_counter()
                r = await http.get(server.make_url(f"/console/api/analysis/{path}"))
                await r.read()
                assert r.status == 200, (name, r.status)
                times[name].append((time.perf_counter() - t0) * 1000)
        out["ms"] = {k: {"p50": round(statistics.median(v), 1), "p95": round(_p(v, 0.95), 1)} for k, v in times.items()}
        everything = [x for v in times.values() for x in v]
        out["all_requests_p95_ms"] = round(_p(everything, 0.95), 1)
        out["rounds"] = rounds
        await http.close()
        print(json.dumps(out, ensure_ascii=False, indent=1))
    finally:
        await server.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--refold", type=int, default=20000, help="events to fold in again (refresh timing)")
    ap.add_argument("--today", default="2026-11-30", help="the last day of the history")
    a = ap.parse_args()
    asyncio.run(main(a.url, a.rounds, dt.date.fromisoformat(a.today), a.refold))
