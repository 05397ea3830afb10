"""KYC before payment, end to end on the real parts: Temporal dev server, anvil with the contracts, the
payment and KYC sandboxes, the database, the worker and the API as processes, through HTTP.

Each branch runs once: approved (then paid and delivered), rejected, review → approved, review →
rejected, and expired. While a flow waits for KYC it holds no charge and `/v1/payments` refuses with
`kyc_required`; only the provider reference and the outcome are stored.
"""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import Session, col, select

from core.db import session_scope
from models.kyc import KycCheckRow, KycStatus
from models.onboarding import FlowState
from models.platform import Program
from ops.devstack.demo import DEMO_PROGRAM
from tests.helpers.stack import StackClient, running_stack

pytestmark = pytest.mark.integration

KYC_WAIT_S = 30  # the flow's KYC deadline here: long enough for a button press, short for the expiry case


@pytest.fixture(scope="module")
async def stack(tmp_path_factory, test_database):
    home = tmp_path_factory.mktemp("kyc") / "var"
    async with running_stack(home, test_database.fresh_url(), kyc_wait_seconds=KYC_WAIT_S) as (settings, sup):
        yield settings, sup


@pytest.fixture
async def client(stack):
    settings, _sup = stack
    async with httpx.AsyncClient(timeout=30) as http:
        c = StackClient(settings, http)
        with session_scope(c.engine) as session:  # the demo program asks for KYC before payment
            program = session.exec(select(Program).where(col(Program.slug) == DEMO_PROGRAM)).one()
            program.flags = {**(program.flags or {}), "kyc": {"mode": "before_payment"}}
            session.add(program)
        try:
            yield c
        finally:
            c.close()


def kyc_rows(client: StackClient, wallet: str) -> list[KycCheckRow]:
    with Session(client.engine) as s:
        return list(s.exec(select(KycCheckRow).where(col(KycCheckRow.wallet) == wallet)))


async def kyc_pending(client: StackClient) -> tuple[str, str]:
    """A new registration, waiting for KYC with no charge: its wallet and applicant id."""
    wallet = await client.register()
    status = await client.wait_state(wallet, FlowState.KYC_PENDING)
    url = status["kyc"]["verify_url"]
    assert url and url.startswith(client.settings.kyc_sandbox_base_url)
    refused = await client.demo.post("/v1/payments", {"program": DEMO_PROGRAM, "wallet": wallet}, expect=(409,))
    assert refused["error"]["code"] == "kyc_required"
    assert client.payments(wallet) == []  # no charge created
    page = await client.http.get(url)
    assert "Approve" in page.text
    return wallet, url.rsplit("/", 1)[1]


async def press(client: StackClient, applicant: str, action: str) -> None:
    resp = await client.http.post(f"{client.settings.kyc_sandbox_base_url}/sandbox/kyc/{applicant}/{action}")
    assert resp.status_code == 200, resp.text


def stored(client: StackClient, wallet: str, applicant: str, outcome: KycStatus) -> None:
    rows = kyc_rows(client, wallet)
    assert [(r.reference, r.outcome, r.provider) for r in rows] == [(applicant, outcome, "sumsub")]
    assert set(KycCheckRow.model_fields) == {  # the reference and the outcome: never documents
        "id",
        "check_key",
        "wallet",
        "provider",
        "reference",
        "outcome",
        "created_at",
        "updated_at",
    }


async def test_approved_then_paid_and_delivered(client: StackClient):
    wallet, applicant = await kyc_pending(client)
    await press(client, applicant, "approve")
    await client.wait_state(wallet, FlowState.AWAITING_PAYMENT)
    charge = await client.charge(wallet)
    await client.act(charge["provider_ref"], "pay")
    await client.wait_state(wallet, FlowState.COMPLETED)
    stored(client, wallet, applicant, KycStatus.APPROVED)
    client.books_ok()
    await client.record(wallet, "kyc-approved")


async def test_rejected_takes_no_money(client: StackClient):
    wallet, applicant = await kyc_pending(client)
    await press(client, applicant, "reject")
    status = await client.wait_state(wallet, FlowState.KYC_REJECTED)
    assert "KYC rejected" in status["reason"]
    assert client.payments(wallet) == []
    stored(client, wallet, applicant, KycStatus.REJECTED)
    await client.record(wallet, "kyc-rejected")


@pytest.mark.parametrize(
    ("final", "state"), [("approve", FlowState.AWAITING_PAYMENT), ("reject", FlowState.KYC_REJECTED)]
)
async def test_review_then_outcome(client: StackClient, final: str, state: FlowState):
    wallet, applicant = await kyc_pending(client)
    await press(client, applicant, "review")
    status = await client.wait_state(wallet, FlowState.KYC_REVIEW)
    assert status["kyc"]["state"] == "kyc_review"
    await press(client, applicant, final)
    await client.wait_state(wallet, state)
    if state == FlowState.KYC_REJECTED:
        assert client.payments(wallet) == []


async def test_no_outcome_before_the_deadline_expires(client: StackClient):
    wallet, applicant = await kyc_pending(client)
    status = await client.wait_state(wallet, FlowState.EXPIRED, timeout=KYC_WAIT_S + 60)
    assert "KYC not completed" in status["reason"]
    assert client.payments(wallet) == []
    stored(client, wallet, applicant, KycStatus.PENDING)
