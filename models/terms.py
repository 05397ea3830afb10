"""The terms a user agrees to when registering: each program has a default document (version "1").

A registration message names the terms by version and SHA-256 (`urn:sge:terms:<version>:<sha256>`),
and the consent evidence keeps both, so what was agreed to can be shown later byte for byte. A later
issue replaces the default with versions that operators manage.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel

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


def terms_for(program: Program) -> Terms:
    """The terms in force for `program` (today: the default document)."""
    return default_terms(program)


def parse_resource(resource: str) -> tuple[str, str] | None:
    """(version, sha256) of a `urn:sge:terms:<version>:<sha256>` resource, or None."""
    if not resource.startswith(RESOURCE_PREFIX):
        return None
    version, sep, digest = resource[len(RESOURCE_PREFIX) :].partition(":")
    if not sep or not version or len(digest) != 64:
        return None
    return version, digest
