"""What the activity read from the chain for one run (plain data: models/ never talks to a node)."""

from __future__ import annotations

from pydantic import BaseModel


class LogTransfer(BaseModel):
    """An ERC-20 `Transfer` touching a platform contract."""

    asset: str  # SGE | USDC | USDT
    tx_hash: str
    block: int
    from_address: str
    to_address: str
    amount: int


class ClaimLog(BaseModel):
    tx_hash: str
    block: int
    log_index: int
    wallet: str
    amount: int
    token: str  # zero address: a relayer delivery; else the stablecoin the user paid with
    fee: int


class MintLog(BaseModel):
    tx_hash: str
    block: int
    to_address: str
    token_id: int


class ChainSnapshot(BaseModel):
    """Balances at `head`; logs of blocks `from_block`..`to_block` (to_block = head − confirmation depth)."""

    head: int
    from_block: int
    to_block: int  # < from_block: nothing new to read yet
    claim_contract: str
    payout_contract: str
    treasury: str
    sge_claim_balance: int
    payout_balances: dict[str, int]  # stablecoin symbol -> balance of the payout contract
    relayer_balances: dict[str, int]  # every relayer address ever used -> wei
    transfers: list[LogTransfer] = []
    claims: list[ClaimLog] = []
    mints: list[MintLog] = []
    delivery_has_claim: dict[str, bool] = {}  # booked delivery tx hash -> its receipt has a Claimed log


class ProcessorCharge(BaseModel):
    """A charge (Commerce) or payment link (Business) as the provider's list API shows it."""

    provider: str
    provider_ref: str
    kind: str | None = None  # PaymentEventKind value
    paid_minor: int = 0
    paid_currency: str | None = None


class ProcessorListing(BaseModel):
    """Every charge one provider listed (paginated over real HTTP)."""

    provider: str
    charges: list[ProcessorCharge] = []
