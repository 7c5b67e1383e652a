"""A small generated history written into a test app's database (benchmarks/history.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp.test_utils import TestClient

from benchmarks.history import Generator, _write
from gateway.app import STORE


async def small_history(client: TestClient, db_url: str, per_day: float = 20, days: int = 70, seed: int = 7) -> dict[str, Any]:
    """`days` of tickets ending today (the app's clock), incidents and all, facts and sums included."""
    store = client.app[STORE]
    end = store.clock.today() + dt.timedelta(days=1)
    gen = Generator(end - dt.timedelta(days=days), days, per_day, seed, now=store.clock.now())
    return await _write(store, gen, 5000, db_url if store.db.dialect == "postgresql" else None)
