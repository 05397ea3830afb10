"""`TestWallet`: the Python half of the injected EIP-1193 provider (provider.js is the page's half).

The page calls `window.ethereum.request({method, params})`; the provider forwards it through a Playwright
binding to `TestWallet._on_request`, which records it, signs with eth_account or forwards it to the JSON-RPC
node, and answers `{result}` or `{error: {code, message, data}}`. Behaviour follows MetaMask where dapps
depend on it: addresses come back lowercase, signing needs a connected site and the wallet's own address,
typed data must name the active chain, node errors (reverts) reach the page with their code and data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import is_hex, to_checksum_address
from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError

PROVIDER_JS = Path(__file__).with_name("provider.js").read_text()
BINDING = "__sgeWalletRequest"

# EIP-1193 provider errors, and the JSON-RPC ones a wallet also returns (EIP-1474).
USER_REJECTED = 4001
UNAUTHORIZED = 4100
UNSUPPORTED_METHOD = 4200
CHAIN_DISCONNECTED = 4901
UNRECOGNIZED_CHAIN = 4902  # wallet_switchEthereumChain to a chain the wallet does not know (MetaMask's code)
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
MESSAGES = {
    USER_REJECTED: "User rejected the request.",
    UNAUTHORIZED: "The requested account and/or method has not been authorized by the user.",
    UNSUPPORTED_METHOD: "The requested method is not supported by this Ethereum provider.",
    CHAIN_DISCONNECTED: "The provider is not connected to the requested chain.",
}

# Read-only calls the wallet forwards to the node as they are.
READ_METHODS = frozenset(
    {
        "eth_blockNumber",
        "eth_call",
        "eth_estimateGas",
        "eth_feeHistory",
        "eth_gasPrice",
        "eth_getBalance",
        "eth_getBlockByHash",
        "eth_getBlockByNumber",
        "eth_getCode",
        "eth_getLogs",
        "eth_getStorageAt",
        "eth_getTransactionByHash",
        "eth_getTransactionCount",
        "eth_getTransactionReceipt",
        "eth_maxPriorityFeePerGas",
        "web3_clientVersion",
    }
)


class ProviderError(Exception):
    """An EIP-1193 error as the page sees it: `err.code`, `err.message`, `err.data`."""

    def __init__(self, code: int, message: str | None = None, data: Any = None):
        super().__init__(message or MESSAGES.get(code, f"error {code}"))
        self.code = code
        self.message = str(self)
        self.data = data

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": self.data}


@dataclass
class WalletRequest:
    """One `ethereum.request(...)` from a page: what it asked, from which frame, and the answer."""

    method: str
    params: Any
    url: str
    result: Any = None
    error: ProviderError | None = None
    done: bool = False


@dataclass(frozen=True)
class SentTransaction:
    hash: str
    tx: dict[str, Any]  # exactly what the wallet signed (ints, checksum addresses)


def quantity(value: Any) -> int:
    """A JSON-RPC quantity ("0x…" or a number, as dapps send them) as an int."""
    if isinstance(value, bool):
        raise ProviderError(INVALID_PARAMS, f"not a quantity: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 16) if value.lower().startswith("0x") else int(value)
    raise ProviderError(INVALID_PARAMS, f"not a quantity: {value!r}")


class TestWallet:
    """A browser wallet for one account on one chain (JSON-RPC at `rpc_url`), see tests/helpers/browser."""

    __test__ = False  # not a test class, whatever its name

    def __init__(
        self, rpc_url: str, chain_id: int, account: LocalAccount | None = None, *, connected: bool = True
    ) -> None:
        self.rpc_url = rpc_url
        self.chain_id = chain_id
        self.current_chain_id = chain_id  # what the wallet is on; `set_chain` simulates a network switch
        self.account = account or Account.from_key(os.urandom(32))
        self.connected = connected  # False: eth_accounts is [] until the page asks with eth_requestAccounts
        self.requests: list[WalletRequest] = []
        self.sent: list[SentTransaction] = []
        self._failures: list[tuple[str | None, ProviderError]] = []
        self._contexts: list[BrowserContext] = []
        self._send_lock = asyncio.Lock()  # nonces: one transaction at a time
        self._http = httpx.AsyncClient(timeout=30)

    @property
    def address(self) -> str:
        return self.account.address

    async def install(self, context: BrowserContext) -> None:
        """Inject the provider into every page (and frame) the context opens from now on."""
        await context.expose_binding(BINDING, self._on_request)
        await context.add_init_script(script=PROVIDER_JS)
        self._contexts.append(context)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- what a test controls and asserts -------------------------------------------------------------

    def fail_next(
        self, code: int = USER_REJECTED, message: str | None = None, *, method: str | None = None, data: Any = None
    ) -> None:
        """The next request (of `method`, when given) fails with this error instead of being handled;
        queue several for several failures. `fail_next()` alone: the user refuses (4001)."""
        self._failures.append((method, ProviderError(code, message, data)))

    def calls(self, method: str | None = None) -> list[WalletRequest]:
        return [r for r in self.requests if method is None or r.method == method]

    def methods(self) -> list[str]:
        return [r.method for r in self.requests]

    async def wait_for(self, method: str, *, count: int = 1, timeout: float = 10.0) -> WalletRequest:
        """The `count`-th answered request of `method`, once the page has made it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            answered = [r for r in self.calls(method) if r.done]
            if len(answered) >= count:
                return answered[count - 1]
            if loop.time() > deadline:
                raise AssertionError(f"no answered {method} #{count} within {timeout}s; requests: {self.methods()}")
            await asyncio.sleep(0.02)

    async def set_account(self, account: LocalAccount) -> None:
        """The user switches accounts in the wallet: pages get `accountsChanged`."""
        self.account = account
        if self.connected:
            await self.emit("accountsChanged", [account.address.lower()])

    async def disconnect(self) -> None:
        """The user disconnects the site: `eth_accounts` is [] and pages get `accountsChanged([])`."""
        self.connected = False
        await self.emit("accountsChanged", [])

    async def set_chain(self, chain_id: int) -> None:
        """The user switches networks in the wallet: pages get `chainChanged`."""
        self.current_chain_id = chain_id
        await self.emit("chainChanged", hex(chain_id))

    async def emit(self, event: str, value: Any) -> None:
        for context in self._contexts:
            for page in context.pages:
                for frame in page.frames:
                    # A frame navigating or detached misses the event: it reads the state again when it loads.
                    with contextlib.suppress(PlaywrightError):
                        await frame.evaluate("([e, v]) => window.ethereum?._emit?.(e, v)", [event, value])

    # --- the page's requests --------------------------------------------------------------------------

    async def _on_request(self, source: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        record = WalletRequest(str(payload.get("method")), payload.get("params"), url=source["frame"].url)
        self.requests.append(record)
        try:
            failure = self._take_failure(record.method)
            if failure is not None:
                raise failure
            record.result = await self._handle(record.method, record.params)
        except ProviderError as exc:
            record.error = exc
        except Exception as exc:  # a bug here or a malformed request: the page sees it, the test reads it
            record.error = ProviderError(INTERNAL_ERROR, f"test wallet: {type(exc).__name__}: {exc}")
        finally:
            record.done = True
        return {"error": record.error.as_json()} if record.error else {"result": record.result}

    def _take_failure(self, method: str) -> ProviderError | None:
        for i, (only, error) in enumerate(self._failures):
            if only is None or only == method:
                del self._failures[i]
                return error
        return None

    async def _handle(self, method: str, params: Any) -> Any:
        params = params if isinstance(params, list) else [params]
        if method == "eth_requestAccounts":
            self.connected = True
            return [self.address.lower()]
        if method == "eth_accounts":
            return [self.address.lower()] if self.connected else []
        if method == "eth_chainId":
            return hex(self.current_chain_id)
        if method == "net_version":
            return str(self.current_chain_id)
        if method == "wallet_switchEthereumChain":
            return await self._switch_chain(params)
        if method == "personal_sign":
            return self._personal_sign(params)
        if method == "eth_signTypedData_v4":
            return self._sign_typed_data(params)
        if method == "eth_sendTransaction":
            return await self._send_transaction(params)
        if method in READ_METHODS:
            return await self.rpc(method, params)
        raise ProviderError(UNSUPPORTED_METHOD, f"the test wallet does not support {method}")

    async def _switch_chain(self, params: list) -> None:
        wanted = quantity((params[0] or {}).get("chainId"))
        if wanted != self.chain_id:
            raise ProviderError(UNRECOGNIZED_CHAIN, f"Unrecognized chain ID {hex(wanted)}.")
        if self.current_chain_id != wanted:
            await self.set_chain(wanted)
        return None

    def _own(self, address: Any) -> None:
        if not self.connected:
            raise ProviderError(UNAUTHORIZED)
        if not isinstance(address, str) or address.lower() != self.address.lower():
            raise ProviderError(UNAUTHORIZED, f"the wallet does not hold {address!r}")

    def _personal_sign(self, params: list) -> str:
        message, address = params[0], params[1]
        if isinstance(message, str) and message.lower() == self.address.lower():
            raise ProviderError(INVALID_PARAMS, "personal_sign params are [message, address]")
        self._own(address)
        if not isinstance(message, str):
            raise ProviderError(INVALID_PARAMS, "personal_sign message must be a string")
        data = bytes.fromhex(message[2:]) if message.startswith("0x") and is_hex(message) else message.encode()
        return _hex(self.account.sign_message(encode_defunct(primitive=data)).signature)

    def _sign_typed_data(self, params: list) -> str:
        address, typed = params[0], params[1]
        self._own(address)
        full = json.loads(typed) if isinstance(typed, str) else typed
        chain = (full.get("domain") or {}).get("chainId")
        if chain is not None and quantity(chain) != self.current_chain_id:
            raise ProviderError(
                INVALID_PARAMS, f'Provided chainId "{chain}" must match the active chainId "{self.current_chain_id}"'
            )
        return _hex(Account.sign_typed_data(self.account.key, full_message=full).signature)

    async def _send_transaction(self, params: list) -> str:
        request = dict(params[0])
        self._own(request.get("from"))
        if self.current_chain_id != self.chain_id:
            raise ProviderError(CHAIN_DISCONNECTED, f"the wallet is on chain {self.current_chain_id}, not the node's")
        if request.get("chainId") is not None and quantity(request["chainId"]) != self.chain_id:
            raise ProviderError(INVALID_PARAMS, f"chainId {request['chainId']} is not the active chain")
        async with self._send_lock:
            tx: dict[str, Any] = {
                "chainId": self.chain_id,
                "value": quantity(request.get("value", 0)),
                "data": request.get("data") or request.get("input") or "0x",
            }
            if request.get("to"):
                tx["to"] = to_checksum_address(request["to"])
            nonce = request.get("nonce")
            if nonce is None:
                nonce = await self.rpc("eth_getTransactionCount", [self.address, "pending"])
            tx["nonce"] = quantity(nonce)
            gas = request.get("gas") or request.get("gasLimit")
            if gas is None:
                estimate = {"from": self.address, "value": hex(tx["value"]), "data": tx["data"]}
                if "to" in tx:
                    estimate["to"] = tx["to"]
                gas = await self.rpc("eth_estimateGas", [estimate])  # a revert reaches the page from here
            tx["gas"] = quantity(gas)
            if request.get("gasPrice") is not None:
                tx["gasPrice"] = quantity(request["gasPrice"])
            else:
                tip = request.get("maxPriorityFeePerGas") or await self.rpc("eth_maxPriorityFeePerGas", [])
                tx["maxPriorityFeePerGas"] = quantity(tip)
                if request.get("maxFeePerGas") is not None:
                    tx["maxFeePerGas"] = quantity(request["maxFeePerGas"])
                else:
                    block = await self.rpc("eth_getBlockByNumber", ["latest", False])
                    tx["maxFeePerGas"] = 2 * quantity(block["baseFeePerGas"]) + tx["maxPriorityFeePerGas"]
            signed = self.account.sign_transaction(tx)
            tx_hash = await self.rpc("eth_sendRawTransaction", [_hex(signed.raw_transaction)])
            self.sent.append(SentTransaction(tx_hash, tx))
            return tx_hash

    async def rpc(self, method: str, params: list) -> Any:
        """One JSON-RPC call to the node; its error becomes the page's error (code, message, data)."""
        body = (
            await self._http.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        ).json()
        if "error" in body:
            error = body["error"]
            raise ProviderError(int(error.get("code", INTERNAL_ERROR)), error.get("message"), error.get("data"))
        return body["result"]


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()
