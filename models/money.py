"""Exact money: integer amounts in an asset's smallest unit. No floats anywhere.

USD is kept at 6 decimals so USD and USDC/USDT map 1:1; ETH in wei; SGE at 18 decimals.
"""

from __future__ import annotations

import re
from enum import StrEnum

from core.errors import DomainError


class Asset(StrEnum):
    USD = "USD"
    USDC = "USDC"
    USDT = "USDT"
    ETH = "ETH"
    SGE = "SGE"

    @property
    def scale(self) -> int:
        return ASSET_SCALE[self]


ASSET_SCALE: dict[Asset, int] = {Asset.USD: 6, Asset.USDC: 6, Asset.USDT: 6, Asset.ETH: 18, Asset.SGE: 18}

_DECIMAL_RE = re.compile(r"^(-)?(\d+)(?:\.(\d+))?$")


class AmountError(DomainError, ValueError):
    """An amount that cannot be represented exactly. Still a ValueError, so validators report it."""

    code = "invalid_amount"
    status = 422


def parse_amount(text: str, scale: int) -> int:
    """'100.00' at scale 6 → 100_000_000. Exact or AmountError (too many decimals, not a number)."""
    if not isinstance(text, str):
        raise AmountError(f"amount must be a decimal string, got {type(text).__name__}")
    match = _DECIMAL_RE.match(text.strip())
    if not match:
        raise AmountError(f"not a decimal amount: {text!r}")
    sign, whole, frac = match.group(1), match.group(2), match.group(3) or ""
    if len(frac) > scale and frac[scale:].strip("0"):
        raise AmountError(f"{text!r} has more than {scale} decimals")
    frac = frac[:scale].ljust(scale, "0")
    value = int(whole) * 10**scale + (int(frac) if frac else 0)
    return -value if sign else value


def format_amount(minor: int, scale: int) -> str:
    """100_000_000 at scale 6 → '100.000000' (exact, fixed decimals)."""
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise AmountError(f"amount must be an int, got {type(minor).__name__}")
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**scale)
    return f"{sign}{whole}.{frac:0{scale}d}" if scale else f"{sign}{whole}"
