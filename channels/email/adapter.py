"""The e-mail channel: SMTP in (aiosmtpd on the gateway's event loop), threaded replies out (aiosmtplib).

A mail is stored (with its attachments) before the SMTP server says 250; a
transient failure says 451 so the sending server retries; nothing is ever
answered with aiosmtpd's default 500. Threads are kept by our own Message-IDs
(they carry the conversation key), by `References`, and by the ticket tag
`[12345-YYYYMMDD-NNNNNN]` in the subject.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import ssl
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Awaitable, Callable

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.base import AttachmentKind, Channel, InboundMessage, MessageHandler, MessageKind, OutboundMessage
from channels.email.auth import DnsTxt, authenticate, dns_txt
from channels.email.compose import compose_reply
from channels.email.relay import RelayAddress, RelayConnections
from channels.email.parse import ParsedMail, parse_mail
from channels.errors import DeliveryError, PayloadTooLarge, ServiceError, UnsupportedMediaType
from channels.media import MediaStore
from channels.rate_limit import Windows, local_windows

log = logging.getLogger(__name__)

MAIL_KINDS = frozenset({AttachmentKind.IMAGE, AttachmentKind.VIDEO, AttachmentKind.VOICE})
OUR_ID_PREFIX = "hotline."

# conversation key of a ticket, if the sender is the ticket's citizen; None otherwise
TicketThread = Callable[[str, str], Awaitable[str | None]]
# inbound mail (subject, Message-ID, References) that an outbound message answers
ReplyContext = Callable[[int], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class EmailSettings:
    addresses: frozenset[str]
    domain: str
    max_message_bytes: int
    relay_host: str
    relay_port: int
    max_auto_replies_per_hour: int
    max_mails_per_sender_per_hour: int


def encode_key(key: str) -> str:
    return base64.b32encode(key.encode()).decode().rstrip("=").lower()


def decode_key(token: str) -> str | None:
    try:
        padded = token.upper() + "=" * (-len(token) % 8)
        return base64.b32decode(padded).decode()
    except (ValueError, UnicodeDecodeError):
        return None


# The contact of a mail that names no sender at all: visible as such to agents, never "none".
NO_SENDER = "unknown-sender@invalid"


def _own_key(parsed: ParsedMail, raw: bytes) -> str:
    """A conversation of its own: an unauthenticated mail joins no existing thread."""
    return "mail:" + (parsed.message_id or "sha256:" + hashlib.sha256(raw).hexdigest())


class UnreadableMail(Exception):
    """A mail no retry can make readable (answered with a permanent 5xx)."""


class EmailChannel:
    channel = Channel.EMAIL
    # The outbox sends replies after the SMTP transaction has been answered (deliver_in_background).

    def __init__(self, handle: MessageHandler, media: MediaStore, settings: EmailSettings,
                 ticket_thread: TicketThread, reply_context: ReplyContext, dns: DnsTxt | None = None,
                 windows: Windows = local_windows) -> None:
        self._handle = handle
        self._dns = dns or dns_txt(3.0)
        self._media = media
        self.settings = settings
        self._ticket_thread = ticket_thread
        self._reply_context = reply_context
        self._relay = RelayConnections(RelayAddress(settings.relay_host, settings.relay_port, settings.domain))
        # Per sender and hour, counted by every gateway when `windows` is the cluster's (an MTA's next
        # connection may reach another): mail transactions begun, and automatic replies sent.
        self._received = windows("mail_sender", settings.max_mails_per_sender_per_hour, 3600)
        self._auto_replied = windows("mail_auto_reply", settings.max_auto_replies_per_hour, 3600)

    # --- SMTP server hooks (aiosmtpd handler protocol)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        sender = address.lower()
        if sender and await self._received.full(sender):
            log.warning("smtp: sender over %d mails/hour, deferred", self.settings.max_mails_per_sender_per_hour)
            return "451 4.7.1 Too many messages from this sender, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address.lower() not in self.settings.addresses:
            log.warning("smtp: recipient refused (not a hotline address, no relaying)")
            return "550 5.7.1 Recipient not accepted: this server only receives mail for the 12345 hotline"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            await self.receive(raw, (envelope.mail_from or "").strip().strip("<>").lower())  # "<>": bounces
        except UnreadableMail as exc:
            # A permanent answer with the reason: a retry would fail the same way (and forever).
            log.warning("smtp: mail refused for good: %s", exc)
            return f"554 5.6.0 Message refused: {exc}"
        except ServiceError as exc:
            log.error("smtp: mail not stored, sender asked to retry: %s", exc.reason)
            return "451 4.3.0 Temporary failure, please try again later"
        except Exception:
            log.exception("smtp: mail not stored, sender asked to retry")
            return "451 4.3.0 Temporary failure, please try again later"
        return "250 2.0.0 OK: received"

    # --- inbound

    async def receive(self, raw: bytes, envelope_from: str) -> None:
        # MIME parsing of a big mail is CPU work: in a worker thread, so the loop keeps serving.
        try:
            parsed = await asyncio.to_thread(parse_mail, raw)
        except RecursionError as exc:
            raise UnreadableMail("MIME structure nested too deeply") from exc
        except Exception:
            # A mail our parser cannot read is still accepted and kept, raw, where agents see it: a
            # retry would fail the same way, and the citizen's words must not be lost.
            log.exception("email: mail not readable, kept as an unsupported record")
            await self._handle(InboundMessage(
                channel=Channel.EMAIL, external_id="sha256:" + hashlib.sha256(raw).hexdigest(),
                sender=envelope_from or NO_SENDER, conversation_key="mail:sha256:" + hashlib.sha256(raw).hexdigest(),
                kind=MessageKind.UNSUPPORTED, raw=raw.decode("utf-8", "replace")[:1_000_000],
                meta={"suppress_reply": True, "unreadable": True}))
            return
        sender = parsed.from_addr or envelope_from or NO_SENDER
        await self._received.add(sender)
        auth = await asyncio.to_thread(authenticate, raw, envelope_from, parsed.from_addr, self._dns)
        if not auth.may_act:
            log.info("email: unauthenticated sender (%s): a new request, not an action on a ticket",
                     "DKIM failed" if auth.dkim == "fail" else "envelope differs from From")
        attachments = [await self._store_part(p.data, p.filename, p.declared_type) for p in parsed.parts]
        key = await self._conversation_key(parsed, sender) if auth.may_act else _own_key(parsed, raw)
        automatic = parsed.automatic
        suppress = automatic is not None
        if not suppress and await self._auto_replied.full(sender):
            suppress, automatic = True, None
            log.warning("email: sender already got %d automatic replies this hour; this one is not answered",
                        self.settings.max_auto_replies_per_hour)
        text = _with_subject(parsed)
        kind = MessageKind.UNSUPPORTED if automatic else (MessageKind.MEDIA if attachments else MessageKind.TEXT)
        msg = InboundMessage(
            channel=Channel.EMAIL,
            external_id=parsed.message_id or "sha256:" + hashlib.sha256(raw).hexdigest(),
            sender=sender, sender_name=parsed.from_name or None, conversation_key=key, text=text, kind=kind,
            attachments=tuple(attachments), raw=raw.decode("utf-8", "replace")[:1_000_000],
            meta={"subject": parsed.subject, "message_id": parsed.message_id, "references": parsed.references,
                  "suppress_reply": suppress, "mail_auth": auth.as_json(),
                  **({"automatic": automatic} if automatic else {})})
        replies = await self._handle(msg)
        if replies and not suppress:
            await self._auto_replied.add(sender)

    async def _store_part(self, data: bytes, filename: str | None, declared: str) -> Any:
        try:
            return await self._media.save(data, filename=filename, allowed_kinds=MAIL_KINDS)
        except (UnsupportedMediaType, PayloadTooLarge):
            # winmail.dat, PDFs, oversized photos: kept as files, never dropped.
            return await self._media.save_as(data, declared or "application/octet-stream", AttachmentKind.FILE,
                                             filename)

    async def _conversation_key(self, parsed: ParsedMail, sender: str) -> str:
        for ref in [parsed.in_reply_to or "", *reversed(parsed.references)]:
            local = ref.strip("<>").split("@", 1)[0]
            if local.startswith(OUR_ID_PREFIX):
                key = decode_key(local.split(".")[1]) if local.count(".") >= 2 else None
                if key:
                    return key
        if parsed.thread_ticket:
            key = await self._ticket_thread(parsed.thread_ticket, sender)
            if key:
                return key
        root = parsed.references[0] if parsed.references else parsed.in_reply_to or parsed.message_id
        return "mail:" + (root or sender)

    # --- outbound (called by the outbox)

    async def close(self) -> None:
        """The relay connections kept open between replies."""
        await self._relay.close()


    async def deliver(self, message: OutboundMessage) -> None:
        context = await self._reply_context(int(message.meta["message_id"])) or {}
        subject = context.get("subject") or "您的来信"
        number = message.meta.get("ticket_number")
        base = subject if subject.lower().startswith(("re:", "回复")) else f"Re: {subject}"
        reply = compose_reply(
            from_name="泰安市12345政务服务便民热线", from_addr=sorted(self.settings.addresses)[0],
            recipient=message.recipient,
            subject=f"[12345-{number}] {_strip_tag(base)}" if number else base,
            date=formatdate(localtime=False),
            message_id=(f"<{OUR_ID_PREFIX}{encode_key(message.conversation_key)}."
                        f"{message.meta['message_id']}@{self.settings.domain}>"),
            in_reply_to=context.get("message_id"), references=list(context.get("references", [])),
            auto_submitted=message.sender_role != "agent",
            body=message.text + "\n\n——\n泰安市12345政务服务便民热线\n回复本邮件即可补充材料，请保留标题中的工单号。")
        try:
            await self._relay.send(reply.data, reply.sender, reply.recipient,
                                   ["SMTPUTF8"] if reply.needs_smtputf8 else None)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"relay refused the recipient: {exc}", permanent=True) from exc
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            raise DeliveryError(f"relay: {type(exc).__name__}: {exc}") from exc


def _strip_tag(subject: str) -> str:
    import re
    return re.sub(r"\s*\[12345-\d{8}-\d{6}\]\s*", " ", subject).strip()


def _with_subject(parsed: ParsedMail) -> str:
    """Triage and tickets read the subject too, unless it only repeats the body or is a reply prefix.

    A reply keeps the subject of the mail it answers: what the citizen says now is the body alone
    (a rating such as "3 不满意" or the pick "2" after 「您是想问」 must reach the pipeline as written)."""
    import re
    tagged = _strip_tag(parsed.subject)
    subject = re.sub(r"^((re|fw|fwd|回复|答复|转发)\s*[:：]\s*)+", "", tagged, flags=re.IGNORECASE)
    body = parsed.text.strip()
    is_reply = subject != tagged and bool(parsed.in_reply_to) and tagged.lower().startswith(("re", "回复", "答复"))
    if not subject or subject in body or (body and (tagged != parsed.subject or is_reply)):
        return body
    return f"{subject}\n{body}".strip()


class _HotlineSMTP(SMTP):
    # Real mail breaks the 1,000-character line rule (bounces, HTML); accept it rather than answer 500.
    # The message size limit still bounds memory.
    line_length_limit = 100_000


async def start_smtp_server(channel: EmailChannel, host: str, port: int,
                            tls_context: ssl.SSLContext | None) -> asyncio.AbstractServer:
    """aiosmtpd's protocol on this event loop (no Controller thread)."""
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        return _HotlineSMTP(channel, data_size_limit=channel.settings.max_message_bytes, enable_SMTPUTF8=True,
                    hostname=channel.settings.domain, ident="12345 hotline", tls_context=tls_context,
                    require_starttls=False, decode_data=False)

    return await loop.create_server(factory, host=host, port=port)
