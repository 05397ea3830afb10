"""The archive (models/archive.py, `sge archive`) on the real test database (SQLite, or PostgreSQL with
SGE_TEST_DATABASE_URL): only ended, old rows leave; the file restores them identically; the ledger
and the audit chain verify before and after."""

from __future__ import annotations

import gzip
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlmodel import Session

from cli.archive import parse_age
from core.columns import utcnow
from core.db import session_scope
from models import ledger
from models.archive import TABLES, ArchiveError, check_file, list_archives, restore_archive, run_archive
from models.audit import AuditLog, verify_audit_chain
from models.books import verify_books
from models.idempotency import IdempotencyRecord, IdempotencyState
from models.money import Asset
from models.onboarding import FlowState, Onboarding, flow_id
from models.operators import Actor
from models.payments import Payment, WebhookEvent
from models.platform import Program

NOW = utcnow()
OLD = NOW - timedelta(days=200)
RECENT = NOW - timedelta(days=10)
ACTOR = Actor(name="test:archive")


def _seed(engine) -> dict[str, set]:
    """Flows in every situation; returns the flow ids that must be archived and those that must stay."""
    with session_scope(engine) as session:
        program = Program(
            slug=f"arch-{uuid.uuid4().hex[:6]}",
            name="Archive test",
            treasury_address=to_checksum_address("0x" + "22" * 20),
            fee_usd_minor=100_000_000,
            claim_amount_minor=10**21,
            commission_bps=[1000],
        )
        session.add(program)
        session.flush()
        cases = [
            (FlowState.COMPLETED, OLD, True),
            (FlowState.EXPIRED, OLD, True),
            (FlowState.REFUNDED, OLD, True),
            (FlowState.FAILED, OLD, True),
            (FlowState.COMPLETED, RECENT, False),  # ended, but younger than the cut-off
            (FlowState.AWAITING_PAYMENT, OLD, False),  # still running
            (FlowState.CLAIMING, OLD, False),  # still running
            (FlowState.SUSPENSE, OLD, False),  # money operators still act on
            (FlowState.UNDERPAID, OLD, False),
        ]
        archived, kept = set(), set()
        for n, (state, when, leaves) in enumerate(cases):
            wallet = to_checksum_address(f"0x{uuid.uuid4().hex[:8]}{n:032x}")
            fid = flow_id(program.slug, wallet)
            session.add(
                Onboarding(
                    program_id=program.id,
                    wallet=wallet,
                    flow_id=fid,
                    state=state,
                    state_since=when,
                    created_at=when,
                    updated_at=when,
                    completed_at=when if state.terminal else None,
                )
            )
            session.add(
                Payment(
                    key=f"pay:{fid}",
                    program_id=program.id,
                    wallet=wallet,
                    wallet_lower=wallet.lower(),
                    provider="coinbase_commerce",
                    provider_ref=f"charge-{n}",
                    amount_minor=100_000_000,
                    currency="USD",
                    status="confirmed",
                    flow_id=fid,
                    created_at=when,
                    updated_at=when,
                )
            )
            (archived if leaves else kept).add(fid)
        for n, when in enumerate((OLD, RECENT)):
            session.add(
                WebhookEvent(
                    provider="coinbase_commerce",
                    event_id=f"evt-{uuid.uuid4().hex}-{n}",
                    event_type="charge:confirmed",
                    outcome="handed_off",
                    body_sha256="0" * 64,
                    received_at=when,
                    last_seen_at=when,
                )
            )
            session.add(
                IdempotencyRecord(
                    scope=f"wallet:test-{n}",
                    key=uuid.uuid4().hex,
                    request_hash="1" * 64,
                    state=IdempotencyState.DONE,
                    status_code=200,
                    response_body=b'{"ok": true}\x00\xff',
                    created_at=when,
                    locked_until=when,
                    expires_at=when + timedelta(days=1),
                )
            )
        ledger.post_transaction(
            session,
            f"arch:{uuid.uuid4().hex}",
            "test",
            {"n": 1},
            [
                ledger.debit(ledger.Accounts.processor_receivable("onchain"), Asset.USDC, 5_000_000),
                ledger.credit(ledger.Accounts.fee_revenue("test"), Asset.USDC, 5_000_000),
            ],
        )
    return {"archived": archived, "kept": kept}


def _snapshot(engine) -> dict[str, list]:
    with Session(engine) as session:
        conn = session.connection()
        return {
            t.name: sorted((tuple(sorted(r._mapping.items())) for r in conn.execute(select(t))), key=repr)
            for t in TABLES
        }


def _books_ok(engine) -> tuple[bool, int]:
    with Session(engine) as session:
        report = verify_books(session)
        return report.ok, report.transactions


