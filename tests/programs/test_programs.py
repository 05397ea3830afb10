import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from models import programs as prg
from tests.helpers.ledger import make_operator, row_counts

ROOT = Path(__file__).resolve().parents[2]
BODY = {"slug": "acme", "name": "Acme", "treasury_address": "0x" + "ab" * 20}


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def test_defaults_follow_the_reference_plan():
    p = prg.ProgramCreate(**BODY)
    assert p.commission_bps == [1000, 500] and p.max_depth == 2 and p.hold_days == 30
    assert p.fee_usd == "100" and p.claim_amount_sge == "1000"
    assert p.treasury_address == "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"  # EIP-55


@pytest.mark.parametrize(
    "change",
    [
        {"fee_usd": "1.0000001"},  # more decimals than USD's 6: inexact → refused
        {"fee_usd": "-1"},
        {"fee_usd": "1e3"},
        {"claim_amount_sge": "0.0000000000000000001"},
        {"commission_bps": [9000, 2000]},  # over 100 %
        {"commission_bps": [1000, 500, 100]},  # 3 levels with max_depth 2 never pay
        {"commission_bps": []},
        {"commission_bps": [-1]},
        {"slug": "Bad Slug"},
        {"treasury_address": "0x1234"},
        {"max_depth": 0},
        {"unknown_field": 1},
    ],
)
def test_invalid_programs_are_refused(change):
    with pytest.raises(ValidationError):
        prg.ProgramCreate(**{**BODY, **change})


async def test_admin_crud_is_audited_and_viewers_read(api_client, db_engine):
    admin = make_operator(db_engine, "alice", "admin")
    viewer = make_operator(db_engine, "victor", "viewer")
    resp = await api_client.post(
        "/v1/ops/programs", json={**BODY, "fee_usd": "99.50", "commission_bps": [1200, 300]}, headers=auth(admin)
    )
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["fee_usd_minor"] == "99500000" and created["fee_usd"] == "99.500000"
    assert created["claim_amount_minor"] == str(1000 * 10**18)
    again = await api_client.post("/v1/ops/programs", json=BODY, headers=auth(admin))
    assert again.status_code == 409 and again.json()["error"]["code"] == "program_exists"
    invalid = await api_client.post(
        "/v1/ops/programs", json={**BODY, "slug": "x2", "fee_usd": "0.0000001"}, headers=auth(admin)
    )
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "validation_error"

    resp = await api_client.patch("/v1/ops/programs/acme", json={"hold_days": 7, "fee_usd": "100"}, headers=auth(admin))
    assert resp.status_code == 200 and resp.json()["hold_days"] == 7 and resp.json()["fee_usd_minor"] == "100000000"
    bad = await api_client.patch(
        "/v1/ops/programs/acme", json={"max_depth": 1}, headers=auth(admin)
    )  # 2 levels need depth 2
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_program"
    missing = await api_client.patch("/v1/ops/programs/nope", json={"hold_days": 1}, headers=auth(admin))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "program_not_found"

    listed = await api_client.get("/v1/ops/programs", headers=auth(viewer))
    assert [p["slug"] for p in listed.json()] == ["acme"]
    assert (await api_client.get("/v1/ops/programs/acme", headers=auth(viewer))).json()["hold_days"] == 7
    before = row_counts(db_engine)
    assert (
        await api_client.patch("/v1/ops/programs/acme", json={"hold_days": 1}, headers=auth(viewer))
    ).status_code == 403
    assert row_counts(db_engine) == before

    gone = await api_client.delete("/v1/ops/programs/acme", headers=auth(admin))
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert (await api_client.get("/v1/ops/programs/acme", headers=auth(viewer))).json()[
        "active"
    ] is False  # history stays

    log = (await api_client.get("/v1/ops/audit?target_type=program", headers=auth(admin))).json()
    assert [e["action"] for e in log] == ["program.deactivate", "program.update", "program.create"]
    assert log[0]["before"]["active"] is True and log[0]["after"]["active"] is False
    update = log[1]
    assert update["actor"] == "alice" and update["target_id"] == "acme"
    assert update["before"]["hold_days"] == 30 and update["after"]["hold_days"] == 7
    assert update["before"]["fee_usd_minor"] == "99500000" and update["after"]["fee_usd_minor"] == "100000000"
    assert log[2]["before"] is None and log[2]["after"]["commission_bps"] == [1200, 300]


@pytest.mark.integration  # runs the `sge` CLI as a process
def test_cli_programs(db_engine, db_url, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SGE_HOME": str(tmp_path),
        "SGE_LOG_FORMAT": "console",
        "COLUMNS": "200",
    }
    env.pop("SGE_DATABASE_URL", None)

    def sge(*args):
        return subprocess.run(
            [sys.executable, "-m", "cli", "programs", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    made = sge(
        "create",
        "--slug",
        "cli-prog",
        "--name",
        "CLI",
        "--treasury",
        "0x" + "cd" * 20,
        "--fee",
        "25.5",
        "--commission-bps",
        "800",
    )
    assert made.returncode == 0, made.stderr
    assert '"fee_usd_minor": "25500000"' in made.stdout and '"commission_bps": [\n    800\n  ]' in made.stdout
    bad = sge("create", "--slug", "cli-2", "--name", "X", "--treasury", "0x" + "cd" * 20, "--fee", "1.0000001")
    assert bad.returncode != 0 and "fee_usd" in bad.stderr
    upd = sge("update", "cli-prog", "--hold-days", "3", "--inactive")
    assert upd.returncode == 0 and '"active": false' in upd.stdout
    kyc = sge("update", "cli-prog", "--kyc", "above_amount", "--kyc-threshold", "250")
    assert kyc.returncode == 0, kyc.stderr
    assert '"mode": "above_amount"' in kyc.stdout and '"threshold_usd_minor": 250000000' in kyc.stdout
    assert "cli-prog" in sge("list").stdout
