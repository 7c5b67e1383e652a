"""Hot topics (Art. 23): requests about the same problem in the same place, across channels and days.

Texts are cut into words (jieba, the hotline's own dictionary), weighed with TF-IDF and grouped by
agglomerative clustering over cosine distances (scikit-learn), within one district at a time: "the
same place" is part of "the same problem". A group is named by its heaviest words. How fast a group
grows compares its tickets of the recent days with its daily rate before.

New topics (Art. 25(3), new kinds of problems): a recent group none of whose words-profile resembles
any request of the earlier months in its district.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

_WORD = re.compile(r"^[\u4e00-\u9fff]{2,}$|^[a-z]{3,}$")
STOP = frozenset(
    "你好 您好 请问 我们 你们 他们 自己 这个 那个 什么 怎么 为什么 现在 已经 还是 没有 不是 可以 问题 情况 反映 希望 "
    "相关 部门 领导 政府 解决 处理 一下 谢谢 麻烦 知道 这样 这些 一直 一个 时候 要求 能否 是否 有关 由于 目前 "
    "进行 工作 小区 我家 家里 附近 今天 昨天 最近 几天 每天 非常 严重 影响 生活 居民 群众 市民 请求 尽快".split())

Cut = Callable[[str], list[str]]


@dataclass(frozen=True, slots=True)
class Doc:
    ticket_id: int
    number: str
    day: dt.date
    district: str | None
    category: str | None
    channel: str
    text: str


@dataclass(slots=True)
class Topic:
    district: str | None
    label: list[str]                 # the group's heaviest words
    docs: list[Doc] = field(default_factory=list)
    recent: int = 0                  # tickets in the recent days
    before_rate: float = 0.0         # tickets per day before them
    growth: float = 0.0              # recent rate over the earlier rate, +1 smoothed
    new: bool = False

    @property
    def size(self) -> int:
        return len(self.docs)

    def as_json(self, max_tickets: int = 20) -> dict[str, Any]:
        cats = Counter(d.category for d in self.docs if d.category)
        chans = Counter(d.channel for d in self.docs)
        latest = sorted(self.docs, key=lambda d: (d.day, d.ticket_id), reverse=True)[:max_tickets]
        return {"district": self.district, "label": " ".join(self.label), "size": self.size,
                "recent": self.recent, "before_rate": round(self.before_rate, 2), "growth": round(self.growth, 2),
                "new": self.new, "categories": dict(cats.most_common()), "channels": dict(chans.most_common()),
                "first_day": min(d.day for d in self.docs).isoformat(),
                "last_day": max(d.day for d in self.docs).isoformat(),
                "tickets": [d.number for d in latest]}


_RUN = re.compile(r"[\u4e00-\u9fff]+")


def words(cut: Cut, text: str) -> list[str]:
    """Words (jieba) and the character bigrams of the words that are not stop words: "自来水停了" and
    "停水" share nothing as words, but the same problem written two ways shares bigrams."""
    kept = [w for w in (t.lower() for t in cut(text)) if _WORD.match(w) and w not in STOP]
    grams = [run[i:i + 2] for w in kept for run in _RUN.findall(w) if len(run) > 2 for i in range(len(run) - 1)]
    return kept + grams


def _vectorizer(cut: Cut, cache: dict[str, list[str]] | None = None) -> TfidfVectorizer:
    """TF-IDF over `words`; `cache` keeps each text's words across fits (cutting is the slow part)."""
    memo: dict[str, list[str]] = {} if cache is None else cache

    def tokens(text: str) -> list[str]:
        found = memo.get(text)
        if found is None:
            found = memo[text] = words(cut, text)
        return found
    # scikit-learn is imported where topics are found, not with the store: every `hotline` command and
    # every gateway start paid ~2 s for it.
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(tokenizer=tokens, lowercase=False, token_pattern=None, sublinear_tf=True)


