"""The KYC sandbox over real HTTP: the production Sumsub client against it, its buttons, and its signed,
retried webhooks verified by the platform's verifier."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ops.devstack.processes import free_port
from payments.interface import ProviderError
from payments.kyc.interface import KycOutcome
from payments.kyc.sumsub import SumsubClient, verified_kyc_event
from sandbox.kyc_app import create_kyc_sandbox_app
from sandbox.kyc_store import KycSandboxConfig
from tests.helpers.payments import ServerThread, receiver_app, wait_for

TOKEN, KEY, HOOK = "sbx:token", "sandbox-key", "kyc-hook-secret"


@pytest.fixture
def receiver() -> Iterator[ServerThread]:
    with ServerThread(receiver_app()) as server:
        yield server


@pytest.fixture
def kyc_sandbox(receiver) -> Iterator[ServerThread]:
    port = free_port()
    config = KycSandboxConfig(
        public_url=f"http://127.0.0.1:{port}",
        app_token=TOKEN,
        secret_key=KEY,
        webhook_secret=HOOK,
        webhook_url=f"{receiver.url}/v1/webhooks/kyc",
        retry_base_seconds=0.05,
        retry_max_seconds=0.1,
        max_attempts=4,
    )
    with ServerThread(create_kyc_sandbox_app(config, environment="test"), port) as server:
        yield server


def client(sandbox: ServerThread, key: str = KEY) -> SumsubClient:
    return SumsubClient(sandbox.url, TOKEN, key, "basic-kyc-level")


def events(receiver, count: int):
    rows = wait_for(lambda: len(r := receiver.app.state.receiver.by_path("/kyc")) >= count and r, what="webhooks")
    return [verified_kyc_event(HOOK, r.body, r.headers) for r in rows]


@pytest.mark.parametrize(
    ("actions", "outcome"),
    [
        (["approve"], KycOutcome.APPROVED),
        (["reject"], KycOutcome.REJECTED),
        (["review"], KycOutcome.REVIEW),
        (["review", "approve"], KycOutcome.APPROVED),
        (["review", "reject"], KycOutcome.REJECTED),
    ],
)
def test_actions_change_the_status_and_send_signed_webhooks(kyc_sandbox, receiver, actions, outcome):
    sumsub = client(kyc_sandbox)
    check = sumsub.start("kyc:p:0x1")
    assert check.outcome == KycOutcome.PENDING and check.hosted_url == f"{kyc_sandbox.url}/kyc/{check.reference}"
    assert "Approve" in httpx.get(check.hosted_url).text
    for action in actions:
        assert httpx.post(f"{kyc_sandbox.url}/sandbox/kyc/{check.reference}/{action}").status_code == 200
    assert sumsub.status(check.reference).outcome == outcome
    got = events(receiver, 1 + len(actions))  # applicantCreated, then one per action, in order
    assert got[0].event_type == "applicantCreated"
    assert got[-1].outcome == outcome and got[-1].reference == check.reference


def test_start_is_idempotent_on_the_external_id(kyc_sandbox):
    sumsub = client(kyc_sandbox)
    assert sumsub.start("k").reference == sumsub.start("k").reference


def test_wrong_secret_key_is_refused_and_retryable(kyc_sandbox):
    with pytest.raises(ProviderError) as err:
        client(kyc_sandbox, key="wrong").start("k")
    assert err.value.provider_status == 401 and err.value.retryable


def test_final_review_is_not_changed(kyc_sandbox):
    ref = client(kyc_sandbox).start("k").reference
    httpx.post(f"{kyc_sandbox.url}/sandbox/kyc/{ref}/reject")
    assert httpx.post(f"{kyc_sandbox.url}/sandbox/kyc/{ref}/approve").status_code == 409


def test_failed_deliveries_are_retried_with_the_same_signed_body(kyc_sandbox, receiver):
    receiver.app.state.receiver.fail_next = 2
    ref = client(kyc_sandbox).start("k").reference
    rows = wait_for(
        lambda: [d for d in httpx.get(f"{kyc_sandbox.url}/sandbox/kyc/deliveries").json() if d["state"] != "pending"],
        what="a settled delivery",
    )
    assert rows[0]["state"] == "delivered" and len(rows[0]["attempts"]) == 3
    got = events(receiver, 3)
    assert {e.event_id for e in got} == {got[0].event_id} and got[0].reference == ref  # one event, three attempts
