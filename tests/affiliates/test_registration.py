import re
from datetime import timedelta

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import update
from sqlmodel import Session, select

from core.columns import utcnow
from core.db import session_scope
from models import affiliates as aff
from tests.helpers.ledger import CLI, make_program, register, row_counts


def nonce_for(engine, account, program="demo"):
    with session_scope(engine) as s:
        return aff.issue_nonce(s, program, account.address)


def sign(account, message):
    return account.sign_message(encode_defunct(text=message)).signature.hex()


def attempt(engine, wallet, nonce, signature, parent=None, program="demo"):
    with session_scope(engine) as s:
        return aff.register_affiliate(s, program, wallet, nonce, signature, parent)


def refused(engine, code, *args, **kwargs):
    before = row_counts(engine)
    with pytest.raises(aff.AffiliateError) as err:
        attempt(engine, *args, **kwargs)
    assert err.value.code == code, err.value
    assert row_counts(engine) == before, "a refused registration wrote something"
    return err.value


def test_register_root_and_child_with_codes(db_engine):
    make_program(db_engine)
    root = register(db_engine)
    child = register(db_engine, parent_code=root.code.lower())  # codes are case-insensitive on input
    assert re.fullmatch(r"[0-9A-F]{8}", root.code) and re.fullmatch(r"[0-9A-F]{8}", child.code)
    assert root.depth == 1 and root.parent_id is None
    assert child.depth == 2 and child.parent_id == root.id


def test_the_message_names_program_wallet_nonce_and_expiry(db_engine):
    make_program(db_engine)
    acct = Account.create()
    issued = nonce_for(db_engine, acct)
    assert f"Wallet: {acct.address}" in issued.message and f"Nonce: {issued.nonce}" in issued.message
    assert "Program: demo" in issued.message and "Expires at:" in issued.message
    assert issued.expires_at > utcnow()


def test_depth_cap_is_refused_not_dropped(db_engine):
    make_program(db_engine, max_depth=2)
    root = register(db_engine)
    child = register(db_engine, parent_code=root.code)
    acct = Account.create()
    issued = nonce_for(db_engine, acct)
    err = refused(db_engine, "depth_exceeded", acct.address, issued.nonce, sign(acct, issued.message), child.code)
    assert "depth" in str(err) and err.status == 409
    # the nonce was not consumed by the refusal: the same proof works under a parent that fits
    assert attempt(db_engine, acct.address, issued.nonce, sign(acct, issued.message), root.code).depth == 2


def test_forged_signature_is_refused(db_engine):
    make_program(db_engine)
    victim, attacker = Account.create(), Account.create()
    issued = nonce_for(db_engine, victim)
    refused(db_engine, "invalid_signature", victim.address, issued.nonce, sign(attacker, issued.message))
    refused(
        db_engine, "invalid_signature", victim.address, issued.nonce, sign(victim, issued.message + " ")
    )  # other text
    refused(db_engine, "invalid_signature", victim.address, issued.nonce, "0x" + "00" * 65)
    refused(db_engine, "invalid_signature", victim.address, issued.nonce, "not hex")
    assert attempt(db_engine, victim.address, issued.nonce, sign(victim, issued.message)).wallet == victim.address


