"""The terms a user agrees to when registering: each program has a default document (version "1").

A registration message names the terms by version and SHA-256 (`urn:sge:terms:<version>:<sha256>`),
and the consent evidence keeps both, so what was agreed to can be shown later byte for byte. Operators
publish later versions (models/documents.py); the newest is in force.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel
from sqlalchemy.orm import object_session
from sqlmodel import Session

from models.documents import DocumentKind, latest_document
from models.money import format_amount
from models.platform import Program

DEFAULT_VERSION = "1"
RESOURCE_PREFIX = "urn:sge:terms:"


class Terms(BaseModel):
    program: str
    version: str
    text: str
    sha256: str

    @property
    def resource(self) -> str:
        return f"{RESOURCE_PREFIX}{self.version}:{self.sha256}"


def fee_text(program: Program) -> str:
    """The fee as people read it: '100.00 USD' (exact; more decimals only when the fee has them)."""
    amount = format_amount(int(program.fee_usd_minor), 6).rstrip("0")
    whole, _, frac = amount.partition(".")
    return f"{whole}.{frac.ljust(2, '0')} USD"


def default_terms(program: Program) -> Terms:
    """Built from the program's slug alone (which never changes), so a digest in old evidence can
    always be recomputed; the fee is named in the signed message's statement instead."""
    text = (
        f"Terms of the SGE program {program.slug!r}, version {DEFAULT_VERSION}.\n"
        "1. Registering mints an SGE-ID for your wallet and fixes your referrer, if any, for good.\n"
        "2. Once the registration fee named in the message you signed is paid, the program's SGE claim "
        "is delivered to the registered wallet.\n"
        "3. Your wallet signature is kept as the evidence of this agreement.\n"
    )
    return Terms(
        program=program.slug,
        version=DEFAULT_VERSION,
        text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


# Shown when a program has published no risk disclosure of its own.
DEFAULT_RISK = (
    "SGE is a crypto-asset. Its value can fall to zero and it may not be possible to sell it. The "
    "registration fee is not an investment and earns no return. Transactions on a blockchain cannot be "
    "undone: check the network and the amounts your wallet shows before you confirm. Only pay what you "
    "can afford to lose."
)
DEFAULT_PRIVACY = (
    "We keep your wallet address, the messages you sign, your payments and, for a limited time, your IP "
    "address and country, to run this program and to meet legal duties. Ask the operator for a copy of "
    "what is held about you."
)


def document_for(program: Program, kind: DocumentKind, session: Session | None = None) -> Terms:
    """The version of `kind` in force for `program`: the newest stored one, else the built-in default.
    Without `session`, the one `program` is attached to is used (detached: the default)."""
    session = session or object_session(program)  # type: ignore[assignment]
    stored = latest_document(session, program, kind) if session is not None else None
    if stored is not None:
        return Terms(program=program.slug, version=stored.version, text=stored.text, sha256=stored.sha256)
    if kind == DocumentKind.TERMS:
        return default_terms(program)
    text = DEFAULT_RISK if kind == DocumentKind.RISK else DEFAULT_PRIVACY
    return Terms(
        program=program.slug, version=DEFAULT_VERSION, text=text, sha256=hashlib.sha256(text.encode()).hexdigest()
    )


def terms_for(program: Program, session: Session | None = None) -> Terms:
    """The terms in force for `program`."""
    return document_for(program, DocumentKind.TERMS, session)


def parse_resource(resource: str) -> tuple[str, str] | None:
    """(version, sha256) of a `urn:sge:terms:<version>:<sha256>` resource, or None."""
    if not resource.startswith(RESOURCE_PREFIX):
        return None
    version, sep, digest = resource[len(RESOURCE_PREFIX) :].partition(":")
    if not sep or not version or len(digest) != 64:
        return None
    return version, digest
