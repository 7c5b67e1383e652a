"""What the citizen reads or hears when the knowledge base answers, asks which entry, or has nothing.

One wording for the bot (through the KB API) and for the gateway answering without it. The choice is
shown per channel: buttons on the web page (they send the number), a numbered list elsewhere (the
citizen replies 1/2/3), and on the phone the top two read out (say 1 or 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from nlu.kb import KbEntry

KB_FOLLOW_UP = "\n\n如果没有解决您的问题，请回复您的具体情况，我们会为您登记工单。"
NO_MATCH = ("暂时没有找到这个问题的准确答案。您可以详细描述您的情况，我为您登记工单，由相关部门答复您；"
            "也可以回复“转人工”由工作人员解答。")
PHONE_CHOICES = 2
_ORDINALS = ("一", "二", "三", "四", "五")


@dataclass(frozen=True, slots=True)
class KbReply:
    outcome: str  # answer | choose | none
    text: str
    buttons: tuple[dict[str, str], ...] = ()
    entries: tuple[KbEntry, ...] = field(default=())

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kb_outcome": self.outcome}
        if self.buttons:
            data["buttons"] = list(self.buttons)
        if self.outcome == "answer":
            data["kb_entry"] = self.entries[0].key
        elif self.outcome == "choose":
            data["kb_choices"] = [e.key for e in self.entries]
        return data


def _title(entry: KbEntry) -> str:
    return entry.question.rstrip("？?。")


def answer(entry: KbEntry) -> KbReply:
    return KbReply("answer", entry.answer + KB_FOLLOW_UP, (), (entry,))


def choose(entries: Sequence[KbEntry], channel: str) -> KbReply:
    if channel == "ivr":
        entries = entries[:PHONE_CHOICES]
        spoken = "；".join(f"第{_ORDINALS[i]}，{_title(e)}" for i, e in enumerate(entries))
        numbers = "或".join(str(i + 1) for i in range(len(entries)))
        text = f"您是想问：{spoken}。请说{numbers}；如果都不是，请说“都不是”。"
        return KbReply("choose", text, (), tuple(entries))
    on_page = channel == "web"  # the page shows the choices as buttons; elsewhere they are a numbered list
    lines = "\n".join(f"{i + 1}. {_title(e)}" for i, e in enumerate(entries))
    numbers = "、".join(str(i + 1) for i in range(len(entries)))
    text = ("您是想问以下哪个问题？请点选；如果都不是，请点“都不是”。" if on_page else
            f"您是想问：\n{lines}\n请回复序号 {numbers}；如果都不是，请回复“都不是”。")
    buttons = tuple({"title": f"{i + 1}. {_title(e)}", "payload": str(i + 1)} for i, e in enumerate(entries))
    return KbReply("choose", text, buttons + ({"title": "都不是", "payload": "都不是"},), tuple(entries))


def no_match() -> KbReply:
    return KbReply("none", NO_MATCH)


def none_of_them_reply(number: str, created: bool) -> str:
    kept = "登记为工单" if created else "记入工单"
    return (f"好的，已将您的问题{kept}（工单号：{number}），由相关部门答复您。"
            "您也可以回复“转人工”，由工作人员为您解答。")
