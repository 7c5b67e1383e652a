"""Logging set-up with personal information masked in every record (Art. 28)."""

from __future__ import annotations

import logging

import re

from nlu.pii import mask

# A Telegram bot token ("123456:ABC-...") inside any URL or message, whatever logged it.
_BOT_TOKEN = re.compile(r"(bot|/)\d{6,12}(?::|%3[Aa])[A-Za-z0-9_-]{30,}")
# The Telegram webhook's path is a secret of its own (HOTLINE_TELEGRAM_WEBHOOK_PATH).
_WEBHOOK_PATH = re.compile(r"(/channels/telegram/)[^/\s?]+")


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


def configure(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PiiMaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request URL at INFO, and the Telegram Bot API puts the bot token in the URL.
    logging.getLogger("httpx").setLevel(logging.WARNING)
