"""A realistic ticket history for the analysis (issue 19): months of tickets across Tai'an's districts
with seasons and injected incidents, written into the real schema.

    .venv/bin/python -m benchmarks.history --url sqlite:///var/history.db --per-day 150 --months 12
    .venv/bin/python -m benchmarks.history --url postgresql://postgres@127.0.0.1:5432/test --per-day 2740

Texts: the real citizen texts of ../shared/data/train/tipdm_raw.jsonl (read at run time, never copied;
see SOURCES.md there) and the project's own labelled requests in tests/data/dispatch*.jsonl, each
with its handling unit; a few written here for the injected incidents. Each ticket lives through the
lifecycle the gateway records (dispatch, accept, return, extension, result, rating, re-handling,
close) as the same events; facts and daily sums are derived by the gateway's own rule
(routing.analysis.facts, gateway.store.analysis).

Seasons: heating from mid-November to mid-March, water and drainage in the summer rains, power in
the summer heat, schools at term starts, tourism in May and October, fewer tickets on weekends.
Incidents (`INCIDENTS`, with the day they start): a burst of water outages in one district, a new
kind of problem, a unit that lets its tickets go overdue, a unit whose answers citizens reject, a
heating failure in one district in mid-winter. benchmarks/warnings_eval.py measures the warnings on them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT.parent / "shared" / "data" / "train"
UTC = dt.timezone.utc
LOCAL = dt.timedelta(hours=8)  # Asia/Shanghai has no daylight saving time
DISTRICTS = ("泰山区", "岱岳区", "新泰市", "肥城市", "宁阳县", "东平县")
DISTRICT_WEIGHT = (0.24, 0.22, 0.17, 0.14, 0.12, 0.11)
COUNTY_UNIT = dict(zip(DISTRICTS, ("taishan", "daiyue", "xintai", "feicheng", "ningyang", "dongping")))
UNIT_COUNTY = {u: d for d, u in COUNTY_UNIT.items()}
CATEGORY_UNIT = {"劳动和社会保障": "hrss", "教育文体": "education", "商贸旅游": "market", "环境保护": "ecology",
                 "卫生计生": "health", "交通运输": "transport"}
CHANNELS = (("phone", 0.55), ("wechat", 0.2), ("web", 0.17), ("email", 0.04), ("telegram", 0.04))
TYPES = (("complaint", 0.36), ("help", 0.28), ("consultation", 0.2), ("report", 0.11), ("suggestion", 0.05))
DEADLINES = {"consultation": 3, "help": 5, "complaint": 10, "report": 15, "suggestion": 15}
UTILITIES = {"water", "power", "gas", "heat", "telecom"}

# Month multipliers per unit (1 = no season).
SEASON: dict[str, dict[int, float]] = {
    "heat": {11: 3.0, 12: 4.5, 1: 4.5, 2: 3.0, 3: 1.5, 4: 0.3, 5: 0.2, 6: 0.2, 7: 0.2, 8: 0.2, 9: 0.3, 10: 0.8},
    "water": {6: 1.6, 7: 2.0, 8: 1.8, 1: 1.2},
    "urban": {6: 1.4, 7: 1.9, 8: 1.7},
    "power": {7: 1.7, 8: 1.6, 1: 1.2},
    "education": {2: 1.4, 8: 1.6, 9: 1.8},
    "culture": {5: 1.7, 10: 1.9},
}

# Words written here for the injected incidents (not in any training set).
WATER_OUTAGE = ["{d}{p}停水了，到现在一滴水都没有，什么时候能来水", "{d}{p}一带突然停水，也没有提前通知，老人孩子没法做饭",
                "{d}{p}自来水停了一整天了，打供水电话也打不通", "{d}{p}又停水了，说是主管道爆管，请尽快抢修供水",
                "{d}{p}小区全部停水，楼上楼下都没水，请问什么时候恢复供水"]
NEW_TOPIC = ["{d}{p}路边共享电单车乱停乱放，把盲道和消防通道都堵了", "{d}{p}共享电单车堆在公交站台，行人根本过不去",
             "{d}{p}共享电单车停车点设置不合理，车子随便扔在人行道上", "{d}{p}的共享电单车扣费不合理，还车时说不在停车区多扣钱",
             "{d}{p}共享电单车电池乱放在楼道里充电，存在安全隐患"]
HEAT_FAILURE = ["{d}{p}暖气一点都不热，屋里才十二度，老人冻得受不了", "{d}{p}整个小区暖气不热，交了取暖费却不供暖",
                "{d}{p}供暖管道漏水停暖了，家里冰凉，请热力公司尽快维修", "{d}{p}暖气时冷时热，晚上基本不热，请尽快处理"]
PLACES = {"泰山区": ["财源街道", "上高街道", "徐家楼街道", "岱庙街道"], "岱岳区": ["粥店街道", "天平街道", "满庄镇"],
          "新泰市": ["青云街道", "新汶街道", "新甫街道"], "肥城市": ["新城街道", "老城街道", "王瓜店街道"],
          "宁阳县": ["文庙街道", "八仙桥街道"], "东平县": ["东平街道", "州城街道"]}


@dataclass(frozen=True)
class Incident:
    name: str
    kind: str              # the warning kind expected
    start: int             # day index from the history's first day
    days: int
    district: str | None = None
    unit: str | None = None
    per_day: int = 0       # extra tickets per day (bursts)
    texts: tuple[str, ...] = ()


def incidents(days: int) -> list[Incident]:
    """Placed relative to the end of the history, so the last year holds them all."""
    end = days
    return [
        Incident("water_outage_xintai", "spike", end - 160, 4, "新泰市", "water", 30, tuple(WATER_OUTAGE)),
        Incident("new_topic_ebikes_taishan", "new_topic", end - 95, 14, "泰山区", "urban", 6, tuple(NEW_TOPIC)),
        Incident("overdue_housing", "overdue", end - 120, 120, None, "housing"),
        Incident("dissatisfied_market", "dissatisfaction", end - 60, 60, None, "market"),
        Incident("heating_failure_feicheng", "spike", end - 330 if end - 330 > 0 else end - 30, 3, "肥城市", "heat",
                 25, tuple(HEAT_FAILURE)),
    ]


@dataclass
class SimTicket:
    id: int
    number: str
    created_at: dt.datetime
    channel: str
    request_type: str
    category: str | None
    district: str
    unit: str | None
    text: str
    status: str = "open"
    unit_id: str | None = None
    due_date: dt.date | None = None
    updated_at: dt.datetime | None = None
    events: list[tuple[dt.datetime, str, str, bool, dict[str, Any]]] = field(default_factory=list)
    incident: str | None = None


def _pick(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    x, acc = rng.random(), 0.0
    for value, w in pairs:
        acc += w
        if x < acc:
            return value
    return pairs[-1][0]


def load_texts(units: dict[str, Any]) -> dict[str, list[tuple[str, str | None]]]:
    """Per unit: (text, district named in it or None)."""
    pool: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for path in sorted((ROOT / "tests" / "data").glob("dispatch*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if row.get("lead") in units:
                    named = row.get("district")
                    named = UNIT_COUNTY.get(named, named) if named else None
                    pool[row["lead"]].append((row["text"], named if named in DISTRICTS else None))
    real = TRAIN / "tipdm_raw.jsonl"
    if real.exists():
        for line in real.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                text = f"{row['title']}。{row['text']}"[:300]
                unit = CATEGORY_UNIT.get(row["category"], "county")
                pool[unit].append((text, None))
    return dict(pool)


class Calendar:
    """Working days (the gateway's own calendar), cached per day."""

    def __init__(self) -> None:
        from routing.deadlines import WorkCalendar
        self._cal = WorkCalendar.load(ROOT / "config" / "holidays.yaml")
        self._cache: dict[tuple[dt.date, int], dt.date] = {}

    def add(self, day: dt.date, n: int) -> dt.date:
        key = (day, n)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._cal.add_workdays(day, n)
        return found


def local_day(at: dt.datetime) -> dt.date:
    return (at + LOCAL).date()


class Generator:
    def __init__(self, start: dt.date, days: int, per_day: float, seed: int = 12345,
                 now: dt.datetime | None = None) -> None:
        from routing.units import load_units
        self.units = load_units(ROOT / "config" / "units.yaml")
        self.rng = random.Random(seed)
        self.start, self.days, self.per_day = start, days, per_day
        self.end = dt.datetime.combine(start + dt.timedelta(days=days), dt.time(), UTC) - LOCAL
        self.now = now or self.end
        self.cal = Calendar()
        self.pool = load_texts(self.units)
        self.incidents = incidents(days)
        self.base_units = [u for u in self.pool if u != "county"]
        self.weights = {u: len(self.pool[u]) ** 0.7 for u in self.pool}
        self.counter: dict[dt.date, int] = defaultdict(int)
        self.next_id = 1

    def _unit_for(self, key: str, district: str) -> str:
        return COUNTY_UNIT[district] if key == "county" else key

    def _category(self, unit: str) -> str | None:
        cats = sorted(self.units[unit].categories) if unit in self.units else []
        return "城乡建设" if "城乡建设" in cats else (cats[0] if cats else None)

    def _quality(self, unit: str, day: int) -> tuple[float, float]:
        """(on-time probability, dissatisfied probability) of a unit on a day, with the incidents."""
        on_time, dissatisfied = 0.93, 0.07
        for inc in self.incidents:
            if inc.unit == unit and inc.start <= day < inc.start + inc.days:
                if inc.kind == "overdue":
                    on_time = 0.45
                if inc.kind == "dissatisfaction":
                    dissatisfied = 0.35
        return on_time, dissatisfied

    def tickets(self) -> Iterator[SimTicket]:
        rng = self.rng
        keys = list(self.pool)
        for day_index in range(self.days):
            day = self.start + dt.timedelta(days=day_index)
            weekday = 0.72 if day.weekday() >= 5 else 1.0
            w = [self.weights[k] * SEASON.get(k, {}).get(day.month, 1.0) for k in keys]
            total = sum(self.weights.values())
            scale = self.per_day * weekday * sum(w) / total
            n = _poisson(rng, scale)
            chosen = rng.choices(keys, w, k=n)
            batch = []
            for key in chosen:
                text, named = rng.choice(self.pool[key])
                district = named or rng.choices(DISTRICTS, DISTRICT_WEIGHT)[0]
                batch.append((key, text, district, None))
            for inc in self.incidents:
                if inc.per_day and inc.start <= day_index < inc.start + inc.days:
                    ramp = 1.0 if inc.kind == "spike" else (day_index - inc.start + 1) / inc.days * 2
                    for _ in range(_poisson(rng, inc.per_day * ramp * (self.per_day / 300) ** 0.5)):
                        text = rng.choice(inc.texts).format(d=inc.district, p=rng.choice(PLACES[inc.district]))
                        batch.append((inc.unit, text, inc.district, inc.name))
            for key, text, district, incident in batch:
                yield self._life(day, day_index, key, text, district, incident)

    def _life(self, day: dt.date, day_index: int, key: str, text: str, district: str,
              incident: str | None) -> SimTicket:
        rng = self.rng
        hour = min(max(rng.gauss(13.5, 3.5), 0.0), 23.9)
        created = dt.datetime.combine(day, dt.time(), UTC) - LOCAL + dt.timedelta(hours=hour)
        self.counter[day] += 1
        unit = self._unit_for(key, district)
        rtype = _pick(rng, TYPES)
        t = SimTicket(self.next_id, f"{day:%Y%m%d}-{self.counter[day]:06d}", created, _pick(rng, CHANNELS), rtype,
                      self._category(unit), district, unit, text, incident=incident)
        self.next_id += 1
        ev = t.events

        def add(at: dt.datetime, actor: str, kind: str, public: bool, data: dict[str, Any]) -> bool:
            if at >= self.now:
                return False
            ev.append((at, actor, kind, public, data))
            t.updated_at = at
            return True

        add(created, "system", "created", True, {"source": "bot" if t.channel != "phone" else "agent",
                                                  "channel": t.channel})
        t.updated_at = created
        if rng.random() < 0.05:  # answered at once by the agent: no unit
            if add(created + dt.timedelta(minutes=5), "agent:li", "status_changed", True,
                   {"status": {"from": "open", "to": "closed"}}):
                t.status = "closed"
            return t
        at = created + (dt.timedelta(hours=rng.uniform(0.5, 5)) if rng.random() < 0.2 else dt.timedelta(0))
        on_time_p, dissatisfied_p = self._quality(unit, day_index)
        tried: list[str] = []
        while True:
            days = 1 if unit in UTILITIES else DEADLINES[rtype]
            due = self.cal.add(local_day(at), days)
            if not add(at, "system", "dispatched", True, {"unit": unit, "due_date": due.isoformat()}):
                return t
            t.status, t.unit_id, t.due_date = "dispatched", unit, due
            if len(tried) < 1 and rng.random() < 0.03:
                at += dt.timedelta(hours=rng.uniform(1, 20))
                if not add(at, f"unit:{unit}", "return", False, {"reason": "不属于本单位职责", "unit": unit,
                                                                  "status": {"from": "dispatched", "to": "open"}}):
                    return t
                t.status, t.unit_id = "open", None
                tried.append(unit)
                unit = COUNTY_UNIT[district] if unit != COUNTY_UNIT[district] else "urban"
                at += dt.timedelta(hours=rng.uniform(0.5, 6))
                continue
            break
        accept_at = at + dt.timedelta(hours=rng.expovariate(1 / (5 if rng.random() < 0.95 else 40)))
        if not add(accept_at, f"unit:{unit}", "accept", True, {"unit": unit, "status": {"from": "dispatched",
                                                                                          "to": "in_progress"}}):
            return t
        t.status = "in_progress"
        if rng.random() < 0.03:
            ask = accept_at + dt.timedelta(hours=rng.uniform(2, 48))
            if add(ask, f"unit:{unit}", "extension", False, {"unit": unit, "days": 5, "reason": "需协调多个部门"}):
                due = self.cal.add(due, 5)
                if not add(ask + dt.timedelta(hours=3), "agent:wang", "extension_approved", True,
                           {"note": None, "due_date": due.isoformat()}):
                    return t
                t.due_date = due
        rounds = 0
        while True:
            due_at = dt.datetime.combine(due, dt.time(17), UTC) - LOCAL
            span = max((due_at - accept_at).total_seconds(), 3600)
            if rng.random() < on_time_p:
                result_at = accept_at + dt.timedelta(seconds=span * rng.uniform(0.15, 0.98))
            else:
                result_at = due_at + dt.timedelta(days=rng.uniform(1, 8))
            if not add(result_at, f"unit:{unit}", "result", True, {"unit": unit, "text": "已处理完毕",
                                                                   "status": {"from": "in_progress", "to": "resolved"}}):
                return t
            t.status = "resolved"
            if rng.random() > 0.8:  # not reached for a rating: closed after the callback period
                if add(result_at + dt.timedelta(days=3), "system", "close", True,
                       {"status": {"from": "resolved", "to": "closed"}, "note": "回访未接通"}):
                    t.status = "closed"
                return t
            rated_at = result_at + dt.timedelta(hours=rng.uniform(2, 48))
            x = rng.random()
            level = ("dissatisfied" if x < dissatisfied_p else
                     "basically_satisfied" if x < dissatisfied_p + 0.17 else "satisfied")
            if rounds:
                level = "satisfied" if x < 0.7 else "basically_satisfied" if x < 0.9 else "dissatisfied"
            if not add(rated_at, "citizen", "rating", True, {"level": level, "solved": level != "dissatisfied"}):
                return t
            if level != "dissatisfied":
                if add(rated_at, "system", "status_changed", True, {"status": {"from": "resolved", "to": "closed"}}):
                    t.status = "closed"
                return t
            decided = rated_at + dt.timedelta(hours=rng.uniform(1, 24))
            if rounds or rng.random() < 0.5:
                if add(decided, "agent:wang", "close", True, {"status": {"from": "resolved", "to": "closed"},
                                                              "note": "已解释说明"}):
                    t.status = "closed"
                return t
            due = self.cal.add(local_day(decided), 5)
            if not add(decided, "agent:wang", "rehandle", True, {"status": {"from": "resolved", "to": "dispatched"},
                                                                 "note": "请重新办理", "due_date": due.isoformat()}):
                return t
            t.status, t.due_date = "dispatched", due
            accept_at = decided + dt.timedelta(hours=rng.uniform(1, 10))
            if not add(accept_at, f"unit:{unit}", "accept", True, {"unit": unit}):
                return t
            t.status = "in_progress"
            rounds += 1


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def link_incident_groups(tickets: list[SimTicket]) -> None:
    """Several citizens, one problem: incident tickets of one district within 3 days are linked to the
    first of them, as routing/links.py links them in the gateway."""
    by_incident: dict[str, list[SimTicket]] = defaultdict(list)
    for t in tickets:
        if t.incident and t.incident.startswith(("water", "heating")):
            by_incident[t.incident].append(t)
    for group in by_incident.values():
        root = group[0]
        for t in group[1:]:
            if (t.created_at - root.created_at) > dt.timedelta(days=3):
                root = t
                continue
            at = t.created_at + dt.timedelta(seconds=1)
            t.events.append((at, "system", "linked", False, {"ticket": root.number, "score": 0.6}))
            root.events.append((at, "system", "linked", False, {"ticket": t.number, "score": 0.6}))


# --- writing -------------------------------------------------------------------------------------------

def _ticket_row(t: SimTicket) -> dict[str, Any]:
    return {"id": t.id, "number": t.number, "conversation_id": None, "contact_id": None, "channel": t.channel,
            "status": t.status, "source": "bot", "request_type": t.request_type, "category": t.category,
            "district": t.district, "location": None, "description": t.text, "contact_name": None,
            "contact_phone": None, "anonymous": False, "utility": t.unit in UTILITIES, "unit_id": t.unit_id,
            "due_date": t.due_date, "created_at": t.created_at, "updated_at": t.updated_at or t.created_at}


def _facts(t: SimTicket, rule: Any) -> list[Any]:
    from routing.analysis.facts import Event, derive
    events = [Event(at, kind, data) for at, _, kind, _, data in sorted(t.events, key=lambda e: e[0])]
    return derive(t.id, t.status, t.channel, t.category, t.district, t.created_at, events, local_day,
                  rule.add, 1)


async def write(url: str, gen: Generator, batch: int = 20000) -> dict[str, Any]:
    """Generate and write; figures of the run."""
    from gateway.store import open_store
    store = await open_store(url, auto_migrate=True)
    try:
        return await _write(store, gen, batch, url if url.startswith(("postgresql", "postgres")) else None)
    finally:
        await store.db.dispose()


async def _write(store: Any, gen: Generator, batch: int, pg_url: str | None) -> dict[str, Any]:
    """`pg_url`: PostgreSQL's URL (with its password) for COPY; None on SQLite."""
    import sqlalchemy as sa

    from gateway.store.analysis import resum_days, set_watermark
    from gateway.store.schema import ticket_counters, ticket_events, ticket_facts, tickets

    days = [(gen.start + dt.timedelta(days=i)).strftime("%Y%m%d") for i in range(gen.days)]
    taken = await store.db.run(lambda c: c.execute(sa.select(sa.func.count()).select_from(ticket_counters).where(
        ticket_counters.c.day.in_(days))).scalar())
    if taken:
        raise SystemExit(f"the database already has tickets numbered on {taken} of the history's days: "
                         "write the history into a database of its own")
    first = await store.db.run(lambda c: c.execute(sa.select(sa.func.coalesce(sa.func.max(tickets.c.id), 0))).scalar())
    gen.next_id = first + 1
    started = time.perf_counter()
    n_tickets = n_events = 0
    pending: list[SimTicket] = []
    delayed: list[SimTicket] = []  # incident tickets wait for their links (written at the end)
    pg_conn = await _pg_connect(pg_url) if pg_url else None

    async def flush(items: list[SimTicket]) -> None:
        nonlocal n_tickets, n_events
        t_rows = [_ticket_row(t) for t in items]
        e_rows = [{"ticket_id": t.id, "at": at, "actor": actor, "kind": kind, "public": public, "data": data}
                  for t in items for at, actor, kind, public, data in sorted(t.events, key=lambda e: e[0])]
        f_rows = [f.row(i) for t in items for i, f in enumerate(_facts(t, gen.cal))]
        n_tickets += len(t_rows)
        n_events += len(e_rows)
        if pg_conn is not None:
            await _copy(pg_conn, t_rows, e_rows, f_rows)
        else:
            def work(conn: Any) -> None:
                conn.execute(tickets.insert(), t_rows)
                conn.execute(ticket_events.insert(), e_rows)
                conn.execute(ticket_facts.insert(), f_rows)
            await store.db.run(work)

    try:
        for t in gen.tickets():
            (delayed if t.incident else pending).append(t)
            if len(pending) >= batch:
                await flush(pending)
                pending = []
        link_incident_groups(delayed)
        await flush(pending + delayed)
        counters = dict(gen.counter)
        last_event = await store.db.run(lambda c: c.execute(sa.select(sa.func.max(ticket_events.c.id))).scalar())

        def finish(conn: Any) -> None:
            for day, n in counters.items():
                key = day.strftime("%Y%m%d")
                conn.execute(ticket_counters.delete().where(ticket_counters.c.day == key))
                conn.execute(ticket_counters.insert(), {"day": key, "last": n})
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))"))
            resum_days(conn, None)
            set_watermark(conn, last_event or 0)
        written = time.perf_counter() - started
        await store.db.run(finish)
        if pg_conn is not None:
            await pg_conn.execute("ANALYZE")
    finally:
        if pg_conn is not None:
            await pg_conn.close()
    return {"tickets": n_tickets, "events": n_events, "write_seconds": round(written, 1),
            "total_seconds": round(time.perf_counter() - started, 1)}


