"""Repeated requests (Art. 13(4)) and several citizens reporting one problem (并单).

Similarity is the overlap of character bigrams of what the citizens wrote (Jaccard): cheap, robust
to word order and phrasing, and only compared within the same category and district.
"""

from __future__ import annotations

import re

REPEAT = 0.55   # the same request again: answer with the ticket's progress
RELATED = 0.3   # about the same matter with something new: append to that ticket
LINK = 0.45     # another citizen, same place and category: link the tickets

_CJK = re.compile(r"[\u4e00-\u9fff0-9a-z]+")
_FILLER = re.compile(r"你好|您好|请问|我想|我要|反映|投诉|一下|问题|情况|谢谢|麻烦")


def bigrams(text: str) -> set[str]:
    text = _FILLER.sub("", text.lower())
    return {run[i:i + 2] for run in _CJK.findall(text) for i in range(len(run) - 1)}


def similarity(a: str, b: str) -> float:
    x, y = bigrams(a), bigrams(b)
    return len(x & y) / len(x | y) if x and y else 0.0
