"""Custom actions of the hotline bot. They run in the Rasa action server's own Python (3.10) and
reach the gateway only over HTTP (HOTLINE_GATEWAY_URL, HOTLINE_API_TOKEN): knowledge-base search,
ticket creation, progress queries and hand-over to a human all live there."""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Dict, List, Optional, Text

import aiohttp
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ConversationPaused, EventType, FollowupAction, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

log = logging.getLogger(__name__)

PHONE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$|^(0\d{2,3})(\d{7,8})$")
ANONYMOUS = re.compile(r"匿名|不留|不方便|不想留|保密")
TICKET_NUMBER = re.compile(r"\d{8}-\d{6}")
TIMEOUT = aiohttp.ClientTimeout(total=5)
FORM_SLOTS = ("description", "location", "since_when", "contact_phone")
TICKET_TYPES = ("complaint", "report", "suggestion")
# "我要反映个问题" says that there is a problem, not what it is.
OPENER_ONLY = re.compile(r"^(你好|您好|喂)?[，, ]*(我)?(要|想|需要)?(反映|反应|投诉|举报|求助|提交|登记|报告)"
                         r"(一下|个|一个)?(问题|诉求|事情?|情况|工单)?[。!！]*$")


NO_MATCH = ("暂时没有找到这个问题的准确答案。您可以详细描述您的情况，我为您登记工单，由相关部门答复您；"
            "也可以回复“转人工”由工作人员解答。")


class GatewayError(Exception):
    pass


def _gateway() -> str:
    return os.environ.get("HOTLINE_GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/")


def _headers() -> Dict[str, str]:
    token = os.environ.get("HOTLINE_API_TOKEN", "")
    return {"Authorization": f"Bearer {token}", "X-Hotline-Actor": "bot"}


async def _call(method: str, path: str, **kwargs: Any) -> tuple[int, Dict[str, Any]]:
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            async with http.request(method, _gateway() + path, headers=_headers(), **kwargs) as resp:
                return resp.status, await resp.json(content_type=None)
    except (aiohttp.ClientError, ValueError, TimeoutError) as exc:
        raise GatewayError(f"{method} {path}: {type(exc).__name__}") from exc


def normalize_phone(text: str) -> Optional[str]:
    digits = re.sub(r"[\s()\-]", "", text)
    found = re.search(r"(?:\+?86)?1[3-9]\d{9}|0\d{2,3}\d{7,8}", digits)
    if not found:
        return None
    m = PHONE.match(found.group(0))
    return (m.group(1) or m.group(2) + m.group(3)) if m else None


def _value_before_this_turn(tracker: Tracker, slot: str) -> Any:
    """The slot's value as it was before the latest user message (its SlotSet events since then are
    this turn's extraction, not yet validated)."""
    events = list(tracker.events)
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=len(events))
    value = None
    for e in events[:last_user]:
        if e.get("event") == "slot" and e.get("name") == slot:
            value = e.get("value")
        elif e.get("event") == "restart" or (e.get("event") == "session_started"):
            value = None
    return value


def _metadata(tracker: Tracker) -> Dict[str, Any]:
    return (tracker.latest_message or {}).get("metadata") or {}


async def _handoff(tracker: Tracker, reason: str) -> None:
    conversation_id = _metadata(tracker).get("conversation_id")
    if conversation_id is None:
        return
    await _call("POST", f"/api/v1/conversations/{conversation_id}/handoff", json={"reason": reason})


