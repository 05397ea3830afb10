"""A person's export, Temporal's part: the workflows whose `SgeWallet` search attribute is their wallet
(ids, types, status, times, history length), listed through the client. Workflow ids and search
attributes are not payloads: they hold the wallet in clear until Temporal's retention removes them."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address
from sqlmodel import Session
from temporalio.client import Client

from models.privacy import export_person, normalize

MAX_WORKFLOWS = 1000


async def workflows_of(client: Client, wallet: str) -> list[dict[str, Any]]:
    address = to_checksum_address(normalize(wallet))
    found = []
    async for wf in client.list_workflows(f'SgeWallet = "{address}"', limit=MAX_WORKFLOWS):
        found.append(
            {
                "workflow_id": wf.id,
                "run_id": wf.run_id,
                "type": wf.workflow_type,
                "status": wf.status.name if wf.status else None,
                "started_at": wf.start_time.isoformat(),
                "closed_at": wf.close_time.isoformat() if wf.close_time else None,
                "history_length": wf.history_length,
                "search_attributes": {k.name: str(v) for k, v in _typed_pairs(wf)},
            }
        )
    return sorted(found, key=lambda w: (w["workflow_id"], w["started_at"]))


def _typed_pairs(wf) -> list:
    return [(pair.key, pair.value) for pair in wf.typed_search_attributes]


async def export_everything(engine, client: Client | None, wallet: str) -> dict[str, Any]:
    """The database rows and (when `client` is given) the Temporal workflows of `wallet`, one document."""
    with Session(engine) as session:
        document = export_person(session, wallet)
    if client is None:
        document["workflows"] = None
        document["workflows_note"] = "Temporal was not reachable; its workflows are not listed"
    else:
        document["workflows"] = await workflows_of(client, wallet)
    return document


async def apply_closed_retention(client: Client, days: int) -> int:
    """Set the namespace's retention of closed workflows to `days`; returns the days now in force."""
    from google.protobuf.duration_pb2 import Duration
    from temporalio.api.namespace.v1 import NamespaceConfig
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest

    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=client.namespace,
            config=NamespaceConfig(workflow_execution_retention_ttl=Duration(seconds=days * 86400)),
        )
    )
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
    return described.config.workflow_execution_retention_ttl.seconds // 86400
