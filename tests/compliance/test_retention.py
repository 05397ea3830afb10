"""The retention table: IP addresses blanked by the housekeeping activity after their cut-off; Temporal's
closed-workflow retention applied to the namespace."""

from __future__ import annotations

from datetime import timedelta

from eth_account import Account
from sqlmodel import Session, select
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from core.columns import utcnow
from core.settings.compliance import retention_table
from models.auth_nonces import AuthNonce
from models.housekeeping import prune
from temporal.privacy import apply_closed_retention
from tests.helpers.ledger import make_program


async def test_ips_blanked_after_their_retention(compliance_settings, public_client, db_engine):
    make_program(db_engine, slug="ret-ip")
    wallet = Account.create().address
    async with public_client(compliance_settings()) as client:
        resp = await client.post("/v1/auth/nonce", json={"program": "ret-ip", "wallet": wallet})
        assert resp.status_code == 201, resp.text
    week = timedelta(days=7)
    assert prune(db_engine, week, ip_retention=timedelta(days=30)).ip_addresses == 0
    later = utcnow() + timedelta(days=31)  # nonce retention long enough to keep the row itself
    counts = prune(db_engine, timedelta(days=365), now=later, ip_retention=timedelta(days=30))
    assert counts.ip_addresses >= 1 and counts.auth_nonces == 0
    with Session(db_engine) as session:
        row = session.exec(select(AuthNonce).where(AuthNonce.wallet == wallet.lower())).one()
    assert row.client_ip == ""


def test_table_lists_every_cut_off(compliance_settings):
    rows = {what: kept for what, kept, _ in retention_table(compliance_settings())}
    assert rows["client IP addresses"] == "30 d" and rows["backups and archives"] == "180 d"
    assert set(rows) >= {"idempotency records", "registration messages / nonces", "Temporal closed workflows"}


async def test_temporal_retention_applied(temporal_dev):
    client = temporal_dev.client
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
    before = described.config.workflow_execution_retention_ttl.seconds // 86400
    try:
        assert await apply_closed_retention(client, before + 2) == before + 2
    finally:  # the dev server is shared by the session's tests
        await apply_closed_retention(client, max(before, 1))
