"""The user's app in a real headless Chromium on the real stack (Temporal dev server, anvil with the
contracts, the payment sandbox, the worker and the API as processes), with the test wallet of
tests/helpers/browser signing and sending in Python against the stack's anvil.

Walks: `?ref=` → connect → sign → status → pay through the sandbox's hosted checkout → done (token id,
balance read from the chain, referral link) and a reopened tab resuming mid-flow; USDT from this wallet
starting from a non-zero allowance (approve 0, approve, claim); a refused signature; the wrong network (a
switch, and a network the wallet does not know); an underpaid charge; a halted platform; KYC before payment (the
verification link, the sandbox's Approve, then the payment). A screenshot of each state goes to
var/screenshots/app/ (git-ignored) for a reviewer.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from playwright.async_api import BrowserContext, Page, expect

from contracts.abi import encode_call
from core.db import session_scope
from models.halt import set_halt
from models.operators import Actor
from ops.devstack.demo import DEMO_PROGRAM
from tests.helpers.browser import UNRECOGNIZED_CHAIN, USER_REJECTED, OpenWallet, TestWallet
from tests.helpers.stack import StackClient, running_stack

pytestmark = pytest.mark.integration

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "app"
FLOW_MS = 90_000  # a liveness guard: each wait returns as soon as the page shows the state
SGE = 1000 * 10**18


@pytest.fixture(scope="module")
async def stack(tmp_path_factory, test_database):
    home = tmp_path_factory.mktemp("app") / "var"
    async with running_stack(home, test_database.fresh_url(), flow_halt_poll_seconds=0.5) as (settings, _sup):
        yield settings


@pytest.fixture
async def client(stack):
    async with httpx.AsyncClient(timeout=30) as http:
        c = StackClient(stack, http)
        try:
            yield c
        finally:
            c.close()


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def user_wallet(open_wallet: OpenWallet, client: StackClient, account: LocalAccount | None = None, **kw):
    """A page and a wallet on the stack's chain, not yet connected to the site."""
    account = account or Account.create()
    settings = client.settings
    page, wallet = await open_wallet(
        account, rpc_url=settings.eth_rpc_urls[0], chain_id=kw.pop("chain_id", settings.chain_id), connected=False
    )
    return page, wallet


def app_url(client: StackClient, ref: str | None = None) -> str:
    return f"{client.settings.api_base_url}/app/{DEMO_PROGRAM}" + (f"?ref={ref}" if ref else "")


async def state_is(page: Page, state: str) -> None:
    await expect(page.locator("body")).to_have_attribute("data-state", state, timeout=FLOW_MS)


async def connect_and_sign(page: Page, wallet: TestWallet, name: str) -> None:
    await page.get_by_role("button", name="Connect wallet").click()
    await expect(page.get_by_role("button", name="Sign and register")).to_be_visible()
    await expect(page.locator("#account")).to_contain_text(wallet.address.lower())
    await shot(page, f"{name}-connected")
    await page.get_by_role("button", name="Sign and register").click()
    await wallet.wait_for("personal_sign")


async def checkout(context: BrowserContext, page: Page, button: str, name: str) -> None:
    """Open the hosted checkout from the page (a new tab) and press `button` there."""
    link = page.get_by_role("link", name="Pay with Coinbase")
    await expect(link).to_have_attribute("aria-disabled", "false", timeout=FLOW_MS)
    async with context.expect_page() as opened:
        await link.click()
    tab = await opened.value
    await tab.wait_for_load_state()
    await shot(tab, f"{name}-checkout")
    await tab.get_by_role("button", name=button, exact=True).click()
    await tab.wait_for_load_state()
    await tab.close()


