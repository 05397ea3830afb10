"""Treasury movements on real parts (anvil, Temporal dev server, the database): each kind is booked once
under its transaction hash, only after the chain shows that transfer of that amount to that address."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import Session
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from contracts.deploy import DeployParams
from models import ledger
from models.ledger import Accounts
from models.treasury import MovementKind, movements
from ops.devstack.treasury import send_fund, send_sweep, send_topup
from tests.helpers.chain import ETH
from workflows.treasury import treasury_workflow_id

INVENTORY = DeployParams().claim_inventory
PAYOUT_FUNDING = DeployParams().payout_funding


def _balance(world, account: str, asset: str) -> int:
    with Session(world.engine) as s:
        return ledger.balance(s, account, asset)


async def _refused(world, tx_hash: str, kind: MovementKind, amount: int | None = None) -> str:
    with pytest.raises(WorkflowFailureError) as failed:
        await world.record(tx_hash, kind, amount)
    cause = failed.value.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.cause
    assert isinstance(cause, ApplicationError)
    return str(cause.type)


async def test_every_kind_is_booked_once_and_only_as_the_chain_shows_it(recon_world):
    w = recon_world
    chain = w.chain
    relayer = chain.relayer.address

    # The deployment's own funding, recorded by hash; the same hash again is the same booking.
    inventory_tx = w.deploy_step("fund SGEClaim inventory")
    assert await _refused(w, inventory_tx, MovementKind.SGE_INVENTORY, INVENTORY + 1) == "treasury_mismatch"
    first = await w.record(inventory_tx, MovementKind.SGE_INVENTORY, INVENTORY)
    again = await w.record(inventory_tx.upper().replace("0X", "0x"), MovementKind.SGE_INVENTORY)
    assert (first.created, again.created) == (True, False)
    await w.keep(treasury_workflow_id(inventory_tx), "treasury-movement")
    assert _balance(w, Accounts.sge_inventory, "SGE") == INVENTORY
    assert await _refused(w, inventory_tx, MovementKind.PAYOUT_FUNDING) == "treasury_conflict"
    paid = await w.record(w.deploy_step("fund AffiliatePayout TestUSDC"), MovementKind.PAYOUT_FUNDING)
    assert (paid.asset.value, paid.amount_minor) == ("USDC", PAYOUT_FUNDING)

    # fund / topup on the local stack: executed from the dev funding account, then recorded.
    sge_tx = await asyncio.to_thread(send_fund, w.settings, "sge", 5 * ETH)
    assert await _refused(w, sge_tx, MovementKind.PAYOUT_FUNDING) == "treasury_mismatch"  # not a stablecoin move
    await w.record(sge_tx, MovementKind.SGE_INVENTORY, 5 * ETH)
    usdt_tx = await asyncio.to_thread(send_fund, w.settings, "usdt", 250 * 10**6)
    assert (await w.record(usdt_tx, MovementKind.PAYOUT_FUNDING)).asset.value == "USDT"
    topup_tx = await asyncio.to_thread(send_topup, w.settings, 2 * ETH, relayer)
    assert await _refused(w, topup_tx, MovementKind.RELAYER_SWEEP) == "treasury_mismatch"  # not sent by a relayer
    await w.record(topup_tx, MovementKind.RELAYER_TOPUP, 2 * ETH)
    stranger = await asyncio.to_thread(send_topup, w.settings, ETH, chain.new_account(eth=0).address)
    assert await _refused(w, stranger, MovementKind.RELAYER_TOPUP) == "treasury_mismatch"  # not a relayer address

    # A sweep from the (now retired) relayer key back to the treasury: value and gas leave relayer_eth.
    sweep_tx = await asyncio.to_thread(send_sweep, w.settings, chain.relayer.key.hex(), chain.deployer.address, ETH)
    swept = await w.record(sweep_tx, MovementKind.RELAYER_SWEEP)
    assert swept.amount_minor == ETH and swept.gas_wei > 0
    assert _balance(w, Accounts.relayer_eth, "ETH") == chain.w3.eth.get_balance(relayer) == ETH - swept.gas_wei

    # Inventory withdrawn by the admin: a transfer out of the claim contract.
    receipt = chain.tx(chain.deployer, "SGEClaim", "withdrawInventory", chain.deployer.address, 3 * ETH)
    out = await w.record("0x" + bytes(receipt["transactionHash"]).hex(), MovementKind.TRANSFER_OUT, 3 * ETH)
    assert out.asset.value == "SGE"
    held = chain.view("SGEToken", "balanceOf", chain.addr("SGEClaim"))
    assert _balance(w, Accounts.sge_inventory, "SGE") == int(held) == INVENTORY + 2 * ETH

    with Session(w.engine) as s:
        kinds = sorted(m.kind for m in movements(s))
        assert ledger.verify(s).ok
    assert kinds == sorted(
        [
            "sge_inventory",
            "payout_funding",
            "sge_inventory",
            "payout_funding",
            "relayer_topup",
            "relayer_sweep",
            "transfer_out",
        ]
    )


async def test_the_local_stacks_own_funding_is_not_booked_twice(recon_world):
    from ops.devstack.chain import post_funding

    w = recon_world
    tx = await asyncio.to_thread(send_topup, w.settings, ETH, w.chain.relayer.address)
    key = f"funding:{Accounts.relayer_eth}:{tx}"
    await asyncio.to_thread(post_funding, w.settings, key, Accounts.relayer_eth, "ETH", ETH, tx)
    assert await _refused(w, tx, MovementKind.RELAYER_TOPUP) == "treasury_conflict"
    assert _balance(w, Accounts.relayer_eth, "ETH") == ETH
