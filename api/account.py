"""What a signed-in wallet sees of itself: `GET /v1/me?program=` (needs the wallet session).

The app's done view and a reopened tab use it: the session's wallet, its SGE-ID token id (from the
flow's row), its SGE balance as the chain shows it now (a read-only `eth_call` on the configured RPC, the
token's address from the deployment manifest), and its affiliate code when the wallet is an affiliate of
the program (for the *share your referral link* box). A chain that does not answer leaves the balance
`null` with `balance_error` set; the rest still answers.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlmodel import Session, select

from api.deps import EngineDep, SettingsDep
from api.errors import ApiError
from api.health import _rpc
from api.wallet import WalletSession
from contracts.abi import encode_call
from contracts.manifest import ManifestError, load_manifest
from core.settings import Settings
from models import affiliates as aff
from models.onboarding import FlowState, Onboarding
from models.platform import Program

router = APIRouter(prefix="/v1", tags=["public"])


class MeView(BaseModel):
    wallet: str
    program: str
    registered: bool
    state: FlowState | None = None
    token_id: int | None = None
    sge_balance_minor: int | None = None
    balance_error: str | None = None
    affiliate_code: str | None = None


async def sge_balance(settings: Settings, http: httpx.AsyncClient, wallet: str) -> int:
    """balanceOf(wallet) on the SGE token, from the first configured RPC that answers."""
    try:
        manifest = await run_in_threadpool(load_manifest, settings.deployments_dir, settings.chain_id)
    except ManifestError as exc:
        raise RuntimeError("no deployment manifest") from exc
    call = {"to": manifest.address("SGEToken"), "data": "0x" + encode_call("SGEToken", "balanceOf", wallet).hex()}
    errors = []
    for url in settings.eth_rpc_urls:
        try:
            return int(await _rpc(http, url, "eth_call", [call, "latest"]), 16)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            errors.append(type(exc).__name__)
    raise RuntimeError("the chain did not answer: " + ", ".join(errors))


@router.get("/me", response_model=MeView, summary="The signed-in wallet: SGE-ID, SGE balance on chain, affiliate code")
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
