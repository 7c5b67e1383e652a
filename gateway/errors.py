"""The gateway's own error types (the shared base and request errors live in `channels.errors`).

Foreign errors (SQLAlchemy, aiohttp client, OS) are wrapped into these at the
boundary where they happen; `gateway.api.middleware` maps them to HTTP.
"""

from __future__ import annotations

from channels.errors import (  # noqa: F401  (re-exported for gateway modules)
    BadRequest,
    DeliveryError,
    Forbidden,
    PayloadTooLarge,
    ServiceError,
    Unauthorized,
    UnsupportedMediaType,
)

HotlineError = ServiceError


class ConfigError(ServiceError):
    code = "config_error"


class StoreUnavailable(ServiceError):
    """The database cannot be reached or failed for a transient reason."""

    status = 503
    code = "store_unavailable"
    message_zh = "系统暂时无法保存您的消息，请稍后重试。"


class NotFound(ServiceError):
    status = 404
    code = "not_found"
    message_zh = "没有找到相关记录。"


class Conflict(ServiceError):
    status = 409
    code = "conflict"
    message_zh = "操作冲突，请刷新后重试。"
