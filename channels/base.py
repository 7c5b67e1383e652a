"""The normalized message types every channel produces and consumes, and the adapter interface.

Adapters translate a platform's payloads into `InboundMessage` and deliver
`OutboundMessage`; they are handed the pipeline's entry point and the stores
they need, so they never import the gateway application.
"""

from __future__ import annotations

import dataclasses
import hashlib
import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Protocol, Sequence


# The sender of a message whose platform did not say who sent it (a phone call without caller id).
UNKNOWN_SENDER = "unknown"


class Channel(str, enum.Enum):
    WEB = "web"
    WECHAT = "wechat"
    EMAIL = "email"
    IVR = "ivr"
    TELEGRAM = "telegram"
    CONSOLE = "console"

    @classmethod
    def register(cls, name: str) -> "Channel":
        """A channel that a plugin brings at run time (a city's own app, a test's toy channel) without an
        edit here. Not listed when iterating Channel: the five built-in channels are what the API names."""
        existing = cls._value2member_map_.get(name)
        if existing is not None:
            return existing  # type: ignore[return-value]
        if not re.fullmatch(r"[a-z][a-z0-9_]{1,15}", name):
            raise ValueError(f"channel names are 2-16 lower-case letters, digits or _: {name!r}")
        member = str.__new__(cls, name)
        member._name_, member._value_ = name.upper(), name
        cls._value2member_map_[name] = member
        cls._member_map_[name.upper()] = member
        return member


class AttachmentKind(str, enum.Enum):
    IMAGE = "image"
    VIDEO = "video"
    VOICE = "voice"
    FILE = "file"
    LOCATION = "location"


class MessageKind(str, enum.Enum):
    TEXT = "text"
    MEDIA = "media"          # attachments, with or without text
    EVENT = "event"          # platform events (subscribe, call started, ...)
    UNSUPPORTED = "unsupported"  # kept with its raw payload, answered politely


@dataclass(frozen=True, slots=True)
class Attachment:
    """A stored piece of media. `storage_key` points into the media store (content-addressed)."""

    kind: AttachmentKind
    content_type: str
    size: int
    sha256: str
    storage_key: str
    filename: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One citizen submission, whatever the channel.

    `external_id` is the platform's id for the delivery (WeChat MsgId, email
    Message-ID, web client message id): `(channel, external_id)` is unique in
    the store, so a re-delivery is recognised.
    `conversation_key` groups messages into a conversation (web session, WeChat
    openid, email thread root, call id, Telegram chat id).
    """

    channel: Channel
    external_id: str
    sender: str
    conversation_key: str
    text: str = ""
    kind: MessageKind = MessageKind.TEXT
    attachments: tuple[Attachment, ...] = ()
    sender_name: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    raw: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def storable(self) -> "InboundMessage":
        """The same message as both databases can hold it: no NUL characters or lone surrogates
        anywhere (PostgreSQL refuses them, and a refused mail was retried forever), identifiers
        within their columns (a longer one becomes its prefix and digest: still unique, still the same
        on a re-delivery), display names cut to their column."""
        return dataclasses.replace(
            self, external_id=_identifier(self.external_id), sender=_identifier(self.sender),
            conversation_key=_identifier(self.conversation_key), text=clean_text(self.text),
            sender_name=clean_text(self.sender_name)[:255] if self.sender_name else self.sender_name,
            raw=clean_text(self.raw) if self.raw is not None else None, meta=_clean(self.meta),
            attachments=tuple(dataclasses.replace(
                a, filename=clean_text(a.filename)[:255] if a.filename else a.filename,
                content_type=clean_text(a.content_type)[:128]) for a in self.attachments))


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A reply to a citizen, queued in the outbox until the channel confirms delivery."""

    channel: Channel
    conversation_key: str
    recipient: str
    text: str
    sender_role: str = "bot"  # bot | agent | system
    attachments: tuple[Attachment, ...] = ()
    buttons: tuple[dict[str, str], ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """What the pipeline answers to one inbound message (already stored as an outbound message)."""

    text: str
    sender_role: str = "bot"
    buttons: tuple[dict[str, str], ...] = ()
    ticket_number: str | None = None
    emergency_lines: tuple[str, ...] = ()
    message_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text, "from": self.sender_role}
        if self.buttons:
            data["buttons"] = list(self.buttons)
        if self.ticket_number:
            data["ticket_number"] = self.ticket_number
        if self.emergency_lines:
            data["emergency_lines"] = list(self.emergency_lines)
        if self.message_id is not None:
            data["id"] = self.message_id
        return data


# The pipeline's entry point as adapters see it: hand in a message, get the replies.
MessageHandler = Callable[[InboundMessage], Awaitable[Sequence[Reply]]]


class ChannelAdapter(Protocol):
    """What the outbox needs from a channel to deliver a reply.

    `deliver` raises `channels.errors.DeliveryError` (permanent or not) on failure;
    returning normally means the platform accepted the message.
    """

    channel: Channel

    async def deliver(self, message: OutboundMessage) -> None: ...


_IDENTIFIER_MAX = 255


def clean_text(value: str) -> str:
    """Without NUL characters and lone surrogates (replaced by U+FFFD)."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _identifier(value: str) -> str:
    value = clean_text(value)
    if len(value) <= _IDENTIFIER_MAX:
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()
    return f"{value[:_IDENTIFIER_MAX - 72]}#sha256:{digest}"


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value
