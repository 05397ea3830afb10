"""Preflight items read from the running platform: database, Temporal, chain, backups, reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session
from temporalio.client import Client

from contracts.manifest import ManifestError, load_manifest
from contracts.rpc import connect, probe_endpoints
from core import migrate
from models.recon.report import latest_report
from ops.preflight import Check, Context, failed, manual, passed
from temporal.drain import task_queue_pollers
from temporal.schedules import schedules
from temporal.search_attributes import missing_search_attributes

ETH = 10**18
RELAYER_MIN_WEI = 4 * ETH // 10  # the checklist: > 0.4 ETH at launch, funded with 0.5 (no more)
HAS_ROLE = "0x91d14854"  # hasRole(bytes32,address)
ADMIN_ROLE = "00" * 32  # DEFAULT_ADMIN_ROLE
SAFE_NAMES = ("TreasurySafe", "Safe")  # the manifest entry the Safe handover writes


def _eth(wei: int) -> str:
    return f"{wei / ETH:.4f} ETH"


def _w3(ctx: Context):
    if "w3" not in ctx.cache:
        ctx.cache["w3"] = connect(ctx.settings.eth_rpc_urls, expected_chain_id=ctx.settings.chain_id, timeout=5)
    return ctx.cache["w3"]


def _temporal(ctx: Context) -> Client:
    if ctx.temporal is None:
        raise RuntimeError(f"Temporal at {ctx.settings.temporal_address} is unreachable")
    return ctx.temporal


def check_relayer_balance(ctx: Context) -> Check:
    top = ctx.settings.relayer_target_wei
    name = f"relayer balance within {_eth(RELAYER_MIN_WEI)}–{_eth(top)}"
    address = ctx.settings.relayer_public_address
    if not address:
        return failed(name, "relayer address unknown (SGE_RELAYER_ADDRESS)")
    balance = _w3(ctx).eth.get_balance(address)
    verdict = passed if RELAYER_MIN_WEI <= balance <= top else failed
    return verdict(name, f"{address} holds {_eth(balance)} ({balance} wei)")


def check_rpc_chain_id(ctx: Context) -> Check:
    name = f"RPC endpoints on chain {ctx.settings.chain_id}"
    report = probe_endpoints(ctx.settings.eth_rpc_urls, ctx.settings.chain_id)
    bad = [f"{e['url']}: {e.get('error')}" for e in report if not e["ok"]]
    return (failed if bad else passed)(name, "; ".join(bad) or f"{len(report)} endpoint(s) answer on the right chain")


def check_migrations_at_head(ctx: Context) -> Check:
    name = "database migrations at head"
    current, head = migrate.current(ctx.engine), migrate.head()
    return (passed if current == head else failed)(name, f"database at {current or 'empty'}, code at {head}")


def check_backups_recent(ctx: Context) -> Check:
    limit = ctx.settings.preflight_backup_max_age_hours
    name = f"a database backup newer than {limit} h"
    root: Path = ctx.settings.backups_dir
    backups = sorted(p.name for p in root.glob("sge-backup-*") if p.is_dir()) if root.is_dir() else []
    if not backups:
        return failed(name, f"no backup in {root} (`sge backup create`, or the daily backup schedule)")
    taken = datetime.strptime(backups[-1].removeprefix("sge-backup-"), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    age = datetime.now(UTC) - taken
    verdict = passed if age <= timedelta(hours=limit) else failed
    return verdict(name, f"newest {backups[-1]} is {age.total_seconds() / 3600:.1f} h old")


def check_restore_drill(ctx: Context) -> Check:
    return manual(
        "last restore drill within its limit",
        "drills are not recorded yet: run `sge bench restore` against staging and record it in the launch ticket",
    )


def check_reconciliation_clean(ctx: Context) -> Check:
    name = "the last reconciliation is clean"
    with Session(ctx.engine) as session:
        report = latest_report(session)
    if report is None:
        return failed(name, "no reconciliation report yet (`sge reconcile run`)")
    evidence = f"report {report.id} of {report.started_at:%Y-%m-%d %H:%M} UTC: {report.unexplained_checks} unexplained"
    return (passed if report.ok else failed)(name, evidence)


async def check_search_attributes(ctx: Context) -> Check:
    name = "search attributes registered"
    missing = await missing_search_attributes(_temporal(ctx))
    return (failed if missing else passed)(name, f"missing: {missing}" if missing else "all registered")


async def check_schedules_unpaused(ctx: Context) -> Check:
    name = "schedules present and unpaused"
    client, problems = _temporal(ctx), []
    wanted = sorted(schedules(ctx.settings))
    for schedule_id in wanted:
        try:
            described = await client.get_schedule_handle(schedule_id).describe()
        except Exception as exc:  # noqa: BLE001 - not found is the usual one
            problems.append(f"{schedule_id}: {type(exc).__name__}")
            continue
        if described.schedule.state.paused:
            problems.append(f"{schedule_id}: paused ({described.schedule.state.note})")
    return (failed if problems else passed)(name, "; ".join(problems) or f"{len(wanted)} present: {wanted}")


async def check_workers_polling(ctx: Context) -> Check:
    name = "workers polling the task queue"
    pollers = await task_queue_pollers(_temporal(ctx), ctx.settings.temporal_task_queue)
    ok = pollers["workflow"] and pollers["activity"]
    return (passed if ok else failed)(name, f"{ctx.settings.temporal_task_queue}: {pollers}")


def _has_admin(w3, contract: str, holder: str) -> bool:
    data = HAS_ROLE + ADMIN_ROLE + holder.lower().removeprefix("0x").rjust(64, "0")
    return int.from_bytes(w3.eth.call({"to": contract, "data": data}), "big") == 1


def check_admin_roles_with_safe(ctx: Context) -> Check:
    name = "contract admin roles held only by the Safe"
    try:
        manifest = load_manifest(ctx.settings.deployments_dir, ctx.settings.chain_id)
    except ManifestError as exc:
        return failed(name, f"no deployment manifest: {exc}")
    safe = next((manifest.contracts[n].address for n in SAFE_NAMES if n in manifest.contracts), None)
    if safe is None:
        return failed(name, "no Safe handover (no Safe in the deployment manifest): `sge contracts handover --to-safe`")
    w3, problems, checked = _w3(ctx), [], 0
    for contract_name, entry in sorted(manifest.contracts.items()):
        if contract_name in SAFE_NAMES:
            continue
        try:
            deployer_admin = _has_admin(w3, entry.address, manifest.deployer)
            safe_admin = _has_admin(w3, entry.address, safe)
        except Exception:  # noqa: BLE001 - not an AccessControl contract (no hasRole)
            continue
        checked += 1
        if deployer_admin:
            problems.append(f"{contract_name}: the deployer {manifest.deployer} is still admin")
        if not safe_admin:
            problems.append(f"{contract_name}: the Safe is not admin")
    return (failed if problems else passed)(name, "; ".join(problems) or f"Safe {safe} admin of {checked} contracts")


LIVE_CHECKS = [
    check_relayer_balance,
    check_rpc_chain_id,
    check_migrations_at_head,
    check_backups_recent,
    check_restore_drill,
    check_reconciliation_clean,
    check_search_attributes,
    check_schedules_unpaused,
    check_workers_polling,
    check_admin_roles_with_safe,
]
