"""Worker interceptors: the one place a domain error becomes a Temporal activity failure.

Every activity the worker registers runs behind `DomainErrorInterceptor`, so a `DomainError` raised
anywhere below an activity leaves it as `ApplicationError(type=code, non_retryable=not retryable)`:
a permanent error fails the activity at once (the workflow decides what the flow does next) and a
temporary one is retried by the activity's retry policy, honouring the error's retry hint.

It is also where failure text leaves the process for Temporal's history (visible in the Web UI and
kept for the retention period): messages are redacted there (core.redact: URL credentials, RPC keys,
registered secrets), and an error whose text had to be changed is re-raised as an ApplicationError of
the same type and retry behaviour.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.exceptions import ApplicationError, FailureError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from core.errors import DomainError
from core.redact import redact


def to_application_error(exc: DomainError) -> ApplicationError:
    delay = timedelta(seconds=exc.retry_after_seconds) if exc.retry_after_seconds else None
    details = exc.as_dict()
    details["message"] = redact(str(details.get("message", "")))
    return ApplicationError(
        redact(exc.message), details, type=exc.code, non_retryable=not exc.retryable, next_retry_delay=delay
    )


class _DomainErrorActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except DomainError as exc:
            raise to_application_error(exc) from None
        except ApplicationError as exc:
            clean = redact(exc.message)
            if clean == exc.message:
                raise
            raise ApplicationError(
                clean, type=exc.type, non_retryable=exc.non_retryable, next_retry_delay=exc.next_retry_delay
            ) from None
        except FailureError:  # cancellation and the like: Temporal's own, nothing of ours inside
            raise
        except Exception as exc:
            text = str(exc)
            clean = redact(text)
            if clean == text:
                raise  # unchanged, with its own type and stack trace
            raise ApplicationError(clean, type=type(exc).__name__) from None


class DomainErrorInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _DomainErrorActivityInbound(next)
