"""Every error leaves the API as JSON `{"error": {"code": ..., "message": ...}}` with a precise status.

Domain errors (`core.errors.DomainError`, raised anywhere below a handler) are translated here, once:
handlers do not catch them to re-raise something else. A message leaves redacted (core.redact): a URL
loses its credentials and a configured secret is masked, whatever the code below put in it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import DomainError
from core.logs import get_logger
from core.redact import redact

log = get_logger(__name__)

TEMPORAL_UNREACHABLE = "Failed client connect"  # how temporalio's lazy client reports a failed connection
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


# What each documented refusal means in the OpenAPI schema (see `responses`).
_DESCRIPTIONS = {
    400: "Bad request (e.g. an unusable Idempotency-Key).",
    401: "No credentials, or unknown, disabled or expired ones.",
    403: "Authenticated, but not allowed: the role or the wallet does not match.",
    404: "No such resource.",
    409: "Conflicts with the current state (exists, ended, not ready yet).",
    413: "The body is larger than SGE_MAX_BODY_BYTES.",
    415: "The body must be application/json.",
    422: "The request does not validate: `details` lists each problem.",
    429: "Rate limited: retry after `Retry-After` seconds.",
    503: "A dependency (database, Temporal, chain) is unavailable: retry after `Retry-After` seconds.",
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable, e.g. `invalid_api_key`, `validation_error`.")
    message: str
    details: Any = Field(None, description="More about the error (for 422, one entry per problem).")


class ErrorBody(BaseModel):
    """Every error answer of the API: `{"error": {"code", "message", "details"?}}`."""

    error: ErrorDetail


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route or router: the error statuses it can answer, each with the shared
    error body, so the OpenAPI schema states what the server does (422 replaces FastAPI's default)."""
    return {status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses}


def document_body_errors(router: APIRouter) -> None:
    """Every route that reads a JSON body also answers 400 (a body that does not parse) and 413 (over
    SGE_MAX_BODY_BYTES, from the size-cap middleware): state it once here rather than on each route."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.body_field is not None:
            for status, response in responses(400, 413).items():
                route.responses.setdefault(status, response)


class ApiError(DomainError):
    """An HTTP-level refusal raised by a handler, e.g.
    `ApiError(409, "wallet_taken", "this wallet is already registered")`."""

    def __init__(self, status: int, code: str, message: str, *, details: Any = None, headers: dict | None = None):
        super().__init__(message, code=code, status=status, details=details, headers=headers)


def error_body(code: str, message: str, details: Any = None) -> dict:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def domain_error_response(exc: DomainError) -> JSONResponse:
    headers = dict(exc.headers or {})
    if exc.retryable and exc.retry_after_seconds and "Retry-After" not in headers:
        headers["Retry-After"] = str(max(1, round(exc.retry_after_seconds)))
    details = redact(exc.details) if isinstance(exc.details, str) else exc.details
    return error_response(exc.status, exc.code, redact(exc.message), details, headers or None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError):
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError):
        details: list[dict[str, Any]] = [
            {"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        first: dict[str, Any] = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"][1:] or first["loc"])
        return error_response(422, "validation_error", f"{where}: {first['msg']}" if where else first["msg"], details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException):
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception):
        log.exception("unhandled_error", path=request.url.path)
        return error_response(500, "internal_error", "internal error; quote the X-Request-ID header when reporting it")

    @app.exception_handler(RuntimeError)
    async def _runtime(request: Request, exc: RuntimeError):
        # The API's Temporal client connects lazily; while Temporal is unreachable the core SDK raises this
        # from any call: a retryable 503 (every route that reaches Temporal documents it), not a 500.
        if str(exc).startswith(TEMPORAL_UNREACHABLE):
            return error_response(
                503,
                "orchestrator_unavailable",
                "the workflow service is unavailable; retry shortly",
                headers={"Retry-After": "5"},
            )
        return await _unhandled(request, exc)
