"""The client's country, and the refusal of registrations and payments from a program's blocked countries.

The country comes from the header named by `SGE_COUNTRY_HEADER` (set by the CDN or proxy in front), and
only when the socket peer is one of `SGE_TRUSTED_PROXIES`: from anyone else the header is the client's
own claim and ignored. Refusals happen before any chain or payment work and are counted.
"""

from __future__ import annotations

from fastapi import Request
from prometheus_client import Counter

from api.ratelimit import RateLimiter
from core.settings import Settings
from models.jurisdictions import JurisdictionBlocked, check_jurisdiction
from models.platform import Program

JURISDICTION_BLOCKED = Counter(
    "sge_jurisdiction_blocked_total",
    "Registrations and payments refused because of the client's country",
    ["program", "action"],
)
# Values CDNs use for "no country" (unknown, Tor): treated as unknown, not as a country.
_UNKNOWN = frozenset({"", "XX", "T1", "ZZ"})


def client_country(request: Request, settings: Settings, limiter: RateLimiter) -> str | None:
    """ISO alpha-2 code of the client's country, or None when unknown or not from a trusted source."""
    if not settings.country_header or not limiter.peer_is_trusted(request):
        return None
    value = request.headers.get(settings.country_header, "").strip().upper()
    return None if value in _UNKNOWN or len(value) != 2 or not value.isalpha() else value


def enforce_jurisdiction(
    request: Request, settings: Settings, limiter: RateLimiter, program: Program, action: str
) -> None:
    """403 `jurisdiction_blocked` (counted under `action`) when the client's country may not act here."""
    try:
        check_jurisdiction(program, client_country(request, settings, limiter))
    except JurisdictionBlocked:
        JURISDICTION_BLOCKED.labels(program.slug, action).inc()
        raise
