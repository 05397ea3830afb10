"""The browser-wallet harness (tests/helpers/browser) against a tiny dapp page served by the test: the page
calls the injected wallet as a real dapp does (plain inline JS), and the test checks signatures with
eth_account and the platform's own payout code, and transactions on anvil."""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from playwright.async_api import Page, expect

from contracts.abi import encode_call, program_id
from contracts.payouts import PayoutLine, plan_batch, recover_approver, typed_data
from tests.helpers.browser import (
    CHAIN_DISCONNECTED,
    INVALID_PARAMS,
    UNAUTHORIZED,
    UNRECOGNIZED_CHAIN,
    UNSUPPORTED_METHOD,
    USER_REJECTED,
    OpenWallet,
    TestWallet,
)
from tests.helpers.chain import ETH, KIT_CLAIM_AMOUNT, KIT_FEE, KIT_PROGRAM, Chain, deploy_chain

pytestmark = pytest.mark.integration

DAPP = "http://dapp.test/"
# Each button runs one wallet interaction and writes its outcome into `#<button>-out`: data-state "ok" with
# the JSON result, or "error" with {code, message, data}.
DAPP_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>wallet harness dapp</title>
<script>
  // The first script of the page: the wallet must already be injected.
  window.walletAtFirstScript = typeof window.ethereum === "object" && window.ethereum !== null;
  window.announced = [];
  window.addEventListener("eip6963:announceProvider", (e) => window.announced.push(e.detail.info.rdns));
  window.dispatchEvent(new Event("eip6963:requestProvider"));
</script>
<script type="application/json" id="config">__CONFIG__</script>
</head><body>
<button id="connect">Connect</button><output id="connect-out"></output>
<button id="sign-in">Sign in</button><output id="sign-in-out"></output>
<button id="sign-text">Sign text</button><output id="sign-text-out"></output>
<button id="sign-batch">Sign batch</button><output id="sign-batch-out"></output>
<button id="approve">Approve</button><output id="approve-out"></output>
<button id="claim">Claim</button><output id="claim-out"></output>
<button id="transfer">Send ETH</button><output id="transfer-out"></output>
<button id="switch">Switch network</button><output id="switch-out"></output>
<button id="accounts">Accounts</button><output id="accounts-out"></output>
<button id="eth-sign">eth_sign</button><output id="eth-sign-out"></output>
<script>
const config = JSON.parse(document.getElementById("config").textContent);
const eth = window.ethereum;
const events = (window.events = []);
let account = null;
eth.on("accountsChanged", (accounts) => events.push(["accountsChanged", accounts]));
eth.on("chainChanged", (chainId) => events.push(["chainChanged", chainId]));

const word = (hex) => hex.replace(/^0x/, "").toLowerCase().padStart(64, "0");
const uint = (value) => word(BigInt(value).toString(16));
const utf8Hex = (text) => "0x" + [...new TextEncoder().encode(text)].map((b) => b.toString(16).padStart(2, "0")).join("");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function send(tx) {
  const hash = await eth.request({ method: "eth_sendTransaction", params: [{ from: account, ...tx }] });
  for (;;) {
    const receipt = await eth.request({ method: "eth_getTransactionReceipt", params: [hash] });
    if (receipt) return { hash, status: receipt.status };
    await sleep(50);
  }
}

function on(id, action) {
  document.getElementById(id).addEventListener("click", () => {
    const out = document.getElementById(id + "-out");
    delete out.dataset.state;
    action().then(
      (value) => { out.textContent = JSON.stringify(value ?? null); out.dataset.state = "ok"; },
      (err) => {
        out.textContent = JSON.stringify({ code: err.code, message: err.message, data: err.data ?? null });
        out.dataset.state = "error";
      },
    );
  });
}

on("connect", async () => {
  [account] = await eth.request({ method: "eth_requestAccounts" });
  return { account, chainId: await eth.request({ method: "eth_chainId" }) };
});
// Sign-In with Ethereum libraries send the message hex-encoded; params are [message, address].
on("sign-in", () => eth.request({ method: "personal_sign", params: [utf8Hex(config.message), account] }));
on("sign-text", () => eth.request({ method: "personal_sign", params: [config.message, account] }));
on("sign-batch", () =>
  eth.request({ method: "eth_signTypedData_v4", params: [account, JSON.stringify(config.typedData)] }));
on("approve", async () => {
  const sent = await send({ to: config.token, data: "0x095ea7b3" + word(config.spender) + uint(config.amount) });
  const allowance = await eth.request({
    method: "eth_call",
    params: [{ to: config.token, data: "0xdd62ed3e" + word(account) + word(config.spender) }, "latest"],
  });
  return { ...sent, allowance: BigInt(allowance).toString() };
});
on("claim", () =>
  send({ to: config.spender, data: "0xe7be2238" + word(config.program) + word(config.token) + word(config.paymentRef) }));