async def _pg_connect(url: str) -> Any:
    import asyncpg

    from gateway.store.database import normalize_url
    return await asyncpg.connect(normalize_url(url).replace("postgresql+asyncpg://", "postgresql://"))


_T_COLS = ["id", "number", "conversation_id", "contact_id", "channel", "status", "source", "request_type", "category",
           "district", "location", "description", "contact_name", "contact_phone", "anonymous", "utility", "unit_id",
           "due_date", "created_at", "updated_at"]
_E_COLS = ["ticket_id", "at", "actor", "kind", "public", "data"]


async def _copy(conn: Any, t_rows: list[dict[str, Any]], e_rows: list[dict[str, Any]],
                f_rows: list[dict[str, Any]]) -> None:
    """COPY into the real tables (PostgreSQL): the fast path to a million tickets."""
    from gateway.store.schema import ticket_facts
    f_cols = [c.name for c in ticket_facts.c]
    async with conn.transaction():
        await conn.copy_records_to_table("tickets", columns=_T_COLS,
                                         records=[tuple(r[c] for c in _T_COLS) for r in t_rows])
        await conn.copy_records_to_table("ticket_events", columns=_E_COLS, records=[
            (r["ticket_id"], r["at"], r["actor"], r["kind"], r["public"], json.dumps(r["data"], ensure_ascii=False))
            for r in e_rows])
        await conn.copy_records_to_table("ticket_facts", columns=f_cols,
                                         records=[tuple(r[c] for c in f_cols) for r in f_rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--per-day", type=float, default=150.0)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--end", default="2026-12-01", help="the day after the history (local)")
    ap.add_argument("--seed", type=int, default=12345)
    a = ap.parse_args()
    end = dt.date.fromisoformat(a.end)
    days = round(a.months * 365 / 12)
    gen = Generator(end - dt.timedelta(days=days), days, a.per_day, a.seed)
    figures = asyncio.run(write(a.url, gen))
    print(json.dumps({**figures, "days": days, "start": gen.start.isoformat(),
                      "incidents": [(i.name, (gen.start + dt.timedelta(days=i.start)).isoformat())
                                    for i in gen.incidents]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