class ActionAnswerQuestion(Action):
    def name(self) -> Text:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        question = tracker.latest_message.get("text") or ""
        channel = _metadata(tracker).get("channel") or "web"
        try:
            status, body = await _call("GET", "/api/v1/kb/search",
                                       params={"q": question[:500], "k": "3", "channel": channel})
        except GatewayError:
            status, body = 503, {}
        decision = body.get("decision") if status == 200 and isinstance(body, dict) else None
        triage = _metadata(tracker).get("triage") or {}
        if (isinstance(decision, dict) and decision.get("outcome") == "none"
                and triage.get("request_type") in TICKET_TYPES and len(question.strip()) >= 6):
            # The intent said "question", but the knowledge base has nothing near and the gateway's
            # request-type model (trained on real citizens' texts) reads a complaint, report or
            # suggestion: collect it as a ticket rather than answer "no answer found".
            return [SlotSet("description", question.strip()), FollowupAction("ticket_form")]
        if isinstance(decision, dict) and decision.get("text"):
            # The gateway words it (answer, 「您是想问」 with buttons or a numbered list, or no match) and,
            # for a choice, reads the citizen's 1/2/3 itself when it arrives.
            custom: Dict[str, Any] = {"kb_outcome": decision.get("outcome")}
            if decision.get("outcome") == "answer" and decision.get("entries"):
                custom["kb_entry"] = decision["entries"][0]
            elif decision.get("outcome") == "choose":
                custom["kb_choices"] = decision.get("entries") or []
            dispatcher.utter_message(text=decision["text"], buttons=decision.get("buttons") or None,
                                     json_message=custom)
            return []
        dispatcher.utter_message(text=NO_MATCH)
        return []


class ValidateTicketForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_ticket_form"

    def validate_description(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> Dict[Text, Any]:
        earlier = _value_before_this_turn(tracker, "description")
        if earlier and tracker.get_slot("requested_slot") not in (None, "description"):
            # The description slot also maps from any turn classified report_problem (that is how the
            # first message fills it); an answer to "since when?" or "where?" must not replace it.
            return {"description": earlier}
        text = (value or "").strip()
        if len(text) < 4 or OPENER_ONLY.match(text):
            if len(text) >= 4:
                return {"description": None}  # the form goes on to ask what happened
            dispatcher.utter_message(text="请再具体说说是什么问题，例如：“小区门口的路灯坏了一个星期”。")
            return {"description": None}
        return {"description": text}

    def validate_location(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: DomainDict) -> Dict[Text, Any]:
        text = (value or "").strip()
        if len(text) < 2:
            dispatcher.utter_message(text="请说明具体地点，例如区县、街道和小区名称。")
            return {"location": None}
        return {"location": text}

    def validate_since_when(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> Dict[Text, Any]:
        return {"since_when": (value or "").strip() or "未说明"}

    def validate_contact_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> Dict[Text, Any]:
        text = (value or "").strip()
        if ANONYMOUS.search(text):
            return {"contact_phone": "匿名"}
        phone = normalize_phone(text)
        if phone is None:
            dispatcher.utter_message(text="电话号码格式好像不对，请输入11位手机号或带区号的座机号；不便留电话请回复“匿名”。")
            return {"contact_phone": None}
        return {"contact_phone": phone}


class ActionConfirmTicket(Action):
    def name(self) -> Text:
        return "action_confirm_ticket"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        s = {k: tracker.get_slot(k) for k in FORM_SLOTS}
        dispatcher.utter_message(
            text=f"请确认您的诉求：\n问题：{s['description']}\n地点：{s['location']}\n开始时间：{s['since_when']}\n"
                 f"联系电话：{s['contact_phone']}\n确认无误请回复“确认”，需要修改请回复“取消”后重新描述。",
            buttons=[{"title": "确认提交", "payload": "/affirm"}, {"title": "取消", "payload": "/deny"}])
        return [SlotSet("awaiting_confirmation", True)]


def _reset() -> List[EventType]:
    return [SlotSet(k, None) for k in FORM_SLOTS] + [SlotSet("awaiting_confirmation", False)]


class ActionCreateTicket(Action):
    def name(self) -> Text:
        return "action_create_ticket"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        meta = _metadata(tracker)
        phone = tracker.get_slot("contact_phone")
        anonymous = phone in (None, "匿名")
        body = {
            "description": f"{tracker.get_slot('description')}（开始时间：{tracker.get_slot('since_when')}）",
            "location": tracker.get_slot("location"), "anonymous": anonymous,
            "contact_phone": None if anonymous else phone, "channel": meta.get("channel", "bot"), "source": "bot",
            "conversation_id": meta.get("conversation_id"),
        }
        try:
            status, result = await _call("POST", "/api/v1/tickets", json=body)
        except GatewayError:
            status, result = 503, {}
        if status != 201:
            log.warning("ticket creation failed: HTTP %s", status)
            dispatcher.utter_message(text="抱歉，工单暂时没有登记成功，已为您转接人工客服，您的诉求不会丢失。")
            try:
                await _handoff(tracker, "ticket_creation_failed")
            except GatewayError:
                pass
            return _reset()
        number = result["number"]
        hint = "可以凭工单号查询办理进度。" if anonymous else "可以凭工单号和联系电话查询办理进度。"
        dispatcher.utter_message(text=f"已为您登记工单，工单号：{number}。承办单位会按规定时限办理并答复您，{hint}",
                                 json_message={"ticket_number": number})
        return _reset() + [SlotSet("ticket_number", number)]


class ActionCancelTicket(Action):
    def name(self) -> Text:
        return "action_cancel_ticket"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_cancelled")
        return _reset()


class ValidateProgressForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_progress_form"

    def validate_query_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> Dict[Text, Any]:
        m = TICKET_NUMBER.search(value or "")
        if not m:
            dispatcher.utter_message(text="工单号是“日期-序号”的格式，例如 20261126-000123，请再输入一次。")
            return {"query_number": None}
        return {"query_number": m.group(0)}

    def validate_query_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> Dict[Text, Any]:
        phone = normalize_phone(value or "")
        if phone is None:
            dispatcher.utter_message(text="电话号码格式不对，请输入登记时留的手机号或座机号。")
            return {"query_phone": None}
        return {"query_phone": phone}


class ActionCheckProgress(Action):
    def name(self) -> Text:
        return "action_check_progress"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        number, phone = tracker.get_slot("query_number"), tracker.get_slot("query_phone")
        try:
            status, body = await _call("POST", "/api/v1/tickets/progress", json={"number": number, "phone": phone})
        except GatewayError:
            status, body = 503, {}
        if status == 200:
            steps = "；".join(e["text_zh"] for e in body.get("events", [])[-3:])
            dispatcher.utter_message(text=f"工单 {number} 当前状态：{body['status_zh']}。办理记录：{steps}。")
        elif status == 404:
            dispatcher.utter_message(text="没有查到该工单，请核对工单号和联系电话。")
        else:
            dispatcher.utter_message(text="进度查询暂时不可用，请稍后再试，或回复“转人工”。")
        return [SlotSet("query_number", None), SlotSet("query_phone", None)]


class ActionHandoff(Action):
    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        try:
            await _handoff(tracker, "requested")
        except GatewayError:
            log.warning("hand-over request did not reach the gateway")
        dispatcher.utter_message(response="utter_handoff")
        # The human has it now; the gateway resumes the bot (resume + action_listen) on hand-back.
        return [ConversationPaused()]


class ActionDefaultFallback(Action):
    """Twice not understood in a row: hand over to a human rather than loop."""

    def name(self) -> Text:
        return "action_default_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        text = (tracker.latest_message.get("text") or "").strip()
        triage = _metadata(tracker).get("triage") or {}
        if triage.get("request_type") in TICKET_TYPES and len(text) >= 6 and not tracker.active_loop_name:
            # Not understood as an intent, but the gateway's request-type model reads a complaint,
            # report or suggestion: collect it as a ticket instead of asking to rephrase.
            return [SlotSet("fallback_count", 0), SlotSet("description", text), FollowupAction("ticket_form")]
        count = (tracker.get_slot("fallback_count") or 0) + 1
        if count >= 2:
            try:
                await _handoff(tracker, "bot_stuck")
            except GatewayError:
                pass
            dispatcher.utter_message(text="抱歉，我没能理解您的意思，已为您转接人工客服，请稍候。")
            return [SlotSet("fallback_count", 0), ConversationPaused()]
        dispatcher.utter_message(text="抱歉，我没有理解您的意思。您可以换个说法，比如“社保卡丢了怎么补办”，"
                                      "或者直接描述要反映的问题。")
        return [UserUtteranceReverted(), SlotSet("fallback_count", count)]
