"""Random sequences of provider events against real flows (real stack: sandbox, webhooks, worker,
chain, database): duplicates and reordering (the sandbox's switches), late money, refunds, payments of
an older run's charge. Whatever the sequence, once everything has settled down:

- no wallet is delivered twice (on chain and in the relayer's outbox);
- every cent the provider holds for a charge is booked exactly once (the payment row's received total
  equals the provider's, and a refunded charge holds nothing in suspense);
- the books verify.

A few examples run in `make test`; the slow tier (`make test-slow`) runs 40 more.
"""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from models.onboarding import FlowState
from payments.wire import parse_money
from tests.helpers.stack import StackClient, running_stack

pytestmark = pytest.mark.integration
EXAMPLES = int(os.environ.get("SGE_PROPERTY_EXAMPLES", "4"))
SLOW_EXAMPLES = int(os.environ.get("SGE_PROPERTY_SLOW_EXAMPLES", "40"))
SGE = 1000 * 10**18

# What a payer or merchant may do to a charge, and what the sandbox answers when it may not (409: skipped).
ACTIONS = st.sampled_from(
    [
        ("pay", {}),
        ("pay", {"amount": "100.01"}),
        ("underpay", {"amount": "40"}),
        ("multiple", {"amounts": "30,80"}),
        ("fail", {}),
        ("refund", {}),
        ("resolve", {}),
        ("pay", {"currency": "ETH", "amount": "0.01"}),
    ]
)
SCENARIO = st.fixed_dictionaries(
    {
        "duplicate": st.booleans(),
        "out_of_order": st.booleans(),
        "first": st.lists(ACTIONS, min_size=1, max_size=3),
        "second_run": st.booleans(),  # expire the first charge and register again: a second charge
        "later": st.lists(st.tuples(st.sampled_from(["first", "second"]), ACTIONS), max_size=3),
    }
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, test_database):
    home = tmp_path_factory.mktemp("props") / "var"
    holder: dict = {}

    async def start():
        cm = running_stack(home, test_database.fresh_url(), payment_expiry_seconds=10, flow_expiry_grace_seconds=1)
        holder["cm"] = cm
        holder["settings"], holder["sup"] = await cm.__aenter__()

    loop = asyncio.new_event_loop()
    loop.run_until_complete(start())
    yield holder["settings"]
    loop.run_until_complete(holder["cm"].__aexit__(None, None, None))
    loop.close()


async def _act(client: StackClient, ref: str, action: str, params: dict) -> None:
    resp = await client.http.post(f"{client.settings.sandbox_base_url}/sandbox/charges/{ref}/{action}", params=params)
    assert resp.status_code in (200, 409), resp.text  # 409: not allowed in the charge's state (e.g. refund of nothing)


async def _switches(client: StackClient, duplicate: bool, out_of_order: bool) -> None:
    resp = await client.http.post(
        f"{client.settings.sandbox_base_url}/sandbox/switches",
        json={"duplicate": duplicate, "out_of_order": out_of_order},
    )
    assert resp.status_code == 200


async def _scenario(settings_, scenario: dict) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client = StackClient(settings_, http)
        try:
            await _switches(client, scenario["duplicate"], scenario["out_of_order"])
            wallet = await client.register()
            charges = {"first": (await client.charge(wallet))["provider_ref"]}
            for action, params in scenario["first"]:
                await _act(client, charges["first"], action, params)
            if scenario["second_run"]:
                row = await client.until(
                    lambda: client.row(wallet).state.terminal and client.row(wallet), "the first run's end", timeout=60
                )
                if row.state != FlowState.COMPLETED:
                    await client.register(wallet)
                    second = await client.until(
                        lambda: len(client.payments(wallet)) > 1 and client.payments(wallet)[1],
                        "a second charge",
                        timeout=30,
                    )
                    charges["second"] = second.provider_ref
            for which, (action, params) in scenario["later"]:
                if which in charges:
                    await _act(client, charges[which], action, params)
            await _switches(client, False, False)
            await _settled_down(client, wallet)
            _check(client, wallet)
        finally:
            client.close()


async def _settled_down(client: StackClient, wallet: str) -> None:
    """The flow has ended and every delivery the sandbox owed has been made and booked."""
    await client.until(lambda: client.row(wallet).state.terminal, "the flow's end", timeout=90)

    def differences() -> list:  # the sandbox's own view of each charge vs what the books received
        off = []
        for p in client.payments(wallet):
            if p.provider_ref is None:
                continue
            seen = httpx.get(f"{client.settings.sandbox_base_url}/sandbox/charges/{p.provider_ref}").json()
            held = (parse_money(seen["received"], seen["received_currency"]) if seen["received"] else 0) or 0
            if held != int(p.received_minor):
                off.append((p.key, seen["status"], held, int(p.received_minor), p.status))
        return off

    try:
        await client.until(lambda: not differences(), "every received cent booked", timeout=60)
    except TimeoutError:
        raise AssertionError(
            f"not booked (key, provider status, provider total, booked, row status): "
            f"{differences()}; flow {client.row(wallet).state}: {client.row(wallet).reason}"
        ) from None
    await asyncio.sleep(1.0)  # a straggling duplicate delivery has nothing left to book


def _check(client: StackClient, wallet: str) -> None:
    deliveries = [t for t in client.txs(wallet) if ":claim:" in t.key and t.status == "confirmed"]
    assert len(deliveries) <= 1, [t.key for t in deliveries]
    assert client.sge_balance(wallet) in (0, SGE)
    settled = [p for p in client.payments(wallet) if p.settled]
    assert len([p for p in settled if not p.reversed]) <= 1
    for p in client.payments(wallet):
        if p.status == "refunded":
            assert int(p.suspense_minor) == 0
    if client.row(wallet).state == FlowState.COMPLETED:
        assert client.sge_balance(wallet) == SGE
    client.books_ok()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=SCENARIO)
def test_random_provider_event_sequences_keep_the_books_exact(stack, scenario):
    asyncio.run(_scenario(stack, scenario))


@pytest.mark.slow
@settings(
    max_examples=SLOW_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=SCENARIO)
def test_random_provider_event_sequences_soak(stack, scenario):
    """The slow stage's longer run: more (and non-derandomized) sequences."""
    asyncio.run(_scenario(stack, scenario))
