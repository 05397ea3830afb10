"""Jurisdiction rules of a program: which client countries may register and pay.

A program's `flags` hold `blocked_countries` (refused) and/or `allowed_countries` (only these); both are
ISO 3166-1 alpha-2 codes, upper-case. With an allow-list, a client whose country is unknown is refused
(the operator asked for "only these"); with only a block-list, an unknown country passes (nothing names
it). Only *new* registrations and payment hand-outs are refused: a flow already paid for finishes.
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import DomainError
from models.platform import Program

BLOCKED = "blocked_countries"
ALLOWED = "allowed_countries"
_CODE_RE = re.compile(r"^[A-Z]{2}$")


class JurisdictionBlocked(DomainError):
    code = "jurisdiction_blocked"
    status = 403


def parse_countries(value: str | list[str] | None) -> list[str]:
    """'de, US' or ['de','US'] → ['DE', 'US'] (sorted, unique); ValueError on anything not two letters."""
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else list(value)
    codes = sorted({str(p).strip().upper() for p in parts if str(p).strip()})
    bad = [c for c in codes if not _CODE_RE.match(c)]
    if bad:
        raise ValueError(f"not ISO 3166-1 alpha-2 country codes: {', '.join(bad)}")
    return codes


def rules_of(flags: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """(blocked, allowed) country lists of a program's flags."""
    flags = flags or {}
    return list(flags.get(BLOCKED) or []), list(flags.get(ALLOWED) or [])


def is_blocked(program: Program, country: str | None) -> bool:
    blocked, allowed = rules_of(program.flags)
    code = country.strip().upper() if country else None
    if allowed and (code is None or code not in allowed):
        return True
    return code is not None and code in blocked


def check_jurisdiction(program: Program, country: str | None) -> None:
    """Raise `403 jurisdiction_blocked` when `country` may not register or pay in `program`."""
    if is_blocked(program, country):
        where = country.upper() if country else "an unknown country"
        raise JurisdictionBlocked(f"program {program.slug!r} does not accept clients from {where}")
