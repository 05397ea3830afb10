"""Treasury movements: money moved outside the flows (funding the contracts, relayer top-ups, sweeps from
a retired relayer key, transfers back out), each booked once under its transaction hash.

The treasury wallet is outside the books: money it puts in is capital (Dr the platform account / Cr
`equity:capital`, as the deployment's own funding is booked in ops/devstack/chain.py), money that goes
back is capital returned. Nothing is booked without a confirmed on-chain transfer of that amount to that
address: the activity reads the receipt (`ObservedTx`) and `plan_movement` matches it with the request.

| kind | on chain | postings |
|---|---|---|
| `sge_inventory` | SGE `Transfer` to the claim contract | Dr asset:sge_inventory / Cr equity:capital |
| `payout_funding` | USDC/USDT `Transfer` to the payout contract | Dr asset:payout_contract / Cr equity:capital |
| `relayer_topup` | ETH sent to a relayer address | Dr asset:relayer_eth / Cr equity:capital |
| `relayer_sweep` | ETH sent by a retired relayer key | Dr expense:gas (+ equity:capital) / Cr asset:relayer_eth |
| `transfer_out` | tokens `Transfer`red out of the claim or payout contract | Dr equity:capital / Cr its account |

A sweep to another relayer address leaves only its gas (the ETH stays in `asset:relayer_eth`).

Addresses are the platform's own (contracts, relayer keys), kept in the `treasury_movement` row: the
journal's refs name the transaction hash and the kind only (its refs never hold addresses).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Column, Text
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel, col, select

from core.columns import AmountType, UtcDateTime, utcnow
from core.errors import Conflict, DomainError
from models import ledger
from models.ledger import Accounts
from models.money import Asset

BOOK_MOVEMENT = "treasury.book_movement"  # activity name (the workflow calls it by name)
TRANSFER_TOPIC = (
    "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"  # Transfer(address,address,uint256)
)
TX_HASH_LEN = 66


class MovementKind(StrEnum):
    SGE_INVENTORY = "sge_inventory"
    PAYOUT_FUNDING = "payout_funding"
    RELAYER_TOPUP = "relayer_topup"
    RELAYER_SWEEP = "relayer_sweep"
    TRANSFER_OUT = "transfer_out"


class TreasuryMismatch(DomainError):
    """The chain does not show the transfer the request describes: never booked, never retried."""

    code = "treasury_mismatch"
    status = 422


class NotYetFinal(DomainError):
    """The transaction is not mined or not yet behind the confirmation depth: retried."""

    code = "treasury_tx_not_final"
    status = 409
    retryable = True
    retry_after_seconds = 2.0


class TreasuryMovement(SQLModel, table=True):
    """One booked movement; unique on its transaction hash (the ledger key is `treasury:<hash>`)."""

    __tablename__ = "treasury_movement"

    id: int | None = SQLField(default=None, primary_key=True)
    tx_hash: str = SQLField(max_length=TX_HASH_LEN, unique=True, index=True)
    kind: str = SQLField(max_length=32, index=True)
    asset: str = SQLField(max_length=8)
    amount: int = SQLField(sa_type=AmountType)
    gas_wei: int = SQLField(default=0, sa_type=AmountType)
    from_address: str = SQLField(max_length=42)
    to_address: str = SQLField(max_length=42, index=True)
    block_number: int
    ledger_tx_id: str = SQLField(max_length=200)
    note: str = SQLField(default="", sa_column=Column(Text, nullable=False, default=""))
    recorded_by: str = SQLField(default="", max_length=200)
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UtcDateTime)


# --- payload types (activity/workflow contract) --------------------------------------------------------


def _hash(value: str) -> str:
    value = value.strip().lower()
    if len(value) != TX_HASH_LEN or not value.startswith("0x") or any(c not in "0123456789abcdef" for c in value[2:]):
        raise TreasuryMismatch(f"not a transaction hash: {value[:80]!r}", code="invalid_tx_hash")
    return value


class MovementRequest(BaseModel):
    tx_hash: str
    kind: MovementKind
    amount_minor: int | None = Field(default=None, gt=0)  # expected; None = whatever the chain shows
    note: str = Field(default="", max_length=500)
    actor: str = Field(default="cli", max_length=200)

    @field_validator("tx_hash")
    @classmethod
    def _tx_hash(cls, value: str) -> str:
        return _hash(value)


class TokenTransfer(BaseModel):
    token: str
    from_address: str
    to_address: str
    amount: int


class ObservedTx(BaseModel):
    """What the chain shows for a transaction (read by the activity from its receipt)."""

    tx_hash: str
    status: int
    block_number: int
    confirmations: int  # head − block + 1
    from_address: str
    to_address: str | None
    value_wei: int
    gas_wei: int
    transfers: list[TokenTransfer] = []


class Endpoints(BaseModel):
    """The platform's own addresses a movement may touch."""

    sge_token: str
    claim_contract: str
    payout_contract: str
    stablecoins: dict[str, str]  # symbol -> token address
    relayers: list[str]  # every relayer address ever used (and the current one)


