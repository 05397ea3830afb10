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
