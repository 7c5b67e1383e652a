"""The start-character scan finds exactly what `finditer` finds, and declines patterns it cannot bound."""

from __future__ import annotations

import re

import pytest

from nlu.classify import CATEGORY_CUES, _Lexicon
from nlu.regex_starts import StartScanner, start_chars

TEXTS = [
    "小区门口的路灯坏了一个星期了晚上很黑",
    "一动不动地躺在地上，动不动就停电，3路车和12路口都堵了",
    "我家楼下的垃圾桶好几天没人清理了，臭气熏天！！",
    "K3路公交车司机态度差，车牌鲁J12345",
    "٣路车晚点",  # an Arabic-Indic digit is a \d too
    "",
    "路路路路",
]


@pytest.mark.parametrize("pattern", [
    r"路灯|垃圾(桶|站)|(?<!一)动不动|\d+路(?!口)|停电",
    r"(?P<a>路)|(?P<b>路路)",            # leftmost, first alternative wins, as in finditer
    r"[a-z]\d|臭气.{0,3}",
    r"(小区)?门口|楼下",                # an optional first part: what follows may start the match
])
def test_the_scan_finds_what_finditer_finds(pattern: str) -> None:
    compiled = re.compile(pattern)
    scanner = StartScanner(compiled)
    for text in TEXTS:
        assert [(m.span(), m.lastgroup) for m in scanner.finditer(text)] == \
               [(m.span(), m.lastgroup) for m in compiled.finditer(text)], text


@pytest.mark.parametrize("pattern", [r"a*", r"x|", r".路", r"\w+", r"(?i)abc"])
def test_patterns_without_a_bounded_start_are_scanned_as_usual(pattern: str) -> None:
    compiled = re.compile(pattern)
    assert start_chars(compiled) is None
    scanner = StartScanner(compiled)
    for text in TEXTS + ["ABC abc"]:
        assert [m.span() for m in scanner.finditer(text)] == [m.span() for m in compiled.finditer(text)]


def test_start_characters_of_a_cue_alternation() -> None:
    assert start_chars(re.compile(r"(?<!一)动不动|路灯|\d+路")) >= {"动", "路", "0", "9", "٣"}
    assert "灯" not in start_chars(re.compile(r"路灯|垃圾"))


def test_the_category_lexicon_uses_the_scan_and_scores_as_before() -> None:
    lexicon = _Lexicon(CATEGORY_CUES)
    plain = re.compile(lexicon._pattern._pattern.pattern)  # the same alternation, scanned by finditer
    assert lexicon._pattern._starts is not None
    for text in TEXTS:
        assert [m.span() for m in lexicon._pattern.finditer(text)] == [m.span() for m in plain.finditer(text)]
