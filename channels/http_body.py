"""Reading HTTP bodies the same way everywhere: requests to our endpoints, downloads from platforms."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp import web

from channels.errors import BadRequest, PayloadTooLarge


# Limits of a JSON body we accept: deeper or longer structures are not requests, they are attacks
# on the parser (a 5,000-deep array overflowed the recursion limit and gave a 500).
MAX_JSON_DEPTH = 32
MAX_JSON_NUMBER_DIGITS = 40


def _number(kind: type) -> Any:
    def parse(text: str) -> Any:
        if len(text) > MAX_JSON_NUMBER_DIGITS:
            raise ValueError(f"a number of {len(text)} digits")
        return kind(text)
    return parse


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_value(value: Any, depth: int = 0) -> None:
    """Depth, and text that the database and the channels can store: no lone surrogates, no NUL."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH}")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("text contains a lone surrogate") from exc
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_value(k, depth + 1)
            _check_value(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_value(v, depth + 1)


def parse_json(raw: bytes) -> Any:
    """JSON as RFC 8259 has it (UTF-8, whatever charset the header claims), within our limits;
    BadRequest (400, `malformed_json`) with the reason for anything else."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_int=_number(int), parse_float=_number(float), parse_constant=_no_constant)
        _check_value(value)
    except RecursionError as exc:
        raise BadRequest(f"malformed JSON: nested deeper than {MAX_JSON_DEPTH}", code="malformed_json") from exc
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise BadRequest(f"malformed JSON: {exc}", code="malformed_json") from exc
    return value


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; BadRequest (400, `malformed_json`) for anything else."""
    body = parse_json(await request.read())
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


async def read_part(part: aiohttp.BodyPartReader, limit: int) -> bytes:
    """One multipart part, refused (413) as soon as it grows past `limit` bytes: never held whole first."""
    chunks, size = [], 0
    while chunk := await part.read_chunk(256 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"upload over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
