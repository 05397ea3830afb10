"""SGEID (one identity per wallet, minter-only, pausable) and AffiliateRegistry (write-once referrals
per program)."""

from __future__ import annotations

import os

from eth_utils import to_checksum_address

from contracts.abi import program_id
from tests.helpers.chain import Chain, unauthorized

ZERO = "0x0000000000000000000000000000000000000000"


def pid(name: str) -> str:
    """A program id no other test uses (the chain is shared by the module)."""
    return "0x" + program_id(f"{name}-{os.urandom(4).hex()}").hex()


# --- SGEID ------------------------------------------------------------------------------------------


def test_mint_assigns_sequential_ids_and_records_the_wallet(chain: Chain):
    a, b = chain.new_account(0), chain.new_account(0)
    before = chain.view("SGEID", "totalMinted")
    ra = chain.tx(chain.relayer, "SGEID", "mint", a.address)
    rb = chain.tx(chain.relayer, "SGEID", "mint", b.address)
    ev_a = chain.event(ra, "SGEID", "Transfer")
    ev_b = chain.event(rb, "SGEID", "Transfer")
    assert ev_a == {"from": ZERO, "to": a.address, "tokenId": before + 1}
    assert ev_b["tokenId"] == before + 2
    assert chain.view("SGEID", "tokenOf", a.address) == before + 1
    assert chain.view("SGEID", "ownerOf", before + 2) == b.address
    assert chain.view("SGEID", "balanceOf", a.address) == 1
    assert chain.view("SGEID", "totalMinted") == before + 2
    assert chain.view("SGEID", "name") == "SGE ID" and chain.view("SGEID", "symbol") == "SGEID"


def test_second_mint_to_the_same_wallet_reverts(chain: Chain):
    wallet = chain.new_account(0)
    receipt = chain.tx(chain.relayer, "SGEID", "mint", wallet.address)
    token_id = chain.event(receipt, "SGEID", "Transfer")["tokenId"]
    assert chain.revert(chain.relayer, "SGEID", "mint", wallet.address) == (
        f"AlreadyHasToken(wallet={wallet.address}, tokenId={token_id})"
    )


def test_mint_is_minter_only_and_refuses_zero_address(chain: Chain):
    stranger = chain.new_account()
    assert chain.revert(stranger, "SGEID", "mint", stranger.address) == unauthorized(stranger.address, "MINTER_ROLE")
    # even the admin is not a minter
    assert chain.revert(chain.deployer, "SGEID", "mint", stranger.address) == unauthorized(
        chain.deployer.address, "MINTER_ROLE"
    )
    assert chain.revert(chain.relayer, "SGEID", "mint", ZERO) == "ZeroAddress()"


def test_transfer_cannot_give_a_wallet_a_second_identity(chain: Chain):
    a, b, c = chain.new_account(), chain.new_account(0), chain.new_account(0)
    id_a = chain.event(chain.tx(chain.relayer, "SGEID", "mint", a.address), "SGEID", "Transfer")["tokenId"]
    id_b = chain.event(chain.tx(chain.relayer, "SGEID", "mint", b.address), "SGEID", "Transfer")["tokenId"]
    assert chain.revert(a, "SGEID", "transferFrom", a.address, b.address, id_a) == (
        f"AlreadyHasToken(wallet={b.address}, tokenId={id_b})"
    )
    chain.tx(a, "SGEID", "transferFrom", a.address, c.address, id_a)
    assert chain.view("SGEID", "tokenOf", a.address) == 0
    assert chain.view("SGEID", "tokenOf", c.address) == id_a
    # the emptied wallet may receive an identity again
    chain.tx(chain.relayer, "SGEID", "mint", a.address)


def test_pause_stops_mints_and_transfers(chain: Chain):
    holder, fresh = chain.new_account(), chain.new_account(0)
    token_id = chain.event(chain.tx(chain.relayer, "SGEID", "mint", holder.address), "SGEID", "Transfer")["tokenId"]
    stranger = chain.new_account()
    assert chain.revert(stranger, "SGEID", "pause") == unauthorized(stranger.address, "PAUSER_ROLE")
    assert chain.revert(chain.relayer, "SGEID", "pause") == unauthorized(chain.relayer.address, "PAUSER_ROLE")
    assert chain.revert(chain.deployer, "SGEID", "unpause") == "ExpectedPause()"
    chain.event(chain.tx(chain.deployer, "SGEID", "pause"), "SGEID", "Paused")
    try:
        assert chain.view("SGEID", "paused") is True
        assert chain.revert(chain.relayer, "SGEID", "mint", fresh.address) == "EnforcedPause()"
        assert (
            chain.revert(holder, "SGEID", "transferFrom", holder.address, fresh.address, token_id) == "EnforcedPause()"
        )
        assert chain.revert(chain.deployer, "SGEID", "pause") == "EnforcedPause()"
        assert chain.revert(stranger, "SGEID", "unpause") == unauthorized(stranger.address, "PAUSER_ROLE")
    finally:
        chain.event(chain.tx(chain.deployer, "SGEID", "unpause"), "SGEID", "Unpaused")
    chain.tx(chain.relayer, "SGEID", "mint", fresh.address)