on("transfer", () => send({ to: config.recipient, value: "0x" + BigInt(config.value).toString(16) }));
on("switch", () =>
  eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId: config.switchTo }] }));
on("accounts", () => eth.request({ method: "eth_accounts" }));
on("eth-sign", () => eth.request({ method: "eth_sign", params: [account, "0x00"] }));
</script>
</body></html>
"""


@pytest.fixture(scope="module")
def chain(anvil, tmp_path_factory) -> Chain:
    return deploy_chain(anvil, tmp_path_factory.mktemp("deployments"))


async def open_dapp(page: Page, **config: Any) -> Page:
    html = DAPP_HTML.replace("__CONFIG__", json.dumps(config).replace("</", "<\\/"))
    await page.route(DAPP, lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    await page.goto(DAPP)
    return page


async def click(page: Page, button: str) -> tuple[str, Any]:
    """Click `button`; once the page has its outcome: ("ok", result) or ("error", {code, message, data})."""
    await page.click(f"#{button}")
    out = page.locator(f"#{button}-out")
    await expect(out).to_have_attribute("data-state", re.compile("^(ok|error)$"))
    return str(await out.get_attribute("data-state")), json.loads(await out.text_content() or "null")


async def connect(page: Page, wallet: TestWallet) -> None:
    state, value = await click(page, "connect")
    assert state == "ok", value
    assert value["account"] == wallet.address.lower()


async def test_wallet_is_injected_before_page_scripts_and_announced(page: Page, wallet: TestWallet, anvil):
    await open_dapp(page)
    assert await page.evaluate("window.walletAtFirstScript") is True
    assert await page.evaluate("window.announced") == ["test.sge.wallet"]
    assert await page.evaluate("window.ethereum.isMetaMask") is False

    state, value = await click(page, "connect")
    assert (state, value) == ("ok", {"account": wallet.address.lower(), "chainId": hex(anvil.chain_id)})
    assert wallet.methods() == ["eth_requestAccounts", "eth_chainId"]
    assert wallet.requests[0].url == DAPP and wallet.requests[0].params == []


async def test_personal_sign_recovers_to_the_wallet(page: Page, wallet: TestWallet):
    message = (
        f"dapp.test wants you to sign in with your Ethereum account:\n{wallet.address}\n\nNonce: {os.urandom(8).hex()}"
    )
    await open_dapp(page, message=message)
    await connect(page, wallet)

    for button in ("sign-in", "sign-text"):  # the hex-encoded message and the plain text sign the same
        state, signature = await click(page, button)
        assert state == "ok", signature
        assert Account.recover_message(encode_defunct(text=message), signature=signature) == wallet.address
    hex_message, address = wallet.calls("personal_sign")[0].params
    assert bytes.fromhex(hex_message[2:]).decode() == message and address == wallet.address.lower()


async def test_typed_data_signature_recovers_as_payout_approver(page: Page, wallet: TestWallet, chain: Chain):
    lines = [PayoutLine.of(f"payout-{i}", chain.new_account(eth=0).address, 10**6 * (i + 1)) for i in range(3)]
    batch_id, deadline = f"batch-{os.urandom(4).hex()}", int(time.time()) + 3600
    plan = plan_batch(batch_id, program_id(KIT_PROGRAM), chain.addr("TestUSDC"), lines, deadline=deadline)
    contract = chain.addr("AffiliatePayout")
    message = typed_data(plan.batch, chain_id=chain.anvil.chain_id, contract=contract)
    await open_dapp(page, typedData=message)
    await connect(page, wallet)

    state, signature = await click(page, "sign-batch")
    assert state == "ok", signature
    assert recover_approver(plan.batch, signature, chain_id=chain.anvil.chain_id, contract=contract) == wallet.address
    request = await wallet.wait_for("eth_signTypedData_v4")
    assert request.params[0] == wallet.address.lower() and json.loads(request.params[1]) == message

    # A wallet signs typed data only for the chain it is on.
    await open_dapp(page, typedData=typed_data(plan.batch, chain_id=1, contract=contract))
    await connect(page, wallet)
    state, error = await click(page, "sign-batch")
    assert state == "error" and error["code"] == INVALID_PARAMS, error


async def test_approve_and_claim_land_on_chain(page: Page, wallet: TestWallet, chain: Chain):
    """The user's app's on-chain payment: ERC-20 approve, then the claim contract's `claim`."""
    usdt, claim = chain.addr("TestUSDT"), chain.addr("SGEClaim")
    chain.tx(chain.deployer, "TestUSDT", "mint", wallet.address, KIT_FEE)
    payment_ref = "0x" + os.urandom(32).hex()
    program = "0x" + program_id(KIT_PROGRAM).hex()
    await open_dapp(page, token=usdt, spender=claim, amount=str(KIT_FEE), program=program, paymentRef=payment_ref)
    await connect(page, wallet)

    state, approved = await click(page, "approve")
    assert state == "ok", approved
    assert approved["status"] == "0x1" and approved["allowance"] == str(KIT_FEE)
    assert chain.view("TestUSDT", "allowance", wallet.address, claim) == KIT_FEE
    # A revert reaches the page as the node reported it (USDT refuses a non-zero allowance over non-zero).
    state, error = await click(page, "approve")
    assert state == "error", error
    assert error["code"] == 3 and error["data"].startswith("0xa9c6750a"), error  # AllowanceNotZero
    assert len(wallet.sent) == 1

    state, claimed = await click(page, "claim")
    assert state == "ok", claimed
    assert claimed["status"] == "0x1"
    assert chain.view("SGEToken", "balanceOf", wallet.address) == KIT_CLAIM_AMOUNT
    assert chain.view("TestUSDT", "balanceOf", wallet.address) == 0

    approve_tx, claim_tx = wallet.sent
    assert (approve_tx.hash, claim_tx.hash) == (approved["hash"], claimed["hash"])
    assert (approve_tx.tx["to"], claim_tx.tx["to"]) == (usdt, claim)
    ref = bytes.fromhex(payment_ref[2:])
    assert approve_tx.tx["data"] == "0x" + encode_call("TestUSDT", "approve", claim, KIT_FEE).hex()
    assert claim_tx.tx["data"] == "0x" + encode_call("SGEClaim", "claim", program_id(KIT_PROGRAM), usdt, ref).hex()
    assert claim_tx.tx["nonce"] == approve_tx.tx["nonce"] + 1
    receipt = chain.w3.eth.get_transaction_receipt(claimed["hash"])
    assert chain.event(receipt, "SGEClaim", "Claimed")["paymentRef"] == payment_ref


