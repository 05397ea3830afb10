"""Privacy export after a full flow on the real stack (dev server, anvil, sandbox, worker, API as
processes): every row holding the wallet, every immutable row naming its subject, and its workflows."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Text, cast, func, select
from sqlmodel import Session, SQLModel

from models.onboarding import FlowState, flow_id
from models.privacy import export_person, holds_text
from ops.devstack.demo import DEMO_PROGRAM
from temporal.client import connect
from temporal.privacy import export_everything
from tests.helpers.stack import StackClient, running_stack

pytestmark = pytest.mark.integration


async def test_export_after_a_full_flow(tmp_path, test_database):
    async with running_stack(tmp_path / "var", test_database.fresh_url()) as (settings, _sup):
        async with httpx.AsyncClient(timeout=30) as http:
            client = StackClient(settings, http)
            try:
                wallet = await client.register()
                charge = await client.charge(wallet)
                await client.act(charge["provider_ref"], "pay")
                await client.wait_state(wallet, FlowState.COMPLETED)
                document = await export_everything(client.engine, await connect(settings), wallet)
                engine = client.engine
                with Session(engine) as session:
                    assert export_person(session, wallet)["tables"].keys() == document["tables"].keys()
            finally:
                client.close()

    tables = document["tables"]
    assert document["subject"] is not None  # the settlement's journal entries name the person by subject
    ref = f"subject:{document['subject']['id']}"
    expected: dict[str, set] = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for column in table.columns:
                if not holds_text(column) or "id" not in table.c:
                    continue
                lowered = func.lower(cast(column, Text))  # JSON columns too (PostgreSQL has no lower(json))
                for needle in (wallet.lower(), ref):
                    hits = conn.execute(select(table.c.id).where(lowered.like(f"%{needle}%"))).scalars()
                    ids = {i for i in hits if needle == wallet.lower() or _exact(conn, table, i, ref)}
                    expected.setdefault(table.name, set()).update(ids)
    for name, ids in expected.items():
        assert ids <= {r["id"] for r in tables.get(name, [])}, name
    assert {"onboarding", "wallet_consent", "payment", "ledger_posting", "chain_tx"} <= set(tables)
    assert any(w["workflow_id"] == flow_id(DEMO_PROGRAM, wallet) for w in document["workflows"])


def _exact(conn, table, row_id, ref: str) -> bool:
    import re

    row = conn.execute(select(table).where(table.c.id == row_id)).mappings().one()
    return re.search(rf"{re.escape(ref)}(?!\d)", str(dict(row))) is not None
