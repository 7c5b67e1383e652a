"""Risk warnings (Art. 24): what a supervisor should look at today, each with its evidence.

- spike: a category (or a matter, the unit that handles it) in a district has many more tickets in the
  last days than its own baseline predicts. The baseline is the district's recent daily rate, scaled
  by how the same weeks moved last year when there is a last year (a seasonal factor, as in the
  Farrington method); the count is tested against a negative binomial with the dispersion seen in the
  baseline (scipy.stats), and warned about when its probability is below `alpha`.
- new_topic: a recent group of requests that resembles nothing of the earlier months
  (routing.analysis.topics.mark_new).
- group: many citizens on one problem: a same-problem group (并单, routing/links.py) that reached
  `min_group` tickets within `group_days`.
- dissatisfaction / overdue: a unit's share of dissatisfied ratings (or of overdue tickets) in the
  recent days is significantly above its own earlier share (exact binomial test, scipy.stats).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence


KINDS = ("spike", "new_topic", "group", "dissatisfaction", "overdue")
KIND_ZH = {"spike": "诉求激增", "new_topic": "新出现的问题", "group": "多人反映同一问题",
           "dissatisfaction": "不满意集中", "overdue": "超期集中"}


SEASON_PSEUDO = 5.0  # tickets added to both sides of the seasonal factor


@dataclass(frozen=True, slots=True)
class SpikeParams:
    window_days: int = 3       # the recent days tested
    baseline_days: int = 28    # the days before them that set the expected rate
    alpha: float = 1e-4        # probability under the baseline below which it is a warning
    min_count: int = 8         # fewer tickets than this are never a spike


@dataclass(frozen=True, slots=True)
class Warning:
    kind: str
    key: str                   # what it is about, e.g. "spike:泰山区:water"; one open warning per key
    day: dt.date
    title: str                 # Simplified Chinese, for supervisors
    district: str | None = None
    category: str | None = None
    unit_id: str | None = None
    p_value: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "kind_zh": KIND_ZH[self.kind], "key": self.key, "day": self.day.isoformat(),
                "title": self.title, "district": self.district, "category": self.category, "unit": self.unit_id,
                "p_value": self.p_value, "evidence": self.evidence}


def _sum(series: Mapping[dt.date, int], start: dt.date, days: int) -> int:
    return sum(series.get(start + dt.timedelta(days=i), 0) for i in range(days))


def _days(series: Mapping[dt.date, int], start: dt.date, days: int) -> list[int]:
    return [series.get(start + dt.timedelta(days=i), 0) for i in range(days)]


def spike_test(series: Mapping[dt.date, int], today: dt.date, p: SpikeParams,
               history_start: dt.date | None = None) -> dict[str, Any] | None:
    """The evidence when the last `window_days` up to `today` are a spike against the baseline, else None.
    `history_start`: the first day data exists (the baseline must lie after it)."""
    from scipy import stats  # imported when used: ~1 s at every start otherwise

    win_start = today - dt.timedelta(days=p.window_days - 1)
    base_start = win_start - dt.timedelta(days=p.baseline_days)
    if history_start is not None and base_start < history_start:
        return None
    observed = _sum(series, win_start, p.window_days)
    if observed < p.min_count:
        return None
    base = _days(series, base_start, p.baseline_days)
    rate = (sum(base) + 0.5) / p.baseline_days
    factor = 1.0
    # Last year's same days against last year's baseline. Pseudo-counts shrink the factor of small counts
    # towards 1: a quiet window of three tickets last year must not make any normal day a spike now.
    ly_win, ly_base = win_start - dt.timedelta(days=364), base_start - dt.timedelta(days=364)
    if history_start is not None and ly_base >= history_start:
        ly_w = _sum(series, ly_win, p.window_days)
        ly_b = _sum(series, ly_base, p.baseline_days) / p.baseline_days * p.window_days
        factor = (ly_w + SEASON_PSEUDO) / (ly_b + SEASON_PSEUDO)
    expected = rate * p.window_days * factor
    mean = sum(base) / p.baseline_days
    var = sum((c - mean) ** 2 for c in base) / max(p.baseline_days - 1, 1)
    dispersion = max(var / mean, 1.0) if mean > 0 else 1.0
    if dispersion > 1.0:
        n = expected / (dispersion - 1.0)
        prob = float(stats.nbinom.sf(observed - 1, n, 1.0 / dispersion))
    else:
        prob = float(stats.poisson.sf(observed - 1, expected))
    if prob >= p.alpha:
        return None
    return {"observed": observed, "expected": round(expected, 2), "p_value": prob, "window_days": p.window_days,
            "baseline_per_day": round(rate, 2), "seasonal_factor": round(factor, 2),
            "dispersion": round(dispersion, 2), "daily": _days(series, win_start, p.window_days)}


def spikes(daily: Mapping[tuple[str, str, str], Mapping[dt.date, int]], today: dt.date, p: SpikeParams,
           history_start: dt.date | None, names: Mapping[str, str] | None = None) -> list[Warning]:
    """`daily`: counts per (dimension, district, value) — dimension "category" or "unit" — per day."""
    names = names or {}
    found = []
    for (dim, district, value), series in daily.items():
        ev = spike_test(series, today, p, history_start)
        if ev is None:
            continue
        label = names.get(value, value)
        found.append(Warning("spike", f"spike:{dim}:{district}:{value}", today,
                             f"{district}「{label}」诉求{p.window_days}天内{ev['observed']}件，"
                             f"按以往预计约{ev['expected']:.0f}件", district,
                             value if dim == "category" else None, value if dim == "unit" else None,
                             ev["p_value"], ev))
    return found


def rate_rise(recent_hits: int, recent_n: int, base_hits: int, base_n: int, alpha: float,
              min_hits: int = 5) -> dict[str, Any] | None:
    """A share significantly above the earlier one (one-sided exact binomial test), else None."""
    from scipy import stats  # imported when used: ~1 s at every start otherwise

    if recent_n == 0 or recent_hits < min_hits:
        return None
    base = (base_hits + 1) / (base_n + 2)  # Laplace: a unit with no history is not a certainty
    if recent_hits / recent_n <= base:
        return None
    prob = float(stats.binomtest(recent_hits, recent_n, base, alternative="greater").pvalue)
    if prob >= alpha:
        return None
    return {"recent": recent_hits, "recent_of": recent_n, "recent_share": round(recent_hits / recent_n, 3),
            "earlier": base_hits, "earlier_of": base_n, "earlier_share": round(base, 3), "p_value": prob}


def unit_rises(kind: str, per_unit: Mapping[str, tuple[int, int, int, int]], today: dt.date, alpha: float,
               names: Mapping[str, str] | None = None, min_hits: int = 5) -> list[Warning]:
    """`per_unit`: (recent hits, recent of, earlier hits, earlier of) for dissatisfaction or overdue."""
    names = names or {}
    what = "不满意评价" if kind == "dissatisfaction" else "超期工单"
    found = []
    for unit, (rh, rn, bh, bn) in per_unit.items():
        ev = rate_rise(rh, rn, bh, bn, alpha, min_hits)
        if ev is not None:
            found.append(Warning(kind, f"{kind}:{unit}", today,
                                 f"{names.get(unit, unit)}近期{what}占{ev['recent_share']:.0%}"
                                 f"（{rh}/{rn}），以往约{ev['earlier_share']:.0%}",
                                 unit_id=unit, p_value=ev["p_value"], evidence=ev))
    return found


def growing_groups(groups: Iterable[tuple[str, str | None, str | None, Sequence[tuple[str, dt.date]]]],
                   today: dt.date, min_group: int, group_days: int) -> list[Warning]:
    """`groups`: (root ticket number, district, category, [(number, day)]) of linked tickets."""
    since = today - dt.timedelta(days=group_days - 1)
    found = []
    for root, district, category, members in groups:
        recent = [(n, d) for n, d in members if since <= d <= today]
        if len(recent) >= min_group:
            found.append(Warning("group", f"group:{root}", today,
                                 f"{district or ''}{len(recent)}位群众{group_days}天内反映同一问题（{category or '未分类'}）",
                                 district, category, evidence={"tickets": [n for n, _ in recent][:50],
                                                                "count": len(recent), "root": root}))
    return found


def topic_warnings(topics: Iterable[Mapping[str, Any]], today: dt.date) -> list[Warning]:
    """Warnings for the topics marked new (`routing.analysis.topics.Topic.as_json()`)."""
    found = []
    for t in topics:
        if not t.get("new"):
            continue
        label = str(t["label"]).split()
        cats = t.get("categories") or {}
        found.append(Warning("new_topic", f"new_topic:{t['district']}:{'+'.join(sorted(label[:2]))}", today,
                             f"{t['district'] or ''}出现新问题「{' '.join(label)}」，近7天{t['recent']}件",
                             t["district"], max(cats, key=cats.get) if cats else None,
                             evidence={"label": label, "recent": t["recent"], "size": t["size"],
                                       "tickets": list(t.get("tickets") or [])[:50]}))
    return found


def fresh(found: Iterable[Warning], open_keys: Iterable[str]) -> list[Warning]:
    """Only warnings whose key is not already open (a supervisor is told once, not every day)."""
    seen = set(open_keys)
    out = []
    for w in found:
        if w.key not in seen:
            seen.add(w.key)
            out.append(w)
    return out
