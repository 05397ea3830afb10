"""Affiliates (a per-program tree), wallet-proof nonces, and user attribution.

Registration proves control of the wallet: the server issues a single-use, expiring nonce inside a
message (`issue_nonce`); the wallet signs it (EIP-191 `personal_sign`); `register_affiliate` recovers
the signer and checks it, consumes the nonce and creates the affiliate in one DB transaction. A parent
code attaches the affiliate under its parent when the program's depth allows (root depth 1), and is
refused with `depth_exceeded` otherwise: never silently dropped. Referral codes are 8 upper-case hex
characters from `secrets` (a CSPRNG), unique per program; a collision is retried with a new code.

Attribution: a user's referrer is fixed by their first registration in a program (`attribute`), with
its proof (the code, time and source). Later codes are ignored and reported as such; self-referral,
unknown codes and suspended referrers are refused (nothing is written).

Wallets are stored and compared in EIP-55 checksum form only.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_address, is_checksum_address, to_checksum_address
from pydantic import BaseModel
from sqlalchemy import Column, ForeignKey, Integer, Text, UniqueConstraint, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from core.columns import UtcDateTime, utcnow
from models.operators import Actor, audit
from models.platform import Program

# Activity names (workflows call these by name).
ATTRIBUTE = "affiliates.attribute"

CODE_BYTES = 4  # 8 hex characters
CODE_ATTEMPTS = 16
NONCE_TTL = timedelta(minutes=10)
MAX_TREE_DEPTH = 5
MAX_TREE_NODES = 500


class AffiliateError(Exception):
    """A refused affiliate request; `code` is machine-readable, `status` the HTTP status to use."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.status = status


class AffiliateStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Affiliate(SQLModel, table=True):
    __tablename__ = "affiliate"
    __table_args__ = (
        UniqueConstraint("program_id", "wallet", name="uq_affiliate_program_wallet"),
        UniqueConstraint("program_id", "code", name="uq_affiliate_program_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False, index=True))
    wallet: str = Field(max_length=42, description="EIP-55 checksum address.")
    code: str = Field(max_length=8, description="Referral code: 8 upper-case hex characters.")
    parent_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("affiliate.id"), nullable=True, index=True))
    depth: int = Field(ge=1, description="Root affiliates are at depth 1.")
    status: str = Field(default=AffiliateStatus.ACTIVE.value, max_length=16)
    status_reason: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class AffiliateNonce(SQLModel, table=True):
    """A server-issued, single-use, expiring challenge for one (program, wallet)."""

    __tablename__ = "affiliate_nonce"

    nonce: str = Field(primary_key=True, max_length=64)
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False))
    wallet: str = Field(max_length=42)
    message: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class Attribution(SQLModel, table=True):
    """A user's referrer in a program, locked at first registration (referrer None = no referrer)."""

    __tablename__ = "attribution"
    __table_args__ = (UniqueConstraint("program_id", "wallet", name="uq_attribution_program_wallet"),)

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False))
    wallet: str = Field(max_length=42)
    referrer_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("affiliate.id"), nullable=True, index=True))
    code: str | None = Field(default=None, max_length=8, description="The code presented (proof).")
    source: str = Field(default="", max_length=64, description="Where the registration came from (proof).")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


# --- helpers ------------------------------------------------------------------------------------


