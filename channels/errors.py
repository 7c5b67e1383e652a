"""Error types shared by every layer; the base class lives here because channels sit lowest.

Each error carries an HTTP-ish `status`, a stable English `code` and a Chinese
`message_zh` for the citizen. The edges (HTTP middleware, SMTP handler) map
them to protocol replies in one place.
"""

from __future__ import annotations


class ServiceError(Exception):
    status: int = 500
    code: str = "internal_error"
    message_zh: str = "系统繁忙，请稍后再试。"

    def __init__(self, reason: str = "", *, code: str | None = None, message_zh: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(reason or self.code)
        self.reason = reason or self.code
        if code is not None:
            self.code = code
        if message_zh is not None:
            self.message_zh = message_zh
        if status is not None:
            self.status = status


class BadRequest(ServiceError):
    status = 400
    code = "bad_request"
    message_zh = "请求格式有误，请检查后重试。"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"
    message_zh = "上传的内容过大，请压缩后重试。"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"
    message_zh = "暂不支持该文件类型，请上传图片或视频。"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"
    message_zh = "身份验证失败。"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"
    message_zh = "没有权限执行此操作。"


class NotFoundError(ServiceError):
    status = 404
    code = "not_found"
    message_zh = "页面不存在。"


class TooManyRequests(ServiceError):
    status = 429
    code = "rate_limited"
    message_zh = "您发送得太频繁了，请稍后再试。如遇紧急情况，请直接拨打110、119、120或122。"


class DeliveryError(ServiceError):
    """An outbound platform refused or failed a message. `permanent` stops retries;
    `retry_after` is the platform's own word on when to try again (seconds)."""

    code = "delivery_failed"

    def __init__(self, reason: str = "", *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after
