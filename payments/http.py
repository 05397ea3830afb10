"""One provider call over httpx → the answer's JSON, or a `ProviderError` that says whether a retry
can help (transport errors, 5xx, 408/409/425/429 and 401/403 can; other 4xx cannot).

Layering: `core/` and `models/` only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from payments.interface import ProviderCharge, ProviderError, WebhookRejected

_RETRYABLE_4XX = {401, 403, 408, 409, 425, 429}


def _answer(resp: httpx.Response, what: str) -> Any:
    if resp.status_code >= 400:
        snippet = resp.text[:300].replace("\n", " ")
        raise ProviderError(
            f"{what}: HTTP {resp.status_code}: {snippet}",
            provider_status=resp.status_code,
            retryable=resp.status_code >= 500 or resp.status_code in _RETRYABLE_4XX,
        )
    try:
        return resp.json()
    except ValueError:
        raise ProviderError(f"{what}: answer is not JSON", provider_status=resp.status_code, retryable=True) from None


def send(http: httpx.Client, method: str, url: str, what: str, **kwargs) -> Any:
    try:
        resp = http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise ProviderError(f"{what}: {type(exc).__name__}: {exc}", retryable=True) from None
    return _answer(resp, what)


def parse_answer(parser: Callable[[Any], ProviderCharge], obj: Any, what: str) -> ProviderCharge:
    try:
        return parser(obj)
    except WebhookRejected as exc:  # the shared parser's "invalid" error
        raise ProviderError(f"{what}: unexpected answer: {exc.message}", retryable=False) from None
