"""`GET /v1/ops/privacy/export?wallet=`: everything held about a person, for admins (audited)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from temporalio.service import RPCError

from api.deps import Admin, EngineDep, TemporalDep
from core.db import session_scope
from models.privacy import audit_export, export_person, normalize
from temporal.privacy import workflows_of

router = APIRouter(prefix="/v1/ops/privacy", tags=["operators"])


@router.get("/export", summary="Everything held about one wallet: database rows and Temporal workflows")
async def privacy_export(
    actor: Admin, engine: EngineDep, temporal: TemporalDep, wallet: str = Query(..., max_length=64)
) -> dict[str, Any]:
    normalize(wallet)  # 422 invalid_wallet before anything is read

    def rows() -> dict[str, Any]:
        with session_scope(engine) as session:
            document = export_person(session, wallet)
            audit_export(session, actor, document)
            return document

    document = await run_in_threadpool(rows)
    try:
        document["workflows"] = await workflows_of(temporal, wallet)
    except (RPCError, RuntimeError) as exc:  # the rows are still worth having; say what is missing
        document["workflows"] = None
        document["workflows_note"] = f"Temporal was not reachable: {str(exc)[:200]}"
    return document
