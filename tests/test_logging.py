"""JSON log lines for a collector: masked like the text ones, each with the id of its HTTP request."""

from __future__ import annotations

import io
import json
import logging

from aiohttp.test_utils import TestClient

from gateway.logs import JsonFormatter, PiiMaskingFilter, RequestIdFilter


def json_handler() -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PiiMaskingFilter())
    handler.addFilter(RequestIdFilter())
    return handler, stream


def test_a_json_line_is_one_object_with_personal_information_masked() -> None:
    handler, stream = json_handler()
    log = logging.getLogger("hotline.test.json")
    log.addHandler(handler)
    try:
        log.warning("citizen %s called about %s", "13912345678", "路灯")
        try:
            raise ValueError("bad phone 13912345678")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    first, second = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert first["level"] == "WARNING" and first["logger"] == "hotline.test.json" and first["request_id"] == "-"
    assert "13912345678" not in first["msg"] and "路灯" in first["msg"] and first["ts"].endswith("+00:00")
    assert "ValueError" in second["exc"] and "13912345678" not in second["exc"]


async def test_every_log_line_of_a_request_carries_its_id(client: TestClient) -> None:
    handler, stream = json_handler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        resp = await client.get("/metrics", headers={"X-Request-Id": "ivr-vendor-req-0001"})
        generated = await client.get("/metrics", headers={"X-Request-Id": "bad id with spaces"})
    finally:
        root.removeHandler(handler)
    assert resp.status == 401 and resp.headers["X-Request-Id"] == "ivr-vendor-req-0001"
    other = generated.headers["X-Request-Id"]
    assert other != "bad id with spaces" and len(other) == 16
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert {line["request_id"] for line in lines if "/metrics" in line["msg"]} == {"ivr-vendor-req-0001", other}
