"""Repeated requests (Art. 13(4)) and several citizens reporting one problem (并单).

Similarity is the overlap of character bigrams of what the citizens wrote (Jaccard): cheap, robust
to word order and phrasing, and only compared within the same category and district.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Iterable

from routing.lifecycle import FINISHED

REPEAT = 0.55   # the same request again: answer with the ticket's progress
RELATED = 0.3   # about the same matter with something new: append to that ticket
LINK = 0.45     # another citizen, same place and category: link the tickets

_CJK = re.compile(r"[\u4e00-\u9fff0-9a-z]+")
_FILLER = re.compile(r"你好|您好|请问|我想|我要|反映|投诉|一下|问题|情况|谢谢|麻烦")


def bigrams(text: str) -> frozenset[str]:
    """Remembered for the last 1,024 texts up to `_REMEMBERED_CHARS` long: each new ticket is compared
    with the same ~50 latest ones of its category and district, and making their sets again was a tenth
    of a new e-mail ticket's time. Longer texts (a mail can be megabytes) are not kept: 1,024 of them
    could hold gigabytes."""
    return _remembered_bigrams(text) if len(text) <= _REMEMBERED_CHARS else _bigrams(text)


_REMEMBERED_CHARS = 2_000  # ~200 KiB a set at most: the memo stays under ~200 MiB in the worst case


def _bigrams(text: str) -> frozenset[str]:
    text = _FILLER.sub("", text.lower())
    return frozenset(run[i:i + 2] for run in _CJK.findall(text) for i in range(len(run) - 1))


_remembered_bigrams = functools.lru_cache(maxsize=1024)(_bigrams)


def similarity(a: str, b: str) -> float:
    return overlap(bigrams(a), bigrams(b))


def overlap(x: frozenset[str], y: frozenset[str]) -> float:
    """Jaccard over bigram sets: the new text's set is made once and compared with every candidate."""
    if not x or not y:
        return 0.0
    common = len(x & y)
    return common / (len(x) + len(y) - common)


@dataclass(frozen=True, slots=True)
class EarlierRequest:
    ticket: Any
    score: float
    repeat: bool  # True: the same request again (answer with its progress); False: something new about it


def earlier_request(text: str, candidates: Iterable[tuple[Any, int | None, str | None]], contact_id: int,
                    conversation_id: int, unknown_sender: str) -> EarlierRequest | None:
    """The citizen's own earlier ticket this message is about (Art. 13(4)), from `candidates` (ticket,
    contact id, sender) of the same category and district.

    The conversation's contact decides, not the message's sender: a phone platform may name the caller
    only when the call starts, and an unidentified caller is nobody's repeat. The conversation's own
    unfinished ticket is not an earlier request: the message is an addition to it, handled elsewhere."""
    best: tuple[Any, float] | None = None
    mine = bigrams(text)
    for ticket, owner, citizen in candidates:
        if owner != contact_id or citizen == unknown_sender or (
                ticket.conversation_id == conversation_id and ticket.status not in FINISHED):
            continue
        score = overlap(mine, bigrams(ticket.description))
        if score >= RELATED and (best is None or score > best[1]):
            best = (ticket, score)
    if best is None:
        return None
    return EarlierRequest(best[0], best[1], best[1] >= REPEAT)
