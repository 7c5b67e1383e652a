"""Personal information (Art. 28): find and mask phone numbers, ID-card numbers, bank cards,
e-mail addresses, names given as such and exact addresses.

`mask` is what the logs use; `mask_phone` is what agents see in lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Written as one run or grouped region / birth date / sequence ("370902 19900101 1234").
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})[ -]?(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
                      r"[ -]?\d{3}[0-9Xx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[- ]?(\d{7,8})(?!\d)")
_BANK_CARD = re.compile(r"(?<!\d)(?:62|4\d|5[1-5]|9\d)\d{2}(?:[ -]?\d{4}){2,3}(?:[ -]?\d{1,3})?(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# "我叫张三", "姓名：李四", "联系人王小明"; the name is 2-4 Han characters.
_NAME = re.compile(r"(我叫|我是|本人|姓名[:：]?|名字[:：]?|联系人[:：]?|叫做)([\u4e00-\u9fff]{2,4}?)(?=[，,。.\s；;]|电话|手机|身份证|住|家住|$)")
# An exact address: a street/road number, a building/unit/room number.
_ADDRESS = re.compile(
    r"[\u4e00-\u9fff0-9]{0,12}?(?:路|街|巷|道|村|小区|花园|家园|社区|苑|庄)"
    r"[\u4e00-\u9fff0-9]{0,8}?(?:\d+|[一二三四五六七八九十]+)(?:号院|号楼|号|栋|幢|单元|室|户)"
    r"(?:[0-9一二三四五六七八九十-]+(?:号楼|号|栋|幢|单元|室|户|楼))*")


@dataclass(frozen=True, slots=True)
class PiiSpan:
    kind: str
    start: int
    end: int
    text: str


# Full-width digits, letters and signs (１３９…, typed on phones' Chinese keyboards) read as their
# half-width forms; one character for one, so the spans found stand in the original text.
_HALF_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def find(text: str) -> list[PiiSpan]:
    spans: list[PiiSpan] = []
    probe = text.translate(_HALF_WIDTH)
    taken: list[tuple[int, int]] = []

    def add(kind: str, start: int, end: int) -> None:
        if any(s < end and start < e for s, e in taken):
            return
        taken.append((start, end))
        spans.append(PiiSpan(kind, start, end, text[start:end]))

    for m in _ID_CARD.finditer(probe):
        add("id_card", m.start(), m.end())
    for m in _BANK_CARD.finditer(probe):
        if len(re.sub(r"\D", "", m.group(0))) >= 15:
            add("bank_card", m.start(), m.end())
    for m in _MOBILE.finditer(probe):
        add("phone", m.start(), m.end())
    for m in _LANDLINE.finditer(probe):
        add("phone", m.start(), m.end())
    for m in _EMAIL.finditer(probe):
        add("email", m.start(), m.end())
    for m in _NAME.finditer(probe):
        add("name", m.start(2), m.end(2))
    for m in _ADDRESS.finditer(probe):
        add("address", m.start(), m.end())
    return sorted(spans, key=lambda s: s.start)


def _mask_span(span: PiiSpan) -> str:
    t = span.text
    if span.kind == "phone":
        digits = re.sub(r"\D", "", t)
        return digits[:3] + "****" + digits[-4:] if len(digits) >= 11 else "*" * (len(digits) - 2) + digits[-2:]
    if span.kind == "id_card":
        t = re.sub(r"[ -]", "", t)
        return t[:3] + "*" * (len(t) - 7) + t[-4:]
    if span.kind == "bank_card":
        digits = re.sub(r"\D", "", t)
        return "*" * (len(digits) - 4) + digits[-4:]
    if span.kind == "email":
        local, _, domain = t.translate(_HALF_WIDTH).partition("@")
        return local[:1] + "***@" + domain
    if span.kind == "name":
        return t[0] + "*" * (len(t) - 1)
    if span.kind == "address":
        return "[地址]"
    return "***"


def mask(text: str) -> str:
    """The text with every piece of personal information masked."""
    if not text:
        return text
    out, pos = [], 0
    for span in find(text):
        out.append(text[pos:span.start])
        out.append(_mask_span(span))
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


def mask_identifiers(text: str) -> str:
    """Phone, ID, bank card numbers, e-mail addresses and names masked, places left readable: for text
    shown to the people handling a matter (a photographed notice's street is the matter's place; the ID
    card or bank card photographed with it is nobody's business)."""
    if not text:
        return text
    out, pos = [], 0
    for span in find(text):
        if span.kind == "address":
            continue
        out.append(text[pos:span.start])
        out.append(_mask_span(span))
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 7 else "*" * len(digits)


_PHONE_FULL = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$|^(0\d{2,3})(\d{7,8})$")


def normalize_phone(value: str) -> str | None:
    """A mainland mobile (11 digits) or landline with area code, digits only; None if not a phone."""
    digits = re.sub(r"[\s()-]", "", value)
    m = _PHONE_FULL.match(digits)
    if not m:
        return None
    return m.group(1) or (m.group(2) + m.group(3))


_DIGIT = re.compile(r"\d")  # str patterns: full-width digits too


def phone_in(text: str) -> str | None:
    """The first phone number a citizen wrote, normalised (for the ticket's contact), or None. Most
    requests hold no digit at all: they skip the seven searches of `find` (asked for every new ticket)."""
    if not _DIGIT.search(text):
        return None
    for span in find(text):
        if span.kind == "phone":
            phone = normalize_phone(span.text)
            if phone:
                return phone
    return None


# "转人工", "我要人工客服", "找真人": the citizen asks for a person (the bot's own intent does this when it
# is up; without the bot the gateway must understand it too).
_WANTS_AGENT = re.compile(r"^\W*(请|麻烦)?(帮我)?(转|接|找|要|我要|我想要|给我转)?(接)?(人工|真人|客服人员|工作人员)(客服|服务|坐席)?\W*$|"
                          r"转人工|人工客服|人工服务|找真人|真人客服")


def wants_agent(text: str) -> bool:
    return bool(_WANTS_AGENT.search(text.strip())) and len(text.strip()) <= 30
