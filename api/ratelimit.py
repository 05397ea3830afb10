"""Rate limits per client IP and per wallet, shared across API processes through Redis when configured.

Built on the `limits` library (moving window). The client IP is the socket peer unless that peer is a
configured trusted proxy; then the right-most X-Forwarded-For hop that is not itself a trusted proxy
is used (the left-most hops are client-controlled and never trusted). An IPv6 client is counted by
its /64 (one subscriber usually holds a whole /64, so each of its addresses is not a new budget).

Handlers validate a request (its body, and for registration its signature) before they count it:
junk never spends anyone's budget, so it cannot lock a chosen wallet out.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from prometheus_client import Counter

from api.errors import ApiError
from core.settings import Settings

RATE_LIMITED = Counter("sge_rate_limited_total", "Requests refused by a rate limit", ["rule"])


@dataclass(frozen=True)
class Rule:
    name: str
    limit: RateLimitItem
    per: str  # "ip" or "wallet"


def rules_from(settings: Settings) -> dict[str, Rule]:
    return {
        "register_ip": Rule("register_ip", parse(settings.rate_limit_register_ip), "ip"),
        "register_wallet": Rule("register_wallet", parse(settings.rate_limit_register_wallet), "wallet"),
        "claims_wallet": Rule("claims_wallet", parse(settings.rate_limit_claims_wallet), "wallet"),
        "nonce_ip": Rule("nonce_ip", parse(settings.rate_limit_nonce_ip), "ip"),
        "nonce_wallet": Rule("nonce_wallet", parse(settings.rate_limit_nonce_wallet), "wallet"),
        "payments_ip": Rule("payments_ip", parse(settings.rate_limit_payments_ip), "ip"),
        "payments_wallet": Rule("payments_wallet", parse(settings.rate_limit_payments_wallet), "wallet"),
        "status_ip": Rule("status_ip", parse(settings.rate_limit_status_ip), "ip"),
    }


def network_of(address: str) -> str:
    """The rate-limit identity of a client address: an IPv4 address as is, an IPv6 address as its /64
    (an IPv4-mapped IPv6 address as the IPv4 address). Anything unparsable is used verbatim."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class RateLimiter:
    def __init__(self, settings: Settings, storage: Storage | None = None):
        if storage is None:
            storage = (
                RedisStorage(f"async+{settings.redis_url}", implementation="redispy")
                if settings.redis_url
                else MemoryStorage()
            )
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        self.rules = rules_from(settings)

    def client_ip(self, request: Request) -> str:
        peer = request.client.host if request.client else "unknown"
        if not self._is_trusted(peer):
            return peer
        forwarded = request.headers.get("x-forwarded-for", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop
        return peer

    def peer_is_trusted(self, request: Request) -> bool:
        """Whether the socket peer is a configured trusted proxy (its headers may be believed)."""
        return self._is_trusted(request.client.host if request.client else "unknown")

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    async def hit(self, rule_name: str, identity: str) -> None:
        """Count one request against `rule_name` for `identity`; 429 with Retry-After when over."""
        rule = self.rules[rule_name]
        if await self.strategy.hit(rule.limit, rule.name, identity):
            return
        RATE_LIMITED.labels(rule.name).inc()
        stats = await self.strategy.get_window_stats(rule.limit, rule.name, identity)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests ({rule.limit} per {rule.per}); retry in {retry_after}s",
            headers={"Retry-After": str(retry_after)},
        )

    def client_network(self, request: Request) -> str:
        """The client's rate-limit identity: its IP, or its /64 for IPv6."""
        return network_of(self.client_ip(request))

    async def hit_ip(self, rule_name: str, request: Request) -> None:
        await self.hit(rule_name, self.client_network(request))

    async def hit_wallet(self, rule_name: str, wallet: str) -> None:
        await self.hit(rule_name, wallet.lower())  # normalised: one budget whatever the casing
