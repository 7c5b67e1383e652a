"""Logging in to the staff pages (agents' console, unit portal): the parts both share.

Login CSRF: a foreign page can post a form or `text/plain` to a login URL without a CORS preflight
and log the victim's browser into the attacker's account (review of issue 17). A login is therefore
accepted only as `application/json` (which a foreign page cannot send without a preflight we never
answer) and, when the browser names its origin, only from our own.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from channels.http_body import json_object
from channels.rate_limit import came_over_https
from gateway.errors import BadRequest, Forbidden, ServiceError

SESSION_SECONDS = 8 * 3600


class TooManyAttempts(ServiceError):
    status = 423
    code = "account_locked"
    message_zh = "登录失败次数过多，账号已暂时锁定，请15分钟后再试。"


def from_our_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


async def credentials(request: web.Request) -> tuple[str, str]:
    """The username and password of a login request, refused unless it is JSON from our own pages."""
    if request.content_type != "application/json":
        raise BadRequest(f"login body must be application/json, not {request.content_type!r}",
                         code="login_not_json", message_zh="登录请求格式不正确。")
    if not from_our_origin(request):
        raise Forbidden(f"login from a foreign origin {request.headers.get('Origin', '')[:80]}",
                        code="foreign_origin", message_zh="不允许从其他网站登录。")
    body = await json_object(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise BadRequest("username and password required", code="missing_credentials",
                         message_zh="请输入用户名和密码。")
    return username, password


def set_session_cookie(response: web.Response, request: web.Request, name: str, token: str, path: str,
                       secure: bool, trusted_proxies: tuple[str, ...]) -> None:
    """HttpOnly, SameSite=Strict, scoped to the page's path; Secure when configured or behind HTTPS."""
    response.set_cookie(name, token, httponly=True, samesite="Strict", max_age=SESSION_SECONDS, path=path,
                        secure=secure or came_over_https(request, trusted_proxies))
