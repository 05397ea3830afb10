from eth_account import Account

from core.db import session_scope
from models import affiliates as aff
from tests.helpers.ledger import CLI, make_program, register, row_counts


def attribute(engine, wallet, code, source="test", program="demo"):
    with session_scope(engine) as s:
        return aff.attribute(s, program, wallet, code, source)


def test_first_registration_locks_the_referrer_with_its_proof(db_engine):
    make_program(db_engine)
    a, b = register(db_engine), register(db_engine)
    user = Account.create().address
    first = attribute(db_engine, user.lower(), a.code, source="landing:utm=x")
    assert first.status == "new" and first.referrer_affiliate_id == a.id and first.wallet == user
    assert first.referrer_code == a.code and first.source == "landing:utm=x" and first.locked_at is not None
    before = row_counts(db_engine)
    later = attribute(db_engine, user, b.code)
    assert later.status == "existing" and later.referrer_affiliate_id == a.id
    assert later.ignored_code == b.code and "ignored" in later.message
    same = attribute(db_engine, user, a.code)
    assert same.status == "existing" and same.ignored_code is None
    assert row_counts(db_engine) == before


def test_no_code_at_first_registration_locks_no_referrer(db_engine):
    make_program(db_engine)
    a = register(db_engine)
    user = Account.create().address
    assert attribute(db_engine, user, None).status == "new"
    later = attribute(db_engine, user, a.code)
    assert later.status == "existing" and later.referrer_affiliate_id is None and later.ignored_code == a.code


def test_refusals_write_nothing(db_engine):
    make_program(db_engine)
    make_program(db_engine, slug="closed", active=False)
    acct = Account.create()
    mine = register(db_engine, acct)
    suspended = register(db_engine)
    with session_scope(db_engine) as s:
        aff.set_status(s, CLI, suspended.id, aff.AffiliateStatus.SUSPENDED)
    before = row_counts(db_engine)
    user = Account.create().address
    cases = [
        (acct.address, mine.code, "demo", "self_referral"),
        (user, "ABCDEF01", "demo", "unknown_referral_code"),
        (user, "nonsense", "demo", "invalid_code"),
        (user, suspended.code, "demo", "referrer_suspended"),
        ("0x1234", mine.code, "demo", "invalid_wallet"),
        (user, None, "nope", "program_not_found"),
        (user, None, "closed", "program_inactive"),
    ]
    for wallet, code, program, expected in cases:
        result = attribute(db_engine, wallet, code, program=program)
        assert result.status == "refused" and result.error_code == expected, (expected, result)
    assert row_counts(db_engine) == before
    # a refusal does not lock anything: the user can still register with a valid code
    assert attribute(db_engine, user, mine.code).status == "new"
