"""Approvers' own Ethereum addresses: registered to an operator with the `approver` role (audited).

The eligible set of a batch is these addresses (active, their operator active and still an approver)
intersected with the payout contract's approver set, read when the batch is created."""

from __future__ import annotations

from eth_utils import is_address, to_checksum_address
from pydantic import BaseModel
from sqlmodel import Session, col, select

from core.db import row_id
from models.operators import Actor, Operator, Role, audit
from models.payouts.records import ApproverAddress, PayoutError


class ApproverAddressView(BaseModel):
    operator_id: int
    operator: str
    address: str
    active: bool


def _operator(session: Session, ident: int | str) -> Operator:
    if isinstance(ident, int) or str(ident).isdigit():
        op = session.get(Operator, int(ident))
    else:
        op = session.exec(select(Operator).where(Operator.name == ident)).first()
    if op is None:
        raise PayoutError(f"no operator {ident!r}", code="operator_not_found", status=404)
    return op


def register_address(session: Session, actor: Actor, operator: int | str, address: str) -> ApproverAddressView:
    """Register `address` as `operator`'s signing key (they must hold the approver role)."""
    if not is_address(address):
        raise PayoutError(f"{address!r} is not an Ethereum address", code="invalid_address")
    address = to_checksum_address(address)
    op = _operator(session, operator)
    if Role.APPROVER.value not in op.roles:
        raise PayoutError(f"operator {op.name!r} is not an approver", code="not_an_approver", status=409)
    row = session.exec(select(ApproverAddress).where(ApproverAddress.address == address)).first()
    if row is not None and row.operator_id != op.id:
        raise PayoutError(f"{address} belongs to another operator", code="address_taken", status=409)
    if row is None:
        row = ApproverAddress(operator_id=row_id(op), address=address)
    row.active = True
    session.add(row)
    session.flush()
    audit(session, actor, "approver.address.add", "operator", row_id(op), None, {"address": address})
    return ApproverAddressView(operator_id=row_id(op), operator=op.name, address=address, active=True)


def deactivate_address(session: Session, actor: Actor, address: str) -> None:
    row = session.exec(select(ApproverAddress).where(ApproverAddress.address == to_checksum_address(address))).first()
    if row is None:
        raise PayoutError(f"{address} is not registered", code="address_not_found", status=404)
    row.active = False
    session.add(row)
    session.flush()
    audit(session, actor, "approver.address.remove", "operator", row.operator_id, {"address": row.address}, None)


def approver_addresses(session: Session) -> list[ApproverAddressView]:
    rows = session.exec(
        select(ApproverAddress, Operator)
        .join(Operator, col(Operator.id) == col(ApproverAddress.operator_id))
        .order_by(col(ApproverAddress.id))
    ).all()
    return [
        ApproverAddressView(
            operator_id=op.id or 0,
            operator=op.name,
            address=a.address,
            active=a.active and op.active and Role.APPROVER.value in op.roles,
        )
        for a, op in rows
    ]


def eligible_addresses(session: Session) -> set[str]:
    """Addresses whose operator may approve today (the contract's set is intersected by the caller)."""
    return {v.address for v in approver_addresses(session) if v.active}


def operator_addresses(session: Session, operator_id: int | None) -> set[str]:
    """Every address ever registered to `operator_id` (a creator is excluded under all of them)."""
    if operator_id is None:
        return set()
    rows = session.exec(select(ApproverAddress.address).where(ApproverAddress.operator_id == operator_id)).all()
    return set(rows)


def operator_of(session: Session, address: str) -> str:
    """The operator name an address is registered to ("" if none): for the status shown to people."""
    row = session.exec(
        select(Operator.name)
        .join(ApproverAddress, col(Operator.id) == col(ApproverAddress.operator_id))
        .where(ApproverAddress.address == to_checksum_address(address))
    ).first()
    return row or ""
