"""ops/deploy checked statically: hadolint and checkov (policy), kubernetes-validate (schemas), and the
properties the issue asks of the manifests, read from the files themselves.

Nothing here builds the image or talks to a cluster (no Docker engine, no Kubernetes, no Helm here).
Accepted checkov findings are skip annotations naming their reason; the set of skipped checks must
equal the table in ops/deploy/README.md, so a new skip is written down or the test fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from core.settings import Settings
from models.flow import SEARCH_ATTRIBUTES
from tests.helpers.deploy_checks import ROOT, checks_bin

pytestmark = pytest.mark.integration  # runs the checkers as processes

DEPLOY = ROOT / "ops" / "deploy"
BASE = DEPLOY / "k8s" / "base"
K8S_VERSION = "1.33.0"
# Kinds without a schema in kubernetes-validate (CRDs and kustomize's own file): checked by hand below.
NO_SCHEMA_KINDS = {"ClusterIssuer", "Certificate", "Kustomization"}


@pytest.fixture(scope="module")
def tools() -> Path:
    return checks_bin()


def _resources() -> list[dict]:
    docs = []
    for path in sorted((DEPLOY / "k8s").rglob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def _one(kind: str, name: str) -> dict:
    found = [d for d in _resources() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert found, f"no {kind}/{name}"
    return found[0]


def _container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_hadolint_passes_the_dockerfile(tools):
    run = subprocess.run(
        [str(tools / "hadolint"), "--format", "json", str(DEPLOY / "Dockerfile")], capture_output=True, text=True
    )
    assert json.loads(run.stdout or "[]") == [], run.stdout
    assert run.returncode == 0, run.stderr


def test_every_manifest_matches_the_kubernetes_schema(tools):
    files = sorted(str(p) for p in (DEPLOY / "k8s").rglob("*.yaml"))
    run = subprocess.run(
        [str(tools / "kubernetes-validate"), "--strict", "-k", K8S_VERSION, *files], capture_output=True, text=True
    )
    output = run.stdout + run.stderr
    passed = re.findall(r"passed for resource (\S+)", output)
    unknown = set(re.findall(r"Couldn't find schema for kind (\S+)", output))
    assert run.returncode == 0, output
    assert "ERROR" not in output and "Couldn't parse" not in output, output
    assert unknown <= NO_SCHEMA_KINDS, output
    assert len(passed) == len([d for d in _resources() if d["kind"] not in NO_SCHEMA_KINDS]), output


def test_cert_manager_resources_by_hand():
    issuer = _one("ClusterIssuer", "letsencrypt")
    assert issuer["spec"]["acme"]["server"].startswith("https://")
    assert issuer["spec"]["acme"]["solvers"][0]["http01"]["ingress"]["ingressClassName"] == "nginx"
    cert = _one("Certificate", "sge-public")
    ingress = _one("Ingress", "sge-public")
    assert cert["spec"]["issuerRef"] == {"kind": "ClusterIssuer", "name": "letsencrypt"}
    assert cert["spec"]["secretName"] == ingress["spec"]["tls"][0]["secretName"]
    assert sorted(cert["spec"]["dnsNames"]) == sorted(ingress["spec"]["tls"][0]["hosts"])
    assert cert["spec"]["renewBefore"]  # automatic renewal ahead of expiry


def test_checkov_finds_nothing_but_the_accepted_findings(tools):
    run = subprocess.run(
        [
            str(tools / "checkov"),
            "--directory",
            str(DEPLOY),
            "--framework",
            "kubernetes",
            "dockerfile",
            "--skip-download",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    reports = json.loads(run.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [(c["check_id"], c["resource"]) for r in reports for c in r["results"].get("failed_checks", [])]
    assert failed == [], failed
    frameworks = {r["check_type"] for r in reports}
    assert {"kubernetes", "dockerfile"} <= frameworks
    skipped = {c["check_id"] for r in reports for c in r["results"].get("skipped_checks", [])}
    readme = (DEPLOY / "README.md").read_text()
    documented = set(re.findall(r"^\| `(CKV_[A-Z0-9_]+)` \|", readme, flags=re.M))
    assert skipped == documented, f"skipped {sorted(skipped)} vs README {sorted(documented)}"


def test_dockerfile_one_non_root_image_from_the_lock():
    text = (DEPLOY / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert bases and all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", b) for b in bases)
    assert "--require-hashes" in text and "-r requirements-image.lock" in text and "--no-deps" in text
    assert re.search(r"^USER 10001", text, flags=re.M)
    assert 'ENTRYPOINT ["sge"]' in text


def test_the_commands_the_manifests_run_exist():
    from typer.main import get_command

    from cli.main import app

    root = get_command(app)
    for deployment in ("sge-api", "sge-worker"):
        (command,) = _container(_one("Deployment", deployment))["args"]
        assert command in root.commands  # type: ignore[attr-defined]
    job = _one("Job", "sge-db-upgrade")["spec"]["template"]["spec"]["containers"][0]
    group, sub = job["args"]
    assert sub in root.commands[group].commands  # type: ignore[attr-defined]


def test_probes_scaling_and_disruption_budgets():
    api = _container(_one("Deployment", "sge-api"))
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for name in ("sge-api", "sge-worker"):
        assert _container(_one("Deployment", name))["resources"]["requests"]["cpu"]
        hpa = _one("HorizontalPodAutoscaler", name)
        assert hpa["spec"]["scaleTargetRef"]["name"] == name
        assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
        pdb = _one("PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}


def test_operator_port_is_its_own_internal_service_and_never_routed():
    public, operator = _one("Service", "sge-api-public"), _one("Service", "sge-api-operator")
    assert public["spec"]["ports"][0]["targetPort"] == "public"
    assert operator["spec"]["type"] == "ClusterIP" and operator["spec"]["ports"][0]["targetPort"] == "operator"
    backends = {
        path["backend"]["service"]["name"]
        for rule in _one("Ingress", "sge-public")["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"sge-api-public"}
    public_policy = _one("NetworkPolicy", "sge-api-public")["spec"]["ingress"]
    assert [p["port"] for rule in public_policy for p in rule["ports"]] == [8000]
    operator_policy = _one("NetworkPolicy", "sge-api-operator")["spec"]["ingress"]
    assert [p["port"] for rule in operator_policy for p in rule["ports"]] == [8001]
    assert all("ipBlock" not in peer for rule in operator_policy for peer in rule["from"])


def test_secrets_are_files_and_every_file_variable_names_a_setting():
    fields = set(Settings.model_fields)
    for kind, name in (("Deployment", "sge-api"), ("Deployment", "sge-worker"), ("Job", "sge-db-upgrade")):
        pod = _one(kind, name)["spec"]["template"]["spec"]
        container = pod["containers"][0]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        secret_volumes = {v["name"] for v in pod["volumes"] if "secret" in v}
        file_vars = {e["name"]: e["value"] for e in container["env"] if e["name"].endswith("_FILE")}
        assert file_vars, name
        for var, path in file_vars.items():
            setting = var.removesuffix("_FILE").removeprefix("SGE_").lower()
            assert setting in fields, f"{name}: {var} names no setting"
            assert any(path.startswith(mounts[v] + "/") for v in secret_volumes), f"{name}: {path} is not a Secret"
        assert not [e for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})], name


def test_worker_concurrency_comes_from_the_environment():
    env = {e["name"]: e for e in _container(_one("Deployment", "sge-worker"))["env"]}
    ref = env["SGE_WORKER_MAX_CONCURRENT_ACTIVITIES"]["valueFrom"]["configMapKeyRef"]
    assert ref["key"] == "WORKER_CONCURRENCY"
    assert "worker_max_concurrent_activities" in Settings.model_fields
    assert _one("ConfigMap", "sge-settings")["data"]["WORKER_CONCURRENCY"].isdigit()


def test_log_shipping_parses_the_json_logs():
    config = yaml.safe_load(_one("ConfigMap", "sge-vector")["data"]["vector.yaml"])
    assert config["sources"]["sge_pods"]["type"] == "kubernetes_logs"
    assert "parse_json" in config["transforms"]["sge_json"]["source"]
    assert _one("ConfigMap", "sge-settings")["data"]["SGE_LOG_FORMAT"] == "json"
    daemonset = _one("DaemonSet", "sge-vector")
    assert daemonset["spec"]["template"]["spec"]["serviceAccountName"] == "sge-vector"


def test_temporal_values_search_attributes_and_ui_lockdown():
    values = yaml.safe_load((DEPLOY / "temporal" / "values.yaml").read_text())
    stores = values["server"]["config"]["persistence"]["datastores"]
    assert {s["sql"]["pluginName"] for s in stores.values()} == {"postgres12"}
    (job,) = values["extraObjects"]
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    created = dict(re.findall(r"(Sge\w+)=(\w+)", script))
    wanted = {key.name: key.indexed_value_type.name.title() for key in SEARCH_ATTRIBUTES}
    assert created == wanted
    ui = {e["name"]: e["value"] for e in values["web"]["additionalEnv"]}
    assert ui["TEMPORAL_AUTH_ENABLED"] == "true"
    for action in ("TERMINATE", "RESET", "CANCEL"):
        assert ui[f"TEMPORAL_WORKFLOW_{action}_DISABLED"] == "true"
    assert ui["TEMPORAL_WORKFLOW_SIGNAL_DISABLED"] == "false"
    assert "1.6.0" in (DEPLOY / "temporal" / "values.yaml").read_text().split("\n", 5)[2]


# Plausible contents of the Secrets the manifests mount (ops/deploy/README.md lists them).
SECRET_FILES = {
    "database-url": "postgresql://sge_runtime:pw@db.sge.internal:5432/sge",
    "redis-url": "redis://:pw@redis.sge.internal:6379/0",
    "eth-rpc-urls": "https://eth.rpc.example/v3/0123456789abcdef0123456789abcdef",
    "temporal-api-key": "temporal-key",
    "session-secret": "w" * 48,
    "operator-session-secret": "o" * 48,
    "coinbase-commerce-api-key": "cc-key",
    "coinbase-commerce-webhook-secret": "cc-hook",
    "private-key": "0x" + "ab" * 32,
}


@pytest.mark.parametrize("deployment", ["sge-api", "sge-worker"])
def test_the_manifests_environment_passes_the_production_posture(deployment, tmp_path, monkeypatch):
    """The ConfigMap plus each container's variables (files standing in for the mounted Secrets) load
    as SGE_ENVIRONMENT=production settings: the manifests and the posture rules agree."""
    for name in list(os.environ):
        if name.startswith("SGE_") or name.startswith("DATABASE_URL"):
            monkeypatch.delenv(name)
    for key, value in SECRET_FILES.items():
        (tmp_path / key).write_text(value + "\n")
    for key, value in _one("ConfigMap", "sge-settings")["data"].items():
        monkeypatch.setenv(key, value)
    config = _one("ConfigMap", "sge-settings")["data"]
    for entry in _container(_one("Deployment", deployment))["env"]:
        if "value" in entry:
            value = entry["value"]
            if entry["name"].endswith("_FILE"):
                value = str(tmp_path / Path(value).name)
            monkeypatch.setenv(entry["name"], value)
        elif "configMapKeyRef" in entry["valueFrom"]:
            monkeypatch.setenv(entry["name"], config[entry["valueFrom"]["configMapKeyRef"]["key"]])
        else:  # the downward API's pod IP
            monkeypatch.setenv(entry["name"], "10.42.0.17")
    settings = Settings(_env_file=None)
    assert settings.environment == "production"
    assert settings.db_url.startswith("postgresql+psycopg://sge_runtime:")
    assert settings.worker_max_concurrent_activities == int(config["WORKER_CONCURRENCY"])
    assert (settings.relayer_private_key is not None) == (deployment == "sge-worker")


def _lock_pins(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a `uv pip compile --generate-hashes` file."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", path.read_text()):
        match = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", block)
        if match:
            pins[match.group(1).lower()] = (match.group(2), frozenset(re.findall(r"sha256:([0-9a-f]{64})", block)))
    return pins


def test_the_image_lock_is_the_tested_lock_without_dev_tools():
    image, tested = _lock_pins(DEPLOY / "requirements-image.lock"), _lock_pins(ROOT / "requirements.lock")
    assert image and set(image) < set(tested)
    assert {name: pin for name, pin in image.items() if tested[name] != pin} == {}
    assert not {"pytest", "playwright", "mypy", "ruff", "uv"} & set(image)
    assert {"temporalio", "fastapi", "sqlalchemy", "setuptools", "wheel"} <= set(image)
