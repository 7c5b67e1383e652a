"""What the analysis reads and keeps (Art. 22-25): ticket facts refreshed incrementally from the
trail, daily sums, the figures per unit and period, the series warnings and the outlook test, stored
warnings and snapshots.

The refresh follows ticket events by id (a watermark in `analysis_state`): every event newer than
the watermark re-derives its ticket's facts (routing.analysis.facts), and the daily sums of the days
those tickets were received are summed again from the facts. Dashboard queries then read a few
thousand daily rows instead of a million tickets (docs/benchmarks.md).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.store.common import upsert
from gateway.store.database import Database
from gateway.store.schema import (ANALYSIS_COUNTS, analysis_daily, analysis_hours, analysis_snapshots, analysis_state,
                                  risk_warnings, ticket_events, ticket_facts, tickets)
from routing.analysis.evaluation import UnitFigures
from routing.analysis.facts import NO_UNIT, Event, TicketFacts, bucket_hours, derive
from routing.analysis.topics import Doc
from routing.analysis.warnings import Warning
from routing.clock import Clock

WATERMARK = "facts_event_id"
REFRESH_BATCH = 5000  # events per transaction


class FactsRule:
    """How facts are derived: the clock's local day, the working-day calendar, the acceptance time."""

    def __init__(self, clock: Clock, add_workdays: Callable[[dt.date, int], dt.date], accept_workdays: int) -> None:
        self.local_day = clock.local_day
        self.add_workdays = add_workdays
        self.accept_workdays = accept_workdays

    def derive(self, t: Any, events: Iterable[Event]) -> list[TicketFacts]:
        return derive(t.id, t.status, t.channel, t.category, t.district, t.created_at, events, self.local_day,
                      self.add_workdays, self.accept_workdays)


def _daily_select(days: Sequence[dt.date] | None) -> sa.Select[Any]:
    f = ticket_facts.c
    as_int = lambda cond: sa.func.sum(sa.case((cond, 1), else_=0))  # noqa: E731
    cols = {
        "tickets": as_int(f.first), "received": as_int(f.unit_id != NO_UNIT), "accepted": as_int(f.accepted),
        "accepted_in_time": as_int(f.accepted_in_time), "returned": as_int(f.returned),
        "extensions": sa.func.sum(f.extensions), "rehandles": sa.func.sum(f.rehandles),
        "resolved": as_int(f.resolved), "on_time": as_int(f.on_time), "late": as_int(f.late),
        "satisfied": as_int(f.rating == "satisfied"), "basically_satisfied": as_int(f.rating == "basically_satisfied"),
        "dissatisfied": as_int(f.rating == "dissatisfied"), "first_contact": as_int(f.first_contact),
    }
    empty = sa.literal_column("''")  # one literal: PostgreSQL must see the same expression in GROUP BY
    category, district = sa.func.coalesce(f.category, empty), sa.func.coalesce(f.district, empty)
    query = sa.select(f.day, f.unit_id, category.label("category"), district.label("district"),
                      *[cols[c].label(c) for c in ANALYSIS_COUNTS],
                      sa.func.coalesce(sa.func.sum(f.handling_hours), 0.0).label("handling_hours")
                      ).group_by(f.day, f.unit_id, category, district)
    return query if days is None else query.where(f.day.in_(days))


def resum_days(conn: Connection, days: Sequence[dt.date] | None) -> None:
    """Sum the daily rows of these days (all days: None) again from the facts."""
    if days is not None and not days:
        return
    conn.execute(analysis_daily.delete() if days is None else analysis_daily.delete().where(analysis_daily.c.day.in_(days)))
    names = ["day", "unit_id", "category", "district", *ANALYSIS_COUNTS, "handling_hours"]
    conn.execute(analysis_daily.insert().from_select(names, _daily_select(days)))
    _resum_hours(conn, None if days is None else sorted({_monday(d) for d in days}))


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _resum_hours(conn: Connection, weeks: Sequence[dt.date] | None) -> None:
    """The hours buckets of these weeks (all: None) again from the facts (counted in Python: the
    week of a day is not portable SQL)."""
    f, h = ticket_facts.c, analysis_hours.c
    query = (sa.select(f.day, f.unit_id, f.hours_bucket, sa.func.count())
             .where(f.hours_bucket.is_not(None), f.unit_id != NO_UNIT).group_by(f.day, f.unit_id, f.hours_bucket))
    if weeks is None:
        conn.execute(analysis_hours.delete())
    else:
        conn.execute(analysis_hours.delete().where(h.week.in_(weeks)))
        query = query.where(sa.or_(*[sa.and_(f.day >= w, f.day < w + dt.timedelta(days=7)) for w in weeks]))
    counts: dict[tuple[dt.date, str, int], int] = defaultdict(int)
    for day, unit, bucket, n in conn.execute(query):
        counts[(_monday(day), unit, bucket)] += n
    if counts:
        conn.execute(analysis_hours.insert(), [{"week": w, "unit_id": u, "bucket": b, "n": n}
                                               for (w, u, b), n in counts.items()])


