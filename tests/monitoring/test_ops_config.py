"""ops/: the alert rules pass `promtool check rules` and their unit tests (`promtool test rules`), every
rule is tested and names its severity, summary and an existing runbook; Alertmanager's routing passes
`amtool check-config` and sends P0/P1 to the pager, P2/P3 to chat. (Debian's `prometheus` and
`prometheus-alertmanager` packages; .ci/run installs them when missing.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "ops" / "prometheus" / "alerts_test.yml"
ALERTMANAGER = ROOT / "ops" / "alertmanager.yml"


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: apt-get install prometheus prometheus-alertmanager (.ci/run does)"
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=RULES.parent)


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_promtool_checks_and_unit_tests_the_rules():
    checked = _run(_tool("promtool"), "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _run(_tool("promtool"), "test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_rule_has_a_severity_a_summary_a_runbook_and_a_firing_unit_test():
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        case["alertname"] for group in tests for case in group.get("alert_rule_test", []) if case.get("exp_alerts")
    }
    names = [rule["alert"] for rule in _rules()]
    assert len(names) == len(set(names))
    assert set(names) == fired, set(names) ^ fired
    for rule in _rules():
        assert rule["labels"]["severity"] in {"P0", "P1", "P2", "P3"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert (ROOT / rule["annotations"]["runbook_url"]).is_file(), rule["alert"]


def test_the_checklist_thresholds_have_their_p_levels():
    severity = {rule["alert"]: rule["labels"]["severity"] for rule in _rules()}
    expected = {
        "LedgerDifference": "P0",
        "RelayerUnexpectedNonce": "P0",
        "RelayerBalanceDrop": "P0",
        "ApiDown": "P1",
        "DatabaseUnreachable": "P1",
        "RpcDown": "P1",
        "RelayerBalanceLow": "P1",
        "StuckIntents": "P2",
        "ApiErrorRate": "P2",
        "SlowQueries": "P3",
        "GasAboveBudget": "P3",
    }
    assert {name: severity.get(name) for name in expected} == expected
    scaling = {rule["alert"] for rule in _rules() if rule["labels"].get("kind") == "scaling"}
    assert scaling == {"ApiCpuHigh", "TaskQueueBacklog", "DbConnectionsHigh", "DbPoolSaturated", "RedisMemoryHigh"}


def test_amtool_checks_the_routing_pager_for_p0_p1_chat_for_p2_p3():
    amtool = _tool("amtool")
    checked = _run(amtool, "check-config", str(ALERTMANAGER))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for severity, receiver in (("P0", "pager"), ("P1", "pager"), ("P2", "chat"), ("P3", "chat")):
        routed = _run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", f"severity={severity}")
        assert routed.stdout.strip() == receiver, (severity, routed.stdout, routed.stderr)


def _sge_commands(text: str) -> list[list[str]]:
    """The `sge …` lines of a runbook's shell blocks, as words up to the first option or placeholder."""
    commands, in_block = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = line.strip() == "```sh"
            continue
        if in_block and line.startswith("sge "):
            words = []
            for word in line.split("#")[0].split()[1:]:
                if word.startswith(("-", "<", '"')):
                    break
                words.append(word)
            commands.append(words)
    return commands


def test_runbooks_cover_every_p0_p1_incident_and_use_only_commands_that_exist():
    import click
    import typer

    from cli.main import app

    runbooks = ROOT / "ops" / "runbooks"
    expected = {
        "ledger-imbalance.md",
        "relayer-compromised.md",
        "contract-exploit.md",
        "api-down.md",
        "database-unreachable.md",
        "rpc-down.md",
        "stuck-intents.md",
    }
    assert expected <= {p.name for p in runbooks.glob("*.md")}
    root = typer.main.get_command(app)
    seen = 0
    for path in sorted(runbooks.glob("*.md")):
        text = path.read_text()
        assert "**Detection.**" in text and "**Recovery confirmed**" in text, path.name
        for words in _sge_commands(text):
            command: click.Command = root
            for word in words:
                if not isinstance(command, click.Group):
                    break  # a command's own arguments
                sub = command.get_command(click.Context(command), word)
                assert sub is not None, (path.name, words, word)
                command = sub
            assert not isinstance(command, click.Group), (path.name, words)  # a runnable command, not a group
            seen += 1
    assert seen > 20


def test_readme_metrics_table_is_current_and_lists_every_registered_series():
    from prometheus_client import REGISTRY

    import api.app  # noqa: F401 - every API module's series
    import temporal.registry  # noqa: F401 - every worker module's series
    from ops.metrics_catalog import README, catalog, readme_with_table

    text = README.read_text()
    assert readme_with_table(text) == text, "run: python -m ops.metrics_catalog --update-readme"
    registered = set()
    for family in REGISTRY.collect():
        if family.name.startswith("sge_"):
            registered.add(f"{family.name}_total" if family.type == "counter" else family.name)
    assert registered == set(catalog()), registered ^ set(catalog())


_PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
}
_HISTOGRAM_PARTS = ("_bucket", "_sum", "_count")


def _series_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (labels, strings, ranges, functions and keywords removed)."""
    import re

    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", expr):
        word, call = match.group(1), match.group(2)
        if call or word in _PROMQL_WORDS or re.fullmatch(r"\d+e\d+|e\d+", word):
            continue
        names.add(word)
    return names


def _known(name: str, exported: set[str], external: set[str]) -> bool:
    if name in exported or name in external:
        return True
    return any(name.endswith(part) and name.removesuffix(part) in exported for part in _HISTOGRAM_PARTS)


def test_every_series_in_dashboards_and_alerts_is_exported_or_a_documented_external_one():
    import json

    from ops.metrics_catalog import EXTERNAL, catalog

    exported, external = set(catalog()), set(EXTERNAL)
    used: dict[str, set[str]] = {}
    boards = sorted((ROOT / "ops" / "grafana" / "dashboards").glob("*.json"))
    assert {p.stem for p in boards} == {"sge-flows", "sge-money", "sge-relayer", "sge-api"}
    for path in boards:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                used.setdefault(path.name, set()).update(_series_names(target["expr"]))
    for rule in _rules():
        used.setdefault("alerts.yml", set()).update(_series_names(rule["expr"]))
    unknown = {where: sorted(n for n in names if not _known(n, exported, external)) for where, names in used.items()}
    assert not any(unknown.values()), unknown
    assert "sge_relayer_balance_wei" in used["sge-relayer.json"] and "sge_flows" in used["sge-flows.json"]
    assert _series_names('sum by (le) (rate(x_bucket{a="b"}[5m])) / on(i) group_left() y > 2e17') == {"x_bucket", "y"}
