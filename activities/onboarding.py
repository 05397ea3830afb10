"""The onboarding workflow's own activities: its DB row, chain reads for the on-chain rail, and the
ledger postings of one flow (each keyed by the payment or transaction, so a retry posts nothing twice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity
from web3 import Web3

from contracts.abi import encode_call, hexstr, program_id, ref_to_bytes32
from contracts.manifest import Manifest, load_manifest
from contracts.reads import ClaimEvent, call_view, claim_ref_of, find_claim, find_claims
from contracts.rpc import connect, lean
from core.columns import utcnow
from core.db import session_scope
from core.settings import Settings
from models import affiliates, commissions, ledger
from models.money import Asset
from models.onboarding import Onboarding, Rail
from models.onboarding_io import (
    BEGIN,
    CHAIN_COSTS,
    CLAIM_DELIVERED,
    FIND_ONCHAIN_CLAIM,
    PREPARE_ONCHAIN,
    RECORD,
    SETTLE,
    SUSPENSE,
    UNDELIVERABLE,
    BadToken,
    Begin,
    BeginResult,
    ChainCosts,
    Delivered,
    DeliveredOffchain,
    FindOnchainClaim,
    NotYetOnChain,
    OnchainSteps,
    Paid,
    PrepareOnchain,
    Record,
    Settle,
    Suspense,
    TxStep,
    UnsupportedCurrency,
)
from models.programs import get_program

ZERO_ADDRESS = "0x" + "00" * 20


def _asset(code: str) -> Asset:
    try:
        return Asset(code.upper())
    except ValueError:
        raise UnsupportedCurrency(f"unsupported currency {code!r}") from None


class OnboardingActivities:
    def __init__(self, settings: Settings, engine: Engine):
        self.settings = settings
        self.engine = engine
        self._w3: Web3 | None = None
        self._manifest: Manifest | None = None

    # --- chain access (lazy: the worker starts even while the node is down) -----------------------
    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            # lean: we pass plain addresses and check the chain id once, so the per-call middleware
            # (ENS, validation) is pure overhead on a path every flow takes.
            self._w3 = lean(connect(self.settings.eth_rpc_urls, expected_chain_id=self.settings.chain_id))
        return self._w3

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = load_manifest(self.settings.deployments_dir, self.settings.chain_id)
        return self._manifest

    def _view(self, contract: str, fn: str, *args: Any) -> Any:
        return call_view(self.w3, contract, self.manifest.address(contract), fn, *args)[0]

    def _stablecoin(self, symbol: str) -> str:
        address = self.manifest.params.get(f"stablecoin.{symbol}")
        if not address:
            raise BadToken(f"{symbol} is not accepted on chain {self.settings.chain_id}")
        return Web3.to_checksum_address(address)

    def _symbol_of(self, token: str) -> str | None:
        for key, address in self.manifest.params.items():
            if key.startswith("stablecoin.") and address.lower() == token.lower():
                return key.removeprefix("stablecoin.")
        return None

    # --- the flow's row ------------------------------------------------------------------------------
    @activity.defn(name=BEGIN)
    def begin(self, req: Begin) -> BeginResult:
        """Program, locked attribution and the wallet's chain facts; creates/refreshes the flow's row."""
        inp = req.input
        with session_scope(self.engine) as session:
            program = get_program(session, inp.program)
            if program is None or not program.active:
                return BeginResult(error=f"program {inp.program!r} is not open for registration")
            att = affiliates.attribute(session, inp.program, inp.wallet, inp.referral_code, inp.source)
            if att.status == "refused":
                return BeginResult(error=f"{att.error_code}: {att.message}")
            row = session.exec(select(Onboarding).where(Onboarding.flow_id == req.flow_id)).first()
            if row is None:
                row = Onboarding(program_id=program.id, wallet=inp.wallet, flow_id=req.flow_id, state="registering")
            row.referrer_wallet = att.referrer_wallet
            row.updated_at = utcnow()
            session.add(row)
            row_program_id = program.id
        token_id = int(self._view("SGEID", "tokenOf", inp.wallet))
        key = program_id(inp.program)
        claim = find_claim(
            self.w3, self.manifest.address("SGEClaim"), key, inp.wallet, from_block=self.manifest.deploy_block
        )
        return BeginResult(
            program_id=row_program_id,
            program_key=hexstr(key),
            referrer_wallet=att.referrer_wallet,
            attribution=att.status if not att.ignored_code else "ignored_later_code",
            token_id=token_id or None,
            referral_on_chain=self._view("AffiliateRegistry", "referrerOf", key, inp.wallet) != ZERO_ADDRESS,
            already_claimed_tx=claim.tx_hash if claim else None,
            from_block=self.w3.eth.block_number,
        )

    @activity.defn(name=RECORD)
    def record(self, req: Record) -> None:
        """Mirror the flow's state into its row (what GET /v1/status answers from)."""
        fields = req.model_dump(exclude={"flow_id", "completed"}, exclude_none=True)
        with session_scope(self.engine) as session:
            row = session.exec(select(Onboarding).where(Onboarding.flow_id == req.flow_id)).first()
            if row is None:
                return  # begin() creates it; a record before that has nothing to update
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            if req.completed:
                row.completed_at = row.updated_at
            session.add(row)

    # --- on-chain rail -----------------------------------------------------------------------------
    @activity.defn(name=PREPARE_ONCHAIN)
    def prepare_onchain(self, req: PrepareOnchain) -> OnchainSteps:
        """The unsigned transactions the user's wallet sends: [approve 0 (USDT reset)], [approve fee], claim."""
        token = self._stablecoin(req.token)
        claim = self.manifest.address("SGEClaim")
        key = program_id(req.program)
        fee = int(self._view("SGEClaim", "feeOf", key, token))
        if fee == 0:
            raise BadToken(f"{req.token} is not accepted by the claim contract for program {req.program!r}")
        token_contract = "TestUSDT" if req.token == "USDT" else "TestUSDC"  # ERC-20 ABI; both are standard
        allowance = int(call_view(self.w3, token_contract, token, "allowance", req.wallet, claim)[0])
        balance = int(call_view(self.w3, token_contract, token, "balanceOf", req.wallet)[0])
        ref = ref_to_bytes32(req.payment_ref)
        steps: list[TxStep] = []
        if allowance < fee:
            if allowance > 0 and req.token == "USDT":
                # USDT refuses to change a non-zero allowance to another non-zero value.
                steps.append(
                    TxStep(
                        description="reset USDT allowance to 0",
                        to=token,
                        data=_hex(encode_call(token_contract, "approve", claim, 0)),
                    )
                )
            steps.append(
                TxStep(
                    description=f"approve {fee} {req.token} units for the claim contract",
                    to=token,
                    data=_hex(encode_call(token_contract, "approve", claim, fee)),
                )
            )
        steps.append(
            TxStep(
                description="claim: pay the fee and receive SGE",
                to=claim,
                data=_hex(encode_call("SGEClaim", "claim", key, token, ref)),
            )
        )
        return OnchainSteps(
            token=req.token,
            token_address=token,
            claim_contract=claim,
            fee_minor=fee,
            allowance_minor=allowance,
            balance_minor=balance,
            payment_ref_bytes32=_hex(ref),
            steps=steps,
        )

    @activity.defn(name=FIND_ONCHAIN_CLAIM)
    def find_onchain_claim(self, req: FindOnchainClaim) -> Paid:
        """The wallet's own claim on chain, with confirmations. A reported hash is checked, never trusted.

        Not found yet → a retryable failure: Temporal's retry policy is the polling loop.
        """
        claim_address = self.manifest.address("SGEClaim")
        key = program_id(req.program)
        latest = self.w3.eth.block_number
        final_block = latest - self.settings.confirmations + 1
        found: ClaimEvent | None = None
        if req.tx_hash:
            found = self._claim_in_tx(req.tx_hash, claim_address, key, req.wallet)
        if found is None:
            ref = claim_ref_of(self.w3, claim_address, key, req.wallet)  # one cheap call before any log scan
            if ref is None:
                raise NotYetOnChain("no claim on chain for this wallet yet")
            # One claim per (program, wallet) ever, so its Claimed event is this flow's, whenever it was sent.
            events = find_claims(
                self.w3,
                claim_address,
                req.wallet,
                program_id=key,
                payment_ref=ref,
                from_block=self.manifest.deploy_block,
            )
            found = events[0] if events else None
        if found is None:
            raise NotYetOnChain("claim not indexed yet")
        if found.block_number > final_block:
            raise NotYetOnChain(f"claim in block {found.block_number}, waiting for confirmations")
        if found.token.lower() == ZERO_ADDRESS:
            raise DeliveredOffchain("this wallet's claim was delivered for an off-chain payment")
        symbol = self._symbol_of(found.token)
        if symbol is None:
            raise BadToken(f"claim paid in unknown token {found.token}")
        return Paid(
            rail=Rail.ONCHAIN,
            payment_ref=f"onchain:{found.tx_hash}:{found.log_index}",
            amount_minor=found.fee,
            asset=symbol,
            onchain_tx=found.tx_hash,
            sge_amount_minor=found.amount,
        )

    def _claim_in_tx(self, tx_hash: str, claim_address: str, key: bytes, wallet: str) -> ClaimEvent | None:
        try:
            receipt = self.w3.eth.get_transaction_receipt(tx_hash)
        except Exception:  # noqa: BLE001 - unknown / malformed hash: fall back to the log scan
            return None
        if receipt is None or receipt["status"] != 1:
            return None
        events = find_claims(
            self.w3,
            claim_address,
            wallet,
            program_id=key,
            from_block=receipt["blockNumber"],
            to_block=receipt["blockNumber"],
        )
        return next((e for e in events if e.tx_hash.lower() == tx_hash.lower()), None)

    # --- ledger --------------------------------------------------------------------------------------
    @activity.defn(name=SETTLE)
    def settle(self, req: Settle) -> None:
        """Revenue + commissions in one ledger transaction (idempotent on the payment ref)."""
        paid = req.paid
        with session_scope(self.engine) as session:
            commissions.settle_payment(
                session, paid.payment_ref, req.program, req.wallet, paid.amount_minor, _asset(paid.asset)
            )
            self._update_row(
                session,
                req.flow_id,
                rail=paid.rail,
                payment_ref=paid.payment_ref,
                paid_amount_minor=paid.amount_minor,
                paid_asset=paid.asset,
            )

    @activity.defn(name=CLAIM_DELIVERED)
    def claim_delivered(self, req: Delivered) -> None:
        """SGE left the claim contract's inventory for this wallet: post it and complete the row."""
        with session_scope(self.engine) as session:
            program = get_program(session, req.program)
            assert program is not None
            amount = req.paid.sge_amount_minor or program.claim_amount_minor
            ledger.post_claim_delivery(
                session,
                ledger.ClaimDeliveryRequest(
                    key=f"delivery:{req.paid.payment_ref}",
                    program=req.program,
                    wallet=req.wallet,
                    amount_minor=amount,
                    payment_ref=req.paid.payment_ref,
                    chain_tx=req.claim_tx,
                ),
            )
            self._update_row(session, req.flow_id, claim_tx=req.claim_tx, sge_amount_minor=amount)

    @activity.defn(name=SUSPENSE)
    def suspense(self, req: Suspense) -> None:
        with session_scope(self.engine) as session:
            ledger.post_suspense(session, req.key, req.payment_ref, req.amount_minor, _asset(req.asset), req.reason)

    @activity.defn(name=UNDELIVERABLE)
    def undeliverable(self, req: Suspense) -> None:
        """Paid but the claim cannot be delivered: reverse the settlement, park the money in suspense."""
        with session_scope(self.engine) as session:
            commissions.reverse_payment(session, req.payment_ref, req.reason)
            ledger.post_suspense(session, req.key, req.payment_ref, req.amount_minor, _asset(req.asset), req.reason)

    @activity.defn(name=CHAIN_COSTS)
    def chain_costs(self, req: ChainCosts) -> None:
        with session_scope(self.engine) as session:
            ledger.post_gas(
                session,
                ledger.GasRequest(
                    key=f"gas:{req.tx_key}",
                    fee_wei=req.fee_wei,
                    chain_tx=req.tx_hash,
                    purpose=req.tx_key.rsplit(":", 1)[-1],
                ),
            )

    @staticmethod
    def _update_row(session: Session, flow_id: str, **fields: Any) -> None:
        row = session.exec(select(Onboarding).where(Onboarding.flow_id == flow_id)).first()
        if row is None:
            return
        for name, value in fields.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        session.add(row)

    def all(self) -> list[Callable]:
        return [
            self.begin,
            self.record,
            self.prepare_onchain,
            self.find_onchain_claim,
            self.settle,
            self.claim_delivered,
            self.suspense,
            self.undeliverable,
            self.chain_costs,
        ]


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()
