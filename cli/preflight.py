"""`sge preflight [--json]`: the go-live checklist against the configured environment (ops/preflight)."""

from __future__ import annotations

import json
import os

import typer

from cli.common import run_async, settings_and_logs


def preflight(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every automatable checklist item: pass or fail with its evidence; the rest listed as manual.
    Exit 1 when an automatable item fails."""
    from core.db import get_engine
    from ops.preflight import Context, run_preflight
    from temporal.client import connect

    settings = settings_and_logs("cli", fmt="console")

    async def run():
        try:
            client = await connect(settings)
        except Exception:  # noqa: BLE001 - the Temporal items then fail with "unreachable"
            client = None
        ctx = Context(settings=settings, environ=dict(os.environ), engine=get_engine(settings.db_url), temporal=client)
        return await run_preflight(ctx)

    results = [check.as_dict() for check in run_async(run())]
    failures = sum(r["status"] == "fail" for r in results)
    if as_json:
        counts = {s: sum(r["status"] == s for r in results) for s in ("pass", "fail", "manual")}
        print(json.dumps({"ok": failures == 0, "counts": counts, "checks": results}, indent=2))
    else:
        for r in results:
            print(f"{r['status'].upper():<7} {r['name']}: {r['evidence']}")
        print(f"{failures} automatable item(s) failed" if failures else "every automatable item passed")
    if failures:
        raise typer.Exit(1)
