"""The analysis rules without HTTP or a database: spikes against a (seasonal) baseline, unit shares,
same-problem groups, hot and new topics, the outlook."""

from __future__ import annotations

import datetime as dt

import numpy as np

from nlu.segment import Segmenter
from routing.analysis.outlook import outlook
from routing.analysis.topics import Doc, hot_topics, mark_new
from routing.analysis.warnings import SpikeParams, growing_groups, rate_rise, spike_test, topic_warnings

CUT = Segmenter([]).cut
DAY0 = dt.date(2026, 1, 1)
P = SpikeParams(window_days=3, baseline_days=28, alpha=1e-4, min_count=8)


def series(days: int, rate: float, seed: int = 7) -> dict[dt.date, int]:
    counts = np.random.default_rng(seed).poisson(rate, days)
    return {DAY0 + dt.timedelta(days=i): int(c) for i, c in enumerate(counts)}


def test_a_burst_is_a_spike_and_ordinary_days_are_not() -> None:
    s = series(60, 10)
    today = DAY0 + dt.timedelta(days=59)
    quiet = [spike_test(s, DAY0 + dt.timedelta(days=d), P, DAY0) for d in range(31, 60)]
    assert quiet == [None] * 29
    for d in range(57, 60):
        s[DAY0 + dt.timedelta(days=d)] += 25
    found = spike_test(s, today, P, DAY0)
    assert found is not None and found["observed"] >= 85 and found["p_value"] < 1e-4
    assert found["expected"] < 40 and found["seasonal_factor"] == 1.0


def test_a_rise_that_came_last_year_too_is_the_season_not_a_spike() -> None:
    s = series(800, 10)
    for onset in (320, 320 + 364):  # the heating starts on the same week every year: tickets triple
        for i in range(onset, onset + 60):
            s[DAY0 + dt.timedelta(days=i)] *= 3
    today = DAY0 + dt.timedelta(days=320 + 364 + 2)
    assert spike_test(s, today, P, history_start=None) is not None       # without last year: a spike
    seasonal = spike_test(s, today, P, history_start=DAY0)                 # last year rose the same way
    assert seasonal is None


def test_a_units_share_of_dissatisfied_ratings_rising() -> None:
    assert rate_rise(20, 40, 30, 400, 1e-4) is not None
    assert rate_rise(5, 40, 30, 400, 1e-4) is None     # 12.5 % against 7.7 %: not significant
    assert rate_rise(3, 3, 0, 0, 1e-4, min_hits=5) is None  # too few to say


def test_a_same_problem_group_growing() -> None:
    today = dt.date(2026, 6, 26)
    members = [(f"20260625-{i:06d}", dt.date(2026, 6, 24 + i % 3)) for i in range(12)]
    found = growing_groups([("20260625-000000", "新泰市", "城乡建设", members)], today, 10, 3)
    assert [w.key for w in found] == ["group:20260625-000000"] and found[0].evidence["count"] == 12
    assert growing_groups([("r", "新泰市", None, members[:5])], today, 10, 3) == []


def _docs(texts: list[str], district: str, day: dt.date, start: int = 0) -> list[Doc]:
    return [Doc(start + i, f"20260101-{start + i:06d}", day, district, "城乡建设", "web", t) for i, t in enumerate(texts)]


WATER = ["青云街道停水了，一滴水都没有", "青云街道又停水了，什么时候来水", "青云街道小区停水一整天，没法做饭",
         "青云街道自来水停水了，请尽快恢复供水"]
LIGHTS = ["东岳大街路灯不亮了，晚上很黑", "东岳大街的路灯坏了好几盏，走路不安全", "东岳大街路灯晚上不亮，请维修"]
BIKES = ["共享电单车乱停乱放，堵住了盲道", "共享电单车堆在公交站台，行人过不去", "共享电单车扣费不合理，多扣了钱",
         "共享电单车停在人行道上，没人管", "小区门口共享电单车太多，堵住了消防通道"]


def test_requests_about_the_same_problem_are_grouped_and_named() -> None:
    today = dt.date(2026, 7, 1)
    docs = _docs(WATER + LIGHTS + ["孩子入学需要什么材料", "医保异地就医怎么备案"], "泰山区", today)
    topics = hot_topics(docs, CUT, today, min_size=3)
    groups = sorted(sorted(d.text for d in t.docs) for t in topics)
    assert groups == sorted([sorted(WATER), sorted(LIGHTS)])
    water = next(t for t in topics if t.size == 4)
    assert "停水" in water.label and water.recent == 4
    assert water.as_json()["tickets"][0].startswith("20260101-")


def test_a_group_like_nothing_before_is_a_new_topic() -> None:
    today = dt.date(2026, 7, 1)
    earlier = _docs(WATER * 5 + LIGHTS * 5, "泰山区", today - dt.timedelta(days=30), 100)
    recent = _docs(BIKES + WATER, "泰山区", today)
    topics = hot_topics(recent, CUT, today, min_size=3)
    new = mark_new(topics, earlier, CUT, similar=0.35, min_recent=3)
    assert [sorted(d.text for d in t.docs) for t in new] == [sorted(BIKES)]
    warnings = topic_warnings([t.as_json() for t in topics], today)
    assert len(warnings) == 1 and "共享" in warnings[0].title + " ".join(warnings[0].evidence["label"])


def test_the_outlook_follows_last_years_season_scaled_to_this_years_level() -> None:
    monday = dt.date(2026, 11, 2)
    week = dt.timedelta(days=7)
    start = monday - week * 70
    heat = {start + week * i: 10 for i in range(70)}
    for i in range(70):  # last year's heating weeks: 40 a week from the same week as this Monday
        if monday - week * 52 <= start + week * i < monday - week * 40:
            heat[start + week * i] = 40
    heat.update({monday - week * i: 20 for i in range(1, 9)})  # this year runs at twice last year's level
    out = outlook({"城乡建设": heat}, monday, weeks=2, level_weeks=8, history_start=start)["城乡建设"]
    assert [r["basis"] for r in out] == ["seasonal", "seasonal"]
    assert out[0]["last_year"] == 40 and 75 < out[0]["expected"] < 85   # 40 * (160+1)/(80+1)
    assert out[0]["low"] < out[0]["expected"] < out[0]["high"]
    recent_only = outlook({"城乡建设": heat}, monday, weeks=1, history_start=monday - week * 10)["城乡建设"]
    assert recent_only[0]["basis"] == "recent" and recent_only[0]["expected"] == 20.0


def test_odd_trail_events_do_not_stop_the_facts() -> None:
    from routing.analysis.facts import Event, derive
    from routing.clock import Clock
    clock = Clock.create()
    at = dt.datetime(2026, 11, 2, 1, tzinfo=dt.timezone.utc)
    events = [Event(at, "dispatched", ["not", "a", "dict"]), Event(at, "dispatched", {"unit": 7}),
              Event(at, "dispatched", {"unit": "water", "due_date": "2026-13-45"}),
              Event(at, "accept", None), Event(at + dt.timedelta(hours=3), "result", {"unit": "water"}),
              Event(at, "rating", {"level": "perfect"}), Event(at, "rehandle", {"due_date": 5})]
    rows = derive(1, "resolved", "web", None, None, at, events, clock.local_day, lambda d, n: d, 1)
    assert [(r.unit_id, r.resolved, r.on_time, r.rating, r.rehandles, r.handling_hours) for r in rows] == [
        ("water", True, True, None, 1, 3.0)]
