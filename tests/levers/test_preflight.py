"""`sge preflight`: each check's pass and fail on the real local parts (anvil, the Temporal dev server,
the test database, a real Prometheus), and the whole command's JSON shape."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import uuid

import yaml
from eth_account import Account
from pydantic import SecretStr
from sqlalchemy import create_engine
from temporalio import activity, workflow
from temporalio.worker import Worker

from core.backup import create_backup
from core.db import session_scope
from core.settings import load_settings
from models.recon.tables import ReconciliationReport
from ops.devstack.processes import free_port
from ops.preflight import Context, run_preflight
from ops.preflight import config_checks as cc
from ops.preflight import live_checks as lc
from temporal.schedules import ensure_schedules, schedules
from tests.helpers.production import safe_production
from tests.monitoring.test_prometheus_alerts import ROOT, _until
from tests.monitoring.test_relayer_cli import _env, sge

ETH = 10**18


def ctx(settings, **kw) -> Context:
    return Context(settings=settings, environ=kw.pop("environ", {}), **kw)


def test_config_checks_pass_and_fail(settings):
    good = settings.model_copy(update={"cors_origins": ["https://app.example.com"], "redis_url": "redis://r:6379/0"})
    assert cc.check_secrets_from_files(ctx(good, environ={"SGE_SESSION_SECRET_FILE": "/run/s"})).status == "pass"
    bad = cc.check_secrets_from_files(ctx(good, environ={"SGE_RELAYER_PRIVATE_KEY": "0xab"}))
    assert bad.status == "fail" and "SGE_RELAYER_PRIVATE_KEY" in bad.evidence and "0xab" not in bad.evidence

    assert cc.check_deployer_key_absent(ctx(good)).status == "pass"
    with_deployer = good.model_copy(update={"deployer_private_key": SecretStr("0x" + "22" * 32)})
    assert cc.check_deployer_key_absent(ctx(with_deployer)).status == "fail"
    assert cc.check_deployer_key_absent(ctx(good, environ={"SGE_DEPLOYER_PRIVATE_KEY_FILE": "/k"})).status == "fail"

    assert cc.check_cors_restricted(ctx(good)).status == "pass"
    assert cc.check_cors_restricted(ctx(good.model_copy(update={"cors_origins": ["*"]}))).status == "fail"
    assert cc.check_rate_limits_shared(ctx(good)).status == "pass"
    assert cc.check_rate_limits_shared(ctx(good.model_copy(update={"redis_url": None}))).status == "fail"

    assert cc.check_production_posture(ctx(good)).status == "fail"  # SGE_ENVIRONMENT=test
    assert cc.check_production_posture(ctx(load_settings(**safe_production()))).status == "pass"

    assert cc.check_tls_certificate(ctx(good.model_copy(update={"public_host": ""}))).status == "manual"
    assert cc.check_alert_rules_loaded(ctx(good)).status == "manual"


def _prometheus(tmp_path, rules: bool) -> tuple[subprocess.Popen, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = {"global": {"evaluation_interval": "1s"}, "rule_files": [str(ROOT / "ops/prometheus/alerts.yml")] * rules}
    (tmp_path / "p.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: apt-get install prometheus"
    proc = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'p.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}"


async def test_alert_rules_loaded_in_a_real_prometheus(settings, tmp_path):
    for rules, status in ((True, "pass"), (False, "fail")):
        proc, url = _prometheus(tmp_path / str(rules), rules)
        try:
            configured = ctx(settings.model_copy(update={"preflight_prometheus_url": url}))

            def ready(configured=configured):
                try:
                    return cc.check_alert_rules_loaded(configured)
                except Exception:
                    return None

            result = await _until(ready, "prometheus answering")
            assert result.status == status, result.evidence
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_chain_checks(settings, anvil):
    relayer = settings.relayer_public_address
    anvil.rpc("anvil_setBalance", [relayer, hex(45 * ETH // 100)])
    assert lc.check_relayer_balance(ctx(settings)).status == "pass"
    anvil.rpc("anvil_setBalance", [relayer, hex(ETH)])
    over = lc.check_relayer_balance(ctx(settings))
    assert over.status == "fail" and "1.0000 ETH" in over.evidence
    assert lc.check_rpc_chain_id(ctx(settings)).status == "pass"
    assert lc.check_rpc_chain_id(ctx(settings.model_copy(update={"chain_id": 5}))).status == "fail"


def test_admin_roles_fail_without_a_manifest_or_a_safe(settings, tmp_path):
    missing = lc.check_admin_roles_with_safe(ctx(settings.model_copy(update={"home": tmp_path / "nowhere"})))
    assert missing.status == "fail" and "manifest" in missing.evidence
    deployments = tmp_path / "h" / "deployments"
    deployments.mkdir(parents=True)
    manifest = {"chain_id": settings.chain_id, "deployer": Account.create().address, "relayer": "0x" + "11" * 20,
                "treasury": "0x" + "22" * 20, "deploy_block": 0, "contracts": {}}  # fmt: skip
    (deployments / f"{settings.chain_id}.json").write_text(json.dumps(manifest))
    no_safe = lc.check_admin_roles_with_safe(ctx(settings.model_copy(update={"home": tmp_path / "h"})))
    assert no_safe.status == "fail" and "no Safe handover" in no_safe.evidence


def test_database_checks(settings, db_engine, tmp_path):
    assert lc.check_migrations_at_head(ctx(settings, engine=db_engine)).status == "pass"
    empty = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert lc.check_migrations_at_head(ctx(settings, engine=empty)).status == "fail"

    assert lc.check_reconciliation_clean(ctx(settings, engine=db_engine)).status == "fail"  # none yet
    for ok, status in ((False, "fail"), (True, "pass")):
        with session_scope(db_engine) as session:
            session.add(ReconciliationReport(run_key=f"r-{uuid.uuid4().hex}", ok=ok, unexplained_checks=0 if ok else 2))
        assert lc.check_reconciliation_clean(ctx(settings, engine=db_engine)).status == status

    backups = settings.model_copy(update={"backup_dir": tmp_path / "backups"})
    assert lc.check_backups_recent(ctx(backups)).status == "fail"
    create_backup(settings.db_url, settings.home, tmp_path / "backups")
    assert lc.check_backups_recent(ctx(backups)).status == "pass"
    assert lc.check_restore_drill(ctx(backups)).status == "manual"


@activity.defn(name="preflight_noop")
async def noop() -> None:
    return None


@workflow.defn(name="PreflightNoop", sandboxed=False)
class Noop:
    @workflow.run
    async def run(self) -> None:
        return None


async def test_temporal_checks(settings, temporal_dev):
    client = temporal_dev.client
    settings = settings.model_copy(update={"temporal_task_queue": f"pf-{uuid.uuid4().hex[:8]}"})
    live = ctx(settings, temporal=client)
    assert (await lc.check_search_attributes(live)).status == "pass"
    assert (await lc.check_workers_polling(live)).status == "fail"
    async with Worker(client, task_queue=settings.temporal_task_queue, workflows=[Noop], activities=[noop]):
        await client.execute_workflow(Noop.run, id=f"pf-{uuid.uuid4().hex}", task_queue=settings.temporal_task_queue)

        async def polling():
            return (await lc.check_workers_polling(live)).status == "pass"

        for _ in range(100):  # both task types are listed once each has been polled
            if await polling():
                break
            await asyncio.sleep(0.1)
        assert await polling()
    try:
        await ensure_schedules(client, settings)
        assert (await lc.check_schedules_unpaused(live)).status == "pass"
        first = sorted(schedules(settings))[0]
        await client.get_schedule_handle(first).pause(note="preflight test")
        paused = await lc.check_schedules_unpaused(live)
        assert paused.status == "fail" and f"{first}: paused" in paused.evidence
    finally:
        for schedule_id in schedules(settings):
            with contextlib.suppress(Exception):
                await client.get_schedule_handle(schedule_id).delete()
    unreachable = await run_preflight(ctx(settings), [lc.check_search_attributes])
    assert unreachable[0].status == "fail" and "unreachable" in unreachable[0].evidence


def test_the_command_prints_every_item_as_json_and_fails(anvil, tmp_path):
    env = _env(tmp_path, anvil, Account.create())
    env["SGE_TEMPORAL_ADDRESS"] = f"127.0.0.1:{free_port()}"  # nothing there: its items fail
    result = sge("preflight", "--json", env=env)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False and set(report["counts"]) == {"pass", "fail", "manual"}
    assert sum(report["counts"].values()) == len(report["checks"])
    for check in report["checks"]:
        assert set(check) == {"name", "status", "evidence"} and check["status"] in ("pass", "fail", "manual")
    names = {c["name"]: c["status"] for c in report["checks"]}
    assert names["CORS restricted to the app's origins"] in ("pass", "fail")
    assert names["penetration test"] == "manual" and names["last restore drill within its limit"] == "manual"
    assert names["contract admin roles held only by the Safe"] == "fail"
