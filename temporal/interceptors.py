"""Worker interceptors: the one place a domain error becomes a Temporal activity failure.

Every activity the worker registers runs behind `DomainErrorInterceptor`, so a `DomainError` raised
anywhere below an activity leaves it as `ApplicationError(type=code, non_retryable=not retryable)`:
a permanent error fails the activity at once (the workflow decides what the flow does next) and a
temporary one is retried by the activity's retry policy, honouring the error's retry hint.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from core.errors import DomainError


def to_application_error(exc: DomainError) -> ApplicationError:
    delay = timedelta(seconds=exc.retry_after_seconds) if exc.retry_after_seconds else None
    return ApplicationError(
        exc.message, exc.as_dict(), type=exc.code, non_retryable=not exc.retryable, next_retry_delay=delay
    )


class _DomainErrorActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except DomainError as exc:
            raise to_application_error(exc) from None


class DomainErrorInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _DomainErrorActivityInbound(next)
