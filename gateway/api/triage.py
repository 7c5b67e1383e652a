"""`POST /api/v1/triage`: the triage contract over HTTP, one `{"text": ...}` object in, one result out."""

from __future__ import annotations

from aiohttp import web

from channels.http_body import json_object
from gateway.api.auth import require_token
from gateway.api.openapi import TriageIn, parse_body
from nlu.triage import Triager

MAX_TEXT = 20_000  # the model (gateway/api/openapi.TriageIn) holds the limit; kept for callers


class TriageApi:
    def __init__(self, triager: Triager, token: str | None) -> None:
        self._triager = triager
        self._token = token

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/api/v1/triage", self.triage)]

    async def triage(self, request: web.Request) -> web.Response:
        require_token(request, self._token)
        data = parse_body(TriageIn, await json_object(request), {
            "text": ("missing_text", '请求体应为 {"text": "..."}。'), "text:string_too_long": ("text_too_long", "文本过长。")})
        return web.json_response(self._triager.analyze(data.text).as_json())
