"""Turning real-world mail into text and parts.

Chinese mail in the wild: GB2312 labels on GBK or GB18030 text, Big5, raw 8-bit
headers with no RFC 2047, HTML-only bodies, RFC 2231 and raw 8-bit attachment
names, quoted replies and signatures. Nothing here raises on bad input: what
cannot be decoded is decoded with replacement characters and kept.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from dataclasses import dataclass, field
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

# A GB2312 label is very often GBK or GB18030 text: decode with the superset.
_SUPERSET = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030", "euc-cn": "gb18030",
             "big5": "big5hkscs", "x-big5": "big5hkscs", "ks_c_5601-1987": "cp949", "iso-8859-1": "cp1252",
             "us-ascii": "utf-8", "ascii": "utf-8"}
_FALLBACKS = ("utf-8", "gb18030", "big5hkscs")
_THREAD_TAG = re.compile(r"\[12345-(\d{8}-\d{6})\]")


def charset_for(label: str | None) -> str:
    label = (label or "").strip().strip('"').lower()
    return _SUPERSET.get(label, label)


def decode_bytes(data: bytes, declared: str | None) -> str:
    """Declared charset (widened), then UTF-8, GB18030, Big5; never raises."""
    tried = []
    for cs in (charset_for(declared), *_FALLBACKS):
        if not cs or cs in tried:
            continue
        tried.append(cs)
        try:
            return data.decode(cs)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode(charset_for(declared) or "utf-8", errors="replace") if _known(declared) else \
        data.decode("gb18030", errors="replace")


def _known(label: str | None) -> bool:
    import codecs
    try:
        codecs.lookup(charset_for(label))
        return bool(label)
    except LookupError:
        return False


def decode_header_value(value: object, fallback_charset: str | None = None) -> str:
    """RFC 2047 words with widened charsets; raw 8-bit header bytes decoded like the body."""
    if value is None:
        return ""
    if isinstance(value, Header):
        # compat32 wraps raw 8-bit header bytes in a Header of charset "unknown-8bit".
        chunks = decode_header(value)
        return re.sub(r"\s+", " ", "".join(
            decode_bytes(c, None if cs in (None, "unknown-8bit") else cs) if isinstance(c, bytes) else c
            for c, cs in chunks) if fallback_charset is None else "".join(
            decode_bytes(c, fallback_charset if cs in (None, "unknown-8bit") else cs) if isinstance(c, bytes) else c
            for c, cs in chunks)).strip()
    raw = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        # compat32 keeps raw 8-bit header bytes as surrogate escapes.
        return decode_bytes(raw.encode("ascii", "surrogateescape"), fallback_charset).strip()
    try:
        parts = decode_header(raw)
    except Exception:
        return raw
    out = []
    for chunk, cs in parts:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, cs or fallback_charset))
        else:
            out.append(chunk)
    return re.sub(r"\s+", " ", "".join(out)).strip()


class _HtmlText(HTMLParser):
    """HTML to plain text: tags dropped, scripts and styles skipped, block elements make line breaks."""

    _BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # malformed markup: keep what was read
        pass
    text = html.unescape("".join(parser.parts)).replace("\xa0", " ")
    return re.sub(r"\n\s*\n+", "\n\n", re.sub(r"[ \t]+", " ", text)).strip()


_QUOTE_START = re.compile(
    r"^\s*(-{2,}\s*(original message|原始邮件|原邮件|forwarded message|转发的邮件)\s*-{2,}|"
    r"(在|于).{0,60}(写道|wrote)\s*[:：]\s*$|on .{0,120}wrote:\s*$|"
    r"(发件人|from)\s*[:：].*$|________________+)", re.IGNORECASE)


def trim_reply(text: str) -> str:
    """Drop the quoted earlier mail and the signature; keep what the citizen wrote now."""
    kept = []
    for line in text.splitlines():
        if _QUOTE_START.match(line) or line.rstrip() in ("--", "-- "):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    trimmed = "\n".join(kept).strip()
    return trimmed or text.strip()


@dataclass
class MailPart:
    data: bytes
    filename: str | None
    declared_type: str
    inline: bool


@dataclass
class ParsedMail:
    message_id: str | None
    from_addr: str
    from_name: str
    to: list[str]
    subject: str
    text: str
    in_reply_to: str | None
    references: list[str]
    parts: list[MailPart] = field(default_factory=list)
    automatic: str | None = None  # why this mail must not be answered automatically
    is_report: bool = False        # a delivery status notification

    @property
    def thread_ticket(self) -> str | None:
        m = _THREAD_TAG.search(self.subject)
        return m.group(1) if m else None


def _body_charset(msg: Message) -> str | None:
    for part in msg.walk():
        if part.get_content_maintype() == "text" and part.get_content_charset():
            return part.get_content_charset()
    return None


def _text_of(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    return decode_bytes(payload, part.get_content_charset())


def _filename(part: Message, fallback_charset: str | None) -> str | None:
    name = part.get_filename()  # handles RFC 2231
    if name is None:
        return None
    return decode_header_value(name, fallback_charset) or None


def _automatic_reason(msg: Message, from_addr: str) -> str | None:
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = (msg.get("Precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    local = from_addr.split("@", 1)[0].lower()
    if local in ("mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply") or not from_addr:
        return f"sender {from_addr or '(none)'}"
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("List-Id") or msg.get("List-Unsubscribe"):
        return "auto-reply or list header"
    if msg.get_content_type() == "multipart/report":
        return "delivery status notification"
    return None


def _header(msg: Message, name: str, charset: str | None) -> str:
    """A header as text: compat32 hands back a Header object when the line holds raw 8-bit bytes."""
    value = msg.get(name)
    if value is None:
        return ""
    return decode_header_value(value, charset) if isinstance(value, Header) else str(value)


def parse_mail(raw: bytes) -> ParsedMail:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    body_cs = _body_charset(msg)
    raw_from = msg.get("From")
    # No From header at all: no address (str(None) once made the contact "none").
    from_name, from_addr = parseaddr("" if raw_from is None else str(raw_from) if not isinstance(raw_from, Header)
                                     else decode_header_value(raw_from, body_cs))
    to = [addr.lower() for _, addr in getaddresses([str(v) for v in msg.get_all("To", []) + msg.get_all("Cc", [])])]
    plain: list[str] = []
    htmls: list[str] = []
    parts: list[MailPart] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = _header(part, "Content-Disposition", body_cs).split(";", 1)[0].strip().lower()
        name = _filename(part, body_cs)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and name is None:
            (plain if ctype == "text/plain" else htmls).append(_text_of(part))
            continue
        if ctype in ("message/delivery-status", "text/rfc822-headers", "message/rfc822"):
            continue
        data = part.get_payload(decode=True)
        if data:
            parts.append(MailPart(data, name, ctype, disposition == "inline" or (disposition == "" and
                                                                                   part.get("Content-ID") is not None)))
    text = "\n".join(p for p in plain if p.strip()) or "\n".join(html_to_text(h) for h in htmls)
    refs = _header(msg, "References", body_cs).split()
    return ParsedMail(
        message_id=_header(msg, "Message-ID", body_cs).strip() or None,
        from_addr=from_addr.lower(), from_name=decode_header_value(from_name, body_cs),
        to=to, subject=decode_header_value(msg.get("Subject"), body_cs),
        text=trim_reply(text.replace("\r\n", "\n")), in_reply_to=_header(msg, "In-Reply-To", body_cs).strip() or None,
        references=refs, parts=parts, automatic=_automatic_reason(msg, from_addr),
        is_report=msg.get_content_type() == "multipart/report")
