"""Typed FastAPI dependencies: what a handler needs, named by what it is.

Handlers declare `settings: SettingsDep`, `engine: EngineDep`, `temporal: TemporalDep`,
`limiter: LimiterDep`, or an operator of a role (`Viewer`, `Approver`, `Admin`) instead of reading
`request.app.state`. The state itself is set up once, in `api.app.create_app`'s lifespan.

Operator authentication: `Authorization: Bearer <key>` → an `Actor` with the role an endpoint needs.
The role guard runs before the request body is validated, so a request without a valid key, or with
a role that is not enough, is refused (401 / 403) before the handler — and so before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from api.errors import ApiError
from api.ratelimit import RateLimiter
from core.settings import Settings
from models.operators import READ_ROLES, Actor, Role, authenticate


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


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]

_bearer = HTTPBearer(auto_error=False, description="An operator API key (`sge operators create`).")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def require_role(*roles: Role | str) -> Callable[..., Actor]:
    """A dependency that authenticates the operator and checks they hold one of `roles`."""
    allowed = tuple(Role(r) for r in roles) or READ_ROLES

    def dependency(
        request: Request, engine: EngineDep, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Actor:
        if credentials is None or not credentials.credentials:
            raise ApiError(
                401,
                "missing_api_key",
                "an operator API key is required: Authorization: Bearer <key>",
                headers=_CHALLENGE,
            )
        with Session(engine) as session:
            actor = authenticate(session, credentials.credentials)
        if actor is None:
            raise ApiError(401, "invalid_api_key", "unknown or disabled API key", headers=_CHALLENGE)
        if not actor.has_any(*allowed):
            raise ApiError(403, "insufficient_role", f"this needs the role {' or '.join(r.value for r in allowed)}")
        actor.request_id = str(getattr(request.state, "request_id", ""))
        return actor

    return dependency


Viewer = Annotated[Actor, Depends(require_role(*READ_ROLES))]
Approver = Annotated[Actor, Depends(require_role(Role.APPROVER))]
Admin = Annotated[Actor, Depends(require_role(Role.ADMIN))]