def test_archive_moves_only_old_ended_rows_and_restore_gives_identical_rows(db_engine, tmp_path):
    flows = _seed(db_engine)
    before = _snapshot(db_engine)
    books_before = _books_ok(db_engine)
    assert books_before[0]

    result = run_archive(db_engine, tmp_path, timedelta(days=180), ACTOR, now=NOW)
    assert result.counts == {"onboarding": 4, "payment": 4, "webhook_event": 1, "idempotency_record": 1}
    after = _snapshot(db_engine)
    remaining = {dict(r)["flow_id"] for r in after["onboarding"]}
    assert remaining == flows["kept"]
    assert {dict(r)["flow_id"] for r in after["payment"]} == flows["kept"]
    assert [dict(r)["received_at"] >= NOW - timedelta(days=180) for r in after["webhook_event"]] == [True]
    assert _books_ok(db_engine) == books_before  # the ledger is never touched

    path = Path(result.path or "")
    assert check_file(path)["counts"] == result.counts
    assert Path(f"{path}.sha256").read_text().split()[0] == result.sha256
    [listed] = list_archives(tmp_path)
    assert listed["ok"] and listed["file"] == path.name

    assert restore_archive(db_engine, path, ACTOR) == {k: v for k, v in result.counts.items() if v}
    assert _snapshot(db_engine) == before
    assert _books_ok(db_engine) == books_before
    with Session(db_engine) as session:
        actions = [a.action for a in session.exec(select(AuditLog).order_by(AuditLog.id)).scalars()]
        assert actions[-2:] == ["archive.run", "archive.restore"]
        assert verify_audit_chain(session).ok

    with pytest.raises(ArchiveError, match="already in the database") as twice:
        restore_archive(db_engine, path, ACTOR)
    assert twice.value.status == 409
    assert _snapshot(db_engine) == before


def test_nothing_old_enough_writes_nothing(db_engine, tmp_path):
    result = run_archive(db_engine, tmp_path, timedelta(days=180), ACTOR, now=NOW)
    assert result.path is None and not list(tmp_path.iterdir())


def test_a_damaged_archive_is_refused(db_engine, tmp_path):
    _seed(db_engine)
    result = run_archive(db_engine, tmp_path, timedelta(days=180), ACTOR, now=NOW)
    path = Path(result.path or "")
    with gzip.open(path, "at") as f:
        f.write('{"table": "onboarding", "row": {}}\n')
    with pytest.raises(ArchiveError, match="damaged"):
        restore_archive(db_engine, path, ACTOR)
    assert not list_archives(tmp_path)[0]["ok"]


@pytest.mark.parametrize(("text", "days"), [("180d", 180), ("26w", 182), ("720h", 30)])
def test_cut_off_ages(text, days):
    assert parse_age(text) == timedelta(days=days)


def test_archiving_while_flows_run_touches_only_old_ended_ones(db_engine, tmp_path):
    """Writers keep moving the running flows through working states and ending some of them (as the
    worker does, stamping updated_at now) while the archive runs: only the rows that were ended and old
    before it started leave, and every running or freshly ended flow is still there."""
    import threading

    from sqlalchemy import update

    flows = _seed(db_engine)
    running = {
        dict(r)["flow_id"]
        for r in _snapshot(db_engine)["onboarding"]
        if dict(r)["state"] in (FlowState.AWAITING_PAYMENT, FlowState.CLAIMING)
    }
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        states = [FlowState.SETTLING, FlowState.CLAIMING, FlowState.COMPLETED]
        n = 0
        try:
            while not stop.is_set():
                for fid in sorted(running):
                    with session_scope(db_engine) as session:
                        session.execute(
                            update(Onboarding)
                            .where(Onboarding.flow_id == fid)  # type: ignore[arg-type]
                            .values(state=states[n % len(states)], updated_at=utcnow())
                        )
                    n += 1
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        results = [run_archive(db_engine, tmp_path, timedelta(days=180), ACTOR, now=utcnow()) for _ in range(3)]
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert sum(r.counts["onboarding"] for r in results) == len(flows["archived"])
    remaining = {dict(r)["flow_id"] for r in _snapshot(db_engine)["onboarding"]}
    assert remaining == flows["kept"]
    assert running <= remaining
    assert _books_ok(db_engine)[0]


async def test_monthly_archive_workflow_archives(temporal_dev, db_engine, db_url, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.worker import Worker

    from activities.archive import ArchiveActivities
    from core.settings import Settings
    from models.archive import ArchiveResult
    from tests.deploy.test_backup import record
    from workflows.archive import MonthlyArchiveWorkflow

    _seed(db_engine)
    settings = Settings(_env_file=None, home=tmp_path / "home", database_url=db_url, environment="test")
    queue = f"archive-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(2) as pool:
        async with Worker(
            temporal_dev.client,
            task_queue=queue,
            workflows=[MonthlyArchiveWorkflow],
            activities=ArchiveActivities(settings, db_engine).all(),
            activity_executor=pool,
        ):
            handle = await temporal_dev.client.start_workflow(
                MonthlyArchiveWorkflow.run, id=f"monthly-archive-{uuid.uuid4().hex[:8]}", task_queue=queue
            )
            result = await handle.result()
    record(await handle.fetch_history(), "monthly-archive")
    assert isinstance(result, ArchiveResult) and result.counts["onboarding"] == 4
    assert Path(result.path or "").parent == settings.archives_dir
