"""`sge demo`: the platform's main job, shown end to end on the embedded stack.

Brings the local stack up, creates a demo program and a two-level referral chain (affiliates register
through the API with wallet signatures), then runs onboarding flows through the public API exactly as
a user's app would: most pay through the Coinbase sandbox's hosted checkout, one pays on chain with
TestUSDT starting from a non-zero allowance (the USDT approve-0 reset). It prints, per wallet, the
SGE-ID token, the payment, the claim transaction and the SGE balance read from the chain, then the
ledger verification and where to look in the Temporal Web UI.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict

import typer

from cli.common import console, hard_exit, out, settings_and_logs
from core.settings import ConfigError
from models.money import Asset, format_amount
from ops.devstack import processes
from ops.devstack.demo import DEMO_PROGRAM, DemoReport, run_flows
from ops.devstack.demo_payouts import run_payout
from ops.devstack.stack import bring_up, local_stack_settings, wait_for_stop

app = typer.Typer(help="Run the main job end to end on the embedded stack.")


def print_report(report: DemoReport) -> None:
    out.print()
    out.print("[bold]Flows[/]")
    for f in report.flows:
        out.print(f"  {f.wallet}  [{'green' if f.state == 'completed' else 'red'}]{f.state}[/]  {f.rail}")
        if f.reason:
            out.print(f"      reason      {f.reason}")
        out.print(f"      SGE-ID      #{f.token_id}")
        out.print(f"      payment     {f.payment_ref}  ({f.paid})")
        out.print(f"      claim tx    {f.claim_tx}")
        out.print(f"      SGE balance {f.sge_balance} (read from the chain)")
    out.print("[bold]Affiliates[/]")
    for a in report.affiliates:
        out.print(f"  {a['code']}  {a['wallet']}  depth {a['depth']}: {a['role']}")
    out.print("[bold]Commissions owed[/] (accrued now, payable after the program's hold period)")
    for b in report.commissions:
        amount = format_amount(int(b["normal_balance"]), Asset(b["asset"]).scale)
        out.print(f"  {b['account']:<36} {amount} {b['asset']}")
    status = "[green]balanced[/]" if report.ledger.get("ok") else "[red]NOT balanced[/]"
    out.print(
        f"[bold]Ledger[/] {status}: {report.ledger.get('transactions')} transactions, "
        f"asset totals {report.ledger.get('asset_totals')}"
    )
    p = report.payout
    if p:
        out.print(f"[bold]Payout batch[/] {p['batch_id']}  {p['state']}  {p['total']}  {p['reason']}")
        for a in p["approvers"]:
            out.print(f"  approved by {a}")
        for ln in p["lines"]:
            out.print(
                f"  {ln['wallet']}  paid {ln['amount']} ({ln['state']})  USDC balance {ln['usdc_balance']} (chain)"
            )
    out.print(f'[bold]Temporal Web UI[/] {report.web_ui}  (filter: WorkflowType = "Onboarding")')
    out.print(f"[bold]API[/] {report.api}  (public port)")
    out.print(f"[bold]The app[/] {report.app}  (open it in a browser with a wallet on the local chain; see the README)")
    out.print(f"[bold]API docs[/] {report.operator}/docs  (public API: {report.operator}/docs/public)")
    out.print(f"[bold]Operator pages[/] {report.operator}/ops/login  (sign in with a key from `sge operators create`)")


@app.callback(invoke_without_command=True)
def demo(
    once: bool = typer.Option(False, "--once", help="Run the flows, print, stop the stack and exit."),
    flows: int = typer.Option(5, "--flows", min=1, max=200, help="Number of onboarding flows."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document (headless)."),
) -> None:
    """Bring the stack up, run flows through the API and the sandbox, and show the result."""
    settings = local_stack_settings(settings_and_logs("demo", fmt="console"))
    if not settings.is_local_chain:
        raise ConfigError("SGE_CHAIN_ID", "the demo funds test wallets and runs on a local chain only")
    sup = processes.Supervisor(settings.home)
    say = console.print  # progress on stderr; stdout carries only the report (JSON with --json)

    async def main() -> int:
        await bring_up(settings, sup)
        report = await run_flows(settings, flows, say)
        payout = await run_payout(settings, DEMO_PROGRAM, say)
        report.payout = asdict(payout)
        report.ok = report.ok and payout.state == "paid"
        if as_json:
            print(json.dumps(asdict(report), default=str, indent=2))
        else:
            print_report(report)
        if once:
            return 0 if report.ok else 1
        console.print("[dim]The stack stays up: Ctrl-C (or `sge dev down`) stops everything.[/]")
        return await wait_for_stop(sup)

    code = 1
    try:
        code = asyncio.run(main())
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # noqa: BLE001 - one line for the user; the stack is always stopped
        console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}")
    finally:
        sup.stop_all()
    hard_exit(code)
