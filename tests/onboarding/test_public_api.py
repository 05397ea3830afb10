"""The public API of the main job: every bad input gets a precise 4xx and changes nothing.

Registration is signed by the wallet (tests/helpers/wallets.py); a bad program or referral code is
refused when the message is asked for, before anything is issued."""

from __future__ import annotations

import uuid

import pytest
from eth_account import Account
from sqlmodel import Session, select
from temporalio.service import RPCError

from core.db import session_scope
from models.affiliates import Affiliate, AffiliateStatus
from models.auth_nonces import AuthNonce
from models.onboarding import FlowState, Onboarding, flow_id
from models.platform import Program
from tests.helpers.wallets import nonce, session_header, sign, signed_register

GOOD = "0x52908400098527886E0F7030069857D2E4169EE7"  # EIP-55 test vector
BAD_CHECKSUM = "0x52908400098527886E0F7030069857D2E4169Ee7"


@pytest.fixture
def program(db_engine) -> Program:
    with session_scope(db_engine) as session:
        program = Program(
            slug=f"p-{uuid.uuid4().hex[:8]}",
            name="P",
            treasury_address="0x" + "11" * 20,
            fee_usd_minor=100_000_000,
            claim_amount_minor=1000 * 10**18,
            commission_bps=[1000, 500],
        )
        session.add(program)
    return program


def _affiliate(engine, program: Program, wallet: str, code: str, status=AffiliateStatus.ACTIVE) -> None:
    with session_scope(engine) as session:
        session.add(Affiliate(program_id=program.id, wallet=wallet, code=code, depth=1, status=status.value))


def _rows(engine) -> list[Onboarding]:
    with Session(engine) as session:
        return list(session.exec(select(Onboarding)).all())


def _nonces(engine) -> list[AuthNonce]:
    with Session(engine) as session:
        return list(session.exec(select(AuthNonce)).all())


async def _no_flow(temporal, program: Program, wallet: str) -> bool:
    try:
        await temporal.get_workflow_handle(flow_id(program.slug, wallet)).describe()
    except RPCError:
        return True
    return False


def _new_wallet() -> str:
    return Account.create().address


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"wallet": "0x1234"}, 422, "invalid_wallet"),
        ({"wallet": BAD_CHECKSUM}, 422, "invalid_wallet"),
        ({"wallet": "not-an-address"}, 422, "invalid_wallet"),
        ({"program": "no-such-program"}, 404, "unknown_program"),
        ({"referral_code": "ABCDEF12"}, 422, "unknown_referral_code"),
        ({"referral_code": "bad code!"}, 422, "invalid_code"),
        ({"surprise": 1}, 422, "validation_error"),
    ],
)
async def test_register_refuses_bad_input_and_changes_nothing(
    api_client, db_engine, temporal_dev, program, body, status, code
):
    request = {"program": program.slug, "wallet": GOOD, **body}
    resp = await api_client.post("/v1/auth/nonce", json=request)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    assert _rows(db_engine) == [] and _nonces(db_engine) == []
    assert await _no_flow(temporal_dev.client, program, GOOD)


async def test_self_referral_and_suspended_referrer(api_client, db_engine, program):
    wallet, other = _new_wallet(), _new_wallet()
    _affiliate(db_engine, program, wallet, "AAAA0001")
    _affiliate(db_engine, program, other, "AAAA0002", status=AffiliateStatus.SUSPENDED)
    resp = await nonce(api_client, program.slug, wallet, "AAAA0001")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "self_referral"
    resp = await nonce(api_client, program.slug, wallet, "AAAA0002")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "referrer_suspended"
    assert _nonces(db_engine) == []


async def test_inactive_program(api_client, db_engine, program):
    account = Account.create()
    issued = (await nonce(api_client, program.slug, account.address)).json()  # asked while it was open
    with session_scope(db_engine) as session:
        session.get(Program, program.id).active = False
    resp = await nonce(api_client, program.slug, GOOD)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "program_inactive"
    signed = {"message": issued["message"], "signature": sign(account, issued["message"])}
    resp = await api_client.post("/v1/register", json=signed)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "program_inactive"
    assert _rows(db_engine) == []


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b'{"program": "x", "wallet": ', {"content-type": "application/json"}, 422, "validation_error"),
        (b"program=x&wallet=y", {"content-type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        (b'{"program": "x"}', {"content-type": "text/plain"}, 415, "unsupported_media_type"),
        (b"x" * 70_000, {"content-type": "application/json"}, 413, "payload_too_large"),
    ],
)
async def test_malformed_bodies(api_client, db_engine, content, headers, status, code):
    for path in ("/v1/auth/nonce", "/v1/register", "/v1/payments", "/v1/claims/prepare", "/v1/claims/record"):
        resp = await api_client.post(path, content=content, headers=headers)
        assert resp.status_code == status, (path, resp.text)
        assert resp.json()["error"]["code"] == code
    assert _rows(db_engine) == []


