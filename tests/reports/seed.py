"""Seeded rows for the operator report tests: two programs on a fixed Wednesday (2026-11-25, inside the
ISO week 2026-11-23 .. 2026-11-30) and one row the day before (in the week, not in the day)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from eth_account import Account
from sqlalchemy import update

from core.db import session_scope
from models import affiliates as aff
from models.auth_nonces import AuthNonce
from models.chain import ChainTx
from models.commissions.records import PaymentSettlement
from models.onboarding import FlowState, Onboarding
from models.reports.tables import SecurityEventCount
from tests.helpers.ledger import make_program, register

DAY = date(2026, 11, 25)
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
YESTERDAY = NOON - timedelta(days=1)


@dataclass
class Seeded:
    alpha: int
    beta: int
    root_id: int


def _flow(program_id: int, state: FlowState, at: datetime, **fields) -> Onboarding:
    wallet = Account.create().address
    return Onboarding(
        program_id=program_id,
        wallet=wallet,
        flow_id=f"onboarding:x:{wallet.lower()}",
        state=state,
        state_since=fields.pop("state_since", at),
        created_at=at,
        updated_at=at,
        **fields,
    )


def _tx(n: int, at: datetime, *, fee: int, status: int = 1, label: str = "claim", final_at=None) -> ChainTx:
    return ChainTx(
        key=f"seed:{n}",
        label=label,
        chain_id=31337,
        from_address="0x" + "11" * 20,
        to_address="0x" + "22" * 20,
        data="0x",
        content_hash=f"{n:064x}",
        status="confirmed",
        nonce=n,
        tx_hash=f"0x{n:064x}",
        gas_used=21_000,
        effective_gas_price=fee // 21_000,
        fee_wei=fee,
        receipt_status=status,
        mined_at=at,
        final_at=final_at,
    )


def seed(engine) -> Seeded:
    alpha, beta = make_program(engine, slug="alpha"), make_program(engine, slug="beta")
    root = register(engine, program="alpha")
    register(engine, parent_code=root.code, program="alpha")
    register(engine, program="beta")
    with session_scope(engine) as s:
        for _ in range(3):  # three wallets referred by root: a burst at threshold 3
            assert aff.attribute(s, "alpha", Account.create().address, root.code, "test").status == "new"
        s.exec(update(aff.Affiliate).values(created_at=NOON))  # type: ignore[call-overload]
        s.exec(update(aff.Attribution).values(created_at=NOON))  # type: ignore[call-overload]

        done_a = _flow(
            alpha,
            FlowState.COMPLETED,
            NOON,
            payment_ref="pay:a",
            claim_tx=f"0x{1:064x}",
            completed_at=NOON + timedelta(seconds=40),
        )
        done_b = _flow(
            alpha,
            FlowState.COMPLETED,
            NOON,
            payment_ref="pay:b",
            claim_tx=f"0x{2:064x}",
            completed_at=NOON + timedelta(seconds=30),
        )
        s.add_all(
            [
                done_a,
                done_b,
                _flow(alpha, FlowState.EXPIRED, NOON, reason="not paid in time"),
                _flow(alpha, FlowState.FAILED, NOON, reason="payment failed"),
                _flow(beta, FlowState.AWAITING_PAYMENT, NOON),
                _flow(beta, FlowState.EXPIRED, YESTERDAY, reason="not paid in time"),
            ]
        )
        for ref, w in (("pay:a", done_a.wallet), ("pay:b", done_b.wallet)):
            s.add(
                PaymentSettlement(
                    payment_ref=ref,
                    program_id=alpha,
                    wallet=w,
                    amount=100_000_000,
                    asset="USDC",
                    rail="onchain",
                    created_at=NOON,
                )
            )
        # a's claim was final 20 s after its payment settled (before the flow noted completion); b has no
        # chain_tx row: its completion counts. Latencies 20 s and 30 s.
        s.add(_tx(1, NOON + timedelta(seconds=10), fee=21_000 * 10**9, final_at=NOON + timedelta(seconds=20)))
        s.add(_tx(3, NOON, fee=42_000 * 10**9, status=0, label="mint:x"))
        s.add(_tx(4, YESTERDAY, fee=10**12))
        for i, ip in enumerate(["10.0.0.1"] * 3 + ["2001:db8::/64"]):
            s.add(
                AuthNonce(
                    nonce=f"n{i}",
                    wallet=Account.create().address.lower(),
                    program_id=alpha,
                    message="m",
                    client_ip=ip,
                    issued_at=NOON,
                    expires_at=NOON + timedelta(minutes=10),
                )
            )
        s.add(SecurityEventCount(day=DAY, kind="siwe", code="invalid_signature", count=2))
        s.add(SecurityEventCount(day=DAY, kind="attribution", code="self_referral", count=1))
        s.add(SecurityEventCount(day=DAY, kind="operator_auth", code="operator_api:invalid_api_key", count=5))
        s.add(SecurityEventCount(day=DAY - timedelta(days=1), kind="operator_auth", code="operator_api:csrf", count=1))
        s.flush()
        return Seeded(alpha=alpha, beta=beta, root_id=int(root.id or 0))
