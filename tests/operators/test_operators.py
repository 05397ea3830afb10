import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.db import session_scope
from models import operators as ops
from tests.helpers.ledger import CLI, make_operator, row_counts

ROOT = Path(__file__).resolve().parents[2]


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def test_keys_are_stored_hashed_and_compared_exactly(db_engine):
    key = make_operator(db_engine, "alice", "admin", "approver")
    assert key.startswith(ops.KEY_PREFIX) and len(key) > 40
    with Session(db_engine) as s:
        row = s.exec(select(ops.Operator)).one()
        assert row.key_hash == ops.hash_key(key) and key not in (row.key_hash, row.key_hint)
        actor = ops.authenticate(s, key)
        assert actor.name == "alice" and actor.roles == [ops.Role.ADMIN, ops.Role.APPROVER]
        assert ops.authenticate(s, key[:-1]) is None and ops.authenticate(s, key + "x") is None
        assert ops.authenticate(s, "") is None


def test_invalid_operator_input(db_engine):
    make_operator(db_engine, "alice", "admin")
    for name, roles, code in [
        ("alice", ["viewer"], "operator_exists"),
        ("bob", [], "invalid_roles"),
        ("bob", ["root"], "invalid_roles"),
        ("", ["viewer"], "invalid_name"),
        ("42", ["viewer"], "invalid_name"),
    ]:
        with pytest.raises(ops.OperatorError) as err:
            with session_scope(db_engine) as s:
                ops.create_operator(s, CLI, name, roles)
        assert err.value.code == code


async def test_admin_manages_operators_and_everything_is_audited(api_client, db_engine):
    admin = make_operator(db_engine, "alice", "admin")
    resp = await api_client.post("/v1/ops/operators", json={"name": "bob", "roles": ["approver"]}, headers=auth(admin))
    assert resp.status_code == 201, resp.text
    bob_key, bob = resp.json()["api_key"], resp.json()["operator"]
    assert (await api_client.get("/v1/ops/me", headers=auth(bob_key))).json()["name"] == "bob"
    listed = (await api_client.get("/v1/ops/operators", headers=auth(admin))).json()
    assert {o["name"] for o in listed} == {"alice", "bob"} and all("key_hash" not in o for o in listed)
    dup = await api_client.post("/v1/ops/operators", json={"name": "bob", "roles": ["viewer"]}, headers=auth(admin))
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "operator_exists"

    resp = await api_client.post(f"/v1/ops/operators/{bob['id']}/disable", headers=auth(admin))
    assert resp.status_code == 200 and resp.json()["active"] is False
    assert (await api_client.get("/v1/ops/me", headers=auth(bob_key))).status_code == 401
    me = (await api_client.get("/v1/ops/me", headers=auth(admin))).json()
    self_disable = await api_client.post(f"/v1/ops/operators/{me['operator_id']}/disable", headers=auth(admin))
    assert self_disable.status_code == 409

    log = (await api_client.get("/v1/ops/audit", headers=auth(admin))).json()
    actions = [(e["actor"], e["action"]) for e in log]
    assert actions[:2] == [("alice", "operator.disable"), ("alice", "operator.create")]
    disable = log[0]
    assert disable["before"]["active"] is True and disable["after"]["active"] is False
    assert disable["target_type"] == "operator" and disable["target_id"] == str(bob["id"]) and disable["request_id"]
    assert all(bob_key not in str(e) for e in log)  # keys never reach the log
    page = (await api_client.get(f"/v1/ops/audit?before={log[0]['id']}&limit=1", headers=auth(admin))).json()
    assert [e["id"] for e in page] == [log[1]["id"]]


def _sge(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.integration  # runs the `sge` CLI as a process
def test_cli_creates_operators_and_prints_the_key_once(db_engine, db_url, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SGE_HOME": str(tmp_path),
        "SGE_LOG_FORMAT": "console",
        "COLUMNS": "200",
    }
    env.pop("SGE_DATABASE_URL", None)
    created = _sge("operators", "create", "carol", "--role", "admin", "--role", "viewer", env=env)
    assert created.returncode == 0, created.stderr
    key = next(line for line in created.stdout.splitlines() if line.startswith(ops.KEY_PREFIX))
    with Session(db_engine) as s:
        assert ops.authenticate(s, key).name == "carol"
    listed = _sge("operators", "list", env=env)
    assert "carol" in listed.stdout and key not in listed.stdout
    rotated = _sge("operators", "rotate-key", "carol", env=env)
    new_key = next(line for line in rotated.stdout.splitlines() if line.startswith(ops.KEY_PREFIX))
    with Session(db_engine) as s:
        assert ops.authenticate(s, key) is None and ops.authenticate(s, new_key).name == "carol"
        entries = ops.audit_entries(s)
    assert [e.action for e in entries] == ["operator.rotate_key", "operator.create"]
    assert entries[0].actor.startswith("cli:")
    before = row_counts(db_engine)
    bad = _sge("operators", "create", "carol", "--role", "viewer", env=env)
    assert bad.returncode != 0 and "exists" in bad.stderr and row_counts(db_engine) == before
