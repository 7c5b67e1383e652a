"""One message, end to end (DESIGN.md): triage, persist, decide, reply through the outbox.

Order matters for safety and for "nothing lost": triage runs first (pure
CPU, no bot), the message and any emergency referral are stored in one
transaction, and only then is anything answered. A re-delivery gets the
replies stored for the first delivery.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Sequence

from bot.engine import BotAnswer, BotEngine, BotTurn, BotUnavailableError, DisabledBot
from channels.base import UNKNOWN_SENDER, Channel, InboundMessage, MessageKind, Reply
from channels.keyed_lock import KeyedLock
from gateway.cluster import TurnClaims
from gateway.events import CONSOLE_TOPIC, EventHub
from gateway import kb_answers
from gateway.kb_service import KbService
from gateway.media_reading import MediaReader, ReadMedia, texts
from gateway.triage_worker import TriageWorker
from gateway.metrics import Metrics
from gateway.outbox import OutboxDispatcher
from gateway.store.outbox import OutboxItem
from gateway.store import Store
from gateway.store.messages import ConversationRef, IngestResult, OutboundDraft, StoredMessage
from gateway.store.tickets import Placement, TicketRecord
from nlu.kb_choice import NONE_OF_THEM, looks_like_choice, read_choice
from nlu.pii import mask, phone_in, wants_agent
from nlu.triage import TriageResult, Triager
from channels.rate_limit import ART32_WARNING, Windows, local_windows
from routing.intake import TicketIntake
from routing.lifecycle import FINISHED, STATUS_ZH, TransitionRefused
from routing.links import LOOKBACK, same_problem_finder
from routing.planner import proposal_input
from routing.tickets import TicketDraft
from routing.repeats import EarlierRequest, earlier_request
from routing.satisfaction import DISSATISFIED, THANKS, Rating, read_rating

log = logging.getLogger(__name__)


UNSUPPORTED_REPLY = "抱歉，暂不支持这种消息类型。您的消息已记录，请用文字、图片或视频描述您的诉求。"
MEDIA_ONLY_REPLY = "已收到您发送的图片/视频。请再用文字简单说明您要反映的问题、地点和时间，便于我们办理。"
MEDIA_BEING_READ_REPLY = ("已收到您发送的图片/视频，正在识别其中的文字，稍后回复您。"
                          "您也可以直接用文字说明问题、地点和时间。")
# What the bot, the ticket and agents get of a photo's text: after the citizen's own words, marked as read.
READ_TEXT_MARK = "【图片/视频中的文字】"
FALLBACK_PROMPT = ("您好，智能客服暂时无法应答。请直接用文字描述您的诉求（什么事、在哪里、什么时候、联系电话），"
                   "我们会记录并生成工单，由工作人员尽快处理。")
BLOCKED_REPLY = ("根据《泰安市12345政务服务便民热线管理办法》第三十二条，您的来信暂停受理，消息已记录。"
                 "如有异议请拨打12345人工服务；如遇紧急情况，请直接拨打110、119、120或122。")
RATE_LIMITED_REPLY = ("您发送得太频繁了，后续消息已记录，工作人员会统一查看，请稍后再发。"
                      "如遇紧急情况，请直接拨打110、119、120或122。")
HANDOFF_WITHOUT_BOT_REPLY = "好的，已为您转接人工客服，工作人员接入后会在这里回复您，请稍候。"
WAITING_FOR_AGENT_REPLY = "您的消息已转给人工客服，工作人员接入后会在这里回复您，请稍候。"
# Longer texts are triaged off the event loop.
INLINE_TRIAGE_CHARS = 600
# A text shorter than this (after trimming) is not yet a request a ticket can be made of.
MIN_TICKET_TEXT = 6


def _ticket_created_reply(number: str) -> str:
    return (f"您的诉求已记录，工单号：{number}。工作人员会尽快处理并联系您。"
            f"您可以凭工单号和联系电话查询办理进度。")




def _repeat_reply(ticket: TicketRecord) -> str:
    """The progress of an open ticket, or the result of a finished one (Art. 13(4))."""
    status = STATUS_ZH.get(ticket.status, ticket.status)
    if ticket.status not in FINISHED:
        return (f"您反映的问题已在办理中（工单号 {ticket.number}，当前状态：{status}），无需重复提交，"
                "我们会按时答复您。如有新情况，请直接补充说明。")
    results = [e.data.get("text") for e in ticket.events if e.kind == "result" and e.data]
    result = f"办理结果：{results[-1]}" if results else ""
    return (f"您反映的问题已办理（工单号 {ticket.number}，当前状态：{status}）。{result}"
            "如问题仍未解决或出现新情况，请说明具体情况，我们将复核处理。")


def _emergency_request_kept_reply(number: str, created: bool) -> str:
    kept = "已登记为工单" if created else "已记入工单"
    return (f"请问上面说的危险情况是现在正在发生吗？如果是，请立即拨打上面的电话。"
            f"如果不是，您反映的其他问题{kept} {number}，我们会按普通诉求办理，您也可以继续补充情况。")


def _ticket_appended_reply(number: str) -> str:
    return f"已将您补充的内容记入工单 {number}，工作人员会一并处理。"


@dataclass(frozen=True, slots=True)
class _Draft:
    text: str
    payload: dict[str, Any] | None = None
    role: str = "bot"


@dataclass(frozen=True, slots=True)
class _Recorded:
    """Replies a unit of work has already stored (with the writes they report)."""

    items: list[OutboxItem]


class Pipeline:
    def __init__(self, store: Store, triager: Triager, bot: BotEngine, outbox: OutboxDispatcher,
                 hub: EventHub, kb: KbService, intake: TicketIntake,
                 messages_per_ten_minutes_per_contact: int = 60, choice_minutes: int = 30,
                 metrics: Metrics | None = None, conversational: frozenset[Channel] | None = None,
                 reader: MediaReader | None = None, reading_wait: Callable[[str], float] | None = None,
                 windows: Windows = local_windows, claims: TurnClaims | None = None,
                 triage_worker: TriageWorker | None = None) -> None:
        self._metrics = metrics or Metrics()
        # Channels where the citizen converses with the bot (from the channels' capabilities); the others
        # (e-mail) send one whole message that is answered from the knowledge base or becomes a ticket.
        self._conversational = conversational or frozenset()
        self._store = store
        self._triager = triager
        self._triage_worker = triage_worker
        self._bot = bot
        self._outbox = outbox
        self._hub = hub
        self._kb = kb
        self._turns = KeyedLock()
        self._intake = intake
        self._per_contact = windows("contact", messages_per_ten_minutes_per_contact, 600)
        self._told = windows("told", 1, 600)  # a refused contact hears why at most every ten minutes
        self._choice_window = timedelta(minutes=choice_minutes)
        self._claims = claims or TurnClaims()
        self._reader = reader
        self._reading_wait = reading_wait or (lambda channel: 0.0)
        if reader is not None:
            reader.on_late = self.after_reading

    async def handle(self, msg: InboundMessage) -> list[Reply]:
        """The entry point channel adapters are given (`channels.base.MessageHandler`)."""
        msg = msg.storable()
        triage = await self._triage(msg.text) if msg.text.strip() else None
        emergency = (triage.emergency.lines, triage.emergency.reason) if triage and triage.emergency else None
        # Claimed before it is stored: a gateway that dies between the two leaves a claim that says so.
        claim_key = f"{msg.channel.value}:{msg.external_id}"
        claim = await self._claims.claim(claim_key)
        try:
            ingest = await self._store.messages.record_inbound(msg, triage.as_json() if triage else None, emergency)
            if ingest.duplicate:
                replies, claim = await self._answered(ingest.message_id, claim_key, claim)
                if replies is not None:
                    log.info("duplicate delivery %s/%s answered from the store", msg.channel.value,
                             msg.external_id[:64])
                    return replies
                log.warning("message %d: the gateway that took it stopped before answering; answered here",
                            ingest.message_id)
            return await self._turn(msg, ingest, triage, emergency)
        finally:
            if claim in ("new", "taken"):  # this call holds it ("mine": another task here has the turn)
                await self._claims.finish(claim_key)

    async def _answered(self, message_id: int, claim_key: str, claim: str,
                        wait_seconds: float = 30.0) -> tuple[list[Reply] | None, str]:
        """A re-delivery's answer: the stored replies; while none are stored and a live gateway has the
        turn, those it stores meanwhile; None when its gateway died mid-turn (gateway.cluster.TurnClaims).
        With the claim as it stands now."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            stored = await self._store.messages.replies_to(message_id)
            if stored:
                return [_reply_from_stored(m) for m in stored], claim
            if claim == "taken":
                return None, claim
            if claim == "new" or loop.time() > deadline:
                return [], claim  # its turn finished without a reply (an agent's conversation, a suppressed mail)
            await asyncio.sleep(0.2)
            claim = await self._claims.claim(claim_key)

    async def _turn(self, msg: InboundMessage, ingest: IngestResult, triage: TriageResult | None,
                    emergency: tuple[Any, str] | None) -> list[Reply]:
        if self._reader is not None and self._reader.readable(msg):
            read = await self._reader.read_within(ingest.message_id, self._reading_wait(msg.channel.value))
            if read is None:
                msg = dataclasses.replace(msg, meta={**msg.meta, "reading": "pending"})
            else:
                msg, triage, emergency = await self._with_readings(msg, ingest, triage, read)
        self._count(msg, triage)
        log.info("message %d on %s (conversation %d, %s): %s", ingest.message_id, msg.channel.value,
                 ingest.conversation.id, ingest.conversation.state,
                 triage.disposition if triage else msg.kind.value)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("message %d text: %s", ingest.message_id, mask(msg.text))
        if self._hub.listened(CONSOLE_TOPIC):
            self._hub.publish(CONSOLE_TOPIC, {
                "type": "message", "conversation_id": ingest.conversation.id, "channel": msg.channel.value,
                "message_id": ingest.message_id, "state": ingest.conversation.state,
                "emergency": bool(emergency), "text": mask(msg.text)[:200]})
        decision = await self._decide(msg, ingest, triage)
        if msg.meta.get("suppress_reply"):
            # Auto-replies, bounces, senders over their hourly allowance: stored (and ticketed when they
            # carry a request), never answered.
            log.info("message %d not answered (%s)", ingest.message_id, msg.meta.get("automatic", "reply limit"))
            return []
        if isinstance(decision, _Recorded):
            await self._outbox.deliver_now(decision.items)
            return [_reply_from_item(item) for item in decision.items]
        return await self._send(ingest, msg.sender, decision)

    async def _with_readings(self, msg: InboundMessage, ingest: IngestResult, triage: TriageResult | None,
                             read: list[ReadMedia]) -> tuple[InboundMessage, TriageResult | None, Any]:
        """The message as the citizen's words plus what their photos say: screened and triaged together
        (an emergency photographed is an emergency), and the text the bot and a ticket get."""
        emergency = (triage.emergency.lines, triage.emergency.reason) if triage and triage.emergency else None
        raw, shown = texts(read)
        position = next((r.position for r in read if r.position), None)
        if raw:
            combined = await self._triage(f"{msg.text}\n{raw}".strip())
            # The danger the citizen typed stays whatever the photo adds (a long notice makes the whole read
            # as a letter, where a danger needs a word of "now" beside it); the photo's own text is screened
            # alone too, so a short note inside a long caption is not diluted either.
            found = (triage.emergency if triage is not None and triage.emergency is not None
                     else self._triager.analyze(raw).emergency or combined.emergency)
            if found is not combined.emergency:
                combined = dataclasses.replace(combined, emergency=found,
                                               carries_request=combined.carries_request or found is not None)
            if position and not combined.district and position.get("district"):
                combined = dataclasses.replace(combined, district=position["district"])
            await self._store.readings.set_triage(ingest.message_id, combined.as_json())
            if combined.emergency is not None and emergency is None:
                emergency = (combined.emergency.lines, combined.emergency.reason)
                await self._store.readings.refer(ingest.message_id, ingest.conversation.id, *emergency)
            msg = dataclasses.replace(msg, text=_with_read_text(msg.text, shown))
            triage = combined
        if position:
            msg = dataclasses.replace(msg, meta={**msg.meta, "position": position})
        return msg, triage, emergency

    async def after_reading(self, message_id: int, read: list[ReadMedia]) -> None:
        """What a photo said, read after the message was answered (WeChat cannot wait; a slow video): an
        emergency is referred at once; a conversation's open ticket gets the text; a photo sent alone is
        handled as if its text had been typed; unreadable, the citizen is asked to type."""
        context = await self._store.readings.context(message_id)
        if context is None:
            return
        msg, conv = context.message, context.conversation
        ingest = IngestResult(message_id, conv, duplicate=False)
        raw, shown = texts(read)
        position = next((r.position for r in read if r.position), None)
        decision: list[_Draft] | _Recorded = []
        # A ticket _decide opens below takes the photo's position itself (it names this message).
        ticket = await self._store.tickets.open_for_conversation(conv.id) if raw or position else None
        if not raw:
            if len(msg.text.strip()) < MIN_TICKET_TEXT:  # it was told the photo is being read: now it is told
                decision = [_Draft(MEDIA_ONLY_REPLY, None, "system")]
        else:
            msg, triage, _ = await self._with_readings(msg, ingest, None, read)
            assert triage is not None
            if triage.emergency is not None and not context.referred:
                log.warning("EMERGENCY in a photo on %s conversation %d: lines %s (%s)", msg.channel.value,
                            conv.id, ",".join(triage.emergency.lines), triage.emergency.reason)
                self._hub.publish(CONSOLE_TOPIC, {"type": "emergency", "conversation_id": conv.id,
                                                  "message_id": message_id, "lines": list(triage.emergency.lines),
                                                  "reason": triage.emergency.reason})
                decision = [_Draft(triage.reply_zh, {"emergency_lines": list(triage.emergency.lines)}, "system")]
            if ticket is not None:
                await self._store.tickets.add_event(ticket.id, "citizen", "media_text",
                                                    {"message_id": message_id, "text": shown})
            elif not decision and len(context.message.text.strip()) < MIN_TICKET_TEXT:
                # Sent alone, or with a word or two (见图, 照片): what the photo says is the request.
                decision = await self._decide(msg, ingest, triage)
        if position and ticket is not None:
            await self._store.readings.locate_ticket(ticket.id, position)
        self._hub.publish(CONSOLE_TOPIC, {"type": "reading", "conversation_id": conv.id, "message_id": message_id})
        log.info("message %d followed up after its media were read (%s)", message_id,
                 "text found" if raw else "no text")
        if isinstance(decision, _Recorded):
            await self._outbox.deliver_now(decision.items)
        elif decision and not msg.meta.get("suppress_reply"):
            await self._send(ingest, msg.sender, decision)

    def _count(self, msg: InboundMessage, triage: TriageResult | None) -> None:
        m = self._metrics
        m.messages.labels(msg.channel.value, "in").inc()
        if triage is not None:
            m.triage.labels(triage.disposition, triage.request_type or "none").inc()
            if triage.emergency is not None:
                for line in triage.emergency.lines:
                    m.emergencies.labels(line).inc()

    async def _triage(self, text: str) -> TriageResult:
        """Short texts (nearly all) are triaged by the triage worker process when there is one, else in
        place; long ones in a worker thread, so that one long letter never holds the event loop for the
        other requests (the thread yields the GIL every few ms)."""
        if len(text) <= INLINE_TRIAGE_CHARS:
            if self._triage_worker is not None:
                return await self._triage_worker.analyze(text)
            return self._triager.analyze(text)
        return await asyncio.to_thread(self._triager.analyze, text)

    async def _decide(self, msg: InboundMessage, ingest: IngestResult,
                      triage: TriageResult | None) -> list[_Draft] | _Recorded:
        conv = ingest.conversation
        if triage is not None and triage.emergency is not None:
            lines = list(triage.emergency.lines)
            log.warning("EMERGENCY on %s conversation %d: lines %s (%s)", msg.channel.value, conv.id,
                        ",".join(lines), triage.emergency.reason)
            self._hub.publish(CONSOLE_TOPIC, {"type": "emergency", "conversation_id": conv.id,
                                              "message_id": ingest.message_id, "lines": lines,
                                              "reason": triage.emergency.reason})
            if triage.carries_request and len(msg.text.strip()) >= MIN_TICKET_TEXT:
                return await self._emergency_with_request(msg, ingest, triage)
            return [_Draft(triage.reply_zh, {"emergency_lines": lines}, "system")]
        refused = await self._refuse(msg, conv)
        if refused is not None:
            return refused
        if msg.kind is MessageKind.EVENT:
            # Platform events (subscribe, menu clicks): the adapter says what, if anything, to answer.
            text = msg.meta.get("event_reply")
            return [_Draft(text, None, "system")] if isinstance(text, str) and text else []
        if msg.kind is MessageKind.UNSUPPORTED:
            log.info("unsupported content on %s kept as message %d", msg.channel.value, ingest.message_id)
            return [_Draft(UNSUPPORTED_REPLY, None, "system")]
        if msg.text and looks_like_choice(msg.text):
            picked = await self._kb_pick(msg, ingest)
            if picked is not None:
                return picked
        rating = read_rating(msg.text) if msg.text else None
        if rating is not None:
            ticket = await self._store.tickets.awaiting_rating(conv.id)
            if ticket is not None and await self._rated(ticket.id, rating):
                log.info("ticket %s rated %s by the citizen", ticket.number, rating.level)
                if rating.level == "dissatisfied":
                    self._hub.publish(CONSOLE_TOPIC, {"type": "dissatisfied", "conversation_id": conv.id,
                                                      "ticket_number": ticket.number})
                text = DISSATISFIED if rating.level == "dissatisfied" else THANKS
                return [_Draft(text, {"ticket_number": ticket.number}, "system")]
        if conv.state == "agent":
            return []  # the owning agent sees it on the console and answers
        if conv.state == "waiting_for_agent":
            # Handed over: the bot is paused; the citizen is told the message reached the queue.
            return [_Draft(WAITING_FOR_AGENT_REPLY, None, "system")]
        if triage is None:
            # Media without text: acknowledge; it joins the conversation's ticket if there is one.
            return await self._media_only(msg, ingest)
        if triage.disposition in ("legal_channel", "confidential_or_unlawful", "out_of_jurisdiction"):
            return [_Draft(triage.reply_zh, {"disposition": triage.disposition}, "system")]
        if msg.channel not in self._conversational:
            return await self._fallback(msg, ingest, triage)
        try:
            # One turn at a time per conversation: Rasa would otherwise make the second wait on its lock.
            async with self._turns.hold(conv.key):
                with self._metrics.bot_turn.time():
                    answers = await self._bot.respond(BotTurn(conv.key, msg.text, {
                        "channel": msg.channel.value, "message_id": ingest.message_id, "conversation_id": conv.id,
                        "triage": triage.as_json(), "attachments": len(msg.attachments)}))
        except BotUnavailableError as exc:
            self._metrics.bot_unavailable.inc()
            log.log(logging.INFO if isinstance(self._bot, DisabledBot) else logging.WARNING,
                    "bot unavailable for conversation %d, recording without it: %s", conv.id, exc)
            return await self._fallback(msg, ingest, triage)
        for a in answers:
            offered = (a.custom or {}).get("kb_choices")
            if isinstance(offered, list) and offered and all(isinstance(k, str) for k in offered):
                await self._store.kb_choices.offer(conv.id, ingest.message_id, msg.channel.value, offered[:5])
        return [_from_bot(a) for a in answers]

    async def _rated(self, ticket_id: int, rating: Rating) -> bool:
        """False when an agent's callback recorded a rating first (the store refuses a second one)."""
        try:
            await self._store.tickets.rate(ticket_id, rating.level, rating.solved, note=rating.remark)
        except TransitionRefused:
            return False
        return True

    async def _kb_pick(self, msg: InboundMessage, ingest: IngestResult) -> list[_Draft] | _Recorded | None:
        """The citizen's reply to 「您是想问」: the chosen entry's answer, or for 「都不是」 the question kept as
        a ticket. Every pick is stored: labelled data for calibrating the KB (`hotline kb choices`)."""
        conv = ingest.conversation
        pending = await self._store.kb_choices.pending(conv.id, self._choice_window)
        if pending is None:
            return None
        picked = read_choice(msg.text, len(pending.candidates))
        if picked is None:
            return None
        outcome = picked if picked == NONE_OF_THEM else pending.candidates[picked - 1]
        if not await self._store.kb_choices.settle(pending.id, outcome):
            return None
        log.info("conversation %d picked %s from the knowledge base's choices %s", conv.id, outcome,
                 ",".join(pending.candidates))
        if picked != NONE_OF_THEM:
            entry = self._kb.entry(outcome)
            if entry is not None:
                reply = kb_answers.answer(entry)
                return [_Draft(reply.text, reply.payload(), "bot")]
        question = await self._store.messages.text_of(pending.message_id)
        if not question:
            return [_Draft(kb_answers.NO_MATCH, None, "bot")]
        return await self._open_ticket(msg, ingest, await self._triage(question), question,
                                       kb_answers.none_of_them_reply)

    async def _refuse(self, msg: InboundMessage, conv: Any) -> list[_Draft] | None:
        """Art. 11, 32: a blocked contact, or one over its limit, is stored (nothing is lost) but neither
        answered by the bot nor ticketed; it hears why once in a while. Emergencies never get here."""
        if self._store.contacts.is_blocked(conv.contact_id):
            log.info("message from blocked contact %d on %s stored, not handled", conv.contact_id, msg.channel.value)
            return [_Draft(BLOCKED_REPLY, None, "system")] if await self._told.hit(f"blocked:{conv.contact_id}") else []
        if await self._per_contact.hit(str(conv.contact_id)):
            return None
        log.warning("contact %d on %s over its message limit: stored, not handled", conv.contact_id, msg.channel.value)
        if not await self._told.hit(f"limited:{conv.contact_id}"):
            return []
        self._hub.publish(CONSOLE_TOPIC, {"type": "abuse", "channel": msg.channel.value, "conversation_id": conv.id,
                                          "contact_id": conv.contact_id, "reason": "messages from one contact",
                                          "warning": ART32_WARNING})
        return [_Draft(RATE_LIMITED_REPLY, None, "system")]

    async def _emergency_with_request(self, msg: InboundMessage, ingest: IngestResult,
                                      triage: TriageResult) -> _Recorded:
        """The emergency lines at once, and the rest of what the citizen asked for kept as a ticket, so a
        false alarm (or a danger told at the end of a complaint) never loses the request. The referral
        stays on record for agents; the citizen is asked whether it is happening now."""
        conv = ingest.conversation
        assert triage.emergency is not None
        lines = list(triage.emergency.lines)
        draft = TicketDraft(
            description=msg.text, channel=msg.channel.value, source="emergency", conversation_id=conv.id,
            contact_id=conv.contact_id, request_type=triage.request_type, category=triage.category,
            district=triage.district, utility=triage.utility, contact_phone=phone_in(msg.text))

        def compose(placed: Placement) -> list[OutboundDraft]:
            return [OutboundDraft(triage.reply_zh, "system", None, {"emergency_lines": lines}),
                    OutboundDraft(_emergency_request_kept_reply(placed.number, placed.kind == "created"), "system",
                                  None, {"ticket_number": placed.number})]

        placed, items = await self._store.ticket_turn(
            conv, draft, {"message_id": ingest.message_id, "text": msg.text, "emergency_lines": lines},
            compose, msg.sender, ingest.message_id, self._outbox.queues(msg.channel), self._intake.plan,
            None, timedelta(0), same_problem_finder(draft.description, draft.district), LOOKBACK)
        if placed.kind == "created":
            log.info("ticket %s kept beside the emergency referral in conversation %d", placed.number, conv.id)
            _log_link(placed)
        return _Recorded(items)

    async def _media_only(self, msg: InboundMessage, ingest: IngestResult) -> list[_Draft]:
        ticket = await self._store.tickets.open_for_conversation(ingest.conversation.id)
        if ticket is not None:
            await self._store.tickets.add_event(ticket.id, "citizen", "citizen_media",
                                                {"message_id": ingest.message_id, "attachments": len(msg.attachments)})
            if msg.meta.get("position"):
                await self._store.readings.locate_ticket(ticket.id, msg.meta["position"])
            return [_Draft(_ticket_appended_reply(ticket.number), {"ticket_number": ticket.number}, "system")]
        if msg.meta.get("reading") == "pending":
            return [_Draft(MEDIA_BEING_READ_REPLY, None, "system")]
        return [_Draft(MEDIA_ONLY_REPLY, None, "system")]

    async def _fallback(self, msg: InboundMessage, ingest: IngestResult,
                        triage: TriageResult) -> list[_Draft] | _Recorded:
        """Without the bot: append to the conversation's open ticket or open one; agents are told."""
        conv = ingest.conversation
        if wants_agent(msg.text):
            # Without the bot the gateway hands over itself: the conversation waits for an agent.
            await self._store.messages.request_agent(conv.id)
            self._hub.publish(CONSOLE_TOPIC, {"type": "handoff", "conversation_id": conv.id, "reason": "requested"})
            log.info("conversation %d asked for a person without the bot: in the agents' queue", conv.id)
            return [_Draft(HANDOFF_WITHOUT_BOT_REPLY, {"handoff": True}, "system")]
        if triage.disposition != "accept" or len(msg.text.strip()) < MIN_TICKET_TEXT:
            if msg.meta.get("reading") == "pending":
                return [_Draft(MEDIA_BEING_READ_REPLY, None, "system")]
            return [_Draft(FALLBACK_PROMPT, None, "system")]
        if triage.request_type == "consultation":
            reply = self._kb.reply(msg.text, msg.channel.value)
            self._metrics.kb_outcomes.labels(reply.outcome).inc()
            if reply.outcome == "answer":
                log.info("answered from the knowledge base without the bot: %s", reply.entries[0].key)
                return [_Draft(reply.text, reply.payload(), "system")]
            if reply.outcome == "choose":
                await self._store.kb_choices.offer(conv.id, ingest.message_id, msg.channel.value,
                                                   [e.key for e in reply.entries])
                return [_Draft(reply.text, reply.payload(), "system")]
        return await self._open_ticket(msg, ingest, triage, msg.text, None, repeats=True)

    async def _open_ticket(self, msg: InboundMessage, ingest: IngestResult, triage: TriageResult, description: str,
                           reply: Callable[[str, bool], str] | None, repeats: bool = False) -> _Recorded:
        """`description` placed and answered in one unit of work, without the bot: added to the
        conversation's open ticket; or, with `repeats` (Art. 13(4)), the same citizen asking the same
        thing again from another conversation hears that ticket's progress and the same matter with
        something new is added to it; or a new ticket is opened, and agents are told."""
        conv = ingest.conversation
        draft = TicketDraft(
            description=description, channel=msg.channel.value, source="fallback", conversation_id=conv.id,
            contact_id=conv.contact_id, request_type=triage.request_type, category=triage.category,
            district=triage.district, utility=triage.utility, contact_phone=phone_in(description))

        def find_earlier(candidates: list[Any]) -> EarlierRequest | None:
            return earlier_request(description, candidates, conv.contact_id, conv.id, UNKNOWN_SENDER)

        def compose(placed: Placement) -> list[OutboundDraft]:
            if msg.meta.get("suppress_reply"):
                return []
            created = placed.kind == "created"
            if placed.kind == "repeat" and placed.earlier is not None:
                text = _repeat_reply(placed.earlier)
            elif reply is not None:
                text = reply(placed.number, created)
            else:
                text = _ticket_created_reply(placed.number) if created else _ticket_appended_reply(placed.number)
            return [OutboundDraft(text, "system", None, {"ticket_number": placed.number})]

        # The conversation stays with the bot: when it is back, the next message goes to it again.
        placed, items = await self._store.ticket_turn(
            conv, draft, {"message_id": ingest.message_id, "text": description}, compose, msg.sender,
            ingest.message_id, self._outbox.queues(msg.channel), await self._planning(ingest, draft),
            find_earlier if repeats else None, LOOKBACK,
            same_problem_finder(draft.description, draft.district), LOOKBACK)
        if placed.kind == "created":
            log.info("ticket %s opened without the bot for conversation %d", placed.number, conv.id)
            _log_link(placed)
            self._hub.publish(CONSOLE_TOPIC, {"type": "ticket_without_bot", "conversation_id": conv.id,
                                              "ticket_number": placed.number})
        return _Recorded(items)

    async def _planning(self, ingest: IngestResult, draft: TicketDraft) -> Callable[[TicketDraft], TicketDraft]:
        """How the ticket turn plans a ticket it opens. A new conversation has no ticket, so its draft will
        most likely become one: its dispatch proposal is made by the triage worker first, off this
        process's core. Other messages mostly join their conversation's ticket and are planned, when
        they do open one, inside the turn."""
        if not ingest.new_conversation or self._triage_worker is None:
            return self._intake.plan
        proposal = await self._triage_worker.propose(*proposal_input(draft))
        return self._intake.plan if proposal is None else functools.partial(self._intake.plan, proposal=proposal)

    async def _send(self, ingest: IngestResult, recipient: str, drafts: Sequence[_Draft]) -> list[Reply]:
        if not drafts:
            return []
        channel = Channel(ingest.conversation.channel)
        items = await self._store.messages.record_outbound(ingest.conversation, recipient, ingest.message_id, [
            OutboundDraft(d.text, d.role, None, d.payload) for d in drafts], queue=self._outbox.queues(channel))
        await self._outbox.deliver_now(items)
        return [_reply(d, item.message_id) for d, item in zip(drafts, items)]


