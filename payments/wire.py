"""What both providers' wire formats share: our metadata keys, decimal money strings ↔ integer minor
units, and reading JSON fields into the platform's types (refusing what we could not store).

Pure, no I/O. Layering: `core/` and `models/` only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from models.money import ASSET_SCALE, AmountError, Asset, format_amount, parse_amount
from models.payments import PaymentEvent
from payments.interface import InvalidEvent, MalformedEvent

# Our payment key travels in the provider's metadata so a webhook can be matched even before the
# provider reference is stored (Commerce sends charge:created at once).
METADATA_PAYMENT_KEY = "sge_payment_key"
METADATA_PROGRAM = "sge_program"
METADATA_WALLET = "sge_wallet"
# The disclosures a hosted checkout can show next to the price (issue 15): plain text, bounded.
METADATA_TERMS = "sge_terms"  # "<version>:<sha256>" of the terms in force
METADATA_RISK = "sge_risk_disclosure"
MAX_DISCLOSURE_CHARS = 1000


def payment_metadata(payment_key: str, program: str, wallet: str) -> dict[str, str]:
    return {METADATA_PAYMENT_KEY: payment_key, METADATA_PROGRAM: program, METADATA_WALLET: wallet}


def metadata_payment_key(obj: Mapping) -> str | None:
    metadata = obj.get("metadata")
    value = metadata.get(METADATA_PAYMENT_KEY) if isinstance(metadata, dict) else None
    return value if isinstance(value, str) else None


# --- amounts -----------------------------------------------------------------------------------------


def amount_scale(currency: str | None) -> int | None:
    """Decimals of a currency we account in (USD/USDC/USDT at 6), None for anything else."""
    try:
        return ASSET_SCALE[Asset(str(currency).upper())]
    except ValueError:
        return None


def parse_money(amount: Any, currency: Any) -> int | None:
    """Provider amount string → integer minor units; None when the currency is not one we account in.

    Never via float: a JSON number is refused (providers send decimal strings).
    """
    if amount is None:
        return None
    scale = amount_scale(currency)
    if scale is None:
        return None
    if not isinstance(amount, str):
        raise InvalidEvent(f"amount {amount!r} is not a decimal string")
    try:
        return parse_amount(amount, scale)
    except AmountError as exc:
        raise InvalidEvent(str(exc)) from None


def money_text(minor: int, currency: str) -> str:
    """Integer minor units → the 2-decimal string providers expect for USD-like prices."""
    scale = amount_scale(currency)
    if scale is None:
        raise AmountError(f"unsupported currency {currency!r}")
    text = format_amount(minor, scale)
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{whole}.{frac}"


# --- JSON fields ---------------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent(f"not an ISO timestamp: {value!r}") from None


def json_object(body: bytes) -> dict:
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvent(f"body is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise MalformedEvent("body is not a JSON object")
    return parsed


def required_str(obj: Mapping, key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"{where}.{key} is missing or not a string")
    return value


# Column widths of webhook_event / payment: longer values are not provider ids we can store.
_MAX_LEN = {"event_id": 200, "event_type": 100, "provider_ref": 100, "payment_key": 200}


def bounded(event: PaymentEvent) -> PaymentEvent:
    for name, limit in _MAX_LEN.items():
        value = getattr(event, name)
        if value is not None and len(value) > limit:
            raise InvalidEvent(f"{name} is longer than {limit} characters")
    return event
