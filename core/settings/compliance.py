"""Settings of the compliance hooks: where the client's country comes from."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ComplianceFields(BaseModel):
    """Jurisdictions (client country)."""

    country_header: str = Field(
        "",
        description="Request header carrying the client's ISO country code set by the CDN/proxy in front "
        "(e.g. CF-IPCountry); honoured only when the peer is in SGE_TRUSTED_PROXIES. Empty: not used.",
    )


class RetentionFields(BaseModel):
    """The retention table: every cut-off for personal data in one place (ops/privacy.md says why).

    Enforced by the housekeeping Schedule (IP addresses, nonces, idempotency records); Temporal's
    closed-workflow retention is a namespace setting applied by `sge privacy retention --apply`."""

    retention_ip_address_days: int = Field(
        30, ge=1, le=3650, description="Client IP addresses kept with registration messages are blanked after this."
    )
    retention_archive_days: int = Field(
        180, ge=1, le=3650, description="Age at which backups and archives holding personal data are deleted."
    )
    retention_temporal_closed_days: int = Field(
        30, ge=1, le=3650, description="Temporal namespace retention of closed workflows (histories, ids, attributes)."
    )


def retention_table(settings) -> list[tuple[str, str, str]]:
    """(what, how long, setting) for every cut-off, for `sge privacy retention` and the docs."""
    nonce_hours = settings.auth_nonce_retention_seconds / 3600
    temporal_days = settings.retention_temporal_closed_days
    return [
        ("client IP addresses", f"{settings.retention_ip_address_days} d", "SGE_RETENTION_IP_ADDRESS_DAYS"),
        ("idempotency records", "24 h (fixed: models/idempotency.py RECORD_TTL)", "-"),
        ("registration messages / nonces", f"{nonce_hours:g} h after expiry", "SGE_AUTH_NONCE_RETENTION_SECONDS"),
        ("backups and archives", f"{settings.retention_archive_days} d", "SGE_RETENTION_ARCHIVE_DAYS"),
        ("Temporal closed workflows", f"{temporal_days} d", "SGE_RETENTION_TEMPORAL_CLOSED_DAYS"),
    ]