async def test_value_transfer(page: Page, wallet: TestWallet, anvil):
    recipient = Account.from_key(os.urandom(32)).address
    await open_dapp(page, recipient=recipient, value=str(ETH))
    await connect(page, wallet)
    state, sent = await click(page, "transfer")
    assert state == "ok" and sent["status"] == "0x1", sent
    assert int(anvil.rpc("eth_getBalance", [recipient, "latest"]), 16) == ETH
    assert wallet.sent[0].tx["value"] == ETH and "maxFeePerGas" in wallet.sent[0].tx


async def test_user_refusal_is_error_4001_in_the_page(page: Page, wallet: TestWallet):
    await open_dapp(page, message="hello")
    wallet.fail_next(method="eth_requestAccounts")
    state, error = await click(page, "connect")
    assert (state, error["code"]) == ("error", USER_REJECTED), error
    assert error["message"] == "User rejected the request."
    assert wallet.calls("eth_requestAccounts")[0].error is not None

    await connect(page, wallet)  # the user accepts the second time
    wallet.fail_next(code=USER_REJECTED, message="User denied message signature.")
    state, error = await click(page, "sign-text")
    assert (state, error["code"], error["message"]) == ("error", USER_REJECTED, "User denied message signature.")
    state, _ = await click(page, "sign-text")
    assert state == "ok"


async def test_unconnected_site_chains_and_events(open_wallet: OpenWallet, anvil):
    page, wallet = await open_wallet(connected=False)
    await open_dapp(page, message="hello", switchTo=hex(anvil.chain_id))
    assert await click(page, "accounts") == ("ok", [])
    state, error = await click(page, "sign-text")  # no account yet: the dapp passes null
    assert (state, error["code"]) == ("error", UNAUTHORIZED), error
    assert (await click(page, "eth-sign"))[1]["code"] == UNSUPPORTED_METHOD

    await connect(page, wallet)
    assert await click(page, "accounts") == ("ok", [wallet.address.lower()])

    other = Account.from_key(os.urandom(32))
    await wallet.set_account(other)
    await wallet.set_chain(1)
    assert await page.evaluate("window.events") == [
        ["accountsChanged", [other.address.lower()]],
        ["chainChanged", "0x1"],
    ]
    assert await click(page, "switch") == ("ok", None)  # back to the wallet's chain
    assert (await page.evaluate("window.events"))[-1] == ["chainChanged", hex(anvil.chain_id)]

    # A chain the wallet does not know; and a transaction while the wallet is on another chain.
    second, second_wallet = await open_wallet()
    await open_dapp(second, switchTo="0x1", recipient=other.address, value="1")
    await connect(second, second_wallet)
    assert (await click(second, "switch"))[1]["code"] == UNRECOGNIZED_CHAIN
    await second_wallet.set_chain(1)
    assert (await click(second, "transfer"))[1]["code"] == CHAIN_DISCONNECTED
    assert second_wallet.sent == [] and wallet.calls("wallet_switchEthereumChain")[0].params == [
        {"chainId": hex(anvil.chain_id)}
    ]
