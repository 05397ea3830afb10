"""The relayer's fee policy (relayer.fees), without a chain: market fees from fee history, the
replacement bump (configured percent, never under the 10 % nodes require) and the ceiling."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relayer.fees import Fees, bumped_fees, ceil_pct, market_fees, next_base_and_tip

GWEI = 10**9


def history(base_fees: list[int], rewards: list[list[int]] | None) -> dict:
    out: dict = {"baseFeePerGas": base_fees}
    if rewards is not None:
        out["reward"] = rewards
    return out


def test_ceil_pct_rounds_up():
    assert ceil_pct(100, 110) == 110
    assert ceil_pct(101, 110) == 112  # 111.1 → 112
    assert ceil_pct(0, 112) == 0
    assert ceil_pct(1, 110) == 2


def test_tip_is_the_median_of_non_zero_rewards_and_base_is_the_next_blocks():
    h = history([10 * GWEI, 11 * GWEI, 12 * GWEI], [[3 * GWEI], [0], [1 * GWEI], [2 * GWEI], []])
    assert next_base_and_tip(h, min_tip=0) == (12 * GWEI, 2 * GWEI)  # zero and empty rewards ignored
    even = history([5], [[4], [1], [3], [2]])
    assert next_base_and_tip(even, min_tip=0) == (5, 3)  # upper median of 1, 2, 3, 4


def test_tip_never_below_the_floor():
    assert next_base_and_tip(history([7 * GWEI], [[0], [0]]), min_tip=GWEI // 10) == (7 * GWEI, GWEI // 10)
    assert next_base_and_tip(history([7 * GWEI], None), min_tip=5) == (7 * GWEI, 5)  # no rewards at all
    assert next_base_and_tip(history([7 * GWEI], [[1]]), min_tip=5) == (7 * GWEI, 5)


def test_market_fees_are_twice_the_base_plus_tip_capped_by_the_ceiling():
    assert market_fees(base=10 * GWEI, tip=2 * GWEI, ceiling=200 * GWEI) == Fees(max_fee=22 * GWEI, tip=2 * GWEI)
    assert market_fees(base=100 * GWEI, tip=2 * GWEI, ceiling=150 * GWEI) == Fees(max_fee=150 * GWEI, tip=2 * GWEI)
    # a tip above the ceiling is cut to it: the tip can never exceed the max fee
    assert market_fees(base=0, tip=300 * GWEI, ceiling=200 * GWEI) == Fees(max_fee=200 * GWEI, tip=200 * GWEI)


def test_bump_raises_both_fields_by_the_configured_percent():
    fees = bumped_fees(100 * GWEI, 2 * GWEI, base=10 * GWEI, market_tip=GWEI, bump_percent=12, ceiling=1000 * GWEI)
    assert fees == Fees(max_fee=112 * GWEI, tip=2_240_000_000)


def test_bump_follows_the_market_when_it_rose_more():
    fees = bumped_fees(30 * GWEI, 2 * GWEI, base=50 * GWEI, market_tip=5 * GWEI, bump_percent=12, ceiling=1000 * GWEI)
    assert fees == Fees(max_fee=105 * GWEI, tip=5 * GWEI)  # 2 × 50 + 5


def test_bump_is_capped_by_the_ceiling_and_refused_below_ten_percent():
    capped = bumped_fees(900 * GWEI, GWEI, base=GWEI, market_tip=GWEI, bump_percent=12, ceiling=1000 * GWEI)
    assert capped == Fees(max_fee=1000 * GWEI, tip=1_120_000_000)  # capped, still ≥ 10 % up
    # 950 × 1.1 = 1045 > ceiling: no replacement the node would accept
    assert bumped_fees(950 * GWEI, GWEI, base=GWEI, market_tip=GWEI, bump_percent=12, ceiling=1000 * GWEI) is None
    # exactly 10 % fits
    exact = bumped_fees(100, 10, base=0, market_tip=0, bump_percent=10, ceiling=110)
    assert exact == Fees(max_fee=110, tip=11)
    # the tip cannot rise 10 % once it has reached the ceiling
    assert bumped_fees(100, 100, base=0, market_tip=0, bump_percent=12, ceiling=105) is None


@given(
    old_max=st.integers(1, 10**12),
    old_tip=st.integers(0, 10**12),
    base=st.integers(0, 10**12),
    market_tip=st.integers(0, 10**12),
    bump_percent=st.integers(10, 200),
    ceiling=st.integers(1, 10**13),
)
def test_a_bump_is_always_at_least_ten_percent_on_both_fields_and_within_the_ceiling(
    old_max, old_tip, base, market_tip, bump_percent, ceiling
):
    old_tip = min(old_tip, old_max)
    fees = bumped_fees(old_max, old_tip, base=base, market_tip=market_tip, bump_percent=bump_percent, ceiling=ceiling)
    if fees is not None:
        assert fees.max_fee <= ceiling and fees.tip <= fees.max_fee
        assert fees.max_fee >= ceil_pct(old_max, 110) and fees.tip >= ceil_pct(old_tip, 110)
    elif ceil_pct(old_max, 100 + bump_percent) <= ceiling and ceil_pct(old_tip, 100 + bump_percent) <= ceil_pct(
        old_max, 100 + bump_percent
    ):
        # room for the configured bump on both fields: a replacement must be offered
        raise AssertionError("no replacement although the configured bump fits under the ceiling")
