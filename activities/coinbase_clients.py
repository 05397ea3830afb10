"""HTTP adapters for the two Coinbase payment APIs (httpx). The same code talks to Coinbase and to the
local sandbox: only the base URL and the credentials differ.

Protocol facts (endpoints, headers, JWT claims) and where they come from: `models/coinbase.py`.
"""

from __future__ import annotations

from typing import Any

import httpx

from models.coinbase import (
    COMMERCE_API_VERSION,
    ProviderCharge,
    WebhookRejected,
    cdp_jwt,
    parse_business_link,
    parse_commerce_charge,
)


class ProviderError(Exception):
    """A provider call that did not produce an answer we can use.

    `retryable`: transport errors, 5xx, 408/409/425/429, and auth failures (401/403: a configuration
    problem an operator fixes, after which the flow continues) are worth retrying; other 4xx are not.
    """

    def __init__(self, message: str, *, status: int | None = None, retryable: bool):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


_RETRYABLE_4XX = {401, 403, 408, 409, 425, 429}


def _answer(resp: httpx.Response, what: str) -> Any:
    if resp.status_code >= 400:
        snippet = resp.text[:300].replace("\n", " ")
        raise ProviderError(
            f"{what}: HTTP {resp.status_code}: {snippet}",
            status=resp.status_code,
            retryable=resp.status_code >= 500 or resp.status_code in _RETRYABLE_4XX,
        )
    try:
        return resp.json()
    except ValueError:
        raise ProviderError(f"{what}: answer is not JSON", status=resp.status_code, retryable=True) from None


def _send(http: httpx.Client, method: str, url: str, what: str, **kwargs) -> Any:
    try:
        resp = http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise ProviderError(f"{what}: {type(exc).__name__}: {exc}", retryable=True) from None
    return _answer(resp, what)


def _parse(parser, obj: Any, what: str) -> ProviderCharge:
    try:
        return parser(obj)
    except WebhookRejected as exc:  # the shared parser's "invalid" error
        raise ProviderError(f"{what}: unexpected answer: {exc.message}", retryable=False) from None


class CommerceClient:
    """Coinbase Commerce charges (`X-CC-Api-Key`, `X-CC-Version`). Commerce has no idempotency key."""

    def __init__(self, base_url: str, api_key: str, http: httpx.Client):
        self.base = base_url.rstrip("/")
        self.http = http
        self.headers = {"X-CC-Api-Key": api_key, "X-CC-Version": COMMERCE_API_VERSION, "Accept": "application/json"}

    def create(self, body: dict[str, Any]) -> ProviderCharge:
        answer = _send(self.http, "POST", f"{self.base}/charges", "create charge", json=body, headers=self.headers)
        return _parse(parse_commerce_charge, (answer or {}).get("data"), "create charge")

    def get(self, ref: str) -> ProviderCharge:
        answer = _send(self.http, "GET", f"{self.base}/charges/{ref}", "get charge", headers=self.headers)
        return _parse(parse_commerce_charge, (answer or {}).get("data"), "get charge")

    def find_by_key(self, payment_key: str, *, max_pages: int = 5, page_size: int = 100) -> ProviderCharge | None:
        """A recent charge carrying our payment key in its metadata (newest first, a few pages)."""
        params: dict[str, Any] = {"limit": page_size, "order": "desc"}
        for _ in range(max_pages):
            answer = _send(self.http, "GET", f"{self.base}/charges", "list charges", params=params, headers=self.headers)
            items = (answer or {}).get("data") or []
            for item in items:
                charge = _parse(parse_commerce_charge, item, "list charges")
                if charge.payment_key == payment_key:
                    return charge
            pagination = (answer or {}).get("pagination") or {}
            if not items or not pagination.get("next_uri"):
                return None
            # Page on with our own base URL (never follow a URL the answer names with our key).
            params = {"limit": page_size, "order": "desc", "starting_after": items[-1].get("id")}
        return None


class BusinessClient:
    """Coinbase Business payment links (bearer JWT per request, `X-Idempotency-Key`)."""

    def __init__(self, base_url: str, key_id: str, key_secret: str, http: httpx.Client):
        self.base = base_url.rstrip("/")
        self.key_id = key_id
        self.key_secret = key_secret
        self.http = http

    def _auth(self, method: str, url: str) -> dict[str, str]:
        try:
            token = cdp_jwt(self.key_id, self.key_secret, method, url)
        except ValueError as exc:
            raise ProviderError(f"SGE_COINBASE_BUSINESS_API_KEY: {exc}", retryable=True) from None
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def create(self, body: dict[str, Any], *, idempotency_key: str) -> ProviderCharge:
        url = f"{self.base}/api/v1/payment-links"
        headers = {**self._auth("POST", url), "X-Idempotency-Key": idempotency_key}
        answer = _send(self.http, "POST", url, "create payment link", json=body, headers=headers)
        return _parse(parse_business_link, answer, "create payment link")

    def get(self, ref: str) -> ProviderCharge:
        url = f"{self.base}/api/v1/payment-links/{ref}"
        answer = _send(self.http, "GET", url, "get payment link", headers=self._auth("GET", url))
        return _parse(parse_business_link, answer, "get payment link")
