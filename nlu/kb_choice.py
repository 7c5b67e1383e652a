"""Reading the citizen's pick after 「您是想问」: a number, an ordinal, or 「都不是」.

Replies are short and come typed (1, ①, 第二个), tapped (the web page's buttons send
the number) or spoken (“一”, “第二个吧”, “幺”, “都不是”). Anything longer or
different is a new message, not a pick.
"""

from __future__ import annotations

import re
from typing import Literal

from nlu.text import normalize

NoneOfThem = Literal["none"]
NONE_OF_THEM: NoneOfThem = "none"

_DIGITS = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
           "①": 1, "②": 2, "③": 3, "④": 4, "⑤": 5}
_PICK = re.compile(r"^(?:我?(?:选|要|问|是|想问)?(?:的是)?)?(?:第)?([1-5一幺二两三四五①②③④⑤])(?:个|条|项|号|种)?"
                   r"(?:问题)?(?:吧|啊|呀|的|。|\.|、)*$")
_NONE = re.compile(r"^(?:都|全)?(?:不是|不对|没有)(?:的|啊|吧|呀)?$|^(?:以上)?都不是.*$|^没有我要问的.*$|^0$")
_SHORT = 12


def read_choice(text: str, offered: int) -> int | NoneOfThem | None:
    """1-based index into the choices, NONE_OF_THEM, or None when the text is not a pick."""
    t = re.sub(r"[\s，,。.!！?？~～]+", "", normalize(text))
    if not t or len(t) > _SHORT:
        return None
    if _NONE.match(t):
        return NONE_OF_THEM
    m = _PICK.match(t)
    if m is None:
        return None
    n = _DIGITS[m.group(1)]
    return n if 1 <= n <= offered else None


def looks_like_choice(text: str) -> bool:
    """Cheap check before the store is asked whether a choice is pending."""
    return read_choice(text, 5) is not None