def _log_link(placed: Placement) -> None:
    if placed.linked:
        log.info("ticket %s linked to %s (same problem)", placed.number, placed.linked)


def _with_read_text(typed: str, read: str) -> str:
    return f"{typed.strip()}\n{READ_TEXT_MARK}{read}".strip() if typed.strip() else f"{READ_TEXT_MARK}{read}"


def _from_bot(answer: BotAnswer) -> _Draft:
    payload: dict[str, Any] = {}
    if answer.buttons:
        payload["buttons"] = list(answer.buttons)
    if answer.custom and isinstance(answer.custom.get("ticket_number"), str):
        payload["ticket_number"] = answer.custom["ticket_number"]
    return _Draft(answer.text, payload or None, "bot")


def _reply(d: _Draft, message_id: int) -> Reply:
    p = d.payload or {}
    return Reply(d.text, d.role, tuple(p.get("buttons", ())), p.get("ticket_number"),
                 tuple(p.get("emergency_lines", ())), message_id)


def _reply_from_item(item: OutboxItem) -> Reply:
    return _reply(_Draft(item.text, item.payload, item.sender_role), item.message_id)


def _reply_from_stored(m: StoredMessage) -> Reply:
    return _reply(_Draft(m.text, m.payload, m.sender_role), m.id)


__all__ = ["Pipeline", "ConversationRef"]
