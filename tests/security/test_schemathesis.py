"""Schemathesis against the API served over HTTP on its two ports, one schema each: the public API (its
schema is on the operator port, `/docs/public/openapi.json`) and the operator API (`/openapi.json`).

Every operation, positive and negative examples (bounded and derandomized): no 5xx, every status and
body the server answers is one the schema documents, with the documented content type. Requests carry
real credentials — an admin operator's key on the operator port, a wallet session on the public one —
so the fuzzer reaches past authentication (the refusals themselves are the authorization matrix's).
"""

from __future__ import annotations

import os
import re

import httpx
import pytest
import schemathesis
from eth_account import Account
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ops.devstack.processes import free_port
from ops.devstack.stack import LOCAL_IP_LIMITS
from tests.helpers.ledger import make_operator, make_program
from tests.helpers.surfaces import ServedSurfaces
from tests.helpers.temporal import temporal_address
from tests.helpers.wallets import session_header

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
EXAMPLES = 10  # per operation and generation mode: the whole file stays well under two minutes
BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same examples every run
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking over HTTP: a failure prints its curl
    suppress_health_check=list(HealthCheck),
    database=None,
)


@pytest.fixture
def served(settings, db_engine, temporal_dev):
    settings = settings.model_copy(
        update={
            "api_port": free_port(),
            "operator_port": free_port(),
            "temporal_address": temporal_address(temporal_dev.client),
            **LOCAL_IP_LIMITS,
            # configured, so a webhook without a valid signature is a 401 rather than "not configured" (503)
            "coinbase_commerce_webhook_secret": SecretStr("fuzz-commerce-secret"),
            "coinbase_business_webhook_secret": SecretStr("fuzz-business-secret"),
            "kyc_webhook_secret": SecretStr("fuzz-kyc-secret"),
        }
    )
    make_program(db_engine, "demo")
    relayer = Account.from_key(settings.relayer_private_key.get_secret_value()).address
    httpx.post(settings.eth_rpc_urls[0], json=rpc("anvil_setBalance", [relayer, hex(10**20)])).raise_for_status()
    with ServedSurfaces(settings, db_engine) as surfaces:
        surfaces.settings = settings  # type: ignore[attr-defined]
        yield surfaces


def rpc(method: str, params: list) -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def fuzz(schema_url: str, base_url: str, headers: dict[str, str]) -> list[str]:
    """Every operation of the schema, positive then negative examples; the failures, one entry each."""
    schema = schemathesis.openapi.from_url(schema_url)
    schema.config.update(base_url=base_url)
    failures: list[str] = []
    operations = 0
    only = os.environ.get("FUZZ_ONLY")  # debugging: a regex of the operations to fuzz, e.g. "POST /v1/ops"
    for result in schema.get_all_operations():
        operation = result.ok()
        if only and not re.search(only, operation.label):
            continue
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @BOUNDED
            def run(case) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request can be generated"
                continue  # nothing to get wrong in a request without parameters or body
            except (Exception, FailureGroup) as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert operations > 0, f"no operations in {schema_url}"
    return failures


@pytest.mark.timeout(900)  # every operator route, valid and invalid examples: minutes on 2 loaded cores
def test_the_operator_api_does_what_its_schema_says(served, db_engine):
    admin_key = make_operator(db_engine, "fuzz-admin", "admin")
    failures = fuzz(
        f"{served.operator_url}/openapi.json", served.operator_url, {"Authorization": f"Bearer {admin_key}"}
    )
    assert not failures, "\n\n".join(failures)


def test_the_public_api_does_what_its_schema_says(served):
    wallet = Account.create().address
    failures = fuzz(
        f"{served.operator_url}/docs/public/openapi.json", served.public_url, session_header(served.settings, wallet)
    )
    assert not failures, "\n\n".join(failures)
