"""Logging set-up with personal information masked in every record (Art. 28), as text for a terminal or
as JSON lines for a log collector (`[logging] format`), each record with the id of the HTTP request it
belongs to."""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import datetime, timezone

from nlu.pii import mask

# A Telegram bot token ("123456:ABC-...") inside any URL or message, whatever logged it.
_BOT_TOKEN = re.compile(r"(bot|/)\d{6,12}(?::|%3[Aa])[A-Za-z0-9_-]{30,}")
# The Telegram webhook's path is a secret of its own (HOTLINE_TELEGRAM_WEBHOOK_PATH).
_WEBHOOK_PATH = re.compile(r"(/channels/telegram/)[^/\s?]+")


# The request being served (set by the HTTP middleware); "-" outside a request.
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request id, exception text."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "msg": record.getMessage(),
                 "request_id": getattr(record, "request_id", "-")}
        if record.exc_info:
            entry["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class PiiMaskingFilter(logging.Filter):
    """Masks phones, ID numbers, cards, e-mail addresses, names and addresses in the final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        masked = _WEBHOOK_PATH.sub(r"\1<secret>", _BOT_TOKEN.sub(r"\1<token>", mask(message)))
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"))
    handler.addFilter(PiiMaskingFilter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request URL at INFO, and the Telegram Bot API puts the bot token in the URL.
    logging.getLogger("httpx").setLevel(logging.WARNING)