def write_facts(conn: Connection, rows: Mapping[int, list[TicketFacts]]) -> None:
    if not rows:
        return
    conn.execute(ticket_facts.delete().where(ticket_facts.c.ticket_id.in_(list(rows))))
    values = [f.row(i) for facts in rows.values() for i, f in enumerate(facts)]
    conn.execute(ticket_facts.insert(), values)


def _watermark(conn: Connection) -> int:
    return conn.execute(sa.select(analysis_state.c.value).where(analysis_state.c.name == WATERMARK)).scalar() or 0


def set_watermark(conn: Connection, value: int) -> None:
    stmt = upsert(conn, analysis_state).values(name=WATERMARK, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"value": value}))


REFRESH_LAG = 200
ROUND_UNTIL, ROUND_HOLDER = "round_until", "round_holder"


def refresh_step(conn: Connection, rule: FactsRule, batch: int = REFRESH_BATCH) -> int:
    """Fold the next `batch` events into the facts; how many events it read (0: up to date)."""
    mark = _watermark(conn)
    rows = conn.execute(sa.select(ticket_events.c.id, ticket_events.c.ticket_id).where(ticket_events.c.id > mark)
                        .order_by(ticket_events.c.id).limit(batch)).all()
    if not rows:
        return 0
    # Event ids are handed out when a transaction inserts, not when it commits: an event committed after a
    # higher id was read would be skipped for good. The tickets of the last LAG ids before the mark are
    # derived again with each new batch (deriving is idempotent), so a late commit is folded in then.
    late = conn.execute(sa.select(ticket_events.c.ticket_id).where(
        ticket_events.c.id > mark - REFRESH_LAG, ticket_events.c.id <= mark)).scalars().all()
    ids = sorted({r.ticket_id for r in rows} | set(late))
    derived: dict[int, list[TicketFacts]] = {}
    events: dict[int, list[Event]] = defaultdict(list)
    for chunk in range(0, len(ids), 1000):
        part = ids[chunk:chunk + 1000]
        for e in conn.execute(sa.select(ticket_events.c.ticket_id, ticket_events.c.at, ticket_events.c.kind,
                                        ticket_events.c.data).where(ticket_events.c.ticket_id.in_(part))
                              .order_by(ticket_events.c.id)).all():
            events[e.ticket_id].append(Event(e.at, e.kind, e.data))
        for t in conn.execute(sa.select(tickets.c.id, tickets.c.status, tickets.c.channel, tickets.c.category,
                                        tickets.c.district, tickets.c.created_at).where(tickets.c.id.in_(part))).all():
            derived[t.id] = rule.derive(t, events[t.id])
    old_days = set(conn.execute(sa.select(ticket_facts.c.day).where(ticket_facts.c.ticket_id.in_(ids))
                                .distinct()).scalars())
    write_facts(conn, derived)
    days = sorted(old_days | {f.day for facts in derived.values() for f in facts})
    resum_days(conn, days)
    set_watermark(conn, rows[-1].id)
    return len(rows)


def _period(query: sa.Select[Any], col: Any, start: dt.date, end: dt.date) -> sa.Select[Any]:
    return query.where(col >= start, col < end)


class AnalysisStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def refresh(self, rule: FactsRule, max_batches: int = 1000) -> int:
        """Bring the facts up to date (each batch its own transaction); events folded in."""
        total = 0
        for _ in range(max_batches):
            n = await self._db.run(refresh_step, rule)
            total += n
            if n == 0:
                break
        return total

    async def unit_figures(self, start: dt.date, end: dt.date, today: dt.date,
                           with_median: bool = True) -> list[UnitFigures]:
        """Per unit, the tickets received from `start` to before `end`."""
        d = analysis_daily.c

        def work(conn: Connection) -> list[UnitFigures]:
            sums = conn.execute(_period(sa.select(d.unit_id, *[sa.func.sum(getattr(d, c)).label(c)
                                                               for c in ANALYSIS_COUNTS])
                                        .where(d.unit_id != NO_UNIT).group_by(d.unit_id), d.day, start, end)).all()
            f = ticket_facts.c
            overdue = dict(conn.execute(_period(sa.select(f.unit_id, sa.func.count())
                                                .where(f.open.is_(True), f.due_date < today)
                                                .group_by(f.unit_id), f.day, start, end)).all())
            medians = _medians(conn, start, end) if with_median else {}
            return [UnitFigures(r.unit_id, {**{c: int(getattr(r, c) or 0) for c in ANALYSIS_COUNTS},
                                            "overdue_open": int(overdue.get(r.unit_id, 0))},
                                medians.get(r.unit_id)) for r in sums]
        return await self._db.run(work)

    async def unit_figures_by_period(self, bounds: Sequence[tuple[str, dt.date, dt.date]],
                                     today: dt.date) -> dict[str, list[UnitFigures]]:
        """The same per named period (trends); no medians."""
        out = {}
        for name, start, end in bounds:
            out[name] = await self.unit_figures(start, end, today, with_median=False)
        return out

    async def volume(self, start: dt.date, end: dt.date, by: str) -> list[tuple[dt.date, str, int]]:
        """Tickets received per day and category (`by` = "category") or district."""
        d = analysis_daily.c
        col = d.category if by == "category" else d.district

        def work(conn: Connection) -> list[tuple[dt.date, str, int]]:
            rows = conn.execute(_period(sa.select(d.day, col, sa.func.sum(d.tickets)).group_by(d.day, col)
                                        .order_by(d.day), d.day, start, end)).all()
            return [(r[0], r[1], int(r[2])) for r in rows]
        return await self._db.run(work)

    async def matrix(self, start: dt.date, end: dt.date) -> list[tuple[str, str, int]]:
        """Tickets per district and category in the period."""
        d = analysis_daily.c

        def work(conn: Connection) -> list[tuple[str, str, int]]:
            return [(r[0], r[1], int(r[2])) for r in conn.execute(_period(
                sa.select(d.district, d.category, sa.func.sum(d.tickets)).group_by(d.district, d.category),
                d.day, start, end)).all()]
        return await self._db.run(work)

    async def daily_series(self, start: dt.date, end: dt.date) -> dict[tuple[str, str, str], dict[dt.date, int]]:
        """Tickets per day for each (dimension, district, value): what spikes are looked for in."""
        d = analysis_daily.c

        def work(conn: Connection) -> dict[tuple[str, str, str], dict[dt.date, int]]:
            out: dict[tuple[str, str, str], dict[dt.date, int]] = defaultdict(dict)
            for dim, col, count in (("category", d.category, d.tickets), ("unit", d.unit_id, d.received)):
                for day, district, value, n in conn.execute(_period(
                        sa.select(d.day, d.district, col, sa.func.sum(count)).where(d.district != "", col != "")
                        .group_by(d.day, d.district, col), d.day, start, end)).all():
                    if n:
                        out[(dim, district, value)][day] = int(n)
            return dict(out)
        return await self._db.run(work)

    async def first_day(self) -> dt.date | None:
        return await self._db.run(lambda conn: conn.execute(sa.select(sa.func.min(analysis_daily.c.day))).scalar())

    async def unit_shares(self, kind: str, today: dt.date, recent_days: int = 14, earlier_days: int = 90
                          ) -> dict[str, tuple[int, int, int, int]]:
        """Per unit (recent hits, recent of, earlier hits, earlier of): dissatisfied ratings among the
        ratings given, or overdue tickets among those due, in the recent days and the days before."""
        f = ticket_facts.c
        recent_start = today - dt.timedelta(days=recent_days - 1)
        earlier_start = recent_start - dt.timedelta(days=earlier_days)
        if kind == "dissatisfaction":
            col, hit = f.rated_day, f.rating == "dissatisfied"
            recent_end = today + dt.timedelta(days=1)
        else:
            col, hit = f.due_date, f.on_time.is_(False)  # answered late or not answered by the due date
            recent_end = today  # due before today: overdue can be told

        def work(conn: Connection) -> dict[str, tuple[int, int, int, int]]:
            out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
            for i, (s, e) in enumerate(((recent_start, recent_end), (earlier_start, recent_start))):
                for unit, hits, n in conn.execute(
                        sa.select(f.unit_id, sa.func.sum(sa.case((hit, 1), else_=0)), sa.func.count())
                        .where(col >= s, col < e, f.unit_id != NO_UNIT, f.returned.is_(False))
                        .group_by(f.unit_id)).all():
                    out[unit][2 * i], out[unit][2 * i + 1] = int(hits or 0), int(n)
            return {u: (v[0], v[1], v[2], v[3]) for u, v in out.items()}
        return await self._db.run(work)

    async def docs(self, start: dt.date, end: dt.date, limit: int = 20000) -> list[Doc]:
        """Tickets received in the period (the latest `limit`) with their texts, for hot topics."""
        f = ticket_facts.c

        def work(conn: Connection) -> list[Doc]:
            rows = conn.execute(sa.select(tickets.c.id, tickets.c.number, f.day, tickets.c.district,
                                          tickets.c.category, tickets.c.channel, tickets.c.description)
                                .join(ticket_facts, sa.and_(ticket_facts.c.ticket_id == tickets.c.id,
                                                            f.first.is_(True)))
                                .where(f.day >= start, f.day < end).order_by(f.day.desc()).limit(limit)).all()
            return [Doc(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
        return await self._db.run(work)

    async def link_groups(self, since: dt.datetime) -> list[tuple[str, str | None, str | None, list[tuple[str, dt.date]]]]:
        """Same-problem groups (并单) with a link made since `since`: tickets joined by `linked` events."""
        local_day = self._clock.local_day

        def work(conn: Connection) -> list[tuple[str, str | None, str | None, list[tuple[str, dt.date]]]]:
            links = conn.execute(sa.select(ticket_events.c.ticket_id, ticket_events.c.data)
                                 .where(ticket_events.c.kind == "linked", ticket_events.c.at >= since)).all()
            if not links:
                return []
            numbers = {r.data.get("ticket") for r in links if isinstance(r.data, dict)}
            ids = {r.ticket_id for r in links}
            rows = conn.execute(sa.select(tickets.c.id, tickets.c.number, tickets.c.district, tickets.c.category,
                                          tickets.c.created_at)
                                .where(sa.or_(tickets.c.id.in_(ids), tickets.c.number.in_(numbers)))).all()
            by_number = {r.number: r for r in rows}
            by_id = {r.id: r for r in rows}
            parent: dict[str, str] = {}

            def find(x: str) -> str:
                while parent.setdefault(x, x) != x:
                    parent[x] = parent[parent[x]]
                    x = parent[x]
                return x
            for r in links:
                other = r.data.get("ticket") if isinstance(r.data, dict) else None
                if r.ticket_id in by_id and other in by_number:
                    a, b = find(by_id[r.ticket_id].number), find(other)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
            groups: dict[str, list[Any]] = defaultdict(list)
            for number in parent:
                groups[find(number)].append(by_number[number])
            return [(root, ms[0].district, ms[0].category,
                     sorted((m.number, local_day(m.created_at)) for m in ms)) for root, ms in groups.items()]
        return await self._db.run(work)

    # --- warnings ---------------------------------------------------------------------------------

    async def open_warning_keys(self) -> set[str]:
        return set(await self._db.run(lambda conn: conn.execute(
            sa.select(risk_warnings.c.key).where(risk_warnings.c.closed_at.is_(None))).scalars().all()))

    async def take_round(self, holder: int, seconds: float) -> bool:
        """Whether this process may run the analysis round now: one replica at a time holds it for `seconds`
        (renewed each round), another takes over when it lapses. Warnings, the daily summary and the facts
        are then written by one process, never raced by two."""
        now_s = int(self._clock.now().timestamp())

        def work(conn: Connection) -> bool:
            for name in (ROUND_UNTIL, ROUND_HOLDER):
                conn.execute(upsert(conn, analysis_state).values(name=name, value=0).on_conflict_do_nothing(
                    index_elements=["name"]))
            rows = dict(conn.execute(sa.select(analysis_state.c.name, analysis_state.c.value).where(
                analysis_state.c.name.in_((ROUND_UNTIL, ROUND_HOLDER))).with_for_update()).all())
            if rows[ROUND_HOLDER] != holder and rows[ROUND_UNTIL] >= now_s:
                return False
            for name, value in ((ROUND_UNTIL, now_s + int(seconds)), (ROUND_HOLDER, holder)):
                conn.execute(analysis_state.update().where(analysis_state.c.name == name).values(value=value))
            return True
        return await self._db.run(work)

    async def add_warnings(self, found: Sequence[Warning]) -> list[dict[str, Any]]:
        """Store new warnings (their keys not open); the stored rows."""
        now = self._clock.now()

        def work(conn: Connection) -> list[dict[str, Any]]:
            open_keys = set(conn.execute(sa.select(risk_warnings.c.key).where(
                risk_warnings.c.closed_at.is_(None), risk_warnings.c.key.in_([w.key for w in found]))).scalars())
            stored = []
            for w in found:
                if w.key in open_keys:
                    continue
                open_keys.add(w.key)
                wid = conn.execute(risk_warnings.insert().returning(risk_warnings.c.id), {
                    "kind": w.kind, "key": w.key, "day": w.day, "title": w.title, "district": w.district,
                    "category": w.category, "unit_id": w.unit_id, "p_value": w.p_value,
                    "evidence": w.evidence, "created_at": now}).scalar_one()
                stored.append({"id": wid, **w.as_json(), "created_at": now.isoformat(), "closed_at": None})
            return stored
        return await self._db.run(work) if found else []

    async def warnings(self, since: dt.date | None = None, open_only: bool = False, limit: int = 200
                       ) -> list[dict[str, Any]]:
        def work(conn: Connection) -> list[dict[str, Any]]:
            q = sa.select(risk_warnings).order_by(risk_warnings.c.id.desc()).limit(limit)
            if since is not None:
                q = q.where(risk_warnings.c.day >= since)
            if open_only:
                q = q.where(risk_warnings.c.closed_at.is_(None))
            return [_warning_json(r) for r in conn.execute(q).all()]
        return await self._db.run(work)

    async def close_warning(self, warning_id: int, actor: str) -> bool:
        now = self._clock.now()
        return bool(await self._db.run(lambda conn: conn.execute(
            risk_warnings.update().where(risk_warnings.c.id == warning_id, risk_warnings.c.closed_at.is_(None))
            .values(closed_at=now, closed_by=actor)).rowcount))

    # --- snapshots --------------------------------------------------------------------------------

    async def put_snapshot(self, name: str, data: Any) -> None:
        now = self._clock.now()

        def work(conn: Connection) -> None:
            stmt = upsert(conn, analysis_snapshots).values(name=name, computed_at=now, data=data)
            conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"computed_at": now, "data": data}))
        await self._db.run(work)

    async def snapshot(self, name: str) -> tuple[dt.datetime, Any] | None:
        row = await self._db.run(lambda conn: conn.execute(
            sa.select(analysis_snapshots).where(analysis_snapshots.c.name == name)).one_or_none())
        return None if row is None else (row.computed_at, row.data)