async def test_register_starts_one_flow_and_repeats_join_it(api_client, temporal_dev, program):
    account = Account.create()
    wallet = account.address
    issued = await nonce(api_client, program.slug, wallet.lower())
    assert f"\n{wallet}\n" in issued.json()["message"]  # the message names the EIP-55 form
    message = issued.json()["message"]
    first = await api_client.post("/v1/register", json={"message": message, "signature": sign(account, message)})
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["flow_id"] == flow_id(program.slug, wallet) and body["wallet"] == wallet  # normalised to EIP-55
    assert body["state"] == "registering"
    again, _ = await signed_register(api_client, program.slug, account)
    assert again.status_code == 202
    handle = temporal_dev.client.get_workflow_handle(body["flow_id"])
    desc = await handle.describe()
    runs = [wf async for wf in temporal_dev.client.list_workflows(f'WorkflowId = "{body["flow_id"]}"')]
    assert len(runs) == 1 and runs[0].run_id == desc.run_id  # the repeat joined the running flow
    await handle.terminate("test over")


async def test_idempotency_key_replays_a_wallet_write(api_client, temporal_dev, program):
    registered, account = await signed_register(api_client, program.slug)
    session = {"Authorization": f"Wallet {registered.json()['session']['token']}"}
    key = {"Idempotency-Key": str(uuid.uuid4()), **session}
    body = {"program": program.slug, "wallet": account.address, "tx_hash": "0x" + "ab" * 32}
    one = await api_client.post("/v1/claims/record", json=body, headers=key)
    two = await api_client.post("/v1/claims/record", json=body, headers=key)
    other = await api_client.post("/v1/claims/record", json={**body, "tx_hash": "0x" + "cd" * 32}, headers=key)
    assert one.status_code == two.status_code == 202 and one.json() == two.json()
    assert two.headers["idempotent-replayed"] == "true"
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    await temporal_dev.client.get_workflow_handle(registered.json()["flow_id"]).terminate("test over")


async def test_a_retried_registration_gets_the_original_answer(api_client, db_engine, temporal_dev, program):
    account = Account.create()
    message = (await nonce(api_client, program.slug, account.address)).json()["message"]
    signed = {"message": message, "signature": sign(account, message)}
    one = await api_client.post("/v1/register", json=signed)
    two = await api_client.post("/v1/register", json=signed)  # a client retrying after a timeout
    assert one.status_code == two.status_code == 202, two.text
    assert {**one.json(), "session": None} == {**two.json(), "session": None}
    assert two.json()["session"]["token"]  # and a session again
    assert len(_rows(db_engine)) == 1
    await temporal_dev.client.get_workflow_handle(one.json()["flow_id"]).terminate("test over")


async def test_completed_wallet_is_answered_from_the_database(api_client, db_engine, temporal_dev, program):
    account = Account.create()
    wallet = account.address
    fid = flow_id(program.slug, wallet)
    with session_scope(db_engine) as session:
        session.add(
            Onboarding(
                program_id=program.id,
                wallet=wallet,
                flow_id=fid,
                state=FlowState.COMPLETED,
                token_id=3,
                mint_tx="0x" + "aa" * 32,
                claim_tx="0x" + "bb" * 32,
                sge_amount_minor=10**21,
                rail="coinbase_commerce",
                payment_ref="coinbase_commerce:X",
                paid_amount_minor=100_000_000,
                paid_asset="USD",
            )
        )
    resp, _ = await signed_register(api_client, program.slug, account)
    assert resp.status_code == 200 and resp.json()["state"] == "completed"
    assert await _no_flow(temporal_dev.client, program, wallet)  # never started again
    status = (await api_client.get("/v1/status", params={"program": program.slug, "wallet": wallet.lower()})).json()
    assert status["state"] == "completed"
    assert status["registered"]["token_id"] == 3
    assert status["claimed"]["claim"]["tx_hash"] == "0x" + "bb" * 32
    assert status["paid"] == {
        "rail": "coinbase_commerce",
        "payment_ref": "coinbase_commerce:X",
        "amount_minor": 100_000_000,
        "asset": "USD",
    }


async def test_status_and_flow_endpoints_for_unknown_wallets(api_client, settings, program):
    wallet = _new_wallet()
    signed = session_header(settings, wallet)  # a session for a wallet that has no flow
    resp = await api_client.get("/v1/status", params={"program": program.slug, "wallet": wallet})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_registered"
    resp = await api_client.get("/v1/status", params={"program": program.slug, "wallet": "0x12"})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_wallet"
    resp = await api_client.post("/v1/payments", json={"program": program.slug, "wallet": wallet}, headers=signed)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_registered"
    resp = await api_client.post(
        "/v1/claims/record",
        json={"program": program.slug, "wallet": wallet, "tx_hash": "0x" + "ab" * 32},
        headers=signed,
    )
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "no_open_flow"
    resp = await api_client.post(
        "/v1/claims/record", json={"program": program.slug, "wallet": wallet, "tx_hash": "0xnothash"}, headers=signed
    )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_tx_hash"
    resp = await api_client.post(
        "/v1/claims/prepare", json={"program": program.slug, "wallet": wallet, "token": "DAI"}, headers=signed
    )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "validation_error"


async def test_register_rate_limits(api_client, temporal_dev, program):
    """5 registrations per hour per IP (the test client is one IP), then 429 with Retry-After."""
    started = []
    for _ in range(5):
        resp, _account = await signed_register(api_client, program.slug)
        assert resp.status_code == 202
        started.append(resp.json()["flow_id"])
    resp, _account = await signed_register(api_client, program.slug)
    assert resp.status_code == 429 and resp.json()["error"]["code"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) > 0
    for fid in started:
        await temporal_dev.client.get_workflow_handle(fid).terminate("test over")
