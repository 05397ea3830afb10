import uuid

import pytest
from starlette.requests import Request

from api.errors import ApiError
from api.ratelimit import RateLimiter
from core.settings import Settings
from tests.helpers.database import REDIS_URL


def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "client": (peer, 1234)})


def test_forwarded_for_is_trusted_only_from_configured_proxies():
    limiter = RateLimiter(Settings(_env_file=None, trusted_proxies="10.0.0.0/8"))
    # untrusted peer: its header is ignored
    assert limiter.client_ip(_request("203.0.113.9", "1.2.3.4")) == "203.0.113.9"
    # trusted proxy: the right-most hop that is not a proxy; spoofed left-most hops are ignored
    assert limiter.client_ip(_request("10.0.0.5", "6.6.6.6, 198.51.100.7, 10.0.0.9")) == "198.51.100.7"
    assert limiter.client_ip(_request("10.0.0.5")) == "10.0.0.5"


async def test_ipv6_clients_are_counted_per_64():
    limiter = RateLimiter(Settings(_env_file=None))
    assert limiter.client_network(_request("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::/64"
    assert limiter.client_network(_request("2001:db8:1:2:ffff:ffff:ffff:ffff")) == "2001:db8:1:2::/64"
    assert limiter.client_network(_request("::ffff:198.51.100.7")) == "198.51.100.7"
    assert limiter.client_network(_request("198.51.100.7")) == "198.51.100.7"
    for n in range(5):  # five addresses of one /64: one budget
        await limiter.hit_ip("register_ip", _request(f"2001:db8:9:9::{n + 1}"))
    with pytest.raises(ApiError):
        await limiter.hit_ip("register_ip", _request("2001:db8:9:9::ffff"))
    await limiter.hit_ip("register_ip", _request("2001:db8:9:a::1"))  # the next /64 is another client


async def test_limits_and_retry_after():
    limiter = RateLimiter(Settings(_env_file=None))
    ip = f"ip-{uuid.uuid4()}"
    for _ in range(5):
        await limiter.hit("register_ip", ip)
    with pytest.raises(ApiError) as err:
        await limiter.hit("register_ip", ip)
    assert err.value.status == 429 and err.value.code == "rate_limited"
    assert 3500 < int(err.value.headers["Retry-After"]) <= 3600


async def test_wallet_budget_ignores_casing():
    limiter = RateLimiter(Settings(_env_file=None))
    wallet = "0x" + uuid.uuid4().hex + "ABCDEF01"
    for i in range(60):
        await limiter.hit_wallet("claims_wallet", wallet.lower() if i % 2 else wallet.upper().replace("0X", "0x"))
    with pytest.raises(ApiError):
        await limiter.hit_wallet("claims_wallet", wallet)


# Shared limits need a Redis server, which a fresh machine may not have; CI always runs this test.
@pytest.mark.redis
async def test_redis_shares_the_budget_between_api_processes():
    """Two limiters on one Redis behave like two API processes: one budget."""
    settings = Settings(_env_file=None, redis_url=REDIS_URL)
    first, second = RateLimiter(settings), RateLimiter(settings)
    ip = f"ip-{uuid.uuid4()}"
    for limiter in (first, second, first, second, first):
        await limiter.hit("register_ip", ip)
    with pytest.raises(ApiError):
        await second.hit("register_ip", ip)
