"""Programs (tenants): creation and changes (admins only, every change audited), and their views.

The `program` table itself is in models/platform.py. Amounts come in as exact decimal strings
("100.00" USD, "1000" SGE) and are stored as integers (USD at 6 decimals, SGE at 18).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from eth_utils import is_address, to_checksum_address
from pydantic import BaseModel, Field, JsonValue, ValidationInfo, field_validator, model_validator
from sqlmodel import Session, col, select

from core.columns import utcnow
from core.errors import DomainError
from models.jurisdictions import ALLOWED, BLOCKED, parse_countries
from models.kyc import KycPolicyError, kyc_policy
from models.money import AmountError, Asset, format_amount, parse_amount
from models.operators import Actor, audit
from models.platform import PaymentProvider, Program

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
DEFAULT_COMMISSION_BPS = [1000, 500]  # level 1 (direct) 10 %, level 2 (override) 5 %
MAX_LEVELS = 10


class ProgramError(DomainError):
    code = "program_error"
    status = 422


def _usd(value: str) -> int:
    try:
        minor = parse_amount(value, Asset.USD.scale)
    except AmountError as exc:
        raise ValueError(str(exc)) from None
    if minor < 0:
        raise ValueError("must not be negative")
    return minor


def _sge(value: str) -> int:
    try:
        minor = parse_amount(value, Asset.SGE.scale)
    except AmountError as exc:
        raise ValueError(str(exc)) from None
    if minor < 0:
        raise ValueError("must not be negative")
    return minor


def _check_bps(value: list[int]) -> list[int]:
    if not value or len(value) > MAX_LEVELS:
        raise ValueError(f"1..{MAX_LEVELS} levels")
    for bps in value:
        if isinstance(bps, bool) or not isinstance(bps, int) or not 0 <= bps <= 10_000:
            raise ValueError("each level is an integer of basis points, 0..10000")
    if sum(value) > 10_000:
        raise ValueError("levels together exceed 100 %")
    return value


def _check_flags(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """`flags.kyc` must be a valid KYC policy (models/kyc.py): a typo must not silently mean "no KYC"."""
    try:
        kyc_policy(value)
    except KycPolicyError as exc:
        raise ValueError(exc.message) from None
    return value


def _check_address(value: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ValueError("not an Ethereum address")
    return to_checksum_address(value)


# The formats the validators below enforce, stated in the API schema too.
_ADDRESS: dict[str, JsonValue] = {"pattern": "^0x[0-9a-fA-F]{40}$"}
_DECIMAL: dict[str, JsonValue] = {"pattern": "^[0-9]+(\\.[0-9]+)?$"}
_BPS: dict[str, JsonValue] = {
    "items": {"type": "integer", "minimum": 0, "maximum": 10_000},
    "minItems": 1,
    "maxItems": MAX_LEVELS,
}


class ProgramCreate(BaseModel):
    slug: str = Field(
        description="URL-safe id: lower-case letters, digits, '-'.", json_schema_extra={"pattern": SLUG_RE.pattern}
    )
    name: str = Field(min_length=1, max_length=200)
    treasury_address: str = Field(json_schema_extra=_ADDRESS)
    fee_usd: str = Field(
        "100", description="Registration fee in USD, exact decimal string.", json_schema_extra=_DECIMAL
    )
    claim_amount_sge: str = Field(
        "1000", description="SGE delivered per claim, exact decimal string.", json_schema_extra=_DECIMAL
    )
    commission_bps: list[int] = Field(
        default_factory=lambda: list(DEFAULT_COMMISSION_BPS),
        description="Per level, level 1 first; together at most 10000, and no more levels than max_depth.",
        json_schema_extra=_BPS,
    )
    max_depth: int = Field(2, ge=1, le=10)
    hold_days: int = Field(30, ge=0, le=365)
    payment_provider: PaymentProvider = PaymentProvider.COINBASE_COMMERCE
    flags: dict[str, Any] = Field(default_factory=dict)
    active: bool = True

    model_config = {"extra": "forbid"}

    @field_validator("flags")
    @classmethod
    def _flags(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_flags(value)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG_RE.match(value):
            raise ValueError("1-64 of a-z, 0-9 and '-', not starting or ending with '-'")
        return value

    @field_validator("treasury_address")
    @classmethod
    def _treasury(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("fee_usd")
    @classmethod
    def _fee(cls, value: str) -> str:
        _usd(value)
        return value

    @field_validator("claim_amount_sge")
    @classmethod
    def _claim(cls, value: str) -> str:
        _sge(value)
        return value

    @field_validator("commission_bps")
    @classmethod
    def _bps(cls, value: list[int]) -> list[int]:
        return _check_bps(value)

    @model_validator(mode="after")
    def _levels_reachable(self) -> ProgramCreate:
        _levels_vs_depth(self.commission_bps, self.max_depth)
        return self


class ProgramUpdate(BaseModel):
    """Fields to change; omitted ones stay. The slug never changes (ledger accounts are named by it)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    treasury_address: str | None = Field(None, json_schema_extra=_ADDRESS)
    fee_usd: str | None = Field(None, json_schema_extra=_DECIMAL)
    claim_amount_sge: str | None = Field(None, json_schema_extra=_DECIMAL)
    commission_bps: list[int] | None = Field(None, json_schema_extra=_BPS)
    max_depth: int | None = Field(None, ge=1, le=10)
    hold_days: int | None = Field(None, ge=0, le=365)
    payment_provider: PaymentProvider | None = None
    flags: dict[str, Any] | None = None
    active: bool | None = None
    blocked_countries: list[str] | None = Field(None, description="ISO alpha-2 codes refused ([]: none).")
    allowed_countries: list[str] | None = Field(None, description="Only these ISO alpha-2 codes ([]: any).")

    model_config = {"extra": "forbid"}

    @field_validator("blocked_countries", "allowed_countries")
    @classmethod
    def _countries(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else parse_countries(value)

    @field_validator("flags")
    @classmethod
    def _flags(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_flags(value)

    @field_validator("treasury_address", "fee_usd", "claim_amount_sge", "commission_bps")
    @classmethod
    def _checked(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        check: dict[str, Callable[[Any], Any]] = {
            "treasury_address": _check_address,
            "fee_usd": _usd,
            "claim_amount_sge": _sge,
            "commission_bps": _check_bps,
        }
        field = info.field_name
        assert field is not None  # pydantic always names the field in a field validator
        result = check[field](value)
        return result if field in ("treasury_address", "commission_bps") else value


def _levels_vs_depth(bps: list[int], max_depth: int) -> None:
    # A referrer at depth d has d ancestors (itself included), so levels beyond max_depth never pay.
    if len(bps) > max_depth:
        raise ValueError(f"{len(bps)} commission levels but max_depth {max_depth}: the extra levels could never earn")


class ProgramView(BaseModel):
    id: int
    slug: str
    name: str
    treasury_address: str
    fee_usd: str
    fee_usd_minor: str
    claim_amount_sge: str
    claim_amount_minor: str
    commission_bps: list[int]
    max_depth: int
    hold_days: int
    payment_provider: PaymentProvider
    flags: dict[str, Any]
    active: bool
    created_at: datetime
    updated_at: datetime


def program_view(p: Program) -> ProgramView:
    return ProgramView(
        id=p.id,
        slug=p.slug,
        name=p.name,
        treasury_address=p.treasury_address,
        fee_usd=format_amount(p.fee_usd_minor, Asset.USD.scale),
        fee_usd_minor=str(p.fee_usd_minor),
        claim_amount_sge=format_amount(p.claim_amount_minor, Asset.SGE.scale),
        claim_amount_minor=str(p.claim_amount_minor),
        commission_bps=list(p.commission_bps),
        max_depth=p.max_depth,
        hold_days=p.hold_days,
        payment_provider=PaymentProvider(p.payment_provider),
        flags=dict(p.flags or {}),
        active=p.active,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def _audit_state(p: Program) -> dict[str, Any]:
    return program_view(p).model_dump(mode="json", exclude={"created_at", "updated_at"})


def get_program(session: Session, slug: str) -> Program | None:
    return session.exec(select(Program).where(Program.slug == slug)).first()


def require_program(session: Session, slug: str) -> Program:
    program = get_program(session, slug)
    if program is None:
        raise ProgramError(f"no program {slug!r}", code="program_not_found", status=404)
    return program


def list_programs(session: Session) -> list[Program]:
    return list(session.exec(select(Program).order_by(col(Program.id))))


def create_program(session: Session, actor: Actor, data: ProgramCreate) -> Program:
    if get_program(session, data.slug) is not None:
        raise ProgramError(f"program {data.slug!r} exists", code="program_exists", status=409)
    now = utcnow()
    program = Program(
        slug=data.slug,
        name=data.name,
        treasury_address=data.treasury_address,
        fee_usd_minor=_usd(data.fee_usd),
        claim_amount_minor=_sge(data.claim_amount_sge),
        commission_bps=list(data.commission_bps),
        max_depth=data.max_depth,
        hold_days=data.hold_days,
        payment_provider=data.payment_provider,
        flags=dict(data.flags),
        active=data.active,
        created_at=now,
        updated_at=now,
    )
    session.add(program)
    session.flush()  # a concurrent create of the same slug fails here on the unique index
    audit(session, actor, "program.create", "program", program.slug, None, _audit_state(program))
    return program


def update_program(session: Session, actor: Actor, slug: str, changes: ProgramUpdate) -> Program:
    program = require_program(session, slug)
    before = _audit_state(program)
    fields = changes.model_dump(exclude_unset=True)
    if "fee_usd" in fields and fields["fee_usd"] is not None:
        program.fee_usd_minor = _usd(fields.pop("fee_usd"))
    if "claim_amount_sge" in fields and fields["claim_amount_sge"] is not None:
        program.claim_amount_minor = _sge(fields.pop("claim_amount_sge"))
    for name, key in (("blocked_countries", BLOCKED), ("allowed_countries", ALLOWED)):
        countries = fields.pop(name, None)
        if countries is not None:  # kept in the flags (JSON): a new dict, so the change is persisted
            program.flags = {**(fields.get("flags") or program.flags or {}), key: countries}
            fields.pop("flags", None)
    for name, value in fields.items():
        if value is None:
            continue
        if name == "payment_provider":
            value = PaymentProvider(value).value
        setattr(program, name, value)
    try:
        _levels_vs_depth(list(program.commission_bps), program.max_depth)
    except ValueError as exc:
        raise ProgramError(str(exc), code="invalid_program") from None
    program.updated_at = utcnow()
    session.add(program)
    session.flush()
    audit(session, actor, "program.update", "program", program.slug, before, _audit_state(program))
    return program


def deactivate_program(session: Session, actor: Actor, slug: str) -> Program:
    """ "Delete" for a tenant: it stops taking registrations, its money history stays (audited)."""
    program = require_program(session, slug)
    before = _audit_state(program)
    program.active = False
    program.updated_at = utcnow()
    session.add(program)
    session.flush()
    audit(session, actor, "program.deactivate", "program", program.slug, before, _audit_state(program))
    return program