class MovementResult(BaseModel):
    tx_hash: str
    kind: MovementKind
    asset: Asset
    amount_minor: int
    gas_wei: int
    ledger_tx_id: str
    created: bool  # False: this hash was booked before


class PlannedMovement(BaseModel):
    asset: Asset
    amount: int
    from_address: str
    to_address: str
    gas_wei: int
    postings: list[ledger.Posting]


# --- matching a request with the chain -----------------------------------------------------------------


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and str(a).lower() == str(b).lower()


def _one_transfer(observed: ObservedTx, token: str, *, to: str | None = None, out_of: str | None = None):
    found = [
        t
        for t in observed.transfers
        if _same(t.token, token)
        and (to is None or _same(t.to_address, to))
        and (out_of is None or _same(t.from_address, out_of))
    ]
    if len(found) != 1:
        where = f"to {to}" if to else f"out of {out_of}"
        raise TreasuryMismatch(f"{observed.tx_hash} has {len(found)} transfers of token {token} {where}, not one")
    return found[0]


def plan_movement(req: MovementRequest, observed: ObservedTx, ends: Endpoints, confirmations: int) -> PlannedMovement:
    """The booking the chain supports for this request, or TreasuryMismatch / NotYetFinal."""
    if observed.status != 1:
        raise TreasuryMismatch(f"{observed.tx_hash} reverted on chain: nothing moved")
    if observed.confirmations < confirmations:
        raise NotYetFinal(f"{observed.tx_hash} has {observed.confirmations} of {confirmations} confirmations")
    capital = Accounts.capital
    kind = req.kind
    if kind is MovementKind.SGE_INVENTORY:
        t = _one_transfer(observed, ends.sge_token, to=ends.claim_contract)
        asset, amount, src, dst = Asset.SGE, t.amount, t.from_address, t.to_address
        legs = [ledger.debit(Accounts.sge_inventory, asset, amount), ledger.credit(capital, asset, amount)]
    elif kind is MovementKind.PAYOUT_FUNDING:
        symbol, t = _stablecoin_transfer(observed, ends, to=ends.payout_contract)
        asset, amount, src, dst = Asset(symbol), t.amount, t.from_address, t.to_address
        legs = [ledger.debit(Accounts.payout_contract, asset, amount), ledger.credit(capital, asset, amount)]
    elif kind is MovementKind.RELAYER_TOPUP:
        if not any(_same(observed.to_address, r) for r in ends.relayers):
            raise TreasuryMismatch(f"{observed.tx_hash} sends ETH to {observed.to_address}, not to a relayer address")
        asset, amount, src, dst = Asset.ETH, observed.value_wei, observed.from_address, str(observed.to_address)
        legs = [ledger.debit(Accounts.relayer_eth, asset, amount), ledger.credit(capital, asset, amount)]
    elif kind is MovementKind.RELAYER_SWEEP:
        if not any(_same(observed.from_address, r) for r in ends.relayers):
            raise TreasuryMismatch(f"{observed.tx_hash} is sent by {observed.from_address}, not by a relayer address")
        asset, amount, src, dst = Asset.ETH, observed.value_wei, observed.from_address, str(observed.to_address)
        internal = any(_same(dst, r) for r in ends.relayers)  # to another relayer key: only the gas leaves
        legs = [ledger.debit(Accounts.gas, asset, observed.gas_wei)] if observed.gas_wei else []
        if amount and not internal:
            legs.append(ledger.debit(capital, asset, amount))
        legs.append(ledger.credit(Accounts.relayer_eth, asset, observed.gas_wei + (0 if internal else amount)))
        if len(legs) < 2:
            raise TreasuryMismatch(f"{observed.tx_hash} moves nothing the books hold")
    else:  # TRANSFER_OUT
        asset, t, account = _transfer_out(observed, ends)
        amount, src, dst = t.amount, t.from_address, t.to_address
        legs = [ledger.debit(capital, asset, amount), ledger.credit(account, asset, amount)]
    if amount <= 0 and kind is not MovementKind.RELAYER_SWEEP:
        raise TreasuryMismatch(f"{observed.tx_hash} moves nothing")
    if req.amount_minor is not None and req.amount_minor != amount:
        raise TreasuryMismatch(f"{observed.tx_hash} moved {amount} {asset.value} units, not {req.amount_minor}")
    return PlannedMovement(
        asset=asset, amount=amount, from_address=src, to_address=dst, gas_wei=observed.gas_wei, postings=legs
    )


