"""`POST /api/v1/triage`: the triage contract over HTTP, one `{"text": ...}` object in, one result out."""

from __future__ import annotations

import json

from aiohttp import web

from gateway.api.auth import require_token
from gateway.errors import BadRequest
from nlu.triage import Triager

MAX_TEXT = 20000


class TriageApi:
    def __init__(self, triager: Triager, token: str | None) -> None:
        self._triager = triager
        self._token = token

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/api/v1/triage", self.triage)]

    async def triage(self, request: web.Request) -> web.Response:
        require_token(request, self._token)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"malformed JSON: {exc}", code="malformed_json") from exc
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise BadRequest('body must be {"text": "..."}', code="missing_text")
        if len(body["text"]) > MAX_TEXT:
            raise BadRequest("text too long", code="text_too_long")
        return web.json_response(self._triager.analyze(body["text"]).as_json())
