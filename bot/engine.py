"""The bot engine as the pipeline sees it, and its production implementation over Rasa's HTTP API.

Nothing from Rasa is imported: Rasa 3.6 runs in its own Python 3.10
virtualenv and process. Every failure (connection refused, timeout, a non-200
answer, a body that is not the REST channel's list) becomes `BotUnavailable`,
and the pipeline then records the request without the bot.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp


class BotUnavailableError(Exception):
    """The engine could not answer; the caller falls back (ticket, agent queue)."""


@dataclass(frozen=True, slots=True)
class BotTurn:
    conversation_key: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BotAnswer:
    text: str
    buttons: tuple[dict[str, str], ...] = ()
    custom: dict[str, Any] | None = None


class BotEngine(Protocol):
    async def respond(self, turn: BotTurn) -> list[BotAnswer]: ...

    async def status(self) -> dict[str, Any]: ...

    async def pause(self, conversation_key: str) -> None:
        """Stop the bot answering this conversation (a human has it). Raises BotUnavailableError."""

    async def resume(self, conversation_key: str) -> None:
        """Let the bot answer again after a human handed the conversation back."""


class DisabledBot:
    """Used when the operators switch the bot off: every turn falls back."""

    async def respond(self, turn: BotTurn) -> list[BotAnswer]:
        raise BotUnavailableError("bot disabled by configuration")

    async def status(self) -> dict[str, Any]:
        return {"ok": False, "detail": "disabled"}

    async def pause(self, conversation_key: str) -> None:
        return None

    async def resume(self, conversation_key: str) -> None:
        return None


class RasaBot:
    """Talks to `rasa run --enable-api` through the REST channel webhook."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout: float,
                 auth_token: str | None = None) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._params = {"token": auth_token} if auth_token else {}

    async def respond(self, turn: BotTurn) -> list[BotAnswer]:
        body = {"sender": turn.conversation_key, "message": turn.text, "metadata": turn.metadata}
        try:
            async with self._session.post(f"{self._base}/webhooks/rest/webhook", json=body,
                                          timeout=self._timeout) as resp:
                if resp.status != 200:
                    raise BotUnavailableError(f"rasa answered HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as exc:
            raise BotUnavailableError(f"rasa unreachable: {type(exc).__name__}: {exc}") from exc
        if not isinstance(data, list):
            raise BotUnavailableError("rasa answered something other than a list of messages")
        answers: list[BotAnswer] = []
        for item in data:
            if not isinstance(item, dict):
                continue
            buttons = tuple({"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                            for b in item.get("buttons") or [] if isinstance(b, dict))
            text = item.get("text")
            custom = item.get("custom") if isinstance(item.get("custom"), dict) else None
            if isinstance(text, str) and text:
                answers.append(BotAnswer(text, buttons, custom))
            elif custom and answers:
                # The REST channel sends an utterance's JSON part as its own message: attach it to the text.
                last = answers[-1]
                answers[-1] = BotAnswer(last.text, last.buttons, {**(last.custom or {}), **custom})
        return answers

    async def _events(self, conversation_key: str, events: list[dict[str, Any]]) -> None:
        url = f"{self._base}/conversations/{quote(conversation_key, safe='')}/tracker/events"
        try:
            async with self._session.post(url, json=events, params=self._params, timeout=self._timeout) as resp:
                if resp.status != 200:
                    raise BotUnavailableError(f"rasa tracker events answered HTTP {resp.status}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise BotUnavailableError(f"rasa unreachable: {type(exc).__name__}") from exc

    async def pause(self, conversation_key: str) -> None:
        await self._events(conversation_key, [{"event": "pause"}])

    async def resume(self, conversation_key: str) -> None:
        # After "resume" Rasa would otherwise predict from a stale state and hit the fallback.
        await self._events(conversation_key, [{"event": "resume"}, {"event": "action", "name": "action_listen"}])

    async def status(self) -> dict[str, Any]:
        try:
            async with self._session.get(f"{self._base}/status", params=self._params,
                                         timeout=aiohttp.ClientTimeout(total=2)) as resp:
                if resp.status == 200:
                    data = await resp.json(content_type=None)
                    return {"ok": True, "model": data.get("model_file") if isinstance(data, dict) else None}
                # Without the API token /status is 401, but the server is up.
                return {"ok": resp.status in (401, 403), "detail": f"HTTP {resp.status}"}
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return {"ok": False, "detail": type(exc).__name__}
