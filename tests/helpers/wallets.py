"""Wallet-signed registration from a test: ask for the message, sign it with the user's key, send it;
and wallet sessions minted directly (for endpoints tested apart from registration)."""

from __future__ import annotations

import time

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from core.settings import Settings
from models import sessions


def sign(account: LocalAccount, message: str) -> str:
    return "0x" + account.sign_message(encode_defunct(text=message)).signature.hex().removeprefix("0x")


async def nonce(
    client: httpx.AsyncClient, program: str, wallet: str, code: str | None = None, **headers: str
) -> httpx.Response:
    body: dict = {"program": program, "wallet": wallet}
    if code is not None:
        body["referral_code"] = code
    return await client.post("/v1/auth/nonce", json=body, headers=headers)


async def signed_register(
    client: httpx.AsyncClient, program: str, account: LocalAccount | None = None, code: str | None = None
) -> tuple[httpx.Response, LocalAccount]:
    """Nonce → signature → POST /v1/register; the nonce request must succeed."""
    account = account or Account.create()
    issued = await nonce(client, program, account.address, code)
    assert issued.status_code == 201, issued.text
    message = issued.json()["message"]
    resp = await client.post("/v1/register", json={"message": message, "signature": sign(account, message)})
    return resp, account


def session_header(settings: Settings, wallet: str, ttl: int = 600) -> dict[str, str]:
    """`Authorization: Wallet <token>` for `wallet`, as a registration would have granted it."""
    assert settings.session_secret is not None
    key = settings.session_secret.get_secret_value().encode()
    return {"Authorization": f"Wallet {sessions.sign(key, wallet, int(time.time()) + ttl)}"}