def normalize_wallet(wallet: str) -> str:
    if not isinstance(wallet, str) or not is_address(wallet):
        raise AffiliateError("invalid_wallet", f"not an Ethereum address: {str(wallet)[:64]!r}", 422)
    body = wallet[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(wallet):
        # Mixed case is an EIP-55 checksum: a wrong one means a mistyped address, never "close enough".
        raise AffiliateError("invalid_wallet", f"bad EIP-55 checksum: {wallet[:64]!r}", 422)
    return to_checksum_address(wallet)


def normalize_code(code: str) -> str:
    code = (code or "").strip().upper()
    if len(code) != 2 * CODE_BYTES or any(c not in "0123456789ABCDEF" for c in code):
        raise AffiliateError("invalid_code", "a referral code is 8 hexadecimal characters", 422)
    return code


def new_code() -> str:
    return secrets.token_hex(CODE_BYTES).upper()


def program_by_slug(session: Session, slug: str, *, active: bool = True) -> Program:
    program = session.exec(select(Program).where(Program.slug == slug)).first()
    if program is None:
        raise AffiliateError("program_not_found", f"no program {slug!r}", 404)
    if active and not program.active:
        raise AffiliateError("program_inactive", f"program {slug!r} is not active", 409)
    return program


def by_code(session: Session, program_id: int, code: str) -> Affiliate | None:
    return session.exec(select(Affiliate).where(Affiliate.program_id == program_id, Affiliate.code == code)).first()


def by_wallet(session: Session, program_id: int, wallet: str) -> Affiliate | None:
    return session.exec(select(Affiliate).where(Affiliate.program_id == program_id, Affiliate.wallet == wallet)).first()


def ancestors(session: Session, affiliate: Affiliate, levels: int) -> list[Affiliate]:
    """The affiliate itself (level 1), its parent (level 2), ... up to `levels` entries."""
    chain = [affiliate]
    current = affiliate
    while len(chain) < levels and current.parent_id is not None:
        current = session.get(Affiliate, current.parent_id)
        if current is None:  # pragma: no cover - a foreign key keeps parents
            break
        chain.append(current)
    return chain


# --- registration -------------------------------------------------------------------------------


class NonceIssued(BaseModel):
    nonce: str
    message: str
    expires_at: datetime


def nonce_message(program: Program, wallet: str, nonce: str, issued: datetime, expires: datetime) -> str:
    return (
        "SGE affiliate registration\n"
        f"Program: {program.slug}\n"
        f"Wallet: {wallet}\n"
        f"Nonce: {nonce}\n"
        f"Issued at: {issued.strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
        f"Expires at: {expires.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )


def issue_nonce(session: Session, program_slug: str, wallet: str, *, ttl: timedelta = NONCE_TTL) -> NonceIssued:
    program = program_by_slug(session, program_slug)
    wallet = normalize_wallet(wallet)
    nonce = secrets.token_hex(16)
    now = utcnow().replace(microsecond=0)
    expires = now + ttl
    message = nonce_message(program, wallet, nonce, now, expires)
    session.add(AffiliateNonce(nonce=nonce, program_id=program.id, wallet=wallet, message=message, created_at=now, expires_at=expires))
    session.flush()
    return NonceIssued(nonce=nonce, message=message, expires_at=expires)


def recover_signer(message: str, signature: str) -> str | None:
    """The EIP-191 (personal_sign) signer of `message`, or None when the signature is malformed."""
    try:
        return Account.recover_message(encode_defunct(text=message), signature=signature)
    except Exception:  # noqa: BLE001 - any malformed signature is simply "not a valid signature"
        return None


def register_affiliate(
    session: Session, program_slug: str, wallet: str, nonce: str, signature: str, parent_code: str | None = None
) -> Affiliate:
    """Verify the wallet proof and create the affiliate, all in the caller's DB transaction."""
    program = program_by_slug(session, program_slug)
    wallet = normalize_wallet(wallet)
    row = session.get(AffiliateNonce, nonce) if isinstance(nonce, str) and 0 < len(nonce) <= 64 else None
    if row is None or row.program_id != program.id or row.wallet != wallet:
        raise AffiliateError("invalid_nonce", "unknown nonce for this program and wallet; request a new one", 400)
    if row.used_at is not None:
        raise AffiliateError("nonce_used", "this nonce was already used; request a new one", 400)
    if row.expires_at <= utcnow():
        raise AffiliateError("nonce_expired", "this nonce has expired; request a new one", 400)
    signer = recover_signer(row.message, signature)
    if signer is None or signer != wallet:
        raise AffiliateError("invalid_signature", "the signature is not the wallet's signature of the nonce message", 401)
    # Consume the nonce atomically: of two concurrent uses exactly one updates the row.
    used = session.connection().execute(
        update(AffiliateNonce).where(AffiliateNonce.nonce == nonce, AffiliateNonce.used_at.is_(None)).values(used_at=utcnow())
    )
    if used.rowcount != 1:
        raise AffiliateError("nonce_used", "this nonce was already used; request a new one", 400)
    if by_wallet(session, program.id, wallet) is not None:
        raise AffiliateError("wallet_registered", "this wallet is already an affiliate of the program", 409)
    parent: Affiliate | None = None
    depth = 1
    if parent_code:
        parent = by_code(session, program.id, normalize_code(parent_code))
        if parent is None:
            raise AffiliateError("unknown_parent_code", f"no affiliate with code {parent_code!r} in {program.slug}", 404)
        if parent.status != AffiliateStatus.ACTIVE.value:
            raise AffiliateError("parent_suspended", "the parent affiliate is suspended", 409)
        depth = parent.depth + 1
        if depth > program.max_depth:
            raise AffiliateError(
                "depth_exceeded",
                f"the parent is at depth {parent.depth}, the program allows {program.max_depth}: cannot attach below it",
                409,
            )
    for _ in range(CODE_ATTEMPTS):
        affiliate = Affiliate(
            program_id=program.id, wallet=wallet, code=new_code(), parent_id=parent.id if parent else None, depth=depth
        )
        try:
            with session.begin_nested():  # a savepoint: a collision must not abort the outer transaction
                session.add(affiliate)
                session.flush()
            return affiliate
        except IntegrityError:
            session.expunge(affiliate) if affiliate in session else None
            if by_wallet(session, program.id, wallet) is not None:  # a concurrent registration won
                raise AffiliateError("wallet_registered", "this wallet is already an affiliate of the program", 409) from None
            continue  # the code collided: draw another
    raise AffiliateError("code_space_exhausted", "could not draw a free referral code; try again", 503)


def set_status(session: Session, actor: Actor, affiliate_id: int, status: AffiliateStatus, reason: str = "") -> Affiliate:
    """Suspend or reinstate an affiliate (audited). Suspended affiliates earn nothing."""
    affiliate = session.get(Affiliate, affiliate_id)
    if affiliate is None:
        raise AffiliateError("affiliate_not_found", f"no affiliate {affiliate_id}", 404)
    before = {"status": affiliate.status, "status_reason": affiliate.status_reason}
    affiliate.status = AffiliateStatus(status).value
    affiliate.status_reason = reason[:500]
    affiliate.updated_at = utcnow()
    session.add(affiliate)
    session.flush()
    action = "affiliate.suspend" if status == AffiliateStatus.SUSPENDED else "affiliate.reinstate"
    audit(session, actor, action, "affiliate", affiliate.id, before, {"status": affiliate.status, "status_reason": affiliate.status_reason})
    return affiliate


# --- attribution --------------------------------------------------------------------------------


class AttributionRequest(BaseModel):
    """Input of the `affiliates.attribute` activity."""

    program: str
    wallet: str
    code: str | None = None
    source: str = ""


class AttributionResult(BaseModel):
    """`new`: locked now. `existing`: locked earlier (`ignored_code` reports a later code that was
    ignored). `refused`: nothing written; `error_code` says why (self_referral, unknown_referral_code,
    referrer_suspended, invalid_code, invalid_wallet, program_not_found, program_inactive)."""

    status: Literal["new", "existing", "refused"]
    program: str
    wallet: str
    referrer_affiliate_id: int | None = None
    referrer_wallet: str | None = None
    referrer_code: str | None = None
    source: str = ""
    locked_at: datetime | None = None
    ignored_code: str | None = None
    error_code: str | None = None
    message: str = ""


def _result(status, program: Program, att: Attribution, session: Session, ignored: str | None = None) -> AttributionResult:
    referrer = session.get(Affiliate, att.referrer_id) if att.referrer_id else None
    return AttributionResult(
        status=status, program=program.slug, wallet=att.wallet, referrer_affiliate_id=att.referrer_id,
        referrer_wallet=referrer.wallet if referrer else None, referrer_code=att.code, source=att.source,
        locked_at=att.created_at, ignored_code=ignored,
        message="a later referral code was ignored: the referrer was fixed at first registration" if ignored else "",
    )


def attribution_of(session: Session, program_id: int, wallet: str) -> Attribution | None:
    return session.exec(select(Attribution).where(Attribution.program_id == program_id, Attribution.wallet == wallet)).first()


def referrer_for(session: Session, program: Program, wallet: str, code: str) -> Affiliate:
    """The affiliate a (normalised) referral code names for `wallet`, or an AffiliateError saying why
    it cannot refer it: unknown code, self-referral, suspended referrer."""
    referrer = by_code(session, program.id, code)
    if referrer is None:
        raise AffiliateError("unknown_referral_code", f"no affiliate with code {code} in {program.slug}", 422)
    if referrer.wallet == wallet:
        raise AffiliateError("self_referral", "a wallet cannot refer itself", 422)
    if referrer.status != AffiliateStatus.ACTIVE.value:
        raise AffiliateError("referrer_suspended", "the referring affiliate is suspended", 422)
    return referrer


def attribute(session: Session, program_slug: str, wallet: str, code: str | None, source: str = "") -> AttributionResult:
    """Lock the wallet's referrer at its first registration in the program (see the module doc)."""
    refused = lambda err: AttributionResult(  # noqa: E731
        status="refused", program=program_slug, wallet=str(wallet), error_code=err.code, message=str(err)
    )
    try:
        program = program_by_slug(session, program_slug)
        wallet = normalize_wallet(wallet)
        code = normalize_code(code) if code else None
    except AffiliateError as err:
        return refused(err)
    source = (source or "")[:64]
    existing = attribution_of(session, program.id, wallet)
    if existing is not None:
        ignored = code if code and code != existing.code else None
        return _result("existing", program, existing, session, ignored)
    try:
        referrer = referrer_for(session, program, wallet, code) if code else None
    except AffiliateError as err:
        return refused(err)
    att = Attribution(program_id=program.id, wallet=wallet, referrer_id=referrer.id if referrer else None, code=code, source=source)
    try:
        with session.begin_nested():
            session.add(att)
            session.flush()
    except IntegrityError:
        # A concurrent first registration won the lock: report what it locked.
        session.expunge(att) if att in session else None
        existing = attribution_of(session, program.id, wallet)
        if existing is None:  # pragma: no cover
            raise
        ignored = code if code and code != existing.code else None
        return _result("existing", program, existing, session, ignored)
    return _result("new", program, att, session)


# --- reads --------------------------------------------------------------------------------------


class AffiliateView(BaseModel):
    id: int
    program: str
    wallet: str
    code: str
    parent_code: str | None
    depth: int
    status: AffiliateStatus
    created_at: datetime


def affiliate_view(session: Session, affiliate: Affiliate, program_slug: str | None = None) -> AffiliateView:
    parent = session.get(Affiliate, affiliate.parent_id) if affiliate.parent_id else None
    if program_slug is None:
        program_slug = session.get(Program, affiliate.program_id).slug
    return AffiliateView(
        id=affiliate.id, program=program_slug, wallet=affiliate.wallet, code=affiliate.code,
        parent_code=parent.code if parent else None, depth=affiliate.depth, status=AffiliateStatus(affiliate.status),
        created_at=affiliate.created_at,
    )


class TreeNode(BaseModel):
    code: str
    depth: int
    status: AffiliateStatus
    joined_at: datetime
    wallet: str | None = None  # only in operator views
    children: list[TreeNode] = []


class Tree(BaseModel):
    root: TreeNode
    nodes: int
    truncated: bool  # the depth or node bound cut the tree


def tree(session: Session, root: Affiliate, *, depth: int = 2, limit: int = 100, with_wallets: bool = False) -> Tree:
    """The downline of `root`, breadth first, at most `depth` levels below it and `limit` nodes."""
    depth = max(0, min(depth, MAX_TREE_DEPTH))
    limit = max(1, min(limit, MAX_TREE_NODES))

    def node(a: Affiliate) -> TreeNode:
        return TreeNode(
            code=a.code, depth=a.depth, status=AffiliateStatus(a.status), joined_at=a.created_at,
            wallet=a.wallet if with_wallets else None,
        )

    top = node(root)
    frontier = [(root.id, top)]
    count, truncated = 1, False
    for _level in range(depth):
        if not frontier:
            break
        by_id = dict(frontier)
        children = session.exec(
            select(Affiliate).where(Affiliate.parent_id.in_(list(by_id))).order_by(Affiliate.id).limit(limit - count + 1)
        ).all()
        next_frontier = []
        for child in children:
            if count >= limit:
                truncated = True
                break
            child_node = node(child)
            by_id[child.parent_id].children.append(child_node)
            next_frontier.append((child.id, child_node))
            count += 1
        frontier = next_frontier
    else:
        if frontier and session.exec(
            select(func.count()).select_from(Affiliate).where(Affiliate.parent_id.in_([i for i, _ in frontier]))
        ).one():
            truncated = True
    return Tree(root=top, nodes=count, truncated=truncated)
