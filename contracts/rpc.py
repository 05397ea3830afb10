"""Connecting to an Ethereum JSON-RPC endpoint (HTTP; web3 v8's synchronous API has no websockets)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
from prometheus_client import Counter
from web3 import Web3
from web3.providers.rpc import HTTPProvider

RPC_CALLS = Counter("sge_rpc_calls", "JSON-RPC calls made, by provider (host) and method", ["provider", "method"])
RPC_ERRORS = Counter(
    "sge_rpc_errors", "JSON-RPC calls that failed (transport error or error answer), by provider", ["provider"]
)


def provider_label(url: str) -> str:
    """The endpoint's host: a metric label must never carry the API key some providers put in the path."""
    return urlsplit(url).hostname or "?"


class CountedHTTPProvider(HTTPProvider):
    """An HTTP provider that counts its calls and failures per provider (`sge_rpc_calls_total`)."""

    def make_request(self, method: Any, params: Any) -> Any:
        label = provider_label(str(self.endpoint_uri))
        RPC_CALLS.labels(label, str(method)).inc()
        try:
            response = super().make_request(method, params)
        except Exception:
            RPC_ERRORS.labels(label).inc()
            raise
        if isinstance(response, dict) and response.get("error"):
            RPC_ERRORS.labels(label).inc()
        return response


class RpcError(Exception):
    """No endpoint answered, or the chain is not the expected one."""


class ChainIdMismatch(RpcError):
    def __init__(self, expected: int, actual: int, url: str):
        self.expected, self.actual, self.url = expected, actual, url
        super().__init__(f"{url} serves chain id {actual}, expected {expected}")


def web3_for(url: str, *, timeout: float = 10.0) -> Web3:
    if not url.startswith(("http://", "https://")):
        raise RpcError(f"only http(s) RPC endpoints are supported by the synchronous client: {url}")
    return Web3(CountedHTTPProvider(url, request_kwargs={"timeout": timeout}))


def connect(urls: Sequence[str], *, expected_chain_id: int | None = None, timeout: float = 10.0) -> Web3:
    """A Web3 on the first endpoint that answers `eth_chainId`; a wrong chain id is an error at once
    (failing over to a different chain would be worse than failing)."""
    problems = []
    for url in urls:
        try:
            w3 = web3_for(url, timeout=timeout)
            chain_id = w3.eth.chain_id
        except RpcError as exc:
            problems.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - connection refused, timeout, bad JSON: try the next endpoint
            problems.append(f"{url}: {type(exc).__name__}: {exc}")
            continue
        if expected_chain_id is not None and chain_id != expected_chain_id:
            raise ChainIdMismatch(expected_chain_id, chain_id, url)
        return w3
    raise RpcError("no RPC endpoint answered: " + "; ".join(problems or ["no URLs configured"]))


# Middleware that only matters for eth_sendTransaction / ENS names, plus per-call chain-id validation
# (one extra eth_chainId round trip per estimate/call). A caller that signs locally, checks the chain
# id itself and passes plain addresses (the relayer) is faster without them.
_LEAN_REMOVE = ("validation", "ens_name_to_address", "gas_price_strategy", "gas_estimate")


def lean(w3: Web3, *, pool_size: int = 64) -> Web3:
    """`w3` without `_LEAN_REMOVE`, on one shared HTTP session sized for many threads whose proxy
    settings are read from the environment once, not on every request (requests' default)."""
    for name in _LEAN_REMOVE:
        with contextlib.suppress(ValueError, KeyError):
            w3.middleware_onion.remove(name)
    provider = w3.provider
    if isinstance(provider, HTTPProvider) and provider.endpoint_uri:
        url = str(provider.endpoint_uri)
        session = requests.Session()
        session.trust_env = False
        session.proxies = requests.utils.get_environ_proxies(url)
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        w3.provider = CountedHTTPProvider(url, request_kwargs=provider.get_request_kwargs(), session=session)
    return w3


def endpoint_of(w3: Web3) -> str:
    return str(getattr(w3.provider, "endpoint_uri", "?"))


def probe_endpoints(urls: Sequence[str], expected_chain_id: int, *, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every endpoint's answer (`eth_chainId`, `eth_blockNumber`) and which one serves: the first that
    answers on the expected chain, as `connect` picks it for each chain access. URLs stay as given:
    callers redact before printing."""
    report, serving = [], None
    for url in urls:
        entry: dict[str, Any] = {"url": url, "chain_id": None, "block": None, "ok": False, "serves": False}
        try:
            w3 = web3_for(url, timeout=timeout)
            entry["chain_id"], entry["block"] = w3.eth.chain_id, w3.eth.block_number
        except Exception as exc:  # noqa: BLE001 - refused, timeout, bad JSON: reported per endpoint
            entry["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        else:
            entry["ok"] = entry["chain_id"] == expected_chain_id
            if not entry["ok"]:
                entry["error"] = f"serves chain id {entry['chain_id']}, expected {expected_chain_id}"
        if entry["ok"] and serving is None:
            serving = entry["serves"] = True
        report.append(entry)
    return report
