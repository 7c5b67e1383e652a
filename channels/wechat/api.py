"""The parts of the WeChat official-account HTTP API the hotline uses: access token, media download,
customer-service messages (客服消息). The base URL is a setting, so tests run against a fake."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

import aiohttp

from channels.errors import DeliveryError
from channels.http_body import read_limited

log = logging.getLogger(__name__)

TOKEN_EXPIRED = {40001, 40014, 42001}      # invalid / expired access token: refresh and retry once
OUTSIDE_WINDOW = {45015, 45047}            # 48-hour window over / too many messages for one citizen message

TokenGet = Callable[[str], Awaitable[tuple[str, datetime] | None]]
TokenPut = Callable[[str, str, datetime], Awaitable[None]]


class WechatApiError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode


class WechatApi:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, app_id: str, app_secret: str,
                 token_get: TokenGet, token_put: TokenPut, timeout: float = 10.0) -> None:
        self._http = session
        self._base = base_url.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self._get, self._put = token_get, token_put
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._lock = asyncio.Lock()

    async def access_token(self, force: bool = False) -> str:
        """The shared token from the database; fetched anew when missing, near expiry, or rejected."""
        async with self._lock:
            cached = None if force else await self._get(self.app_id)
            if cached and cached[1] - timedelta(minutes=5) > datetime.now(timezone.utc):
                return cached[0]
            async with self._http.get(f"{self._base}/cgi-bin/token", timeout=self._timeout, params={
                    "grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}) as resp:
                data = await resp.json(content_type=None)
            if "access_token" not in data:
                raise WechatApiError(int(data.get("errcode", -1)), str(data.get("errmsg", "no token")))
            expires = datetime.now(timezone.utc) + timedelta(seconds=int(data.get("expires_in", 7200)))
            await self._put(self.app_id, data["access_token"], expires)
            log.info("wechat: new access token for %s", self.app_id)
            return str(data["access_token"])

    async def _call(self, method: str, path: str, **kwargs: Any) -> aiohttp.ClientResponse | dict[str, Any]:
        for attempt in (0, 1):
            token = await self.access_token(force=attempt == 1)
            params = {**kwargs.pop("params", {}), "access_token": token}
            resp = await self._http.request(method, f"{self._base}{path}", params=params, timeout=self._timeout,
                                            **kwargs)
            if resp.content_type in ("application/json", "text/plain"):
                data = await resp.json(content_type=None)
                resp.release()
                code = int(data.get("errcode", 0) or 0)
                if code in TOKEN_EXPIRED and attempt == 0:
                    log.warning("wechat: access token rejected (%d), refreshing", code)
                    kwargs["params"] = {k: v for k, v in params.items() if k != "access_token"}
                    continue
                if code:
                    raise WechatApiError(code, str(data.get("errmsg", "")))
                return data
            return resp
        raise AssertionError("unreachable")

    async def download_media(self, media_id: str, limit: int) -> tuple[bytes, str | None]:
        """Media of a citizen's message; ids expire after 3 days, so this runs when the message arrives."""
        resp = await self._call("GET", "/cgi-bin/media/get", params={"media_id": media_id})
        if isinstance(resp, dict):
            raise WechatApiError(-1, "media answer was JSON without media")
        try:
            data = await read_limited(resp, limit, "wechat media")
            disposition = resp.headers.get("Content-Disposition", "")
            name = disposition.split("filename=", 1)[1].strip('"') if "filename=" in disposition else None
            return data, name
        finally:
            resp.release()

    async def send_text(self, openid: str, text: str) -> None:
        """A customer-service message; only within 48 h of the citizen's last message."""
        try:
            await self._call("POST", "/cgi-bin/message/custom/send",
                             json={"touser": openid, "msgtype": "text", "text": {"content": text}})
        except WechatApiError as exc:
            if exc.errcode in OUTSIDE_WINDOW:
                raise DeliveryError(f"wechat {exc.errcode}: outside the customer-service window", permanent=True)
            raise DeliveryError(f"wechat {exc}") from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise DeliveryError(f"wechat unreachable: {type(exc).__name__}") from exc
