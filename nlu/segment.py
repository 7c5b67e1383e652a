"""Chinese word segmentation (jieba) with the hotline's own vocabulary.

The user dictionary is built from the gazetteer (place names must stay whole:
"王瓜店街道", not "王瓜 / 店 / 街道") and the taxonomy's level-2/3 terms. The same
word list is exported for Rasa's JiebaTokenizer, so the bot and the gateway
cut text the same way.
"""

from __future__ import annotations

import csv
import logging
import re
import threading
from pathlib import Path
from typing import Iterable

import jieba

from nlu.gazetteer import Gazetteer

# jieba logs its dictionary loading at INFO; the gateway's logs are not the place for it.
jieba.setLogLevel(logging.WARNING)

_SPLIT = re.compile(r"[、,，/和及与]")
_GENERIC = {"其他", "管理", "问题", "服务", "工作", "建设", "监管", "综合"}


def taxonomy_terms(taxonomy_path: Path) -> dict[str, str]:
    """Level-2 and level-3 names (split at 、/和/及) mapped to their level-1 category."""
    terms: dict[str, str] = {}
    with taxonomy_path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for name in (row["level2"], row["level3"]):
                for part in _SPLIT.split(name):
                    part = part.strip()
                    if len(part) >= 2 and part not in _GENERIC:
                        terms.setdefault(part, row["level1"])
    return terms


def user_words(gazetteer: Gazetteer, taxonomy_path: Path) -> list[str]:
    words = set(gazetteer.names()) | set(taxonomy_terms(taxonomy_path))
    return sorted(w for w in words if len(w) >= 2)


class Segmenter:
    """A jieba tokenizer of our own (not jieba's module-level default) with the user words added.

    Loading jieba's dictionary takes most of a second, and triage only needs words for
    the texts its cues do not cover, so it is loaded on first use (once, thread-safe).
    """

    def __init__(self, words: Iterable[str]) -> None:
        self._words = list(words)
        self._tokenizer: jieba.Tokenizer | None = None
        self._lock = threading.Lock()

    def _loaded(self) -> jieba.Tokenizer:
        with self._lock:
            if self._tokenizer is None:
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                for word in self._words:
                    tokenizer.add_word(word, freq=20000)
                self._tokenizer = tokenizer
            return self._tokenizer

    def cut(self, text: str) -> list[str]:
        tokenizer = self._tokenizer or self._loaded()
        return [t for t in tokenizer.lcut(text) if t.strip()]

    def is_word(self, text: str) -> bool:
        """In jieba's dictionary (or ours): a real word, not a misspelling of one."""
        tokenizer = self._tokenizer or self._loaded()
        return bool(tokenizer.FREQ.get(text))


def write_userdict(words: Iterable[str], path: Path) -> int:
    """jieba's user-dictionary format (word, frequency, tag), as Rasa's JiebaTokenizer loads it."""
    words = list(words)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{w} 20000 n\n" for w in words), encoding="utf-8")
    return len(words)
