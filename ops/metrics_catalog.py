"""The platform's own Prometheus series, read from the modules that declare them, as the README's
metrics table (`python -m ops.metrics_catalog --update-readme`; tests/monitoring checks it is current
and that every `sge_*` series in the registry is listed here)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

# Where each process serves its series: the API on its operator port's /metrics, the worker on
# SGE_WORKER_APP_METRICS_PORT (the Temporal SDK's own series have their port, SGE_WORKER_METRICS_PORT).
API_MODULES = (
    "api.middleware",
    "api.deps",
    "api.webhooks",
    "api.ratelimit",
    "api.platform_metrics",
    "api.monitor_metrics",
    "api.reconciliation",
    "api.jurisdiction",
    "api.kyc_webhooks",
)
WORKER_MODULES = ("activities.flow_metrics", "contracts.rpc")
# Series other exporters or another part of the platform provide, used by ops/ rules and dashboards.
EXTERNAL = {
    "up": "Prometheus (scrape health)",
    "process_cpu_seconds_total": "prometheus_client's process collector (every process)",
    "pg_stat_activity_count": "postgres_exporter",
    "pg_stat_activity_max_tx_duration": "postgres_exporter",
    "pg_settings_max_connections": "postgres_exporter",
    "redis_memory_used_bytes": "redis_exporter",
    "redis_memory_max_bytes": "redis_exporter",
}
START, END = "<!-- metrics-table:start -->", "<!-- metrics-table:end -->"
README = Path(__file__).resolve().parents[1] / "README.md"


def _exposed(metric: MetricWrapperBase) -> str:
    name, kind = metric._name, metric._type
    return f"{name}_total" if kind == "counter" else name


def catalog() -> dict[str, dict[str, str]]:
    """{exposed name: {type, help, labels, served_by}} of every series our modules declare."""
    found: dict[str, dict[str, str]] = {}
    for process, modules in (("API", API_MODULES), ("worker", WORKER_MODULES)):
        for module_name in modules:
            module = importlib.import_module(module_name)
            for value in vars(module).values():
                if not isinstance(value, MetricWrapperBase):
                    continue
                entry = found.setdefault(
                    _exposed(value),
                    {
                        "type": str(value._type),
                        "help": value._documentation,
                        "labels": ", ".join(value._labelnames),
                        "served_by": "",
                    },
                )
                if process not in entry["served_by"]:
                    entry["served_by"] = f"{entry['served_by']} + {process}" if entry["served_by"] else process
    return dict(sorted(found.items()))


def markdown() -> str:
    rows = ["| series | type | labels | served by | meaning |", "|---|---|---|---|---|"]
    for name, entry in catalog().items():
        labels = entry["labels"] or "—"
        rows.append(f"| `{name}` | {entry['type']} | {labels} | {entry['served_by']} | {entry['help']} |")
    return "\n".join(rows)


def readme_with_table(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{markdown()}\n{END}{tail}"


if __name__ == "__main__":
    if sys.argv[1:] == ["--update-readme"]:
        README.write_text(readme_with_table(README.read_text()))
    else:
        print(markdown())
