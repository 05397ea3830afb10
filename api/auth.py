"""Operator authentication: `Authorization: Bearer <key>` → an `Actor`, with the role an endpoint needs.

`require_role(Role.ADMIN)` (or several roles: any of them will do) is a FastAPI dependency. It runs
before the request body is even validated, so a request without a valid key, or with a role that is
not enough, is refused (401 / 403) before the handler — and so before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from api.errors import ApiError
from models.operators import READ_ROLES, Actor, Role, authenticate

_bearer = HTTPBearer(auto_error=False, description="An operator API key (`sge operators create`).")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def require_role(*roles: Role | str) -> Callable[..., Actor]:
    allowed = tuple(Role(r) for r in roles) or READ_ROLES

    def dependency(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Actor:
        if credentials is None or not credentials.credentials:
            raise ApiError(401, "missing_api_key", "an operator API key is required: Authorization: Bearer <key>", headers=_CHALLENGE)
        with Session(request.app.state.engine) as session:
            actor = authenticate(session, credentials.credentials)
        if actor is None:
            raise ApiError(401, "invalid_api_key", "unknown or disabled API key", headers=_CHALLENGE)
        if not actor.has_any(*allowed):
            raise ApiError(403, "insufficient_role", f"this needs the role {' or '.join(r.value for r in allowed)}")
        actor.request_id = str(getattr(request.state, "request_id", ""))
        return actor

    return dependency


# The two levels every operator endpoint uses.
any_operator = require_role(*READ_ROLES)
admin_only = require_role(Role.ADMIN)
