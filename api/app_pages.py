"""The user's app on the public port: one server-rendered page per program and one small script.

    GET /app/{program}          the landing page: what the person gets, the fee, the program's terms and
                                the risk disclosure, then Connect wallet → sign → status → pay → done
    GET /app/static/{name}      the page's own script (app.js, its words in app-text.js) and stylesheet

The page talks to the public API of the same origin only (`/v1/auth/nonce`, `/v1/register`, `/v1/status`,
`/v1/payments`, `/v1/claims/*`, `/v1/me`) and to the wallet the browser injects (`window.ethereum`).
No inline script, no third-party origin: its Content-Security-Policy allows scripts and styles from
itself. The program's settings reach the script as a JSON data block, which the browser never runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import Session, select

from api.deps import EngineDep, SettingsDep
from api.errors import ApiError
from models.documents import DocumentKind
from models.money import format_amount
from models.platform import Program
from models.terms import document_for, fee_text, terms_for

router = APIRouter(prefix="/app", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates" / "app")
STATIC = Path(__file__).parent / "static"
JS, CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
ASSETS = {"app.js": JS, "app-text.js": JS, "app.css": CSS}  # the page's behaviour, its words, its style
SGE_DECIMALS = 18

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The referral code travels in the URL: it is not handed to the checkout or an explorer.
    "Referrer-Policy": "no-referrer",
}


def sge_text(minor: int) -> str:
    """1000 SGE, or 12.5 SGE: exact, without trailing zeros."""
    whole, _, frac = format_amount(int(minor), SGE_DECIMALS).partition(".")
    frac = frac.rstrip("0")
    return f"{whole}.{frac}" if frac else whole


def chain_label(chain_id: int) -> str:
    return {1: "Ethereum", 11155111: "Sepolia", 31337: "local chain (anvil)"}.get(chain_id, f"chain {chain_id}")


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(PAGE_HEADERS)
    return response


@router.get("/static/{name}")
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise ApiError(404, "not_found", "no such file")
    return FileResponse(
        STATIC / name,
        media_type=ASSETS[name],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/{program}", response_class=HTMLResponse)
def landing(request: Request, program: str, engine: EngineDep, settings: SettingsDep) -> HTMLResponse:
    with Session(engine) as session:
        row = session.exec(select(Program).where(Program.slug == program)).first()
        if row is None:
            return _render(request, "not_found.html", {"program": program}, 404)
        terms = terms_for(row, session)
        risk = document_for(row, DocumentKind.RISK, session)
        privacy = document_for(row, DocumentKind.PRIVACY, session)
    config = {
        "program": row.slug,
        "programName": row.name,
        "open": row.active,
        "chainId": hex(settings.chain_id),
        "chainName": chain_label(settings.chain_id),
        "explorerUrl": settings.explorer_url.rstrip("/"),
        "fee": fee_text(row),
        "termsVersion": terms.version,
    }
    return _render(
        request,
        "landing.html",
        {
            "program": row,
            "fee": fee_text(row),
            "claim_sge": sge_text(row.claim_amount_minor),
            "terms": terms,
            "risk": risk,
            "privacy": privacy,
            "chain": chain_label(settings.chain_id),
            "config": config,
        },
    )
