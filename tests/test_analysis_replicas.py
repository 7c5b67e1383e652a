"""The analysis round with several gateway replicas on one database (review of issues 19/20): one replica
holds the round at a time, another takes over when it lapses."""

from __future__ import annotations

from gateway.store import Store


async def test_one_replica_holds_the_analysis_round_until_it_lapses(store: Store) -> None:
    a = store.analysis
    assert await a.take_round(holder=1, seconds=180)
    assert not await a.take_round(holder=2, seconds=180)   # replica 2 waits while 1 holds it
    assert await a.take_round(holder=1, seconds=180)       # the holder renews it
    assert await a.take_round(holder=1, seconds=-5)        # ...and lets it lapse (a stopped replica's lease)
    assert await a.take_round(holder=2, seconds=180)       # replica 2 takes over
    assert not await a.take_round(holder=1, seconds=180)
