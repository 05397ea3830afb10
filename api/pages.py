"""Operator pages in a browser, on the operator port (server-rendered, Jinja2, no JavaScript).

    GET  /ops/login    the sign-in form (an API key); sets the login form's CSRF cookie
    POST /ops/login    API key → a signed session cookie (api/sessions.py), then to /ops/
    POST /ops/logout   ends the session (the cookie is dropped)
    GET  /ops/         who you are, your roles, the operator pages

The session cookie is HttpOnly, SameSite=Strict, Path=/ops, Secure in production, and lives
SGE_OPERATOR_SESSION_MINUTES. Every form carries a CSRF token in a hidden field, checked on POST (a
missing or wrong one is 403). Later pages (payouts, reports) guard themselves with `PageViewer` /
`require_page_role(..., form=True)` from api/deps.py and add themselves to NAV.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from api.deps import OPERATOR_PAGES, EngineDep, LoginRequired, PageForm, PageViewer, SignerDep, auth_failed
from api.errors import ApiError, domain_error_response
from api.sessions import COOKIE_PATH, LOGIN_CSRF_COOKIE, LOGIN_CSRF_SECONDS, SESSION_COOKIE, same_token
from core.logs import get_logger
from core.redact import redact
from models.operators import authenticate, hash_key

log = get_logger(__name__)

router = APIRouter(prefix="/ops", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

# The operator pages; later issues add theirs here (each guarded by the page guard).
NAV: list[dict[str, str]] = [
    {"title": "Payouts", "href": "/ops/payouts", "about": "batches to approve or reject"},
    {"title": "Reports", "href": "/ops/reports", "about": "daily and weekly operator reports"},
]

_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _secure(request: Request) -> bool:
    return request.app.state.settings.environment == "production"


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, {"nav": NAV, "operator": None, **context}, status_code=status)
    response.headers.update(_PAGE_HEADERS)
    return response


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def _login_page(request: Request, error: str | None = None, status: int = 200) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    minutes = request.app.state.settings.operator_session_minutes
    response = _render(
        request, "login.html", {"csrf_token": token, "error": error, "lifetime_minutes": minutes}, status
    )
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, LOGIN_CSRF_SECONDS)
    return response


@router.get("/login")
async def login_form(request: Request) -> HTMLResponse:
    return _login_page(request)


@router.post("/login")
def login(
    request: Request,
    engine: EngineDep,
    signer: SignerDep,
    api_key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not same_token(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE)):
        auth_failed(request, OPERATOR_PAGES, "csrf", key=api_key)
        raise ApiError(403, "csrf_failed", "the sign-in form expired or came from elsewhere; reload the page")
    with Session(engine) as session:
        actor = authenticate(session, api_key) if api_key else None
    if actor is None or actor.operator_id is None:
        auth_failed(request, OPERATOR_PAGES, "invalid_api_key" if api_key else "missing_api_key", key=api_key)
        return _login_page(request, "Unknown or disabled API key.", 401)
    response = RedirectResponse("/ops/", status_code=303)
    token = signer.issue(actor.operator_id, hash_key(api_key))
    _set_cookie(request, response, SESSION_COOKIE, token, signer.lifetime_seconds)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)
    log.info("operator_signed_in", operator=actor.name, request_id=getattr(request.state, "request_id", ""))
    return response


@router.post("/logout")
def logout(request: Request, page: PageForm) -> Response:
    response = RedirectResponse("/ops/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    log.info("operator_signed_out", operator=page.actor.name)
    return response


@router.get("/")
def home(request: Request, page: PageViewer) -> HTMLResponse:
    expires = datetime.fromtimestamp(page.expires_at, UTC).strftime("%Y-%m-%d %H:%M") if page.expires_at else "—"
    return _render(request, "home.html", {"operator": page.actor, "csrf_token": page.csrf_token, "expires_at": expires})


def install_page_handlers(app: FastAPI) -> None:
    """On /ops pages: no session → the sign-in page; other refusals → an HTML error page."""

    @app.exception_handler(LoginRequired)
    async def _login_required(_request: Request, _exc: LoginRequired) -> Response:
        response = RedirectResponse("/ops/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return response

    @app.exception_handler(ApiError)
    async def _page_error(request: Request, exc: ApiError) -> Response:
        if not request.url.path.startswith(f"{COOKIE_PATH}/"):
            return domain_error_response(exc)
        return _render(request, "error.html", {"status": exc.status, "message": redact(exc.message)}, exc.status)
