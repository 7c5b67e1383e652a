"""Risk warnings measured on the history generator's injected incidents (issue 19): recall, precision
and delay in days.

    .venv/bin/python -m benchmarks.warnings_eval [--per-day 400] [--months 24]

Generates the history in memory (benchmarks/history.py; the incidents all lie in its last year),
derives each ticket's facts with the gateway's rule and replays the last 12 months day by day through
the warning rules (routing/analysis/warnings.py, the settings' defaults), as the gateway's background
task runs them each day. New topics are looked for every `--topic-every` days over the last 7 days
(the gateway groups 28 days; the 7-day window keeps this replay fast). A warning key fires again only
after 14 quiet days (the gateway keeps one open warning per key until a supervisor closes it).

A warning counts as finding an incident when it is about the incident's district or unit, of a kind
that points to it, from its first day to 7 days after its end; every other warning is a false alarm
(listed, so one can see what they are).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections import defaultdict
from typing import Any

from benchmarks.history import Generator, _facts, link_incident_groups
from gateway.settings import AnalysisSettings
from nlu.segment import Segmenter
from routing.analysis.topics import Doc, hot_topics, mark_new
from routing.analysis.warnings import (SpikeParams, Warning, growing_groups, spikes, topic_warnings,
                                       unit_rises)

MATCH = {"spike": ("spike", "group", "new_topic"), "new_topic": ("new_topic", "spike", "group"),
         "overdue": ("overdue",), "dissatisfaction": ("dissatisfaction",)}


def matches(w: Warning, inc: Any, start: dt.date) -> bool:
    if w.kind not in MATCH[inc.kind]:
        return False
    if not (start <= w.day < start + dt.timedelta(days=inc.days + 7)):
        return False
    if inc.kind in ("overdue", "dissatisfaction"):
        return w.unit_id == inc.unit
    return w.district == inc.district and (w.unit_id in (None, inc.unit))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-day", type=float, default=400)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--end", default="2026-12-01")
    ap.add_argument("--topic-every", type=int, default=2)
    ap.add_argument("--seed", type=int, default=12345)
    a = ap.parse_args()
    s = AnalysisSettings()
    end = dt.date.fromisoformat(a.end)
    days = round(a.months * 365 / 12)
    started = time.perf_counter()
    gen = Generator(end - dt.timedelta(days=days), days, a.per_day, a.seed)
    sims = list(gen.tickets())
    link_incident_groups([t for t in sims if t.incident])
    facts = [(t, _facts(t, gen.cal)) for t in sims]
    generated = time.perf_counter() - started

    daily: dict[tuple[str, str, str], dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    rows = []
    for t, fs in facts:
        for f in fs:
            if f.first and f.category:
                daily[("category", f.district, f.category)][f.day] += 1
            if f.unit_id:
                daily[("unit", f.district, f.unit_id)][f.day] += 1
                if not f.returned:
                    rows.append(f)
    links: dict[str, list[tuple[str, dt.date]]] = defaultdict(list)
    by_number = {t.number: t for t in sims}
    for t in sims:
        for at, _, kind, _, data in t.events:
            if kind == "linked" and t.number > data["ticket"]:
                links[data["ticket"]].append((t.number, (at + dt.timedelta(hours=8)).date()))
    docs_by_day: dict[dt.date, list[Doc]] = defaultdict(list)
    for t in sims:
        day = (t.created_at + dt.timedelta(hours=8)).date()
        docs_by_day[day].append(Doc(t.id, t.number, day, t.district, t.category, t.channel, t.text))
    cut = Segmenter([]).cut

    p = SpikeParams(s.spike_window_days, s.spike_baseline_days, s.spike_alpha, s.spike_min_count)
    first_day = gen.start
    replay_from = end - dt.timedelta(days=365)
    shares = {k: Shares(rows, k, first_day, days + 400) for k in ("dissatisfaction", "overdue")}
    fired: dict[str, dt.date] = {}
    found: list[Warning] = []
    for i in range(365):
        today = replay_from + dt.timedelta(days=i)
        todays = spikes(daily, today, p, first_day)
        for kind in ("dissatisfaction", "overdue"):
            todays += unit_rises(kind, shares[kind].on(today, s.unit_recent_days), today, s.unit_alpha,
                                 min_hits=s.unit_min_hits)
        groups = [(root, by_number[root].district, by_number[root].category,
                   [(root, (by_number[root].created_at + dt.timedelta(hours=8)).date())] + ms)
                  for root, ms in links.items()]
        todays += growing_groups(groups, today, s.group_min, s.group_days)
        if i % a.topic_every == 0:
            recent = [d for k in range(7) for d in docs_by_day.get(today - dt.timedelta(days=k), [])]
            earlier = [d for k in list(range(7, 97, 3)) + list(range(334, 395, 3))
                       for d in docs_by_day.get(today - dt.timedelta(days=k), [])]
            topics = hot_topics(recent, cut, today, 7, 7, s.topic_distance, s.topic_min_size)
            mark_new([t for t in topics if t.recent >= s.new_topic_min], earlier, cut, s.new_topic_similarity,
                     s.new_topic_min)
            todays += topic_warnings([t.as_json() for t in topics], today)
        for w in todays:
            last = fired.get(w.key)
            if last is None or (today - last).days > 14:
                found.append(w)
            fired[w.key] = today

    incidents = [(inc, gen.start + dt.timedelta(days=inc.start)) for inc in gen.incidents]
    results, used = [], set()
    for inc, start in incidents:
        hits = [w for w in found if matches(w, inc, start)]
        used.update(id(w) for w in hits)
        first = min((w.day for w in hits), default=None)
        results.append({"incident": inc.name, "start": start.isoformat(), "found": first is not None,
                        "delay_days": (first - start).days if first else None,
                        "warnings": sorted({w.kind for w in hits})})
    false = [w for w in found if id(w) not in used]
    recall = sum(r["found"] for r in results) / len(results)
    precision = (len(found) - len(false)) / len(found) if found else 0.0
    print(json.dumps({"tickets": len(sims), "months": a.months, "replayed_days": 365,
                      "generate_seconds": round(generated, 1), "total_seconds": round(time.perf_counter() - started, 1),
                      "recall": round(recall, 3), "precision": round(precision, 3), "warnings": len(found),
                      "false_alarms": len(false), "incidents": results,
                      "false_alarm_kinds": dict(sorted(_count(w.kind for w in false).items())),
                      "false_alarm_examples": [f"{w.day} {w.title}" for w in false[:12]]},
                     ensure_ascii=False, indent=1))


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for x in items:
        out[x] += 1
    return out


class Shares:
    """Per unit and day, (hits, of) for one kind, with running sums: what
    gateway.store.analysis.AnalysisStore.unit_shares returns for any day, without rescanning the rows."""

    def __init__(self, rows: list[Any], kind: str, first: dt.date, days: int) -> None:
        import numpy as np
        self.first, self.kind = first, kind
        units = sorted({f.unit_id for f in rows})
        self.units = units
        index = {u: k for k, u in enumerate(units)}
        hits = np.zeros((len(units), days + 2), dtype=np.int64)
        of = np.zeros_like(hits)
        for f in rows:
            day = f.rated_day if kind == "dissatisfaction" else f.due_date
            if day is None:
                continue
            k = (day - first).days
            if 0 <= k < days + 2:
                of[index[f.unit_id], k] += 1
                hits[index[f.unit_id], k] += (f.rating == "dissatisfied") if kind == "dissatisfaction" else (not f.on_time)
        zero = np.zeros((len(units), 1), dtype=np.int64)
        self.hits = np.concatenate([zero, hits.cumsum(axis=1)], axis=1)
        self.of = np.concatenate([zero, of.cumsum(axis=1)], axis=1)

    def _sum(self, table: Any, start: dt.date, end: dt.date) -> Any:
        a = min(max((start - self.first).days, 0), table.shape[1] - 1)
        b = min(max((end - self.first).days, 0), table.shape[1] - 1)
        return table[:, b] - table[:, a]

    def on(self, today: dt.date, recent_days: int) -> dict[str, tuple[int, int, int, int]]:
        recent_start = today - dt.timedelta(days=recent_days - 1)
        earlier_start = recent_start - dt.timedelta(days=90)
        recent_end = today + dt.timedelta(days=1) if self.kind == "dissatisfaction" else today
        rh, rn = self._sum(self.hits, recent_start, recent_end), self._sum(self.of, recent_start, recent_end)
        bh, bn = self._sum(self.hits, earlier_start, recent_start), self._sum(self.of, earlier_start, recent_start)
        return {u: (int(rh[k]), int(rn[k]), int(bh[k]), int(bn[k])) for k, u in enumerate(self.units)}


if __name__ == "__main__":
    main()
