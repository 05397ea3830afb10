"""Housekeeping: the records that public requests create are deleted once they are of no more use, so
they stay bounded (expired idempotency records, old registration messages, old affiliate nonces).

Run hourly by the `sge-housekeeping` Temporal Schedule (workflows/housekeeping.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import col

from core.columns import utcnow
from core.db import session_scope
from models import auth_nonces, idempotency
from models.affiliates import AffiliateNonce

PRUNE = "platform.housekeeping"


class PruneCounts(BaseModel):
    idempotency_records: int = 0
    auth_nonces: int = 0
    affiliate_nonces: int = 0
    ip_addresses: int = 0  # registration messages whose client IP was blanked (retention table)


def prune_affiliate_nonces(session, retention: timedelta, now: datetime | None = None) -> int:
    """Affiliate nonces used or expired more than `retention` ago."""
    cutoff = (now or utcnow()) - retention
    result = session.connection().execute(
        delete(AffiliateNonce).where(or_(col(AffiliateNonce.expires_at) < cutoff, col(AffiliateNonce.used_at) < cutoff))
    )
    return int(result.rowcount or 0)


def blank_old_ips(session, retention: timedelta, now: datetime | None = None) -> int:
    """Client IPs of registration messages issued more than `retention` ago are blanked (the message,
    kept for a registration's retries and as evidence, no longer says where it came from)."""
    cutoff = (now or utcnow()) - retention
    result = session.connection().execute(
        update(auth_nonces.AuthNonce)
        .where(col(auth_nonces.AuthNonce.issued_at) < cutoff, col(auth_nonces.AuthNonce.client_ip) != "")
        .values(client_ip="")
    )
    return int(result.rowcount or 0)


def prune(
    engine: Engine, nonce_retention: timedelta, now: datetime | None = None, ip_retention: timedelta | None = None
) -> PruneCounts:
    """Each kind in its own short transaction (a failure leaves the others done). Nonces go
    `nonce_retention` after they expired or were used; idempotency records when they expire."""
    now = now or utcnow()
    retention = nonce_retention
    counts = PruneCounts(idempotency_records=idempotency.prune_expired(engine, now))
    with session_scope(engine) as session:
        counts.auth_nonces = auth_nonces.prune(session, retention, now)
    with session_scope(engine) as session:
        counts.affiliate_nonces = prune_affiliate_nonces(session, retention, now)
    if ip_retention is not None:
        with session_scope(engine) as session:
            counts.ip_addresses = blank_old_ips(session, ip_retention, now)
    return counts
