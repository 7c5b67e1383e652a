"""The characters a regular expression's match can begin with, and a scan that uses them.

Python's `re` tries every branch of a large alternation at every position of the text. The cue lexicons
and the hazard patterns are alternations of Chinese words, and most positions of a citizen's message
begin none of them: finding the positions that can begin a match with one character class, and trying the
pattern only there, gives the same matches for a fraction of the work (triage runs on every message).
"""

from __future__ import annotations

import functools
import re
import re._constants as _c
import re._parser as _parser
from typing import Any, Iterator

# Wider character ranges are not expanded: the pattern is then scanned as usual.
_MAX_RANGE = 2000


@functools.cache
def _decimal_digits() -> frozenset[str]:
    """What `\\d` matches in a str pattern: every Unicode decimal digit (660 characters)."""
    return frozenset(chr(i) for i in range(0x110000) if chr(i).isdecimal())


def _first_chars(items: list[Any]) -> set[str] | None:
    """The characters a match of a parsed pattern can start with; None when that cannot be told."""
    out: set[str] = set()
    for op, av in items:
        if op is _c.LITERAL:
            return out | {chr(av)}
        if op is _c.IN:
            chars: set[str] = set()
            for o, a in av:
                if o is _c.LITERAL:
                    chars.add(chr(a))
                elif o is _c.RANGE and a[1] - a[0] <= _MAX_RANGE:
                    chars |= {chr(x) for x in range(a[0], a[1] + 1)}
                elif o is _c.CATEGORY and a in (_c.CATEGORY_DIGIT, _c.CATEGORY_UNI_DIGIT):  # a superset under re.ASCII
                    chars |= _decimal_digits()
                else:
                    return None
            return out | chars
        if op is _c.BRANCH or op is _c.SUBPATTERN:
            for alt in (av[1] if op is _c.BRANCH else [av[3]]):
                f = _first_chars(list(alt))
                if f is None:
                    return None
                out |= f
            return out
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
            f = _first_chars(list(av[2]))
            if f is None:
                return None
            out |= f
            if av[0] > 0:
                return out
            continue  # optional: what follows may start the match too
        if op in (_c.ASSERT, _c.ASSERT_NOT, _c.AT):
            continue  # zero-width
        return None
    return None  # the pattern could match the empty string


def start_chars(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Every character a match can begin with; None when that cannot be told (or any may begin one)."""
    if pattern.flags & re.IGNORECASE:
        return None
    found = _first_chars(list(_parser.parse(pattern.pattern, pattern.flags & ~re.UNICODE)))
    return frozenset(found) if found else None


class StartScanner:
    """`pattern.finditer(text)`, trying the pattern only where a match can begin."""

    __slots__ = ("_pattern", "_starts")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self._pattern = pattern
        chars = start_chars(pattern)
        self._starts = (re.compile("[" + "".join(re.escape(ch) for ch in sorted(chars)) + "]")
                        if chars else None)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        if self._starts is None:
            yield from self._pattern.finditer(text)
            return
        starts, match = self._starts.search, self._pattern.match
        pos = 0
        while True:
            s = starts(text, pos)
            if s is None:
                return
            m = match(text, s.start())
            if m is None:
                pos = s.start() + 1
            else:
                yield m
                # A start set excludes empty matches, so every match moves on.
                pos = m.end()