def test_wrong_expired_and_reused_nonces_are_refused(db_engine):
    make_program(db_engine, slug="demo")
    make_program(db_engine, slug="other")
    acct, someone = Account.create(), Account.create()
    issued = nonce_for(db_engine, acct)
    sig = sign(acct, issued.message)
    refused(db_engine, "invalid_nonce", acct.address, "f" * 32, sig)  # never issued
    theirs = nonce_for(db_engine, someone)
    refused(
        db_engine, "invalid_nonce", acct.address, theirs.nonce, sign(acct, theirs.message)
    )  # issued to another wallet
    refused(db_engine, "invalid_nonce", acct.address, issued.nonce, sig, program="other")  # issued for another program
    # expired
    stale = nonce_for(db_engine, acct)
    with session_scope(db_engine) as s:
        s.connection().execute(
            update(aff.AffiliateNonce)
            .where(aff.AffiliateNonce.nonce == stale.nonce)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    refused(db_engine, "nonce_expired", acct.address, stale.nonce, sign(acct, stale.message))
    # used once → refused the second time, even for the same wallet and a valid signature
    attempt(db_engine, acct.address, issued.nonce, sig)
    refused(db_engine, "nonce_used", acct.address, issued.nonce, sig)


def test_duplicate_wallet_is_refused_whatever_its_casing(db_engine):
    make_program(db_engine)
    acct = Account.create()
    register(db_engine, acct)
    issued = nonce_for(db_engine, acct)
    refused(db_engine, "wallet_registered", acct.address.lower(), issued.nonce, sign(acct, issued.message))
    # the same wallet may join another program
    make_program(db_engine, slug="other")
    assert register(db_engine, acct, program="other").wallet == acct.address


def test_unknown_or_suspended_parent_is_refused(db_engine):
    make_program(db_engine)
    root = register(db_engine)
    acct = Account.create()
    issued = nonce_for(db_engine, acct)
    sig = sign(acct, issued.message)
    refused(db_engine, "unknown_parent_code", acct.address, issued.nonce, sig, "ABCDEF12")
    refused(db_engine, "invalid_code", acct.address, issued.nonce, sig, "XYZ")
    with session_scope(db_engine) as s:
        aff.set_status(s, CLI, root.id, aff.AffiliateStatus.SUSPENDED, "fraud review")
    refused(db_engine, "parent_suspended", acct.address, issued.nonce, sig, root.code)


def test_code_collisions_are_retried(db_engine, monkeypatch):
    make_program(db_engine)
    first = register(db_engine)
    draws = iter([first.code, first.code, "0A0B0C0D"])
    monkeypatch.setattr(aff.registration, "new_code", lambda: next(draws))  # where register_affiliate draws codes
    second = register(db_engine)
    assert second.code == "0A0B0C0D"
    with Session(db_engine) as s:
        assert len(s.exec(select(aff.Affiliate)).all()) == 2


def test_codes_come_from_a_csprng_and_look_right():
    codes = {aff.new_code() for _ in range(2000)}
    assert len(codes) == 2000  # 32 bits: collisions this early would be a broken generator
    assert all(re.fullmatch(r"[0-9A-F]{8}", c) for c in codes)


def test_inactive_or_unknown_program(db_engine):
    make_program(db_engine, active=False)
    with pytest.raises(aff.AffiliateError) as err:
        nonce_for(db_engine, Account.create())
    assert err.value.code == "program_inactive"
    with pytest.raises(aff.AffiliateError) as err:
        nonce_for(db_engine, Account.create(), program="nope")
    assert err.value.code == "program_not_found"


def test_tree_is_bounded_in_depth_and_size(db_engine):
    make_program(db_engine, max_depth=4, commission_bps=[1000, 500])
    root = register(db_engine)
    kids = [register(db_engine, parent_code=root.code) for _ in range(3)]
    grandkids = [register(db_engine, parent_code=kids[0].code) for _ in range(2)]
    register(db_engine, parent_code=grandkids[0].code)
    with Session(db_engine) as s:
        full = aff.tree(s, root, depth=5, limit=100)
        assert full.nodes == 7 and not full.truncated
        assert [c.code for c in full.root.children] == [k.code for k in kids]
        assert all(n.wallet is None for n in full.root.children)  # wallets only for operators
        shallow = aff.tree(s, root, depth=1, limit=100)
        assert shallow.nodes == 4 and shallow.truncated  # grandchildren exist below the cut
        small = aff.tree(s, root, depth=5, limit=3)
        assert small.nodes == 3 and small.truncated
        assert aff.tree(s, root, depth=1, with_wallets=True).root.wallet == root.wallet
