"""The treasury Safe (Safe 1.4.1 from npm) on anvil: created by the deploy with 5 owners and threshold
3; our SafeTx hash is the contract's; 2 signatures cannot execute, 3 can."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3.exceptions import ContractLogicError

from contracts.abi import decode_revert, revert_data_from_exception
from contracts.deploy import DeployParams
from contracts.safe import (
    SAFE_INFRA,
    TREASURY_SAFE,
    SafeTx,
    exec_transaction_data,
    safe_state,
    safe_tx_hash,
    safe_view,
    sign_safe_tx,
)
from tests.helpers.chain import ETH, Chain, deploy_chain

OWNERS = [Account.create() for _ in range(5)]


@pytest.fixture(scope="module")
def chain(anvil, tmp_path_factory) -> Chain:
    params = DeployParams(safe_owners=[o.address for o in OWNERS], safe_threshold=3)
    return deploy_chain(anvil, tmp_path_factory.mktemp("deployments"), params=params)


def test_deploy_creates_the_treasury_safe_with_owners_and_threshold(chain: Chain):
    assert set(SAFE_INFRA) | {TREASURY_SAFE} <= set(chain.manifest.contracts)
    state = safe_state(chain.w3, chain.addr(TREASURY_SAFE))
    assert sorted(state.owners) == sorted(o.address for o in OWNERS)
    assert state.threshold == 3
    assert chain.manifest.params["safe_owners"].split(",") == [o.address for o in OWNERS]


def test_two_of_five_cannot_execute_three_can(chain: Chain):
    safe = chain.addr(TREASURY_SAFE)
    chain.anvil.rpc("anvil_setBalance", [safe, hex(ETH)])
    recipient = Account.create().address
    tx = SafeTx(to=recipient, value=ETH // 10, data=b"", operation=0, nonce=safe_state(chain.w3, safe).nonce)
    tx_hash = safe_tx_hash(chain.anvil.chain_id, safe, tx)
    on_chain = safe_view(chain.w3, safe, "getTransactionHash", tx.to, tx.value, tx.data, tx.operation, 0, 0, 0,
                         tx.gas_token, tx.refund_receiver, tx.nonce)[0]  # fmt: skip
    assert on_chain == "0x" + tx_hash.hex()

    signatures = {o.address: sign_safe_tx(o, tx_hash) for o in OWNERS}
    executor = chain.new_account()
    two = {a: signatures[a] for a in list(signatures)[:2]}
    with pytest.raises(ContractLogicError) as refused:
        chain.w3.eth.call({"from": executor.address, "to": safe, "data": exec_transaction_data(tx, two)})
    assert "GS020" in decode_revert(revert_data_from_exception(refused.value))  # signatures too short
    outsider = Account.create()
    forged = {**two, outsider.address: sign_safe_tx(outsider, tx_hash)}
    with pytest.raises(ContractLogicError):
        chain.w3.eth.call({"from": executor.address, "to": safe, "data": exec_transaction_data(tx, forged)})

    three = {a: signatures[a] for a in list(signatures)[2:]}
    receipt = chain.send_raw(executor, safe, exec_transaction_data(tx, three))
    assert receipt["status"] == 1
    assert chain.w3.eth.get_balance(recipient) == ETH // 10
    assert safe_state(chain.w3, safe).nonce == tx.nonce + 1


def test_after_handover_program_sync_goes_through_the_safe(chain: Chain):
    from contracts.abi import program_id
    from contracts.deploy import DeployError, _Sender, sync_program
    from contracts.roles import handover_to_safe, has_role
    from contracts.safe import SafeAdminSender

    safe = chain.addr(TREASURY_SAFE)
    handover_to_safe(chain.w3, chain.deployer, chain.manifest, safe)
    assert handover_to_safe(chain.w3, chain.deployer, chain.manifest, safe) == {}  # nothing left to do
    assert not has_role(chain.w3, chain.manifest, "SGEClaim", "DEFAULT_ADMIN_ROLE", chain.deployer.address)
    with pytest.raises(DeployError, match="AccessControlUnauthorizedAccount"):
        sync_program(chain.w3, chain.deployer, chain.manifest, "after-handover", 5 * ETH, 7_000_000)
    executor = _Sender(chain.w3, chain.new_account(), chain.anvil.chain_id, None)
    via_safe = SafeAdminSender(chain.w3, safe, OWNERS[1:4], executor.send)
    sent = sync_program(
        chain.w3, chain.deployer, chain.manifest, "after-handover", 5 * ETH, 7_000_000, admin_sender=via_safe
    )
    assert len(sent) == 3  # setProgram + a fee per stablecoin, each one Safe transaction
    assert chain.view("SGEClaim", "programs", program_id("after-handover")) == [5 * ETH, True]