async def test_referred_user_pays_through_the_checkout_and_sees_token_and_balance(
    open_wallet: OpenWallet, client: StackClient
):
    referrer = Account.create()
    code = (await client.demo.register_affiliate(referrer, None))["code"]
    user = Account.create()
    await client.demo.register_affiliate(user, code)  # the user is an affiliate too: the share box shows
    page, wallet = await user_wallet(open_wallet, client, user)

    await page.goto(app_url(client, code))
    await expect(page.locator("#referral")).to_have_text(f"Referred by {code}.")
    await expect(page.get_by_role("heading", name="Risks")).to_be_visible()
    await shot(page, "1-landing")
    await connect_and_sign(page, wallet, "1")
    message = bytes.fromhex(wallet.calls("personal_sign")[0].params[0][2:]).decode()
    assert code in message and wallet.address in message and "urn:sge:terms:1:" in message

    await state_is(page, "awaiting_payment")
    await expect(page.locator("#txs")).to_contain_text("SGE-ID minted")
    await shot(page, "1-awaiting-payment")

    # The tab is closed and reopened mid-flow: the wallet session picks it up, no new signature.
    context = page.context
    await page.close()
    page = await context.new_page()
    await page.goto(app_url(client, code))
    await state_is(page, "awaiting_payment")
    await expect(page.get_by_role("button", name="Sign and register")).to_be_hidden()
    assert len(wallet.calls("personal_sign")) == 1

    await checkout(context, page, "Pay", "1")
    await state_is(page, "completed")
    token_id = client.row(user.address).token_id
    await expect(page.locator("#token-id")).to_have_text(f"#{token_id}")
    await expect(page.locator("#balance")).to_have_text("1000 SGE")
    await expect(page.get_by_label("Share your referral link")).to_have_value(
        re.compile(rf"/app/{DEMO_PROGRAM}\?ref=[0-9A-F]{{8}}$")
    )
    await expect(page.locator("#txs")).to_contain_text("SGE delivered")
    await shot(page, "1-done")
    status = await client.demo.status(user.address)
    assert status and status["referral"]["referrer_wallet"] == referrer.address
    assert client.sge_balance(user.address) == SGE and token_id
    client.books_ok()


async def test_usdt_from_the_wallet_resets_a_non_zero_allowance(open_wallet: OpenWallet, client: StackClient):
    user = Account.create()
    await asyncio.to_thread(client.demo._fund_user, user)  # ETH for gas, the fee in TestUSDT, allowance 1
    claim = client.manifest.address("SGEClaim")
    usdt = client.manifest.address("TestUSDT")
    page, wallet = await user_wallet(open_wallet, client, user)
    await page.goto(app_url(client))
    await connect_and_sign(page, wallet, "2")
    await state_is(page, "awaiting_payment")

    await page.get_by_role("button", name="Pay with USDT from this wallet").click()
    await expect(page.locator("#chain-steps li")).to_have_count(3, timeout=FLOW_MS)
    await expect(page.locator("#chain-steps li[data-status=confirmed]")).to_have_count(3, timeout=FLOW_MS)
    await shot(page, "2-wallet-steps")
    await state_is(page, "completed")
    await expect(page.locator("#balance")).to_have_text("1000 SGE")
    await expect(page.locator("#share")).to_be_hidden()  # not an affiliate
    await shot(page, "2-done")

    reset, approve, pay = wallet.sent
    assert reset.tx["to"] == usdt and reset.tx["data"] == "0x" + encode_call("TestUSDT", "approve", claim, 0).hex()
    assert approve.tx["to"] == usdt and pay.tx["to"] == claim
    await expect(page.locator("#chain-steps")).to_contain_text(pay.hash)
    status = await client.demo.status(user.address)
    assert status and status["paid"]["rail"] == "onchain" and client.sge_balance(user.address) == SGE


async def test_a_refused_signature_says_so_and_signing_again_registers(open_wallet: OpenWallet, client: StackClient):
    page, wallet = await user_wallet(open_wallet, client)
    await page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing wider than the screen
    await page.goto(app_url(client))
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await shot(page, "3-phone-landing")
    wallet.fail_next(method="personal_sign")
    await connect_and_sign(page, wallet, "3")
    assert wallet.calls("personal_sign")[0].error.code == USER_REJECTED
    error = page.get_by_role("alert").filter(has_text="declined")
    await expect(error).to_contain_text("You declined the request in your wallet")
    await shot(page, "3-signature-refused")
    await expect(page.locator("#progress-card")).to_be_hidden()

    await page.get_by_role("button", name="Sign and register").click()
    await state_is(page, "awaiting_payment")
    await expect(page.locator("#error")).to_be_hidden()
    assert [r.error is None for r in wallet.calls("personal_sign")] == [False, True]


