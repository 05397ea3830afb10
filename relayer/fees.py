"""The relayer's EIP-1559 fee policy, as pure functions of what the chain reported (no I/O).

- Market fees: the tip is the median of the non-zero rewards in `eth_feeHistory` at the configured
  percentile (never below the configured floor); max fee = 2 × next base fee + tip, which survives
  ~6 full blocks of base-fee rises. Both are capped by the configured ceiling.
- Replacement ("bump"): both fields raised by the configured percent (and at least to the market),
  capped by the ceiling. Nodes accept a replacement at the same nonce only if both fields are
  ≥ 10 % higher; when the ceiling leaves no room for that, there is no replacement (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MIN_BUMP_PERCENT = 10  # what nodes require of a same-nonce replacement


@dataclass
class Fees:
    max_fee: int
    tip: int


def ceil_pct(value: int, percent: int) -> int:
    """`value × percent / 100`, rounded up (integer wei)."""
    return -(-value * percent // 100)


def next_base_and_tip(history: Mapping[str, Any], min_tip: int) -> tuple[int, int]:
    """(next block's base fee, tip) from an `eth_feeHistory` result asked for one reward percentile."""
    next_base = int(history["baseFeePerGas"][-1])
    # Empty blocks report a zero reward; they say nothing about the going tip.
    rewards = sorted(int(r[0]) for r in history.get("reward") or [] if r and int(r[0]) > 0)
    tip = rewards[len(rewards) // 2] if rewards else 0
    return next_base, max(tip, min_tip)


def market_fees(base: int, tip: int, ceiling: int) -> Fees:
    """Fees for a first attempt: max fee = 2 × base + tip, both capped by `ceiling`."""
    max_fee = min(2 * base + tip, ceiling)
    return Fees(max_fee=max_fee, tip=min(tip, max_fee))


def bumped_fees(
    old_max: int, old_tip: int, *, base: int, market_tip: int, bump_percent: int, ceiling: int
) -> Fees | None:
    """Fees for a replacement of an attempt sent with (`old_max`, `old_tip`): both fields
    `bump_percent` above the old ones and at least the market's, capped by `ceiling`. None when the
    ceiling leaves no room for a raise of ≥ 10 % on both."""
    pct = 100 + bump_percent
    tip = max(ceil_pct(old_tip, pct), market_tip)
    max_fee = max(ceil_pct(old_max, pct), 2 * base + tip)
    max_fee = min(max_fee, ceiling)
    tip = min(tip, max_fee)
    floor_pct = 100 + MIN_BUMP_PERCENT
    if max_fee < ceil_pct(old_max, floor_pct) or tip < ceil_pct(old_tip, floor_pct):
        return None
    return Fees(max_fee=max_fee, tip=tip)
