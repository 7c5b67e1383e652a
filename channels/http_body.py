"""Reading request bodies the same way on every HTTP endpoint (channels and the gateway's API)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from channels.errors import BadRequest


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; BadRequest (400, `malformed_json`) for anything else."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}", code="malformed_json") from exc
    if not isinstance(body, dict):
        raise BadRequest("JSON body must be an object", code="malformed_json")
    return body