async def test_the_wrong_network(open_wallet: OpenWallet, client: StackClient):
    # On another network the wallet knows: the page asks it to switch, then goes on.
    page, wallet = await user_wallet(open_wallet, client)
    await wallet.set_chain(1)
    await page.goto(app_url(client))
    await page.get_by_role("button", name="Connect wallet").click()
    await expect(page.get_by_role("button", name="Sign and register")).to_be_visible()
    [switch] = wallet.calls("wallet_switchEthereumChain")
    assert switch.params == [{"chainId": hex(client.settings.chain_id)}] and switch.error is None
    assert wallet.current_chain_id == client.settings.chain_id

    # A wallet that does not know the network (4902): a message saying which one to add.
    page, wallet = await user_wallet(open_wallet, client, chain_id=1)
    await page.goto(app_url(client))
    await page.get_by_role("button", name="Connect wallet").click()
    await expect(page.locator("#error")).to_contain_text(f"chain id {client.settings.chain_id}")
    assert wallet.calls("wallet_switchEthereumChain")[0].error.code == UNRECOGNIZED_CHAIN
    await expect(page.get_by_role("button", name="Connect wallet")).to_be_visible()
    await expect(page.get_by_role("button", name="Sign and register")).to_be_hidden()
    await shot(page, "4-unknown-network")
    assert wallet.calls("personal_sign") == []


async def test_an_underpaid_charge_says_what_happens_to_the_money(open_wallet: OpenWallet, client: StackClient):
    page, wallet = await user_wallet(open_wallet, client)
    await page.goto(app_url(client))
    await connect_and_sign(page, wallet, "5")
    await state_is(page, "awaiting_payment")
    # A wallet without the stablecoin is told so before anything is sent.
    await page.get_by_role("button", name="Pay with USDC from this wallet").click()
    await expect(page.locator("#error")).to_contain_text("Your wallet holds 0 USDC; the fee is 100 USDC")
    await shot(page, "5-not-enough-usdc")
    assert wallet.sent == [] and wallet.calls("eth_sendTransaction") == []
    await checkout(page.context, page, "Underpay (half)", "5")
    await state_is(page, "underpaid")
    outcome = page.locator("#outcome-text")
    await expect(outcome).to_contain_text("less than the fee")
    await expect(outcome).to_contain_text("Contact support")
    await expect(page.locator("#pay-card")).to_be_hidden()
    await shot(page, "5-underpaid")
    assert client.sge_balance(wallet.address) == 0


async def test_a_halted_platform_says_the_registration_waits_and_then_goes_on(
    open_wallet: OpenWallet, client: StackClient
):
    def halt(on: bool) -> None:
        with session_scope(client.engine) as session:
            set_halt(session, Actor(name="app test"), on, "maintenance")

    page, wallet = await user_wallet(open_wallet, client)
    await page.goto(app_url(client))
    halt(True)
    try:
        await connect_and_sign(page, wallet, "6")
        await state_is(page, "halted")
        await expect(page.locator("#state-text")).to_contain_text("paused by its operators")
        await expect(page.locator("#outcome-card")).to_be_hidden()
        await shot(page, "6-halted")
    finally:
        halt(False)
    await state_is(page, "awaiting_payment")  # the page kept polling: no reload, no new signature
    assert len(wallet.calls("personal_sign")) == 1


async def test_kyc_before_payment_shows_the_check_and_then_the_payment(open_wallet: OpenWallet, client: StackClient):
    from sqlmodel import col, select

    from models.platform import Program

    def kyc_mode(mode: str) -> None:
        with session_scope(client.engine) as session:
            program = session.exec(select(Program).where(col(Program.slug) == DEMO_PROGRAM)).one()
            program.flags = {**(program.flags or {}), "kyc": {"mode": mode}}
            session.add(program)

    page, wallet = await user_wallet(open_wallet, client)
    await page.goto(app_url(client))
    kyc_mode("before_payment")
    try:
        await connect_and_sign(page, wallet, "7")
        await state_is(page, "kyc_pending")
    finally:
        kyc_mode("none")  # the flow has decided; the module's other tests need no KYC
    await expect(page.locator("#state-text")).to_contain_text("needs an identity check")
    await expect(page.locator("#pay-card")).to_be_hidden()
    link = page.get_by_role("link", name="Verify your identity")
    await expect(link).to_have_attribute("href", re.compile(re.escape(client.settings.kyc_sandbox_base_url)))
    await shot(page, "7-kyc-pending")
    async with page.context.expect_page() as opened:
        await link.click()
    tab = await opened.value
    await tab.wait_for_load_state()
    await shot(tab, "7-kyc-sandbox")
    await tab.get_by_role("button", name="Approve").click()
    await tab.wait_for_load_state()
    await tab.close()
    await state_is(page, "awaiting_payment")  # the page kept polling: KYC passed, now the payment
    await expect(page.locator("#kyc-card")).to_be_hidden()
    await expect(page.locator("#pay-card")).to_be_visible()
