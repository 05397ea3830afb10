"""What a signed-in wallet sees of itself: `GET /v1/me?program=` (needs the wallet session).

The app's done view and a reopened tab use it: the session's wallet, its SGE-ID token id (from the
flow's row), its SGE balance as the chain shows it now (a read-only `eth_call` on the configured RPC, the
token's address from the deployment manifest), and its affiliate code when the wallet is an affiliate of
the program (for the *share your referral link* box). A chain that does not answer leaves the balance
`null` with `balance_error` set; the rest still answers.

The API sits above `models/` but beside `contracts/` (tests/foundation/test_layout.py): it reads the one
address it needs from the manifest file (`<home>/deployments/<chain_id>.json`, written by
contracts/manifest.py) and encodes the one call by hand (ERC-20 `balanceOf(address)`).
"""

from __future__ import annotations

import json

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlmodel import Session, select

from api.deps import EngineDep, SettingsDep
from api.errors import ApiError, responses
from api.health import _rpc
from api.wallet import WalletSession
from core.settings import Settings
from models import affiliates as aff
from models.onboarding import FlowState, Onboarding
from models.platform import Program

router = APIRouter(prefix="/v1", tags=["public"])

BALANCE_OF = "0x70a08231"  # keccak256("balanceOf(address)")[:4]


class MeView(BaseModel):
    wallet: str
    program: str
    registered: bool
    state: FlowState | None = None
    token_id: int | None = None
    sge_balance_minor: int | None = None
    balance_error: str | None = None
    affiliate_code: str | None = None


def sge_token_address(settings: Settings) -> str:
    manifest = json.loads((settings.deployments_dir / f"{settings.chain_id}.json").read_text())
    if manifest.get("chain_id") != settings.chain_id:
        raise ValueError("the manifest is for another chain")
    return str(manifest["contracts"]["SGEToken"]["address"])


async def sge_balance(settings: Settings, http: httpx.AsyncClient, wallet: str) -> int:
    """balanceOf(wallet) on the SGE token, from the first configured RPC that answers."""
    try:
        address = await run_in_threadpool(sge_token_address, settings)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RuntimeError("no deployment manifest with the SGE token") from exc
    call = {"to": address, "data": BALANCE_OF + wallet.lower().removeprefix("0x").rjust(64, "0")}
    errors = []
    for url in settings.eth_rpc_urls:
        try:
            return int(await _rpc(http, url, "eth_call", [call, "latest"]), 16)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            errors.append(type(exc).__name__)
    raise RuntimeError("the chain did not answer: " + ", ".join(errors))


@router.get(
    "/me",
    response_model=MeView,
    responses=responses(401, 404, 422, 503),
    summary="The signed-in wallet: SGE-ID, SGE balance on chain, affiliate code",
)
async def me(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    signed: WalletSession,
    program: str = Query(max_length=64),
) -> MeView:
    wallet = aff.normalize_wallet(signed.wallet)

    def read() -> MeView:
        with Session(engine) as session:
            prog = session.exec(select(Program).where(Program.slug == program)).first()
            if prog is None:
                raise ApiError(404, "unknown_program", f"no program {program!r}")
            row = session.exec(
                select(Onboarding).where(Onboarding.program_id == prog.id, Onboarding.wallet == wallet)
            ).first()
            affiliate = aff.by_wallet(session, prog.id or 0, wallet)
            active = affiliate is not None and affiliate.status == aff.AffiliateStatus.ACTIVE
            return MeView(
                wallet=wallet,
                program=prog.slug,
                registered=row is not None,
                state=row.state if row else None,
                token_id=row.token_id if row else None,
                affiliate_code=affiliate.code if affiliate is not None and active else None,
            )

    view = await run_in_threadpool(read)
    if view.registered:
        try:
            view.sge_balance_minor = await sge_balance(settings, request.app.state.http, wallet)
        except RuntimeError as exc:
            view.balance_error = str(exc)
    return view
