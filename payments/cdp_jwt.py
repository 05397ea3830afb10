"""The CDP API-key JWT that authenticates Coinbase Business API requests (and that the sandbox checks).

Header `{alg: ES256 | EdDSA, kid: <key id>, typ: JWT, nonce}`, claims `{sub: <key id>, iss: "cdp", nbf,
iat, exp: nbf + 120, uris: ["<METHOD> <host><path>"]}`; EC keys are PEM, Ed25519 keys base64 of 64 bytes
(seed + public) (CDP SDK auth docs, coinbase/cdp-sdk `python/cdp/auth/utils/jwt.py`).

Pure, no I/O. Layering: nothing of ours.
"""

from __future__ import annotations

import base64
import secrets
import time
from urllib.parse import urlsplit

CDP_JWT_TTL_SECONDS = 120


def load_cdp_private_key(secret: str):
    """A CDP API key secret: an EC private key in PEM, or base64 of a 64-byte Ed25519 key (seed + public)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    text = secret.strip().replace("\\n", "\n")  # keys pasted into env vars often carry literal \n
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            return key
        raise ValueError("PEM key is neither EC nor Ed25519")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError("API key secret is neither PEM nor base64") from None
    if len(raw) != 64:
        raise ValueError("base64 Ed25519 key secret must decode to 64 bytes")
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])


def jwt_algorithm(key) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    return "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "EdDSA"


def request_uri(method: str, url: str) -> str:
    """`POST business.coinbase.com/api/v1/payment-links`: the form the JWT `uris` claim carries."""
    parts = urlsplit(url)
    return f"{method.upper()} {parts.netloc}{parts.path}"


def cdp_jwt(
    key_id: str, key_secret: str, method: str, url: str, *, now: int | None = None, ttl: int = CDP_JWT_TTL_SECONDS
) -> str:
    """A short-lived bearer JWT for one request, signed by the CDP API key."""
    import jwt

    key = load_cdp_private_key(key_secret)
    issued = int(time.time()) if now is None else now
    claims = {
        "sub": key_id,
        "iss": "cdp",
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl,
        "uris": [request_uri(method, url)],
    }
    headers = {"kid": key_id, "typ": "JWT", "nonce": secrets.token_hex(16)}
    return jwt.encode(claims, key, algorithm=jwt_algorithm(key), headers=headers)
