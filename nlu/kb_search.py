"""Knowledge-base search: what the question is about, met in the entry's own words.

Citizens ask long, in context, with dialect and typos; an entry has a standard
question, a few alternates and an answer. Three signals are added per entry:

* the entry's questions as one field, weighted by how rare a term is *among
  entries* (not among question strings): a subject noun that all five of an
  entry's alternates repeat (社保卡) stays informative, while a verb phrase
  shared by many entries (怎么办, 换新的) says little;
* the single best-matching question (BM25), so a close paraphrase still wins;
* the answer, lighter, so a question in the answer's vocabulary (刷脸 → 人脸识别
  in an answer) is found.

Terms are jieba words, character bigrams (they survive odd segmentation) and
pinyin syllable bigrams (homophone typos and speech recognition: 社宝卡, 公基金,
身份正 sound like the real words). Colloquial words are mapped to the KB's
wording first (`nlu.kb_synonyms`).

Nothing is trained: an edit rebuilds the index (milliseconds per entry).
`confidence` is how much of the query's information (entry-level IDF) the entry's
questions cover, and how much of its best question the query asks: 0..1,
comparable across queries; `nlu.kb_decision` turns it and the margin to the
runner-up into answer / ask which / no match.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Protocol, Sequence

import numpy as np
from pypinyin import Style, lazy_pinyin

from nlu.kb_synonyms import Synonyms
from nlu.segment import Segmenter
from nlu.text import normalize, strip_fillers

_STOP = frozenset("的 了 吗 呢 啊 吧 呀 么 嘛 哦 嗯 我 你 他 她 我们 请问 一下 想 问问 问 下 是 在 有 和 与 及 或 就 都 也 还 要 能 "
                  "可以 会 得 着 过 给 把 被 这 那 这个 那个 个 些 去 来 说 对 让 从 到 上 中 喂 您好 你好 俺 俺们 咱 咱们 "
                  "现在 就是 就是说 然后 一个 什么 怎么 怎么办 哪里 为什么 多少 谢谢 麻烦 请 帮 帮忙 知道 需要 还是 "
                  "是不是 能不能 可不可以 有没有 之前 已经 时候 怎么样 今天 明天 昨天".split())
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+|[a-z0-9]+")
_CJK = re.compile(r"[\u4e00-\u9fff]")

# Kinds of term and what one match of each is worth: a word is evidence, a bigram or a sound less.
WORD, BIGRAM, SOUND = "", "#", "@"
KIND_WEIGHT = {WORD: 1.0, BIGRAM: 0.45, SOUND: 0.3}


class KbLike(Protocol):
    key: str
    question: str
    answer: str
    alternates: Sequence[str]
    tags: Sequence[str]


@dataclass(frozen=True, slots=True)
class SearchHit:
    key: str
    score: float        # ranking score (not comparable across queries)
    confidence: float   # how much of the query the entry's questions explain, 0..1
    matched_question: str
    of_query: float = 0.0     # share of the query's information the entry's questions cover
    of_question: float = 0.0  # share of the best question's information the query asks


class Analyzer:
    """Text to index terms: words (no stop words), CJK character bigrams and pinyin bigrams."""

    def __init__(self, segmenter: Segmenter, synonyms: Synonyms | None = None) -> None:
        self._segmenter = segmenter
        self.synonyms = synonyms or Synonyms.builtin()

    def canonical(self, text: str) -> str:
        return self.synonyms.rewrite(strip_fillers(normalize(text)))

    def words(self, text: str) -> list[str]:
        """Content words of canonical text."""
        return [w for w in self._segmenter.cut(text) if w not in _STOP and _CJK_RUN.fullmatch(w)]

    def is_word(self, text: str) -> bool:
        return self._segmenter.is_word(text)

    def terms(self, text: str) -> list[str]:
        return self.terms_of_canonical(self.canonical(text))

    def terms_of_canonical(self, text: str) -> list[str]:
        words = [w for w in self._segmenter.cut(text) if w not in _STOP and _CJK_RUN.fullmatch(w)]
        runs = _CJK_RUN.findall(text)
        bigrams = [BIGRAM + run[i:i + 2] for run in runs for i in range(len(run) - 1) if _CJK.match(run)]
        sounds: list[str] = []
        for run in runs:
            if _CJK.match(run) and len(run) > 1:
                syllables = [syllable(c) for c in run]
                sounds += [SOUND + syllables[i] + " " + syllables[i + 1] for i in range(len(run) - 1)
                           if syllables[i] and syllables[i + 1]]
        return words + bigrams + sounds


@lru_cache(maxsize=65536)
def syllable(char: str) -> str:
    """A character's toneless pinyin (its first reading). Per character, not per phrase: a heteronym
    reads the same way in the KB and in the query, which is all matching needs, and it is ~50x faster."""
    found = lazy_pinyin(char, style=Style.NORMAL, errors="ignore")
    return found[0] if found else ""


def sound(text: str) -> str | None:
    syllables = [syllable(c) for c in text]
    return " ".join(syllables) if all(syllables) else None


class SoundCorrector:
    """Homophone misspellings back to the knowledge base's words: 社宝卡 → 社保卡, 公基金 → 公积金.

    Only a stretch of the query that is not itself a word is replaced, and only by a word the
    entries use whose pronunciation it has; a real word that sounds like a KB word stays.
    """

    LENGTHS = (4, 3, 2)

    def __init__(self, vocabulary: Iterable[str], analyzer: "Analyzer") -> None:
        self._analyzer = analyzer
        by_sound: dict[str, set[str]] = defaultdict(set)
        for word in vocabulary:
            if len(word) in self.LENGTHS and _CJK_RUN.fullmatch(word) and _CJK.match(word):
                key = sound(word)
                if key:
                    by_sound[key].add(word)
        self._by_sound = {k: next(iter(v)) for k, v in by_sound.items() if len(v) == 1}
        self._vocabulary = set(vocabulary)

    def correct(self, text: str) -> str:
        out: list[str] = []
        i = 0
        while i < len(text):
            for n in self.LENGTHS:
                piece = text[i:i + n]
                if len(piece) < n or not _CJK.match(piece[0]) or piece in self._vocabulary:
                    continue
                word = self._by_sound.get(sound(piece) or "")
                if word is not None and not self._analyzer.is_word(piece):
                    out.append(word)
                    i += n
                    break
            else:
                out.append(text[i])
                i += 1
        return "".join(out)


def kind(term: str) -> str:
    return term[0] if term[:1] in (BIGRAM, SOUND) else WORD


def _idf(df: int, n: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


class KbIndex:
    """An immutable index over the servable entries; rebuilt (cheaply) when the KB changes."""

    FIELD_WEIGHT = 1.0      # the entry's questions as one field
    BEST_WEIGHT = 1.0       # the best single question
    ANSWER_WEIGHT = 0.4     # the answer
    SUBJECT_WEIGHT = 0.5    # the entry's first tag: what it is about (身份证, 公积金)
    # Terms in more than this share of the entries say almost nothing: skipped when ranking.
    MAX_DF_SHARE = 0.25
    K1, B = 1.2, 0.75
    CANDIDATES = 40  # entries whose single questions are scored

    def __init__(self, entries: Iterable[KbLike], analyzer: Analyzer) -> None:
        self._analyzer = analyzer
        self.entries: dict[str, KbLike] = {e.key: e for e in entries}
        keys = list(self.entries)
        self._keys = keys
        n = len(keys)
        self._n = n
        # Questions: one document per question string, and the union per entry.
        self._q_owner: list[int] = []
        self._q_text: list[str] = []
        q_terms: list[set[str]] = []
        field_share: list[dict[str, float]] = []
        self._e_questions: list[range] = []
        for ei, key in enumerate(keys):
            e = self.entries[key]
            texts = (e.question, *e.alternates)
            self._e_questions.append(range(len(self._q_owner), len(self._q_owner) + len(texts)))
            seen: Counter[str] = Counter()
            for q in texts:
                terms = set(analyzer.terms(q))
                q_terms.append(terms)
                self._q_owner.append(ei)
                self._q_text.append(q)
                seen.update(terms)
            # A term in one of six questions counts, one in all of them counts more.
            field_share.append({t: 0.6 + 0.4 * c / len(texts) for t, c in seen.items()})
        df: Counter[str] = Counter()
        for share in field_share:
            df.update(share.keys())
        self.idf = {t: _idf(c, n) * KIND_WEIGHT[kind(t)] for t, c in df.items()}
        self._max_idf = {k: _idf(0, max(n, 1)) * w for k, w in KIND_WEIGHT.items()}
        self._common = {t for t, c in df.items() if n >= 20 and c > self.MAX_DF_SHARE * n}
        self._field: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for ei, share in enumerate(field_share):
            for t, s in share.items():
                self._field[t].append((ei, s))
        # The subject: the words of the first tag, as an extra field.
        self._subject: dict[str, list[int]] = defaultdict(list)
        for ei, key in enumerate(keys):
            tags = getattr(self.entries[key], "tags", ())
            if tags:
                for t in {t for t in analyzer.terms(tags[0]) if kind(t) == WORD}:
                    self._subject[t].append(ei)
        self._q_terms = q_terms
        self._corrector = SoundCorrector({t for t in df if kind(t) == WORD}, analyzer)
        self._q_info = [sum(self.idf[t] for t in d) for d in q_terms]
        # Answers: BM25 with entry-level document frequency of their own.
        a_docs = [Counter(analyzer.terms(self.entries[k].answer)) for k in keys]
        a_df: Counter[str] = Counter()
        for d in a_docs:
            a_df.update(d.keys())
        lengths = [sum(d.values()) for d in a_docs]
        avg = sum(lengths) / max(n, 1)
        self._answer: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for ei, d in enumerate(a_docs):
            for t, f in d.items():
                if n >= 20 and a_df[t] > self.MAX_DF_SHARE * n:
                    continue
                norm = f * (self.K1 + 1) / (f + self.K1 * (1 - self.B + self.B * lengths[ei] / avg))
                self._answer[t].append((ei, _idf(a_df[t], n) * KIND_WEIGHT[kind(t)] * norm))

        self._freeze()

    def _freeze(self) -> None:
        """Postings as arrays with their weights folded in: a search adds a few arrays per term."""
        fpost: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for t, postings in self._field.items():
            weights: dict[int, float] = {ei: self.idf[t] * share for ei, share in postings}
            for ei in self._subject.get(t, ()):
                weights[ei] = weights.get(ei, 0.0) + self.SUBJECT_WEIGHT * self.idf[t]
            fpost[t] = (np.fromiter(weights.keys(), np.int32, len(weights)),
                        np.fromiter(weights.values(), np.float64, len(weights)))
        self._fpost = fpost
        self._apost = {t: (np.array([ei for ei, _ in p], np.int32), np.array([w for _, w in p], np.float64))
                       for t, p in self._answer.items()}

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        terms = set(self._analyzer.terms_of_canonical(self._corrector.correct(self._analyzer.canonical(query))))
        if not terms or not self.entries:
            return []
        idf = self.idf
        usable = [t for t in terms if t in idf and t not in self._common]
        field = np.zeros(self._n)
        for t in usable:
            idx, w = self._fpost[t]
            field[idx] += w
        answer = np.zeros(self._n)
        for t in terms:
            posting = self._apost.get(t)
            if posting is not None:
                answer[posting[0]] += posting[1]
        first = self.FIELD_WEIGHT * field + self.ANSWER_WEIGHT * answer
        # Two stages: the fields pick the candidates (a question's terms are all in its entry's field),
        # then each candidate's best single question is scored. Keeps a search within a few ms at
        # thousands of entries.
        c = min(max(self.CANDIDATES, 8 * k), self._n)
        picked = np.argpartition(-first, c - 1)[:c] if c < self._n else np.arange(self._n)
        candidates = [(int(ei), float(first[ei])) for ei in picked if first[ei] > 0]
        usable_set = set(usable)
        best_q: dict[int, tuple[float, int]] = {}
        q_overlap: dict[int, float] = {}
        totals: dict[int, float] = {}
        for ei, score in candidates:
            for qi in self._e_questions[ei]:
                covered = sum(idf[t] for t in usable_set & self._q_terms[qi]) if usable_set else 0.0
                if covered <= 0:
                    continue
                q_overlap[qi] = covered
                # The question's own score: what it shares, discounted by what it has that the query lacks.
                s = covered * covered / max(self._q_info[qi], 1e-9)
                if ei not in best_q or s > best_q[ei][0]:
                    best_q[ei] = (s, qi)
            totals[ei] = score + self.BEST_WEIGHT * best_q.get(ei, (0.0, -1))[0]
        top = heapq.nsmallest(k, totals.items(), key=lambda kv: (-kv[1], self._keys[kv[0]]))
        # A term no entry has is as informative as the rarest one: the query asks something we lack.
        query_info = sum(idf[t] if t in idf else self._max_idf[kind(t)] for t in terms if t not in self._common)
        hits = []
        for ei, total in top:
            key = self._keys[ei]
            if ei in best_q:
                qi = best_q[ei][1]
                covered_field = float(field[ei])
                of_query = min(covered_field / query_info, 1.0) if query_info else 0.0
                of_question = q_overlap[qi] / self._q_info[qi] if self._q_info[qi] else 0.0
                confidence = 2 * of_query * of_question / (of_query + of_question) if of_query and of_question else 0.0
                matched = self._q_text[qi]
            else:
                confidence, matched, of_query, of_question = 0.0, self.entries[key].question, 0.0, 0.0
            hits.append(SearchHit(key, total, min(confidence, 1.0), matched, of_query, of_question))
        return hits