def cluster(docs: Sequence[Doc], cut: Cut, distance: float,
            cache: dict[str, list[str]] | None = None) -> list[tuple[list[int], list[str]]]:
    """Groups of indexes into `docs` (largest first) with their label words."""
    if not docs:
        return []
    vec = _vectorizer(cut, cache)
    try:
        x = vec.fit_transform([d.text for d in docs])
    except ValueError:  # no words at all
        return []
    if len(docs) == 1:
        labels = np.zeros(1, dtype=int)
    else:
        sim = (x @ x.T).toarray()
        np.clip(sim, 0.0, 1.0, out=sim)
        dist = 1.0 - sim
        from sklearn.cluster import AgglomerativeClustering

        labels = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                         distance_threshold=distance).fit_predict(dist)
    terms = np.asarray(vec.get_feature_names_out())
    groups = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        weight = np.asarray(x[idx].sum(axis=0)).ravel()
        top: list[str] = []
        for i in np.argsort(-weight)[:12]:
            term = str(terms[i])
            if weight[i] > 0 and not any(term in t or t in term for t in top):  # "自来水", not also "来水"
                top.append(term)
            if len(top) == 3:
                break
        groups.append(([int(i) for i in idx], top))
    groups.sort(key=lambda g: -len(g[0]))
    return groups


def hot_topics(docs: Iterable[Doc], cut: Cut, today: dt.date, window_days: int = 28, recent_days: int = 7,
               distance: float = 0.8, min_size: int = 3, per_district: int = 2000) -> list[Topic]:
    """Groups of the `window_days` before and including `today`, per district, of at least `min_size`
    tickets; the latest `per_district` tickets of each district are grouped (the clustering is quadratic)."""
    start, recent_start = today - dt.timedelta(days=window_days - 1), today - dt.timedelta(days=recent_days - 1)
    by_district: dict[str | None, list[Doc]] = {}
    for d in docs:
        if start <= d.day <= today:
            by_district.setdefault(d.district, []).append(d)
    topics = []
    cache: dict[str, list[str]] = {}
    for district, ds in by_district.items():
        ds = sorted(ds, key=lambda d: (d.day, d.ticket_id))[-per_district:]
        for idx, label in cluster(ds, cut, distance, cache):
            if len(idx) < min_size:
                continue
            members = [ds[i] for i in idx]
            recent = sum(d.day >= recent_start for d in members)
            before_days = max((recent_start - start).days, 1)
            before_rate = (len(members) - recent) / before_days
            growth = ((recent + 1) / recent_days) / (before_rate + 1 / recent_days)
            topics.append(Topic(district, label, members, recent, before_rate, growth))
    topics.sort(key=lambda t: (-t.size, t.district or ""))
    return topics


def mark_new(topics: list[Topic], earlier: Iterable[Doc], cut: Cut, similar: float = 0.35,
             min_recent: int = 3, per_district: int = 3000) -> list[Topic]:
    """Mark recent groups (at least `min_recent` tickets in the recent days) whose tickets resemble no
    earlier request of their district (cosine of TF-IDF vectors below `similar`): a new problem.
    At most `per_district` earlier tickets of each district, evenly spread, are compared with; callers
    pass the months before and the same season last year (heating leaks in December are not new)."""
    by_district: dict[str | None, list[Doc]] = {}
    for d in earlier:
        by_district.setdefault(d.district, []).append(d)
    candidates: dict[str | None, list[Topic]] = {}
    for t in topics:
        if t.recent >= min_recent and by_district.get(t.district):  # no history is not novelty
            candidates.setdefault(t.district, []).append(t)
    cache: dict[str, list[str]] = {}
    for district, ts in candidates.items():
        old = sorted(by_district[district], key=lambda d: (d.day, d.ticket_id))
        old = old[::-(-len(old) // per_district)]  # an even sample over the whole earlier span
        vec = _vectorizer(cut, cache)
        try:
            x = vec.fit_transform([d.text for d in old] + [d.text for t in ts for d in t.docs])
        except ValueError:
            continue
        old_x, row = x[:len(old)], len(old)
        for t in ts:
            centre = np.asarray(x[row:row + t.size].mean(axis=0)).ravel()
            row += t.size
            norm = np.linalg.norm(centre)
            if norm > 0:
                t.new = float((old_x @ (centre / norm)).max()) < similar
    return [t for t in topics if t.new]
