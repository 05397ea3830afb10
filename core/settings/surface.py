"""Settings of the two HTTP surfaces: the public port and the operator port (with its browser sessions).

The public port (SGE_API_HOST:SGE_API_PORT) serves the public API, webhooks, `/healthz` and a minimal
`/readyz`. The operator port (SGE_OPERATOR_HOST:SGE_OPERATOR_PORT) serves `/v1/ops`, the operator pages,
the detailed readiness report, `/metrics` and the OpenAPI docs; it is meant for a private network only
(production refuses to bind it to all interfaces or to a public address).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class SurfaceFields(BaseModel):
    """The operator port, operator browser sessions, and how many API processes run."""

    operator_host: str = Field(
        "127.0.0.1",
        description="Operator port bind address: /v1/ops, operator pages, detailed /readyz, /metrics, /docs. "
        "Production needs a loopback or private address.",
    )
    operator_port: int = Field(8001, ge=1, le=65535, description="Operator port (must differ from SGE_API_PORT).")
    operator_public_url: str = Field(
        "", description="Base URL operators use for the operator port (default http://<host>:<port>)."
    )
    operator_session_secret: SecretStr | None = Field(
        None,
        description="Signs operator browser sessions (32+ random bytes). Secret; required in production "
        "(in dev a key is kept in <home>/secrets/).",
    )
    operator_session_minutes: int = Field(
        30, ge=1, le=24 * 60, description="Lifetime of an operator browser session (minutes)."
    )
    api_processes: int = Field(
        1,
        ge=1,
        le=64,
        description="API processes (`sge api --workers` defaults to it); more than one needs SGE_REDIS_URL "
        "in production (shared rate limits).",
    )