def test_base_uri_is_admin_only(chain: Chain):
    wallet = chain.new_account(0)
    token_id = chain.event(chain.tx(chain.relayer, "SGEID", "mint", wallet.address), "SGEID", "Transfer")["tokenId"]
    stranger = chain.new_account()
    assert chain.revert(stranger, "SGEID", "setBaseURI", "https://evil/") == unauthorized(
        stranger.address, "DEFAULT_ADMIN_ROLE"
    )
    receipt = chain.tx(chain.deployer, "SGEID", "setBaseURI", "https://id.sge.example/")
    assert chain.event(receipt, "SGEID", "BaseURIUpdated") == {"baseURI": "https://id.sge.example/"}
    assert chain.view("SGEID", "tokenURI", token_id) == f"https://id.sge.example/{token_id}"


def test_roles_and_interfaces(chain: Chain):
    from tests.helpers.chain import role

    assert chain.view("SGEID", "hasRole", role("MINTER_ROLE"), chain.relayer.address) is True
    assert chain.view("SGEID", "hasRole", role("DEFAULT_ADMIN_ROLE"), chain.deployer.address) is True
    assert chain.view("SGEID", "hasRole", role("DEFAULT_ADMIN_ROLE"), chain.relayer.address) is False
    assert chain.view("SGEID", "supportsInterface", "0x80ac58cd") is True  # ERC-721
    assert chain.view("SGEID", "supportsInterface", "0x7965db0b") is True  # AccessControl
    assert chain.deploy_revert(chain.deployer, "SGEID", ZERO, chain.relayer.address, "") == "ZeroAddress()"
    assert chain.deploy_revert(chain.deployer, "SGEID", chain.deployer.address, ZERO, "") == "ZeroAddress()"


# --- AffiliateRegistry ------------------------------------------------------------------------------


def test_register_referral_is_write_once_per_program(chain: Chain):
    child, referrer, other = chain.new_account(0), chain.new_account(0), chain.new_account(0)
    program, elsewhere = pid("one"), pid("two")
    receipt = chain.tx(chain.relayer, "AffiliateRegistry", "registerReferral", program, child.address, referrer.address)
    assert chain.event(receipt, "AffiliateRegistry", "ReferralRegistered") == {
        "programId": program,
        "child": child.address,
        "referrer": referrer.address,
    }
    assert chain.view("AffiliateRegistry", "referrerOf", program, child.address) == referrer.address
    assert chain.revert(
        chain.relayer, "AffiliateRegistry", "registerReferral", program, child.address, other.address
    ) == (f"AlreadyRegistered(programId={program}, child={child.address}, referrer={referrer.address})")
    # another program is another tree: the same child may have another referrer there
    assert chain.view("AffiliateRegistry", "referrerOf", elsewhere, child.address) == ZERO
    chain.tx(chain.relayer, "AffiliateRegistry", "registerReferral", elsewhere, child.address, other.address)
    assert chain.view("AffiliateRegistry", "referrerOf", elsewhere, child.address) == other.address
    assert chain.view("AffiliateRegistry", "referrerOf", program, child.address) == referrer.address


def test_register_referral_rejects_bad_input(chain: Chain):
    a, b, c = chain.new_account(0), chain.new_account(0), chain.new_account(0)
    reg, program = "AffiliateRegistry", pid("cycles")
    assert chain.revert(chain.relayer, reg, "registerReferral", program, ZERO, a.address) == "ZeroAddress()"
    assert chain.revert(chain.relayer, reg, "registerReferral", program, a.address, ZERO) == "ZeroAddress()"
    assert (
        chain.revert(chain.relayer, reg, "registerReferral", "0x" + "00" * 32, a.address, b.address)
        == "ZeroProgramId()"
    )
    assert (
        chain.revert(chain.relayer, reg, "registerReferral", program, a.address, a.address)
        == f"SelfReferral(wallet={a.address})"
    )
    # a → b → c, then c → a would close a loop in this program's tree, but not in another program's
    chain.tx(chain.relayer, reg, "registerReferral", program, a.address, b.address)
    chain.tx(chain.relayer, reg, "registerReferral", program, b.address, c.address)
    assert chain.revert(chain.relayer, reg, "registerReferral", program, c.address, a.address) == (
        f"ReferralCycle(programId={program}, child={c.address}, referrer={a.address})"
    )
    chain.tx(chain.relayer, reg, "registerReferral", pid("other-tree"), c.address, a.address)


def test_register_referral_is_relayer_only(chain: Chain):
    stranger, child = chain.new_account(), chain.new_account(0)
    program = pid("roles")
    for sender in (stranger, chain.deployer):
        assert chain.revert(
            sender, "AffiliateRegistry", "registerReferral", program, child.address, stranger.address
        ) == (unauthorized(sender.address, "RELAYER_ROLE"))
    assert chain.deploy_revert(chain.deployer, "AffiliateRegistry", ZERO, chain.relayer.address) == "ZeroAddress()"
    assert to_checksum_address(chain.view("AffiliateRegistry", "referrerOf", program, child.address)) == ZERO
