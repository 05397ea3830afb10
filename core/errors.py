"""One error model for the whole platform.

Every domain error derives from `DomainError`: a machine-readable `code` (snake_case), the HTTP
status it maps to, and whether retrying the same request can ever succeed. It is translated once at
each edge, never in between:

- the API: one FastAPI exception handler → `{"error": {"code", "message", "details"?}}` + status;
- the CLI: one handler → `error: <code>: <message>` on stderr, exit code 1;
- Temporal activities: one worker interceptor → `ApplicationError(type=code, non_retryable=not retryable)`,
  so a permanent error fails the activity at once (the workflow decides the flow's state) instead of
  being retried for ever.

Subclasses set `code`, `status` and `retryable` as class attributes; an instance may override them.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request that cannot succeed as given (or, with `retryable`, not yet)."""

    code: str = "domain_error"
    status: int = 422
    retryable: bool = False
    retry_after_seconds: float | None = None  # a hint for Temporal's next retry / HTTP Retry-After

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if retryable is not None:
            self.retryable = retryable
        self.details = details
        self.headers = headers

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Unavailable(DomainError):
    """A dependency is down or busy: the same request may succeed later."""

    code = "unavailable"
    status = 503
    retryable = True
