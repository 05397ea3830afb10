"""`sge preflight`: the go-live checklist (../shared/seed/production-checklist.md) run against the
configured environment. Every automatable item is one small function returning a `Check` (pass or
fail, with its evidence); the items that need a person are listed as manual with where to record
them. `run_preflight` runs them all; a check that raises is a failure carrying the error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from core.redact import redact

Status = Literal["pass", "fail", "manual"]


@dataclass
class Check:
    name: str
    status: Status
    evidence: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "evidence": redact(self.evidence)}


@dataclass
class Context:
    """What the checks read: settings, the process environment, and (when reachable) the platform's parts."""

    settings: Any
    environ: dict[str, str]
    engine: Any = None
    temporal: Any = None  # a temporalio Client, or None when Temporal is unreachable
    cache: dict[str, Any] = field(default_factory=dict)


def passed(name: str, evidence: str) -> Check:
    return Check(name, "pass", evidence)


def failed(name: str, evidence: str) -> Check:
    return Check(name, "fail", evidence)


def manual(name: str, evidence: str) -> Check:
    return Check(name, "manual", evidence)


CheckFn = Callable[[Context], Check | Awaitable[Check]]

# Items only a person can confirm, and where their sign-off is recorded.
MANUAL_ITEMS = (
    ("legal review (terms, privacy, risk disclosures)", "the legal sign-off in the launch ticket"),
    ("third-party contract audit", "the audit report link in the launch ticket"),
    ("penetration test", "the pentest report and closed findings in the launch ticket"),
    ("on-call rota (pager assigned)", "the paging tool's schedule; link it in the launch ticket"),
    ("DNS records point to production", "the DNS change request in the launch ticket"),
    ("DDoS protection in front of the API", "the CDN/WAF configuration in the launch ticket"),
    ("public status page", "the status page URL in the README's operations section"),
    ("dependency security review", "`pip-audit -r requirements.lock` output attached to the launch ticket"),
)


async def run_preflight(ctx: Context, checks: list[CheckFn] | None = None) -> list[Check]:
    import inspect

    from ops.preflight.config_checks import CONFIG_CHECKS
    from ops.preflight.live_checks import LIVE_CHECKS

    results: list[Check] = []
    for check in checks if checks is not None else [*CONFIG_CHECKS, *LIVE_CHECKS]:
        name = check.__name__.removeprefix("check_").replace("_", " ")
        try:
            result = check(ctx)
            results.append(await result if inspect.isawaitable(result) else result)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - an unreachable part is a failed item, not a crash
            results.append(failed(name, f"{type(exc).__name__}: {str(exc)[:300]}"))
    if checks is None:
        results += [manual(item, f"record in {where}") for item, where in MANUAL_ITEMS]
    return results
