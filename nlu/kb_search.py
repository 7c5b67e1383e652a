"""Knowledge-base search: BM25 over jieba words and character bigrams.

Each standard question and each alternate is its own short document, and the
answer a longer, lighter one; an entry scores as its best question plus a
share of its answer. Words carry meaning, bigrams survive typos and unusual
segmentation ("社报卡"). Colloquial words are mapped to the knowledge base's
wording first (咋 -> 怎么, 找不着 -> 丢了).

`confidence` is the harmonic mean of how much of the query's information
(IDF-weighted terms) the best matching question covers and how much of that
question the query asks: 0..1, comparable across queries, so one threshold
separates "answer this" from "no good match".
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

from nlu.segment import Segmenter
from nlu.text import normalize

SYNONYMS: tuple[tuple[str, str], ...] = (
    ("咋整", "怎么办"), ("咋办", "怎么办"), ("咋弄", "怎么办"), ("咋样", "怎么样"), ("咋", "怎么"), ("啥", "什么"),
    ("怎样", "怎么"), ("如何", "怎么"), ("找不着", "丢了"), ("找不到", "丢了"), ("不见了", "丢了"), ("丢失", "丢了"),
    ("弄丢", "丢了"), ("被偷", "丢了"), ("补领", "补办"), ("重新办", "补办"), ("过期", "到期"), ("去哪儿", "去哪里"),
    ("在哪儿", "在哪里"), ("哪儿", "哪里"), ("社报卡", "社保卡"), ("社会保障卡", "社保卡"), ("医疗保险", "医保"),
    ("驾照", "驾驶证"), ("身份证件", "身份证"), ("户籍", "户口"), ("落户", "户口迁入"), ("小孩", "孩子"),
    ("娃", "孩子"), ("宝宝", "孩子"), ("老公", "配偶"), ("老婆", "配偶"), ("媳妇", "配偶"), ("工钱", "工资"),
    ("薪水", "工资"), ("欠薪", "拖欠工资"), ("暖气片", "暖气"), ("供热", "供暖"), ("煤气", "燃气"), ("天然气", "燃气"),
    ("电动车", "电动自行车"), ("电瓶车", "电动自行车"), ("上牌照", "上牌"), ("挂牌", "上牌"),
)
_STOP = frozenset("的 了 吗 呢 啊 吧 呀 么 嘛 哦 嗯 我 你 他 她 我们 请问 一下 想 问问 问 下 是 在 有 和 与 及 或 就 都 也 还 要 能 可以 会 得 着 过 给 把 被 这 那 这个 那个 个 些 去 来 说 对 让 从 到 上 中".split())
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+|[a-z0-9]+")


# Chosen on tests/data/kb_eval.jsonl (see docs/benchmarks.md): below it, say there is no good match.
DEFAULT_THRESHOLD = 0.35


class KbLike(Protocol):
    key: str
    question: str
    answer: str
    alternates: Sequence[str]


@dataclass(frozen=True, slots=True)
class SearchHit:
    key: str
    score: float        # BM25 ranking score
    confidence: float   # share of the query's information the best question covers, 0..1
    matched_question: str


def canonical(text: str) -> str:
    text = normalize(text)
    for src, dst in SYNONYMS:
        text = text.replace(src, dst)
    return text


class Analyzer:
    """Text to index terms: jieba words (no stop words) and CJK character bigrams."""

    def __init__(self, segmenter: Segmenter) -> None:
        self._segmenter = segmenter

    def terms(self, text: str) -> list[str]:
        text = canonical(text)
        words = [w for w in self._segmenter.cut(text) if w not in _STOP and _CJK_RUN.fullmatch(w)]
        bigrams = [run[i:i + 2] for run in _CJK_RUN.findall(text) for i in range(len(run) - 1)]
        return words + ["#" + b for b in bigrams]


class _Bm25:
    """BM25 with each posting's contribution computed at build time: a search only adds numbers."""

    # Terms in more than this share of the documents say almost nothing (怎么, 办理): skipped at search.
    MAX_DF_SHARE = 0.3

    def __init__(self, docs: list[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        tfs = [Counter(d) for d in docs]
        lengths = [len(d) for d in docs]
        avg = sum(lengths) / max(len(docs), 1)
        df: Counter[str] = Counter()
        for d in tfs:
            df.update(d.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self._common = {t for t, c in df.items() if n >= 20 and c > self.MAX_DF_SHARE * n}
        self.impacts: dict[str, list[tuple[int, float]]] = {}
        for i, d in enumerate(tfs):
            for t, f in d.items():
                norm = f * (k1 + 1) / (f + k1 * (1 - b + b * lengths[i] / avg))
                self.impacts.setdefault(t, []).append((i, self.idf[t] * norm))

    def scores(self, query: list[str]) -> dict[int, float]:
        out: dict[int, float] = {}
        get = out.get
        for t in set(query):
            if t in self._common:
                continue
            for i, w in self.impacts.get(t, ()):
                out[i] = get(i, 0.0) + w
        return out


class KbIndex:
    """An immutable index over the servable entries; rebuilt (cheaply) when the KB changes."""

    ANSWER_WEIGHT = 0.3

    def __init__(self, entries: Iterable[KbLike], analyzer: Analyzer) -> None:
        self._analyzer = analyzer
        self.entries = {e.key: e for e in entries}
        q_docs, self._q_owner, self._q_text = [], [], []
        for e in self.entries.values():
            for q in (e.question, *e.alternates):
                q_docs.append(analyzer.terms(q))
                self._q_owner.append(e.key)
                self._q_text.append(q)
        self._q_terms = [set(d) for d in q_docs]
        self._questions = _Bm25(q_docs)
        self._q_info = [sum(self._questions.idf[t] for t in d) for d in self._q_terms]
        self._max_idf = max(self._questions.idf.values(), default=1.0)
        self._a_owner = list(self.entries)
        self._answers = _Bm25([analyzer.terms(self.entries[k].answer) for k in self._a_owner])

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        terms = self._analyzer.terms(query)
        if not terms or not self.entries:
            return []
        best: dict[str, tuple[float, int]] = {}
        for i, s in self._questions.scores(terms).items():
            key = self._q_owner[i]
            if key not in best or s > best[key][0]:
                best[key] = (s, i)
        totals = {key: s for key, (s, _) in best.items()}
        for i, s in self._answers.scores(terms).items():
            key = self._a_owner[i]
            totals[key] = totals.get(key, 0.0) + self.ANSWER_WEIGHT * s
        top = heapq.nsmallest(k, totals.items(), key=lambda kv: (-kv[1], kv[0]))
        unique = set(terms)
        idf = self._questions.idf
        # A term no question has is as informative as the rarest one: the query asks something we lack.
        query_info = sum(idf.get(t, self._max_idf) for t in unique)
        hits = []
        for key, total in top:
            if key in best:
                q_index = best[key][1]
                # Both ways: how much of the query the question explains, and how much of the question
                # the query asks (a paraphrase with extra words still asks all of the question).
                covered = sum(idf[t] for t in unique & self._q_terms[q_index])
                of_query = covered / query_info if query_info else 0.0
                of_question = covered / self._q_info[q_index] if self._q_info[q_index] else 0.0
                confidence = 2 * of_query * of_question / (of_query + of_question) if covered else 0.0
                matched = self._q_text[q_index]
            else:
                confidence, matched = 0.0, self.entries[key].question
            hits.append(SearchHit(key, total, min(confidence, 1.0), matched))
        return hits
