"""`GET /healthz`: each component's state; 503 when a required one is down."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from aiohttp import web

# name -> (required, check); a check returns {"ok": bool, ...}.
HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


class HealthApi:
    def __init__(self) -> None:
        self._checks: dict[str, tuple[bool, HealthCheck]] = {}

    def add(self, name: str, check: HealthCheck, required: bool) -> None:
        self._checks[name] = (required, check)

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/healthz", self.healthz)]

    async def _run(self, check: HealthCheck) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(check(), 3)
        except asyncio.TimeoutError:
            return {"ok": False, "detail": "timeout"}
        except Exception as exc:  # a failing check is a finding, not a crash
            return {"ok": False, "detail": type(exc).__name__}

    async def healthz(self, request: web.Request) -> web.Response:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(self._checks[n][1]) for n in names))
        components = {n: {**r, "required": self._checks[n][0]} for n, r in zip(names, results)}
        healthy = all(c["ok"] for c in components.values() if c["required"])
        return web.json_response({"status": "ok" if healthy else "unavailable", "components": components},
                                 status=200 if healthy else 503)
