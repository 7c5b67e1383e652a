"""Conversation endpoints the bot's action server calls (internal token)."""

from __future__ import annotations

import logging
from typing import Callable

from aiohttp import web

from channels.http_body import json_object

from gateway.api.auth import require_token
from gateway.api.openapi import HandoffIn, parse_body
from gateway.errors import NotFound
from gateway.events import CONSOLE_TOPIC, EventHub
from gateway.store.messages import MessageStore

log = logging.getLogger(__name__)



class ConversationsApi:
    def __init__(self, messages: Callable[[], MessageStore], hub: EventHub, token: str | None) -> None:
        self._messages = messages
        self._hub = hub
        self._token = token

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/api/v1/conversations/{conversation_id:\\d+}/handoff", self.handoff)]

    async def handoff(self, request: web.Request) -> web.Response:
        """The citizen asked for a human (or the bot is stuck): the conversation waits for an agent,
        and the gateway routes its messages to the agents only."""
        require_token(request, self._token)
        conversation_id = int(request.match_info["conversation_id"])
        body = await json_object(request) if request.can_read_body else {}
        reason = parse_body(HandoffIn, body, {"reason": ("bad_reason", "转接原因不正确。")}).reason
        found = await self._messages().request_agent(conversation_id)
        if found is None:
            raise NotFound("no such open conversation", code="conversation_not_found")
        # The bot pauses its own conversation (the hand-over action returns ConversationPaused): a pause
        # posted from here would wait on Rasa's conversation lock, held by the very turn that called us.
        state, _key = found
        log.info("conversation %d waits for an agent (%s)", conversation_id, reason)
        self._hub.publish(CONSOLE_TOPIC, {"type": "handoff", "conversation_id": conversation_id, "reason": reason,
                                          "state": state})
        return web.json_response({"conversation_id": conversation_id, "state": state})
