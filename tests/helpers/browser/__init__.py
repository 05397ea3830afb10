"""Browser tests with a wallet: real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright's
async API) and `TestWallet`, an EIP-1193 provider injected as `window.ethereum` into every page of a
context before any page script runs. The page's requests go to Python, which signs with eth_account and
talks to a real JSON-RPC node (anvil). Registered for every test by tests/conftest.py (`pytest_plugins`);
a test using these fixtures is `integration` (it starts Chromium).

Fixtures:
- `browser` (session): one Chromium for the run. Missing Chromium fails the test (it never skips):
  `apt-get install -y --no-install-recommends chromium` (`.ci/run` does it); `SGE_TEST_CHROMIUM` points
  elsewhere.
- `browser_context` (per test): a fresh profile; the page's console and uncaught errors are printed
  (pytest shows them when the test fails). Default timeout 10 s.
- `wallet` (per test): a `TestWallet` on the session's `anvil` with a fresh account holding 10 ETH,
  installed in `browser_context`. `page`: a page in that context (`await page.goto(url)`).
- `open_wallet` (per test): more wallets, each in its own context (two approvers = two browsers):
  `page, wallet = await open_wallet(account, rpc_url=..., chain_id=..., connected=False)`; defaults are
  a fresh funded account on the session's anvil.

What the wallet answers: `eth_requestAccounts`/`eth_accounts`, `eth_chainId`, `wallet_switchEthereumChain`
(its own chain only, else 4902), `personal_sign` ([message, address]; 0x-hex is bytes, else utf-8 text),
`eth_signTypedData_v4` ([address, JSON]; the domain's chainId must be the active chain),
`eth_sendTransaction` (nonce, gas and EIP-1559 fees filled from the node unless given, signed, sent; the
hash comes back, the page polls the receipt), and read calls (`eth_call`, `eth_getTransactionReceipt`, …)
passed to the node; anything else is 4200. Node errors (a revert in `eth_call` or in the gas estimate)
reach the page with the node's code, message and data.

A feature test serves the app on a real port (`tests.helpers.payments.ServerThread(app)`; a static page can
use `page.route`) and drives the page; the wallet answers as the user would:

    async def test_approver_signs(open_wallet, chain, ...):
        page, wallet = await open_wallet(approver)  # a key the contract knows (or the `page`, `wallet` fixtures)
        await page.goto(f"{server.url}/ops/payouts/{batch_id}")
        await page.get_by_role("button", name="Sign").click()
        request = await wallet.wait_for("eth_signTypedData_v4")  # returns once the wallet has answered
        assert request.error is None and request.params[0] == wallet.address.lower()
        assert recover_approver(batch, request.result, chain_id=..., contract=...) == wallet.address

Asserting: `wallet.requests` (every `WalletRequest`: method, params, frame url, result or error),
`wallet.calls("personal_sign")`, `wallet.methods()`, `wallet.sent` (each transaction as signed, and its
hash). Steering: `wallet.fail_next()` makes the next request fail with 4001 (the user refuses;
`method=` picks which request, `code=`/`message=`/`data=` another EIP-1193 error); `connected=False`
starts the site unconnected (`eth_accounts` is [] until `eth_requestAccounts`); `await
wallet.set_account(other)`, `await wallet.disconnect()`, `await wallet.set_chain(1)` emit
`accountsChanged`/`chainChanged` as a real wallet does. Addresses come back lowercase, as MetaMask's do.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from eth_account.signers.local import LocalAccount
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.helpers.browser.wallet import (
    CHAIN_DISCONNECTED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    UNAUTHORIZED,
    UNRECOGNIZED_CHAIN,
    UNSUPPORTED_METHOD,
    USER_REJECTED,
    ProviderError,
    SentTransaction,
    TestWallet,
    WalletRequest,
)
from tests.helpers.processes import AnvilProcess

__all__ = [
    "CHAIN_DISCONNECTED",
    "CHROMIUM",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "UNAUTHORIZED",
    "UNRECOGNIZED_CHAIN",
    "UNSUPPORTED_METHOD",
    "USER_REJECTED",
    "OpenWallet",
    "ProviderError",
    "SentTransaction",
    "TestWallet",
    "WalletRequest",
]

CHROMIUM = os.environ.get("SGE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 10_000
WALLET_FUNDS = 10 * 10**18

OpenWallet = Callable[..., Awaitable[tuple[Page, TestWallet]]]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"browser tests need Chromium at {CHROMIUM}: apt-get install -y --no-install-recommends chromium",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def new_context(browser: Browser) -> BrowserContext:
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    context.on("console", lambda message: print(f"[browser console.{message.type}] {message.text}"))
    context.on("weberror", lambda error: print(f"[browser uncaught] {error.error}"))
    return context


@pytest.fixture
async def browser_context(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await new_context(browser)
    yield context
    await context.close()


def funded_wallet(anvil: AnvilProcess, account: LocalAccount | None = None, **kwargs) -> TestWallet:
    wallet = TestWallet(kwargs.pop("rpc_url", anvil.rpc_url), kwargs.pop("chain_id", anvil.chain_id), account, **kwargs)
    if account is None and wallet.rpc_url == anvil.rpc_url:
        anvil.rpc("anvil_setBalance", [wallet.address, hex(WALLET_FUNDS)])
    return wallet


@pytest.fixture
async def wallet(browser_context: BrowserContext, anvil: AnvilProcess) -> AsyncIterator[TestWallet]:
    test_wallet = funded_wallet(anvil)
    await test_wallet.install(browser_context)
    yield test_wallet
    await test_wallet.aclose()


@pytest.fixture
async def page(browser_context: BrowserContext, wallet: TestWallet) -> Page:
    return await browser_context.new_page()


@pytest.fixture
async def open_wallet(browser: Browser, anvil: AnvilProcess) -> AsyncIterator[OpenWallet]:
    """`await open_wallet(account=None, *, rpc_url=, chain_id=, connected=True)` → (page, wallet), in a
    context of its own; a fresh account is funded when the wallet is on the session's anvil."""
    opened: list[tuple[BrowserContext, TestWallet]] = []

    async def open_(account: LocalAccount | None = None, **kwargs) -> tuple[Page, TestWallet]:
        context = await new_context(browser)
        test_wallet = funded_wallet(anvil, account, **kwargs)
        opened.append((context, test_wallet))
        await test_wallet.install(context)
        return await context.new_page(), test_wallet

    yield open_
    for context, test_wallet in opened:
        await context.close()
        await test_wallet.aclose()
