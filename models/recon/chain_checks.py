"""Ledger vs chain. Balances (exact, at the head): SGE in the claim contract vs `asset:sge_inventory`,
each stablecoin in the payout contract vs `asset:payout_contract`, ETH over every relayer address ever
used vs `asset:relayer_eth`. Events of the blocks read this run: every `Claimed` vs the delivery or
settlement that caused it, every SGE-ID mint vs the relayer's request, every booked delivery vs its
`Claimed` log, and every token transfer touching a contract vs a booking of its hash."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from models import ledger
from models.ledger import Accounts
from models.recon.checks import CheckResult, Item, unmatched
from models.recon.known import FINAL_STATUSES, Known, gas_booked
from models.recon.snapshot import ChainSnapshot, LogTransfer

ZERO = "0x" + "00" * 20
CHAIN = "chain"


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _transfer_items(snap: ChainSnapshot, k: Known, holder: str, asset: str, grace: timedelta) -> list[Item]:
    """Transfers in or out of `holder` whose hash no booking knows (signed: in > 0, out < 0)."""
    items: list[Item] = []
    for t in snap.transfers:
        if t.asset != asset or k.booked(t.tx_hash):
            continue
        into = _same(t.to_address, holder)
        if not into and not _same(t.from_address, holder):
            continue
        amount = t.amount if into else -t.amount
        mine = k.recent(t.tx_hash, grace)
        items.append(_transfer_item(t, amount, mine))
    return items


def _transfer_item(t: LogTransfer, amount: int, in_flight: bool) -> Item:
    direction = f"from {t.from_address}" if amount > 0 else f"to {t.to_address}"
    what = f"{t.asset} transfer {direction} at block {t.block} that nothing in the books names"
    if in_flight:
        what = f"{t.asset} moved by the relayer at block {t.block}, booking in progress"
    return Item(ref=t.tx_hash, what=what, amount=amount, benign=in_flight)


def _carry_over(result: CheckResult, account: str) -> CheckResult:
    """A difference no new item explains was caused before the blocks read now: point at the account."""
    if result.unexplained and not [i for i in result.items if not i.benign]:
        result.items.append(
            Item(
                ref=account,
                what="difference older than the blocks read this run: see earlier reports and "
                f"`sge ledger statement {account}`",
            )
        )
    return result


def balance_checks(session: Session, snap: ChainSnapshot, k: Known, grace: timedelta) -> list[CheckResult]:
    checks = [
        _carry_over(
            CheckResult(
                name="sge_inventory",
                family=CHAIN,
                asset="SGE",
                expected=ledger.balance(session, Accounts.sge_inventory, "SGE"),
                actual=snap.sge_claim_balance,
                items=_transfer_items(snap, k, snap.claim_contract, "SGE", grace),
            ),
            Accounts.sge_inventory,
        )
    ]
    for symbol, held in sorted(snap.payout_balances.items()):
        checks.append(
            _carry_over(
                CheckResult(
                    name=f"payout_contract_{symbol.lower()}",
                    family=CHAIN,
                    asset=symbol,
                    expected=ledger.balance(session, Accounts.payout_contract, symbol),
                    actual=held,
                    items=_transfer_items(snap, k, snap.payout_contract, symbol, grace),
                ),
                Accounts.payout_contract,
            )
        )
    checks.append(_carry_over(_relayer_check(session, snap, k, grace), Accounts.relayer_eth))
    return checks


def _relayer_check(session: Session, snap: ChainSnapshot, k: Known, grace: timedelta) -> CheckResult:
    """ETH of every relayer address vs the account. Mined transactions whose gas is not booked yet are
    in flight while recent; a final one without its gas booking is a missing ledger leg."""
    items: list[Item] = []
    for tx_hash, tx in sorted(k.outbox.items()):
        if tx.fee_wei is None or gas_booked(session, k, tx):
            continue
        in_flight = tx.status not in FINAL_STATUSES or k.recent(tx_hash, grace)
        what = (
            "gas of a mined relayer transaction, booking in progress"
            if in_flight
            else (f"gas of relayer transaction {tx.key} ({tx.status}) is not in the ledger: a missing leg")
        )
        items.append(Item(ref=tx_hash, what=what, amount=-tx.fee_wei, benign=in_flight))
    return CheckResult(
        name="relayer_eth",
        family=CHAIN,
        asset="ETH",
        expected=ledger.balance(session, Accounts.relayer_eth, "ETH"),
        actual=sum(snap.relayer_balances.values()),
        items=items,
    )


def event_checks(snap: ChainSnapshot, k: Known, grace: timedelta) -> list[CheckResult]:
    """Claimed logs vs deliveries/settlements, mints vs the outbox, booked deliveries vs their logs."""
    claims_missing: list[Item] = []
    receipts_missing: list[Item] = []
    paid = [c for c in snap.claims if not _same(c.token, ZERO)]
    for c in snap.claims:
        if c.tx_hash.lower() in k.deliveries:
            continue
        in_flight = k.recent(c.tx_hash, grace)
        what = f"Claimed {c.amount} SGE units for {c.wallet} at block {c.block} with no claim delivery booked"
        claims_missing.append(Item(ref=c.tx_hash, what=what, benign=in_flight))
    for c in paid:
        ref = f"onchain:{c.tx_hash}:{c.log_index}"
        if ref not in k.settled_refs:
            what = f"on-chain fee {c.fee} ({c.token}) paid to the treasury at block {c.block}, not settled"
            receipts_missing.append(Item(ref=ref, what=what))
    mints_missing: list[Item] = []
    for m in snap.mints:
        tx = k.outbox.get(m.tx_hash.lower())
        if tx is None:
            what = f"SGE-ID #{m.token_id} minted to {m.to_address} at block {m.block} by no request of the relayer"
            mints_missing.append(Item(ref=m.tx_hash, what=what))
    logs_missing = [
        Item(ref=h, what=f"booked delivery {k.deliveries.get(h, '?')} has no Claimed log in its transaction")
        for h, found in sorted(snap.delivery_has_claim.items())
        if not found
    ]
    return [
        unmatched("claims_vs_deliveries", CHAIN, claims_missing, total=len(snap.claims)),
        unmatched("onchain_receipts", CHAIN, receipts_missing, total=len(paid)),
        unmatched("mints_vs_requests", CHAIN, mints_missing, total=len(snap.mints)),
        unmatched("deliveries_vs_claims", CHAIN, logs_missing, total=len(snap.delivery_has_claim)),
    ]
