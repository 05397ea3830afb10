"""`sge flows`, `sge halt` and `sge gate`: operate onboarding flows, the platform halt switch and the
pre-payment chain gate from a shell.

The same actions as /v1/ops/flows, /v1/ops/halt and /v1/ops/chain-gate, audited under the local user's
name (a Temporal action: its intent before the call, its outcome after).
"""

from __future__ import annotations

import getpass
import json

import typer
from rich.table import Table
from sqlmodel import Session, select

from cli.common import fail, hard_exit, out, run_async, settings_and_logs
from core.db import get_engine, session_scope
from models.audit import audited_call
from models.chain_gate import chain_gate, set_chain_gate
from models.halt import halt_state, set_halt
from models.onboarding import FlowState, Onboarding, list_flows
from models.operators import Actor
from models.platform import Program
from temporal import flows as flow_ops
from temporal.client import connect

app = typer.Typer(help="Onboarding flows: list, show, retry, terminate, reset.", no_args_is_help=True)
halt_app = typer.Typer(help="The platform halt switch (stops every value-moving step while on).", no_args_is_help=True)
gate_app = typer.Typer(
    help="The pre-payment chain gate (closed: new flows wait before mint and referral).", no_args_is_help=True
)


def _actor() -> Actor:
    return Actor(name=f"cli:{getpass.getuser()}")


def _engine():
    return get_engine(settings_and_logs("cli", fmt="console").db_url)


def _settings_engine():
    settings = settings_and_logs("cli", fmt="console")
    return settings, get_engine(settings.db_url)


@app.command("list")
def list_command(
    state: FlowState = typer.Option(None, help="Only flows in this state."),
    program: str = typer.Option(None, help="Only this program (slug)."),
    stuck: bool = typer.Option(False, "--stuck", help="Only flows working for more than 10 minutes."),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Flows from the database (consistent; the Web UI's search attributes may lag)."""
    with Session(_engine()) as session:
        rows = list_flows(session, state=state, program=program, stuck=stuck, limit=limit)
    if as_json:
        print(json.dumps([r.model_dump(mode="json") | {"program": p.slug} for r, p in rows]))
        return
    table = Table()
    for column in ("flow", "state", "since", "rail", "token", "reason"):
        table.add_column(column)
    for r, _p in rows:
        table.add_row(
            r.flow_id,
            r.state,
            r.state_since.strftime("%Y-%m-%d %H:%M:%S"),
            r.rail or "",
            str(r.token_id or ""),
            r.reason,
        )
    out.print(table)
    if stuck and rows:
        out.print(
            "retry a flow that ended: `sge flows retry FLOW_ID --reason ...`; "
            "replay a running one: `sge flows reset FLOW_ID --reason ...`"
        )


@app.command()
def show(flow_id: str) -> None:
    """One flow's row and its Temporal status."""
    settings = settings_and_logs("cli", fmt="console")
    with Session(get_engine(settings.db_url)) as session:
        row = session.exec(select(Onboarding).where(Onboarding.flow_id == flow_id)).first()
    if row is None:
        fail(f"no flow {flow_id!r}", code=1)

    async def describe():
        client = await connect(settings)
        desc = await flow_ops.describe(client, flow_id)
        return desc.run_id, desc.status.name if desc.status else "?"

    run_id, status = run_async(describe())
    print(json.dumps(row.model_dump(mode="json") | {"temporal": {"run_id": run_id, "status": status}}, indent=2))
    hard_exit(0)


def _act(flow_id: str, action: str, reason: str, run) -> None:
    """Audited like the API's: the intent committed before the Temporal call, the outcome after it."""
    settings = settings_and_logs("cli", fmt="console")
    engine = get_engine(settings.db_url)
    with Session(engine) as session:
        row = session.exec(select(Onboarding).where(Onboarding.flow_id == flow_id)).first()
        program = session.get(Program, row.program_id) if row else None
    if row is None or program is None:
        fail(f"no flow {flow_id!r}", code=1)

    async def go():
        client = await connect(settings)
        return await audited_call(
            engine,
            _actor(),
            f"flow.{action}",
            "flow",
            flow_id,
            {"state": row.state},
            {"reason": reason},
            lambda: run(client, settings, program.slug, row.wallet),
        )

    result = run_async(go())
    out.print(f"{action}: {flow_id} {result or ''}")
    hard_exit(0)


@app.command()
def retry(flow_id: str, reason: str = typer.Option(..., help="Why (audited).")) -> None:
    """Start a new run of a flow that ended without completing."""
    _act(flow_id, "retry", reason, lambda c, s, p, w: flow_ops.retry(c, flow_id, p, w, s.temporal_task_queue))


@app.command()
def terminate(flow_id: str, reason: str = typer.Option(..., help="Why (audited).")) -> None:
    """Terminate a running flow."""
    _act(flow_id, "terminate", reason, lambda c, s, p, w: flow_ops.terminate(c, flow_id, f"cli: {reason}"))


@app.command()
def reset(
    flow_id: str,
    reason: str = typer.Option(..., help="Why (audited)."),
    to: str = typer.Option("last", help="first or last completed workflow task."),
) -> None:
    """Replay a flow from its first or last completed workflow task (side effects are idempotent)."""
    _act(flow_id, "reset", reason, lambda c, s, p, w: flow_ops.reset(c, flow_id, f"cli: {reason}", to=to))


@halt_app.command("status")
def halt_status() -> None:
    with Session(_engine()) as session:
        print(halt_state(session).model_dump_json(indent=2))


@halt_app.command("on")
def halt_on(reason: str = typer.Option(..., help="Why (audited; shown on halted flows).")) -> None:
    """Halt: flows pause before minting or delivering, payouts before paying."""
    with session_scope(_engine()) as session:
        print(set_halt(session, _actor(), True, reason).model_dump_json(indent=2))


@halt_app.command("off")
def halt_off(reason: str = typer.Option(..., help="Why (audited).")) -> None:
    """Lift the halt: paused flows resume within seconds."""
    with session_scope(_engine()) as session:
        print(set_halt(session, _actor(), False, reason).model_dump_json(indent=2))


@gate_app.command("status")
def gate_status() -> None:
    """Open or closed, why, and the relayer's spend against its budget (exit 1 when closed)."""
    settings, engine = _settings_engine()
    with Session(engine) as session:
        gate = chain_gate(session, settings)
    print(gate.model_dump_json(indent=2))
    if not gate.open:
        raise typer.Exit(1)


@gate_app.command("close")
def gate_close(reason: str = typer.Option(..., help="Why (audited; shown on waiting flows).")) -> None:
    """Close the gate: new flows wait before minting and recording referrals; paid flows go on."""
    settings, engine = _settings_engine()
    with session_scope(engine) as session:
        print(set_chain_gate(session, settings, _actor(), True, reason).model_dump_json(indent=2))


@gate_app.command("open")
def gate_open(reason: str = typer.Option(..., help="Why (audited).")) -> None:
    """Open the gate's switch (the spend budget still holds it closed while over)."""
    settings, engine = _settings_engine()
    with session_scope(engine) as session:
        print(set_chain_gate(session, settings, _actor(), False, reason).model_dump_json(indent=2))
