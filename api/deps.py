"""Typed FastAPI dependencies: what a handler needs, named by what it is.

Handlers declare `settings: SettingsDep`, `engine: EngineDep`, `temporal: TemporalDep`,
`limiter: LimiterDep`, or an operator of a role (`Viewer`, `Approver`, `Admin`) instead of reading
`request.app.state`. The state itself is set up once, in `api.app.create_app`'s lifespan.

Operator authentication: `Authorization: Bearer <key>` → an `Actor` with the role an endpoint needs.
The role guard runs before the request body is validated, so a request without a valid key, or with
a role that is not enough, is refused (401 / 403) before the handler — and so before anything is written.

Operator pages (`/ops/...`, api/pages.py) use `require_page_role`: the signed session cookie of a
browser login (api/sessions.py), or a bearer key; every POST of a cookie session also needs the form's
CSRF token. Every refusal of either guard is counted (`sge_auth_failures_total{surface,reason}`) and
logged at warning level with the route and the key's public hint (never the key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Form, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter
from pydantic import JsonValue
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from api.errors import ApiError
from api.ratelimit import RateLimiter
from api.sessions import SESSION_COOKIE, OperatorSession, SessionRefused, SessionSigner, same_token, signer_for
from core.logs import get_logger
from core.settings import Settings
from models.operators import KEY_PREFIX, READ_ROLES, Actor, Role, authenticate
from models.reports.counters import OPERATOR_AUTH, count_event_now

log = get_logger("api.auth")

AUTH_FAILURES = Counter(
    "sge_auth_failures_total",
    "Refused authentications and authorizations (401/403), by surface and reason",
    ["surface", "reason"],
)
OPERATOR_API = "operator_api"
OPERATOR_PAGES = "operator_pages"


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


def get_limiter(request: Request) -> RateLimiter:
    state = request.app.state
    if getattr(state, "limiter", None) is None:
        state.limiter = RateLimiter(state.settings)
    return state.limiter


# Integer ids and cursors are database row ids (INTEGER on PostgreSQL, the narrowest id column):
# anything outside 1..2**31-1 is a 422, never an overflow in the driver (a 500).
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A row id.")]
Cursor = Annotated[int, Query(ge=0, le=MAX_ROW_ID, description="Paging cursor: the last id seen.")]
OptionalCursor = Annotated[int | None, Query(ge=0, le=MAX_ROW_ID, description="Paging cursor: the last id seen.")]

# The format of a wallet address, stated in the schema; the server enforces it (and the EIP-55 checksum
# of a mixed-case one) in models.affiliates.normalize_wallet, answering 422 `invalid_wallet`.
WALLET_FORMAT: dict[str, JsonValue] = {"pattern": "^0x[0-9a-fA-F]{40}$"}

SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]

_bearer = HTTPBearer(auto_error=False, description="An operator API key (`sge operators create`).")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def key_hint(key: str | None) -> str:
    """The public part of a presented key (what `sge operators list` shows), never more."""
    if not key:
        return ""
    return key[: len(KEY_PREFIX) + 4] if key.startswith(KEY_PREFIX) else "(not an operator key)"


def auth_failed(request: Request, surface: str, reason: str, *, key: str | None = None, operator: str = "") -> None:
    """Count and log one refused request (the guard then raises or redirects); the day's DB counter feeds
    the operator reports (the Prometheus counter is per process and not kept)."""
    AUTH_FAILURES.labels(surface, reason).inc()
    count_event_now(getattr(request.app.state, "engine", None), OPERATOR_AUTH, f"{surface}:{reason}")
    log.warning(
        "auth_failed",
        surface=surface,
        reason=reason,
        key_hint=key_hint(key),
        operator=operator or None,
        method=request.method,
        route=request.url.path,
    )


def _roles_needed(allowed: tuple[Role, ...]) -> str:
    return f"this needs the role {' or '.join(r.value for r in allowed)}"


def _bearer_actor(request: Request, engine: Engine, surface: str, key: str | None, allowed: tuple[Role, ...]) -> Actor:
    if not key:
        auth_failed(request, surface, "missing_api_key")
        raise ApiError(
            401, "missing_api_key", "an operator API key is required: Authorization: Bearer <key>", headers=_CHALLENGE
        )
    with Session(engine) as session:
        actor = authenticate(session, key)
    if actor is None:
        auth_failed(request, surface, "invalid_api_key", key=key)
        raise ApiError(401, "invalid_api_key", "unknown or disabled API key", headers=_CHALLENGE)
    if not actor.has_any(*allowed):
        auth_failed(request, surface, "insufficient_role", key=key, operator=actor.name)
        raise ApiError(403, "insufficient_role", _roles_needed(allowed))
    actor.request_id = str(getattr(request.state, "request_id", ""))
    return actor


def require_role(*roles: Role | str) -> Callable[..., Actor]:
    """A dependency that authenticates the operator and checks they hold one of `roles`."""
    allowed = tuple(Role(r) for r in roles) or READ_ROLES

    def dependency(
        request: Request, engine: EngineDep, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Actor:
        key = credentials.credentials if credentials is not None else None
        return _bearer_actor(request, engine, OPERATOR_API, key, allowed)

    return dependency


# --- operator pages -----------------------------------------------------------------------------------


class LoginRequired(ApiError):
    """No usable session on a page: the operator app answers with a redirect to the login page."""

    def __init__(self, reason: str):
        super().__init__(401, reason, "sign in at /ops/login")
        self.reason = reason


def get_session_signer(request: Request) -> SessionSigner:
    state = request.app.state
    if getattr(state, "session_signer", None) is None:
        state.session_signer = signer_for(state.settings)
    return state.session_signer


SignerDep = Annotated[SessionSigner, Depends(get_session_signer)]


def _page_session(
    request: Request,
    engine: Engine,
    signer: SessionSigner,
    credentials: HTTPAuthorizationCredentials | None,
    allowed: tuple[Role, ...],
    csrf_token: str | None,
) -> OperatorSession:
    if credentials is not None and credentials.credentials:
        actor = _bearer_actor(request, engine, OPERATOR_PAGES, credentials.credentials, allowed)
        return OperatorSession(actor, "", 0, "", via="bearer")  # no ambient credentials: no CSRF to check
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        auth_failed(request, OPERATOR_PAGES, "missing_session")
        raise LoginRequired("missing_session")
    try:
        page_session = signer.load(engine, cookie)
    except SessionRefused as exc:
        auth_failed(request, OPERATOR_PAGES, exc.reason)
        raise LoginRequired(exc.reason) from None
    if csrf_token is not None and not same_token(csrf_token, page_session.csrf_token):
        auth_failed(request, OPERATOR_PAGES, "csrf", operator=page_session.actor.name)
        raise ApiError(403, "csrf_failed", "the form's CSRF token is missing or wrong; reload the page")
    if not page_session.actor.has_any(*allowed):
        auth_failed(request, OPERATOR_PAGES, "insufficient_role", operator=page_session.actor.name)
        raise ApiError(403, "insufficient_role", _roles_needed(allowed))
    page_session.actor.request_id = str(getattr(request.state, "request_id", ""))
    return page_session


def require_page_role(*roles: Role | str, form: bool = False) -> Callable[..., OperatorSession]:
    """The page guard: a session cookie (or a bearer key) of an operator with one of `roles`.

    `form=True` (every POST page): a cookie session must also send the form's `csrf_token` field.
    """
    allowed = tuple(Role(r) for r in roles) or READ_ROLES
    if not form:

        def page(
            request: Request,
            engine: EngineDep,
            signer: SignerDep,
            credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
        ) -> OperatorSession:
            return _page_session(request, engine, signer, credentials, allowed, None)

        return page

    def form_page(
        request: Request,
        engine: EngineDep,
        signer: SignerDep,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
        csrf_token: Annotated[str, Form(max_length=200)] = "",
    ) -> OperatorSession:
        return _page_session(request, engine, signer, credentials, allowed, csrf_token)

    return form_page


Viewer = Annotated[Actor, Depends(require_role(*READ_ROLES))]
Approver = Annotated[Actor, Depends(require_role(Role.APPROVER))]
Admin = Annotated[Actor, Depends(require_role(Role.ADMIN))]

PageViewer = Annotated[OperatorSession, Depends(require_page_role(*READ_ROLES))]
PageForm = Annotated[OperatorSession, Depends(require_page_role(*READ_ROLES, form=True))]
