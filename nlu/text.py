"""Text normalization shared by the triage rules.

Citizens write with full-width characters, spaces inside words, emoji and,
on the phone channel, ASR output with fillers and no punctuation. Rules are
written against the normalized form only.
"""

from __future__ import annotations

import re
import unicodedata

# Spoken fillers that ASR keeps; removed so that "着 那个 火了" reads "着火了".
_FILLERS = re.compile(r"(?:嗯+|啊+|呃+|额+|哎呀|哎+|唉+|那个那个|就是说|然后呢|这个这个)")
_SPACES = re.compile(r"[\s\u3000]+")
_CLAUSE_SPLIT = re.compile(r"[。！？!?；;，,、\n…~～]+|\.{2,}")
_CN_DIGITS = str.maketrans({"幺": "1", "一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5",
                            "六": "6", "七": "7", "八": "8", "九": "9", "零": "0", "〇": "0"})


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, no whitespace inside Chinese text."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _SPACES.sub(" ", text).strip()
    # Remove spaces between CJK characters (ASR output is often space-separated).
    return re.sub(r"(?<=[\u4e00-\u9fff]) (?=[\u4e00-\u9fff])", "", text)


def strip_fillers(text: str) -> str:
    return _FILLERS.sub("", text)


def clauses(text: str) -> list[str]:
    """Split on punctuation; unpunctuated transcripts stay one clause."""
    return [c for c in (p.strip() for p in _CLAUSE_SPLIT.split(text)) if c]


def spoken_digits(text: str) -> str:
    """'幺幺零' -> '110': callers read emergency numbers aloud."""
    return re.sub(r"[幺一二两三四五六七八九零〇]{3}", lambda m: m.group(0).translate(_CN_DIGITS), text)
