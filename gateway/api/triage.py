"""`POST /api/v1/triage`: the triage contract over HTTP, one `{"text": ...}` object in, one result out."""

from __future__ import annotations

from aiohttp import web

from channels.http_body import json_object
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
        body = await json_object(request)
        if not isinstance(body.get("text"), str):
            raise BadRequest('body must be {"text": "..."}', code="missing_text")
        if len(body["text"]) > MAX_TEXT:
            raise BadRequest("text too long", code="text_too_long")
        return web.json_response(self._triager.analyze(body["text"]).as_json())
