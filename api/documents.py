"""Public URLs of a program's documents in force: terms, privacy notice, risk disclosures.

`GET /v1/programs/{slug}/documents/{kind}` answers JSON (version, SHA-256, text); with `?format=text`
the bare text, byte for byte what the hash covers, so anyone can check a signed message's digest.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlmodel import Session, select

from api.deps import EngineDep
from api.errors import ApiError
from models.documents import DocumentKind
from models.platform import Program
from models.terms import document_for

router = APIRouter(prefix="/v1", tags=["public"])


class DocumentView(BaseModel):
    program: str
    kind: DocumentKind
    version: str
    sha256: str
    url: str
    text: str | None = None


def document_url(slug: str, kind: DocumentKind) -> str:
    return f"/v1/programs/{slug}/documents/{kind.value}"


def documents_in_force(session: Session, program: Program, with_text: bool = False) -> list[DocumentView]:
    views = []
    for kind in DocumentKind:
        doc = document_for(program, kind, session)
        views.append(
            DocumentView(
                program=program.slug,
                kind=kind,
                version=doc.version,
                sha256=doc.sha256,
                url=document_url(program.slug, kind),
                text=doc.text if with_text else None,
            )
        )
    return views


@router.get(
    "/programs/{slug}/documents/{kind}",
    response_model=DocumentView,
    summary="A program's terms, privacy notice or risk disclosures in force",
)
async def program_document(slug: str, kind: DocumentKind, engine: EngineDep, format: str = Query("json")):
    def read() -> DocumentView:
        with Session(engine) as session:
            program = session.exec(select(Program).where(Program.slug == slug)).first()
            if program is None:
                raise ApiError(404, "unknown_program", f"no program {slug!r}")
            return next(d for d in documents_in_force(session, program, with_text=True) if d.kind == kind)

    view = await run_in_threadpool(read)
    if format == "text":
        return PlainTextResponse(view.text or "", headers={"X-Content-SHA256": view.sha256})
    return view
