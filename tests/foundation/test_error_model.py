"""One error model: a DomainError leaves every edge translated once, the same way.

- Temporal: every activity the worker registers runs behind the DomainError interceptor, proven by
  running each registered activity name in the worker `build_worker` builds (on the dev server), with
  the activity replaced by one that raises a DomainError: each fails once, non-retryable, typed by code.
- API: one handler → `{"error": {code, message}}` with the error's status (and Retry-After when retryable).
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():  # this module defines a workflow: the sandbox re-imports it
    import httpx

    from core.errors import DomainError
    from temporal import registry, worker


class Refused(DomainError):
    code = "refused_for_test"
    status = 409


@workflow.defn(name="CallEachActivity")
class CallEachActivity:
    @workflow.run
    async def run(self, names: list[str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for name in names:
            try:
                await workflow.execute_activity(
                    name,
                    args=[],
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=RetryPolicy(maximum_attempts=5, initial_interval=timedelta(seconds=1)),
                )
                seen[name] = "completed"
            except ActivityError as err:
                cause = err.cause
                assert isinstance(cause, ApplicationError)
                seen[name] = f"{cause.type}:{cause.non_retryable}:{err.retry_state.name if err.retry_state else None}"
        return seen


def _raiser(name: str):
    @activity.defn(name=name)
    def raise_domain_error(*_args) -> None:
        raise Refused(f"{name} refused", code=f"refused:{name}")

    return raise_domain_error


async def test_every_registered_activity_fails_non_retryable_on_a_domain_error(
    temporal_dev, settings, db_engine, monkeypatch
):
    names = [fn.__temporal_activity_definition.name for fn in registry.build_activities(settings, db_engine)]
    assert len(names) == len(set(names)) and names
    monkeypatch.setattr(registry, "build_activities", lambda _s, _e: [_raiser(n) for n in names])
    monkeypatch.setattr(registry, "WORKFLOWS", [CallEachActivity])
    queue = f"errors-{uuid.uuid4().hex[:8]}"
    settings = settings.model_copy(update={"temporal_task_queue": queue})
    with ThreadPoolExecutor(max_workers=settings.worker_max_concurrent_activities) as pool:
        async with worker.build_worker(temporal_dev.client, settings, db_engine, pool):
            seen = await temporal_dev.client.execute_workflow(
                CallEachActivity.run, names, id=f"errors-{uuid.uuid4()}", task_queue=queue
            )
    # NON_RETRYABLE_FAILURE: the first attempt failed and nothing was retried (the policy allows 5).
    assert seen == {n: f"refused:{n}:True:NON_RETRYABLE_FAILURE" for n in names}


async def test_api_translates_domain_errors_once(api_client: httpx.AsyncClient):
    app = api_client.app  # type: ignore[attr-defined]

    @app.get("/test/refused")
    async def refused():
        raise Refused("no", details={"why": "test"})

    @app.get("/test/busy")
    async def busy():
        raise DomainError("later", code="busy_for_test", status=503, retryable=True, headers=None) from None

    class Busy(DomainError):
        code, status, retryable, retry_after_seconds = "busy", 503, True, 7

    @app.get("/test/busy-hint")
    async def busy_hint():
        raise Busy("later")

    resp = await api_client.get("/test/refused")
    assert resp.status_code == 409
    assert resp.json() == {"error": {"code": "refused_for_test", "message": "no", "details": {"why": "test"}}}
    assert (await api_client.get("/test/busy")).status_code == 503
    hinted = await api_client.get("/test/busy-hint")
    assert hinted.status_code == 503 and hinted.headers["retry-after"] == "7"


async def test_failure_text_is_redacted_before_it_reaches_temporal_history():
    """An activity's error text goes into the history (Web UI, retention): an RPC key in a URL, or a
    registered secret, is masked there; an error with nothing to hide keeps its own type and trace."""
    from core.redact import SECRETS, register_secrets
    from core.settings import Settings
    from temporal.interceptors import DomainErrorInterceptor

    key = "abcdef0123456789abcdef0123456789"
    secret = "whsec-Planted-Secret-0123456789abcdef"
    register_secrets(Settings(_env_file=None, coinbase_commerce_webhook_secret=secret))

    class Raises:
        def __init__(self, exc: BaseException):
            self.exc = exc

        async def execute_activity(self, _input):
            raise self.exc

    try:
        for exc, kind, retryable in (
            (ConnectionError(f"cannot reach https://eth.example/v2/{key}"), "ConnectionError", True),
            (Refused(f"provider said {secret}"), "refused_for_test", False),
            (ApplicationError(f"node https://u:{key}@rpc.example", type="WorkerShutdown"), "WorkerShutdown", True),
        ):
            inbound = DomainErrorInterceptor().intercept_activity(Raises(exc))  # type: ignore[arg-type]
            try:
                await inbound.execute_activity(None)  # type: ignore[arg-type]
            except ApplicationError as failure:
                assert key not in failure.message and secret not in failure.message, failure.message
                assert "***" in failure.message and failure.type == kind and failure.non_retryable is not retryable
            else:
                raise AssertionError("no failure")
        plain = ValueError("nothing to hide")
        inbound = DomainErrorInterceptor().intercept_activity(Raises(plain))  # type: ignore[arg-type]
        try:
            await inbound.execute_activity(None)  # type: ignore[arg-type]
        except ValueError as same:
            assert same is plain
    finally:
        SECRETS.clear()
