"""The chart of accounts (see the table in `models.ledger`): account codes, their types and rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from models.ledger.errors import LedgerError, UnknownAccount


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"

    @property
    def debit_normal(self) -> bool:
        return self in (AccountType.ASSET, AccountType.EXPENSE)


RAILS = ("coinbase_commerce", "coinbase_business", "onchain")
_SLUG = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
_ID = r"[1-9][0-9]{0,18}"
_RAIL = "|".join(RAILS)


@dataclass(frozen=True)
class AccountSpec:
    pattern: str
    type: AccountType
    non_negative: bool
    description: str

    @property
    def regex(self) -> re.Pattern:
        return re.compile(self.pattern)


CHART: tuple[AccountSpec, ...] = (
    AccountSpec(
        rf"asset:processor_receivable:(?:{_RAIL})", AccountType.ASSET, False, "collected by a payment rail for us"
    ),
    AccountSpec(r"asset:treasury", AccountType.ASSET, False, "settled funds in the platform treasury"),
    AccountSpec(r"asset:payout_contract", AccountType.ASSET, True, "stablecoin held by the payout contract"),
    AccountSpec(r"asset:sge_inventory", AccountType.ASSET, False, "SGE held for claims"),
    AccountSpec(r"asset:relayer_eth", AccountType.ASSET, False, "the relayer's ETH"),
    AccountSpec(
        rf"asset:affiliate:{_ID}:clawback",
        AccountType.ASSET,
        True,
        "owed back by an affiliate (refunded, paid commission)",
    ),
    AccountSpec(rf"liability:affiliate:{_ID}:accrued", AccountType.LIABILITY, True, "commissions in their hold period"),
    AccountSpec(
        rf"liability:affiliate:{_ID}:payable", AccountType.LIABILITY, True, "commissions payable, not yet paid"
    ),
    AccountSpec(rf"liability:payouts_in_flight:{_SLUG}", AccountType.LIABILITY, True, "reserved for a payout batch"),
    AccountSpec(rf"liability:suspense:(?:{_RAIL})", AccountType.LIABILITY, False, "arrived but not matched"),
    AccountSpec(rf"revenue:fees:{_SLUG}", AccountType.REVENUE, False, "registration fees"),
    AccountSpec(rf"expense:commissions:{_SLUG}", AccountType.EXPENSE, False, "affiliate commissions"),
    AccountSpec(rf"expense:sge_delivered:{_SLUG}", AccountType.EXPENSE, False, "SGE delivered by claims"),
    AccountSpec(rf"expense:sge_loss:{_SLUG}", AccountType.EXPENSE, False, "SGE delivered for payments later refunded"),
    AccountSpec(r"revenue:suspense_written_off", AccountType.REVENUE, False, "suspense money an operator wrote off"),
    AccountSpec(r"expense:gas", AccountType.EXPENSE, False, "relayer gas"),
    AccountSpec(r"equity:capital", AccountType.EQUITY, False, "outside funding"),
    AccountSpec(r"equity:conversion", AccountType.EQUITY, False, "USD <-> USD-stablecoin 1:1 conversion clearing"),
)
_COMPILED = tuple((re.compile(rf"^{spec.pattern}$"), spec) for spec in CHART)
_spec_cache: dict[str, AccountSpec] = {}


def account_spec(code: str) -> AccountSpec:
    """The chart entry of an account code, or UnknownAccount."""
    spec = _spec_cache.get(code)
    if spec is not None:
        return spec
    if isinstance(code, str) and len(code) <= 120:
        for regex, spec in _COMPILED:
            if regex.match(code):
                if len(_spec_cache) < 100_000:  # bounded: codes per affiliate/program are finite anyway
                    _spec_cache[code] = spec
                return spec
    raise UnknownAccount(f"unknown account {code!r} (not in the chart of accounts)")


def rail_of(payment_ref: str) -> str:
    """The payment rail named by a payment reference's prefix, e.g. 'onchain:0xabc..:3' → 'onchain'."""
    rail, sep, rest = payment_ref.partition(":")
    if not sep or not rest or rail not in RAILS:
        raise LedgerError(
            f"payment_ref {payment_ref!r} must start with one of {', '.join(RAILS)} followed by ':'",
            code="invalid_payment_ref",
        )
    return rail


class Accounts:
    """Account codes by name, so callers never spell them by hand."""

    @staticmethod
    def processor_receivable(rail: str) -> str:
        return f"asset:processor_receivable:{rail}"

    treasury = "asset:treasury"
    payout_contract = "asset:payout_contract"
    sge_inventory = "asset:sge_inventory"
    relayer_eth = "asset:relayer_eth"
    gas = "expense:gas"
    capital = "equity:capital"
    conversion = "equity:conversion"

    @staticmethod
    def affiliate_clawback(affiliate_id: int) -> str:
        return f"asset:affiliate:{affiliate_id}:clawback"

    @staticmethod
    def affiliate_accrued(affiliate_id: int) -> str:
        return f"liability:affiliate:{affiliate_id}:accrued"

    @staticmethod
    def affiliate_payable(affiliate_id: int) -> str:
        return f"liability:affiliate:{affiliate_id}:payable"

    @staticmethod
    def payouts_in_flight(program: str) -> str:
        return f"liability:payouts_in_flight:{program}"

    @staticmethod
    def suspense(rail: str) -> str:
        return f"liability:suspense:{rail}"

    suspense_written_off = "revenue:suspense_written_off"

    @staticmethod
    def sge_loss(program: str) -> str:
        return f"expense:sge_loss:{program}"

    @staticmethod
    def fee_revenue(program: str) -> str:
        return f"revenue:fees:{program}"

    @staticmethod
    def commission_expense(program: str) -> str:
        return f"expense:commissions:{program}"

    @staticmethod
    def sge_delivered(program: str) -> str:
        return f"expense:sge_delivered:{program}"
