"""Bearer-token check for the internal API (tickets, triage) used by the bot's action server and tools."""

from __future__ import annotations

import hmac

from aiohttp import web

from gateway.errors import Forbidden, Unauthorized


def require_token(request: web.Request, token: str | None) -> None:
    if token is None:
        raise Forbidden("internal API disabled: HOTLINE_API_TOKEN is not set", code="api_disabled",
                        message_zh="内部接口未启用。")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized("missing or wrong bearer token", code="bad_token")


def actor_of(request: web.Request) -> str:
    """Who the audit trail records for an internal API call (the bot, a tool, later a unit or agent)."""
    name = request.headers.get("X-Hotline-Actor", "api")
    return name[:64] if name.isprintable() else "api"