def _stablecoin_transfer(observed: ObservedTx, ends: Endpoints, *, to: str) -> tuple[str, TokenTransfer]:
    for symbol, token in sorted(ends.stablecoins.items()):
        if any(_same(t.token, token) for t in observed.transfers):
            return symbol, _one_transfer(observed, token, to=to)
    raise TreasuryMismatch(f"{observed.tx_hash} moves no stablecoin the platform knows")


def _transfer_out(observed: ObservedTx, ends: Endpoints) -> tuple[Asset, TokenTransfer, str]:
    for t in observed.transfers:
        if _same(t.from_address, ends.claim_contract) and _same(t.token, ends.sge_token):
            return (
                Asset.SGE,
                _one_transfer(observed, ends.sge_token, out_of=ends.claim_contract),
                Accounts.sge_inventory,
            )
        for symbol, token in ends.stablecoins.items():
            if _same(t.from_address, ends.payout_contract) and _same(t.token, token):
                return (
                    Asset(symbol),
                    _one_transfer(observed, token, out_of=ends.payout_contract),
                    Accounts.payout_contract,
                )
    raise TreasuryMismatch(f"{observed.tx_hash} moves nothing out of the claim or payout contract")


# --- booking ---------------------------------------------------------------------------------------------


def ledger_key(tx_hash: str) -> str:
    return f"treasury:{_hash(tx_hash)}"


def book_movement(
    session: Session, req: MovementRequest, observed: ObservedTx, ends: Endpoints, confirmations: int
) -> MovementResult:
    """Book a verified movement once: the same hash again returns the first booking (another kind: Conflict)."""
    existing = session.exec(select(TreasuryMovement).where(col(TreasuryMovement.tx_hash) == req.tx_hash)).first()
    if existing is not None:
        if existing.kind != req.kind.value:
            raise Conflict(f"{req.tx_hash} is already booked as {existing.kind}", code="treasury_conflict")
        return _result(existing, created=False)
    plan = plan_movement(req, observed, ends, confirmations)
    for account in (Accounts.sge_inventory, Accounts.payout_contract, Accounts.relayer_eth):
        # The local stack books the deployment's own funding under these keys (ops/devstack/chain.py).
        if session.get(ledger.LedgerTx, f"funding:{account}:{req.tx_hash}") is not None:
            raise Conflict(f"{req.tx_hash} is already booked as deployment funding", code="treasury_conflict")
    key = ledger_key(req.tx_hash)
    ledger.post_transaction(session, key, f"treasury.{req.kind.value}", {"chain_tx": req.tx_hash}, plan.postings)
    row = TreasuryMovement(
        tx_hash=req.tx_hash,
        kind=req.kind.value,
        asset=plan.asset.value,
        amount=plan.amount,
        gas_wei=plan.gas_wei,
        from_address=plan.from_address.lower(),
        to_address=plan.to_address.lower(),
        block_number=observed.block_number,
        ledger_tx_id=key,
        note=req.note,
        recorded_by=req.actor,
    )
    session.add(row)
    session.flush()
    return _result(row, created=True)


def _result(row: TreasuryMovement, *, created: bool) -> MovementResult:
    return MovementResult(
        tx_hash=row.tx_hash,
        kind=MovementKind(row.kind),
        asset=Asset(row.asset),
        amount_minor=int(row.amount),
        gas_wei=int(row.gas_wei),
        ledger_tx_id=row.ledger_tx_id,
        created=created,
    )


def booked_hashes(session: Session) -> set[str]:
    return set(session.exec(select(TreasuryMovement.tx_hash)).all())


def movements(session: Session, limit: int = 100) -> list[TreasuryMovement]:
    return list(session.exec(select(TreasuryMovement).order_by(col(TreasuryMovement.id).desc()).limit(limit)))


def relayer_addresses(session: Session, current: list[str]) -> list[str]:
    """Every relayer address the outbox has ever used, those topped up or swept, and the current ones."""
    from models.chain import ChainTx

    found = {a.lower() for a in current if a}
    found |= {a.lower() for a in session.exec(select(ChainTx.from_address).distinct()).all() if a}
    for row in session.exec(
        select(TreasuryMovement).where(
            col(TreasuryMovement.kind).in_([MovementKind.RELAYER_TOPUP.value, MovementKind.RELAYER_SWEEP.value])
        )
    ):
        found.add(row.to_address if row.kind == MovementKind.RELAYER_TOPUP.value else row.from_address)
    return sorted(found)
