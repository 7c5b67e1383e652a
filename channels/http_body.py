"""Reading HTTP bodies the same way everywhere: requests to our endpoints, downloads from platforms."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp import web

from channels.errors import BadRequest, PayloadTooLarge


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; BadRequest (400, `malformed_json`) for anything else."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}", code="malformed_json") from exc
    if not isinstance(body, dict):
        raise BadRequest("JSON body must be an object", code="malformed_json")
    return body


async def read_limited(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """A downloaded body (platform media, call recordings), refused once it passes `limit` bytes."""
    if resp.content_length is not None and resp.content_length > limit:
        raise PayloadTooLarge(f"{what} of {resp.content_length} bytes over the limit {limit}")
    data = bytearray()
    async for chunk in resp.content.iter_chunked(65536):
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(f"{what} over the limit {limit}")
    return bytes(data)
