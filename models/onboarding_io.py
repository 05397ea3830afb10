"""Activity names and payloads of the onboarding workflow's own activities (activities/onboarding.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from core.errors import Conflict, DomainError
from models.onboarding import FlowState, OnboardingInput, Rail

BEGIN = "onboarding.begin"
RECORD = "onboarding.record"
PREPARE_ONCHAIN = "onboarding.prepare_onchain_claim"
FIND_ONCHAIN_CLAIM = "onboarding.find_onchain_claim"
SETTLE = "onboarding.settle"
SUSPENSE = "onboarding.suspense"
UNDELIVERABLE = "onboarding.undeliverable"
CLAIM_DELIVERED = "onboarding.claim_delivered"
CHAIN_COSTS = "onboarding.chain_costs"


class NotYetOnChain(Conflict):
    """The wallet's claim is not on chain (or not final) yet: Temporal's retries are the polling loop."""

    code = "not_yet_on_chain"
    retryable = True


class DeliveredOffchain(Conflict):
    """The wallet's claim in this program was delivered for an off-chain payment, not paid on chain."""

    code = "delivered_offchain"


class BadToken(DomainError):
    code = "bad_token"


class UnsupportedCurrency(DomainError):
    code = "unsupported_currency"


class Begin(BaseModel):
    flow_id: str
    run_id: str
    input: OnboardingInput


class BeginResult(BaseModel):
    """The program and attribution this flow runs with; `error` ends the flow (e.g. unknown program)."""

    error: str = ""
    program_id: int | None = None
    program_key: str = ""  # the program's on-chain id, keccak256(slug), as 0x-hex bytes32
    referrer_wallet: str | None = None
    attribution: str = ""  # new | existing | ignored_later_code | none
    token_id: int | None = None  # SGE-ID already held (a previous run minted it)
    referral_on_chain: bool = False  # the registry already has this wallet's referrer
    already_claimed_tx: str | None = None
    from_block: int = 0  # where to look for this wallet's on-chain claim


class Record(BaseModel):
    flow_id: str
    state: FlowState
    state_since: datetime
    reason: str = ""
    token_id: int | None = None
    mint_tx: str | None = None
    referral_tx: str | None = None
    rail: Rail | None = None
    payment_ref: str | None = None
    paid_amount_minor: int | None = None
    paid_asset: str | None = None
    claim_tx: str | None = None
    sge_amount_minor: int | None = None
    completed: bool = False


class OnchainClaimHint(BaseModel):
    """From /v1/claims/prepare (no hash yet) or /v1/claims/record (a hash to verify, never trusted)."""

    tx_hash: str | None = None


class PrepareOnchain(BaseModel):
    program: str
    wallet: str
    token: str  # USDC or USDT
    payment_ref: str  # the flow's payment key: the claim carries keccak256 of it


class TxStep(BaseModel):
    """One unsigned transaction the user's wallet sends."""

    description: str
    to: str
    data: str
    value: int = 0


class OnchainSteps(BaseModel):
    token: str
    token_address: str
    claim_contract: str
    fee_minor: int
    allowance_minor: int
    balance_minor: int
    payment_ref_bytes32: str
    steps: list[TxStep]


class FindOnchainClaim(BaseModel):
    program: str
    wallet: str
    from_block: int
    tx_hash: str | None = None


class Paid(BaseModel):
    """A payment the flow accepts: exactly the fee, on one rail."""

    rail: Rail
    payment_ref: str
    amount_minor: int
    asset: str
    onchain_tx: str | None = None
    sge_amount_minor: int | None = None


class Settle(BaseModel):
    flow_id: str
    program: str
    wallet: str
    paid: Paid


class Delivered(BaseModel):
    """The claim is done: post the SGE delivery and mark the flow's row completed."""

    flow_id: str
    program: str
    wallet: str
    paid: Paid
    claim_tx: str


class Suspense(BaseModel):
    key: str
    payment_ref: str
    amount_minor: int
    asset: str
    reason: str


class ChainCosts(BaseModel):
    tx_key: str
    tx_hash: str
    fee_wei: int
