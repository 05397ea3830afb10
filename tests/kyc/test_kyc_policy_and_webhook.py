"""The KYC policy (none / before_payment / above_amount, cumulative per wallet in minor units), its
validation on programs, and the KYC webhook route's refusals and hand-off answers."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import pytest
from eth_account import Account
from sqlmodel import Session

from core.db import session_scope
from models.kyc import KycCheckRow, KycMode, KycPolicy, KycStatus, kyc_policy, kyc_required
from models.onboarding import FlowState, Onboarding
from models.platform import PaymentProvider
from models.programs import ProgramUpdate
from tests.helpers.payments import make_program
from tests.kyc.conftest import KYC_WEBHOOK_SECRET

FEE = 100_000_000  # USD at 6 decimals
URL = "/v1/webhooks/kyc"


def paid(engine, program, wallet: str, amount: int) -> None:
    with session_scope(engine) as session:
        session.add(
            Onboarding(
                program_id=program.id,
                wallet=wallet,
                flow_id=f"f-{uuid.uuid4().hex[:8]}",
                state=FlowState.COMPLETED,
                paid_amount_minor=amount,
            )
        )


def test_policy_modes(db_engine):
    wallet = Account.create().address
    with Session(db_engine) as s:
        assert not kyc_required(s, KycPolicy(), wallet, FEE)
        assert kyc_required(s, KycPolicy(mode=KycMode.BEFORE_PAYMENT), wallet, FEE)
        above = KycPolicy(mode=KycMode.ABOVE_AMOUNT, threshold_usd_minor=250_000_000)
        assert not kyc_required(s, above, wallet, FEE)  # 100 ≤ 250
    for program in (make_program(db_engine, PaymentProvider.COINBASE_COMMERCE) for _ in range(2)):
        paid(db_engine, program, wallet, FEE)  # cumulative across programs
    with Session(db_engine) as s:
        assert not kyc_required(s, above, wallet, 50_000_000)  # 200 + 50 = 250: not above
        assert kyc_required(s, above, wallet, FEE)  # 200 + 100 = 300 > 250
        assert not kyc_required(s, above, Account.create().address, FEE)  # another wallet starts at zero


@pytest.mark.parametrize(
    "flags",
    [{"kyc": {"mode": "sometimes"}}, {"kyc": {"mode": "above_amount", "threshold_usd_minor": -1}}, {"kyc": "yes"}],
)
def test_bad_policies_are_refused_on_programs(flags):
    with pytest.raises(ValueError, match="kyc"):
        ProgramUpdate(flags=flags)


def test_good_policy_reads_back():
    flags = {"kyc": {"mode": "above_amount", "threshold_usd_minor": 1_000_000_000}}
    assert ProgramUpdate(flags=flags).flags == flags
    assert kyc_policy(flags) == KycPolicy(mode=KycMode.ABOVE_AMOUNT, threshold_usd_minor=1_000_000_000)
    assert kyc_policy({}) == KycPolicy()


def signed(reference: str, answer: str = "GREEN", secret: str = KYC_WEBHOOK_SECRET) -> tuple[bytes, dict]:
    body = json.dumps(
        {
            "applicantId": reference,
            "externalUserId": "onboarding:x:0x1",
            "type": "applicantReviewed",
            "reviewStatus": "completed",
            "reviewResult": {"reviewAnswer": answer, "reviewRejectType": "FINAL"},
            "createdAtMs": "2026-12-01 10:00:00.001",
        }
    ).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Payload-Digest": digest}


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        (lambda b, h: (b, {**h, "X-Payload-Digest": "0" * 64}), 401, "bad_signature"),
        (lambda b, h: (b, {"Content-Type": "application/json"}), 401, "missing_signature"),
        (lambda b, h: (b.replace(b"GREEN", b"RED"), h), 401, "bad_signature"),
        (lambda b, h: (b, {**h, "Content-Type": "text/plain"}), 415, "unsupported_media_type"),
        (
            lambda b, h: (
                b"[]",
                {**h, "X-Payload-Digest": hmac.new(KYC_WEBHOOK_SECRET.encode(), b"[]", hashlib.sha256).hexdigest()},
            ),
            400,
            "malformed_event",
        ),
    ],
)
async def test_refusals(api_client, mutate, status, code):
    body, headers = mutate(*signed("app-1"))
    resp = await api_client.post(URL, content=body, headers=headers)
    assert resp.status_code == status and resp.json()["error"]["code"] == code


async def test_no_secret_fails_closed(api_client, settings):
    api_client.app.state.settings = settings.model_copy(update={"kyc_webhook_secret": None})
    body, headers = signed("app-1")
    resp = await api_client.post(URL, content=body, headers=headers)
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "webhook_not_configured"


async def test_unknown_check_and_ended_flow_are_acknowledged(api_client, db_engine):
    body, headers = signed("app-unknown")
    resp = await api_client.post(URL, content=body, headers=headers)
    assert resp.status_code == 200 and resp.json()["status"] == "unknown_check"
    with session_scope(db_engine) as session:
        session.add(
            KycCheckRow(
                check_key=f"onboarding:gone:{uuid.uuid4().hex}",
                wallet=Account.create().address,
                provider="sumsub",
                reference="app-known",
                outcome=KycStatus.PENDING,
            )
        )
    body, headers = signed("app-known")
    resp = await api_client.post(URL, content=body, headers=headers)
    assert resp.status_code == 200 and resp.json()["status"] == "flow_closed"
