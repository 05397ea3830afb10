"""Reports read back over the operator API and the CLI's reader, and the gauges /metrics refreshes from
the newest report (real HTTP stack in-process, the database the reconciliation wrote)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from models.treasury import MovementKind
from tests.helpers.ledger import make_operator


def _samples(text: str, name: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[sample.labels.get("check", "")] = sample.value
    return found


async def test_reports_and_gauges_follow_the_newest_report(recon_world, api_client):
    w = recon_world
    await w.record(w.deploy_step("fund AffiliatePayout TestUSDC"), MovementKind.PAYOUT_FUNDING)
    faulty = await w.reconcile()  # the claim contract's inventory is not booked: one check off
    headers = {"Authorization": f"Bearer {make_operator(w.engine, 'viewer-recon', 'viewer')}"}

    listed = await api_client.get("/v1/ops/reconciliation", headers=headers)
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()] == [faulty.id]
    one = (await api_client.get(f"/v1/ops/reconciliation/{faulty.id}", headers=headers)).json()
    inventory = next(c for c in one["checks"] if c["name"] == "sge_inventory")
    assert (inventory["expected"], inventory["ok"]) == ("0", False)
    assert one["halted"] and one["first_items"]
    missing = await api_client.get("/v1/ops/reconciliation/987654", headers=headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "reconciliation_report_not_found")
    assert (await api_client.get("/v1/ops/reconciliation")).status_code == 401
    refused = await api_client.post("/v1/ops/reconciliation/run", headers=headers)
    assert refused.status_code == 403

    metrics = (await api_client.operator.get("/metrics")).text
    differences = _samples(metrics, "sge_reconciliation_difference")
    assert differences["sge_inventory"] == float(inventory["unexplained"]) != 0
    assert differences["payout_contract_usdc"] == 0
    assert _samples(metrics, "sge_reconciliation_last_run_timestamp_seconds")[""] > 0

    await w.record(w.deploy_step("fund SGEClaim inventory"), MovementKind.SGE_INVENTORY)
    clean = await w.reconcile()
    assert clean.ok
    metrics = (await api_client.operator.get("/metrics")).text
    assert set(_samples(metrics, "sge_reconciliation_difference").values()) == {0.0}