def _warning_json(r: Any) -> dict[str, Any]:
    from routing.analysis.warnings import KIND_ZH
    return {"id": r.id, "kind": r.kind, "kind_zh": KIND_ZH.get(r.kind, r.kind), "key": r.key,
            "day": r.day.isoformat(), "title": r.title, "district": r.district, "category": r.category,
            "unit": r.unit_id, "p_value": r.p_value, "evidence": r.evidence, "created_at": r.created_at.isoformat(),
            "closed_at": r.closed_at.isoformat() if r.closed_at else None, "closed_by": r.closed_by}


EXACT_MEDIAN_DAYS = 92


def _medians(conn: Connection, start: dt.date, end: dt.date) -> dict[str, float]:
    """Median hours from dispatch to the first result per unit: exact over the facts for periods up to
    EXACT_MEDIAN_DAYS (PostgreSQL computes it; SQLite, here); beyond, from the hours buckets of the weeks
    the period touches (buckets about 10 % wide: sorting a year of a million tickets took 2.5 s,
    docs/benchmarks.md)."""
    if (end - start).days > EXACT_MEDIAN_DAYS:
        return _bucket_medians(conn, start, end)
    f = ticket_facts.c
    base = sa.select(f.unit_id).where(f.day >= start, f.day < end, f.handling_hours.is_not(None),
                                      f.unit_id != NO_UNIT).group_by(f.unit_id)
    if conn.dialect.name == "postgresql":
        med = sa.func.percentile_cont(0.5).within_group(f.handling_hours)
        return {u: round(float(m), 1) for u, m in conn.execute(base.add_columns(med)).all()}
    values: dict[str, list[float]] = defaultdict(list)
    for unit, hours in conn.execute(sa.select(f.unit_id, f.handling_hours).where(
            f.day >= start, f.day < end, f.handling_hours.is_not(None), f.unit_id != NO_UNIT)).all():
        values[unit].append(hours)
    return {u: round(statistics.median(v), 1) for u, v in values.items()}


def _bucket_medians(conn: Connection, start: dt.date, end: dt.date) -> dict[str, float]:
    h = analysis_hours.c
    counts: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for unit, bucket, n in conn.execute(sa.select(h.unit_id, h.bucket, sa.func.sum(h.n)).where(
            h.week >= _monday(start), h.week < end).group_by(h.unit_id, h.bucket).order_by(h.unit_id, h.bucket)).all():
        counts[unit].append((int(bucket), int(n)))
    out = {}
    for unit, rows in counts.items():
        half, seen = sum(n for _, n in rows) / 2, 0
        for bucket, n in rows:
            seen += n
            if seen >= half:
                out[unit] = round(bucket_hours(bucket), 1)
                break
    return out
