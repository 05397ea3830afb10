"""Finality: a reorg under an unconfirmed delivery and under an unconfirmed on-chain claim settles
nothing twice and nothing from an orphaned block (the stack waits for 3 confirmations here; anvil is
reorganised with `anvil_reorg` while the transactions are still short of them)."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest
from eth_account import Account

from contracts.abi import encode_call, hexstr, program_id
from contracts.reads import find_claims
from models.onboarding import FlowState
from tests.helpers.stack import StackClient, running_stack

pytestmark = pytest.mark.integration
FEE = 100_000_000
SGE = 1000 * 10**18


@pytest.fixture(scope="module")
async def stack(tmp_path_factory, test_database):
    home = tmp_path_factory.mktemp("reorg") / "var"
    async with running_stack(home, test_database.fresh_url(), confirmations=3) as (settings, sup):
        yield settings, sup


@pytest.fixture
async def client(stack):
    settings, _sup = stack
    async with httpx.AsyncClient(timeout=30) as http:
        c = StackClient(settings, http)
        try:
            yield c
        finally:
            c.close()


def rpc(client: StackClient, method: str, *params):
    return client.w3.provider.make_request(method, list(params))


@contextlib.asynccontextmanager
async def blocks_every(client: StackClient, seconds: float):
    """Mine an empty block every `seconds` (automine alone adds blocks only with transactions, and
    confirmations need blocks on top)."""

    async def mine():
        while True:
            await asyncio.to_thread(rpc, client, "evm_mine")
            await asyncio.sleep(seconds)

    task = asyncio.create_task(mine())
    try:
        yield
    finally:
        task.cancel()


def claims(client: StackClient, wallet: str):
    return find_claims(client.w3, client.manifest.address("SGEClaim"), wallet, program_id=program_id("demo"))


async def test_a_reorged_delivery_is_sent_again_and_counted_once(client: StackClient):
    wallet = await client.register()
    async with blocks_every(client, 1.0):
        charge = await client.charge(wallet)
        await client.act(charge["provider_ref"], "pay")
        mined = await client.until(
            lambda: next((t for t in client.txs(wallet) if ":claim:" in t.key and t.block_number), None),
            "the delivery mined",
        )
    # Short of its 3 confirmations: take its block (and the one on top, if any) away.
    head = client.w3.eth.block_number
    depth = head - mined.block_number + 1
    assert depth <= 2, "the test must reorg before the delivery is final"
    rpc(client, "anvil_reorg", depth, [])
    assert claims(client, wallet) == []  # the delivery is gone from the canonical chain
    async with blocks_every(client, 0.5):
        done = await client.wait_state(wallet, FlowState.COMPLETED)
    [claim] = claims(client, wallet)
    assert claim.tx_hash == done["claimed"]["claim"]["tx_hash"]  # the delivery the books hold is canonical
    assert client.sge_balance(wallet) == SGE and client.purposes(wallet) == ["claim", "mint"]
    assert client.ledger_kinds(done["paid"]["payment_ref"]) == ["payment.settle", "claim.delivery"]
    client.books_ok()


async def test_an_orphaned_onchain_claim_is_never_settled(client: StackClient):
    user = Account.create()
    async with blocks_every(client, 1.0):  # the mint needs its confirmations
        wallet = await client.register(user)
        await client.wait_state(wallet, FlowState.AWAITING_PAYMENT)
    await asyncio.to_thread(client.demo._fund_user, user)
    prepared = await client.demo.post("/v1/claims/prepare", {"program": "demo", "wallet": wallet, "token": "USDT"})
    for step in prepared["steps"]:
        await asyncio.to_thread(client.demo._send, user, step["to"], step["data"])
    [orphan] = claims(client, wallet)
    rpc(client, "anvil_reorg", 1, [])  # the claim's block is replaced before any confirmation
    assert claims(client, wallet) == []
    async with blocks_every(client, 0.3):
        await asyncio.sleep(3)  # many blocks later: the flow still waits, nothing was settled
        assert client.row(wallet).state == FlowState.AWAITING_PAYMENT and client.row(wallet).paid_amount_minor is None
    # The user pays again (the reorg dropped the first claim): that one is final and settles.
    usdt, claim = client.manifest.address("TestUSDT"), client.manifest.address("SGEClaim")
    allowance = await asyncio.to_thread(
        lambda: client.w3.eth.call({"to": usdt, "data": hexstr(encode_call("TestUSDT", "allowance", wallet, claim))})
    )
    if int.from_bytes(allowance, "big") == 0:
        await asyncio.to_thread(client.demo._send, user, usdt, hexstr(encode_call("TestUSDT", "approve", claim, FEE)))
    await asyncio.to_thread(client.demo._send, user, claim, prepared["steps"][-1]["data"])
    async with blocks_every(client, 0.5):
        done = await client.wait_state(wallet, FlowState.COMPLETED)
    [final] = claims(client, wallet)
    assert final.tx_hash != orphan.tx_hash or final.block_number != orphan.block_number
    assert done["paid"]["payment_ref"] == f"onchain:{final.tx_hash}:{final.log_index}"
    assert client.sge_balance(wallet) == SGE
    client.books_ok()
