"""The analysis service (Art. 22-25): keeps the facts up to date, looks for risks, recomputes hot topics,
and tells supervisors.

Runs in the gateway as a background task (`cleanup_ctx`): every `refresh_seconds` it folds new ticket
events into the facts (gateway/store/analysis.py) and runs the warning rules (routing/analysis/warnings.py)
for today; a new warning is stored and published on the console's event hub at once (the supervisors'
dashboard shows it live); hot topics and new topics every `topics_minutes`; at `daily_summary_hour` the
previous day's summary is stored and published. With several gateway replicas one holds the round at a
time (a lease in `analysis_state`, taken over when it lapses); warnings are stored once per open key, and
a supervisor closes them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from collections import defaultdict
from typing import Any, Callable, Mapping

from gateway.events import CONSOLE_TOPIC, EventHub
from gateway.settings import AnalysisSettings
from gateway.store import Store
from gateway.store.analysis import FactsRule
from routing.analysis.evaluation import Evaluation, evaluate, trend
from routing.analysis.outlook import WEEK, outlook, week_start
from routing.analysis.topics import hot_topics, mark_new
from routing.analysis.warnings import SpikeParams, Warning, growing_groups, spikes, topic_warnings, unit_rises
from routing.clock import Clock
from routing.units import Unit

log = logging.getLogger(__name__)

Cut = Callable[[str], list[str]]


class AnalysisService:
    def __init__(self, store: Callable[[], Store], settings: AnalysisSettings, clock: Clock,
                 add_workdays: Callable[[dt.date, int], dt.date], units: Mapping[str, Unit], cut: Cut,
                 hub: EventHub) -> None:
        self._store = store
        self.settings = settings
        self.clock = clock
        self.units = units
        self._cut = cut
        self._hub = hub
        self.rule = FactsRule(clock, add_workdays, settings.accept_workdays)
        self._topics_at: dt.datetime | None = None
        self._holder = secrets.randbits(62) or 1  # this process, for the round's lease

    def unit_name(self, unit: str | None) -> str:
        found = self.units.get(unit or "")
        return found.name if found else (unit or "未派单")

    @property
    def names(self) -> dict[str, str]:
        return {u.id: u.name for u in self.units.values()}

    # --- figures --------------------------------------------------------------------------------------

    async def evaluation(self, start: dt.date, end: dt.date) -> list[Evaluation]:
        s = self.settings
        figures = await self._store().analysis.unit_figures(start, end, self.clock.today())
        return evaluate(figures, s.score_weights, s.min_received)

    async def trend(self, months: int, today: dt.date) -> dict[str, Any]:
        """Each unit's score per month for the last `months` months (this one included)."""
        bounds = []
        first = today.replace(day=1)
        for i in range(months - 1, -1, -1):
            y, m = divmod(first.year * 12 + first.month - 1 - i, 12)
            start = dt.date(y, m + 1, 1)
            ny, nm = divmod(y * 12 + m + 1, 12)
            bounds.append((f"{y}-{m + 1:02d}", start, dt.date(ny, nm + 1, 1)))
        per = await self._store().analysis.unit_figures_by_period(bounds, today)
        return trend(per, self.settings.score_weights)

    async def outlook(self, today: dt.date, weeks: int = 6) -> dict[str, Any]:
        """This week's outlook (computed once a week: it reads 62 weeks of sums), else computed now."""
        snap = await self._store().analysis.snapshot("outlook")
        if snap is not None and snap[1].get("this_week") == week_start(today).isoformat():
            return snap[1]
        data = await self.compute_outlook(today, weeks)
        if week_start(today) == week_start(self.clock.today()):  # another week's outlook is not kept
            await self._store().analysis.put_snapshot("outlook", data)
        return data

    async def compute_outlook(self, today: dt.date, weeks: int = 6) -> dict[str, Any]:
        this_week = week_start(today)
        start = this_week - WEEK * 62
        weekly: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
        for day, category, n in await self._store().analysis.volume(start, this_week, "category"):
            if category:
                weekly[category][week_start(day)] += n
        first = await self._store().analysis.first_day()
        history_start = week_start(first) + WEEK if first else None  # the first week may be partial
        return {"this_week": this_week.isoformat(),
                "categories": outlook(weekly, this_week, weeks, history_start=history_start)}

    # --- warnings -------------------------------------------------------------------------------------

    async def detect(self, today: dt.date) -> list[dict[str, Any]]:
        """Run the warning rules for `today`; the warnings stored (new keys only), published live."""
        s, a = self.settings, self._store().analysis
        p = SpikeParams(s.spike_window_days, s.spike_baseline_days, s.spike_alpha, s.spike_min_count)
        span = p.window_days + p.baseline_days
        first = await a.first_day()
        start = today - dt.timedelta(days=span + 364 + 1)
        series = await a.daily_series(start, today + dt.timedelta(days=1))
        found: list[Warning] = spikes(series, today, p, first, self.names)
        for kind in ("dissatisfaction", "overdue"):
            shares = await a.unit_shares(kind, today, s.unit_recent_days)
            found += unit_rises(kind, shares, today, s.unit_alpha, self.names, s.unit_min_hits)
        since = dt.datetime.combine(today - dt.timedelta(days=s.group_days), dt.time(), self.clock.tz)
        found += growing_groups(await a.link_groups(since), today, s.group_min, s.group_days)
        snap = await a.snapshot("topics")
        if snap is not None and snap[1].get("day") == today.isoformat():
            found += topic_warnings(snap[1].get("topics", []), today)
        stored = await a.add_warnings(found)
        for w in stored:
            self._hub.publish(CONSOLE_TOPIC, {"type": "risk_warning", "audience": "supervisor", "warning": w})
        if stored:
            log.info("%d new risk warnings (%s)", len(stored), ", ".join(sorted({w["kind"] for w in stored})))
        return stored

    async def topics(self, today: dt.date) -> dict[str, Any]:
        """Hot topics of the window up to today, the new ones marked; stored as a snapshot."""
        s, a = self.settings, self._store().analysis
        window_start = today - dt.timedelta(days=s.topic_window_days - 1)
        docs = await a.docs(window_start, today + dt.timedelta(days=1))
        earlier = await a.docs(window_start - dt.timedelta(days=90), window_start - dt.timedelta(days=s.topic_recent_days),
                               limit=12000)
        last_year = today - dt.timedelta(days=364)  # the same season a year ago: what recurs is not new
        earlier += await a.docs(last_year - dt.timedelta(days=30), last_year + dt.timedelta(days=30), limit=6000)
        loop = asyncio.get_running_loop()

        def compute() -> dict[str, Any]:
            found = hot_topics(docs, self._cut, today, s.topic_window_days, s.topic_recent_days, s.topic_distance,
                               s.topic_min_size)
            recent = [t for t in found if t.recent >= s.new_topic_min]
            mark_new(recent, [d for d in earlier], self._cut, s.new_topic_similarity, s.new_topic_min)
            return {"day": today.isoformat(), "topics": [t.as_json() for t in found[:200]]}
        data = await loop.run_in_executor(None, compute)  # clustering is CPU work: off the event loop
        await a.put_snapshot("topics", data)
        return data

    async def daily_summary(self, day: dt.date) -> dict[str, Any]:
        """The day's figures and warnings, as supervisors receive them."""
        a = self._store().analysis
        volume = sum(n for _, _, n in await a.volume(day, day + dt.timedelta(days=1), "category"))
        warnings = [w for w in await a.warnings(since=day) if w["day"] == day.isoformat()]
        evaluation = await self.evaluation(day - dt.timedelta(days=29), day + dt.timedelta(days=1))
        worst = [e.as_json() for e in evaluation if e.rank is not None][-3:]
        return {"day": day.isoformat(), "tickets": volume, "warnings": warnings,
                "lowest_units": [{**w, "name": self.unit_name(w["unit"])} for w in worst]}

    # --- the background task ------------------------------------------------------------------------

    async def step(self) -> None:
        """One round: facts, topics when due, warnings, the daily summary when due — on the one replica that
        holds the round (gateway/store/analysis.py `take_round`)."""
        a = self._store().analysis
        if not await a.take_round(self._holder, self.settings.refresh_seconds * 3):
            return
        await a.refresh(self.rule)
        now, today = self.clock.now(), self.clock.today()
        if self._topics_at is None or now - self._topics_at >= dt.timedelta(minutes=self.settings.topics_minutes):
            await self.topics(today)
            self._topics_at = now
        await self.detect(today)
        if self.clock.local_now().hour >= self.settings.daily_summary_hour:
            yesterday = today - dt.timedelta(days=1)
            sent = await a.snapshot("daily_summary")
            if sent is None or sent[1].get("day") != yesterday.isoformat():
                summary = await self.daily_summary(yesterday)
                await a.put_snapshot("daily_summary", summary)
                self._hub.publish(CONSOLE_TOPIC, {"type": "daily_summary", "audience": "supervisor", "summary": summary})

    async def run_forever(self) -> None:
        """Rounds every `refresh_seconds`, the first one after a wait (a starting gateway serves first)."""
        while True:
            await asyncio.sleep(self.settings.refresh_seconds)
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed round is logged and retried; the gateway keeps serving
                log.exception("analysis round failed")

