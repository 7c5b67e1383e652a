"""Callback and satisfaction (Art. 16): reading a citizen's rating from a short reply on any channel."""

from __future__ import annotations

import re
from dataclasses import dataclass

ASK = "请您对本次办理进行评价：回复 1 满意，2 基本满意，3 不满意；也可以补充问题是否已经解决。"
RATING_LEVELS = ("satisfied", "basically_satisfied", "dissatisfied")
THANKS = "感谢您的评价！如有新的问题，欢迎随时联系12345。"
DISSATISFIED = "收到您的评价。我们会复核办理情况，情况属实的将督促承办单位重新办理，并再次联系您。"

# The rating must stand alone or be followed by a separator and a short remark: "1号楼路灯坏了" is
# a new request, not a rating of 1.
_RATING = re.compile(r"^\s*(?:(?P<digit>[123])|(?P<word>非常满意|很满意|基本满意|比较满意|不满意|不太满意|满意|一般))"
                     r"(?:[\s，,。！!]+(?P<rest>.{0,40}))?[\s。！!]*$")


@dataclass(frozen=True)
class Rating:
    level: str          # satisfied | basically_satisfied | dissatisfied
    solved: bool | None
    remark: str | None = None  # the citizen's short words after the rating: what a supervisor reads (Art. 16)


def read_rating(text: str) -> Rating | None:
    """A rating when the whole message is one (with an optional short remark); None otherwise."""
    m = _RATING.match(text.strip())
    if not m:
        return None
    if m.group("digit"):
        level = {"1": "satisfied", "2": "basically_satisfied", "3": "dissatisfied"}[m.group("digit")]
    else:
        word = m.group("word")
        level = ("dissatisfied" if word in ("不满意", "不太满意") else
                 "basically_satisfied" if word in ("基本满意", "比较满意", "一般") else "satisfied")
    rest = m.group("rest") or ""
    solved = False if re.search(r"没(有)?解决|未解决|还没", rest) else True if "解决" in rest else None
    return Rating(level, solved, rest.strip() or None)
