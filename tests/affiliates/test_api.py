from eth_account import Account
from eth_account.messages import encode_defunct

from core.db import session_scope
from models import affiliates as aff
from models import commissions as com
from tests.helpers.ledger import make_operator, make_program, row_counts


def auth(key):
    return {"Authorization": f"Bearer {key}"}


async def api_register(client, account, parent_code=None, program="demo"):
    issued = await client.post("/v1/affiliates/nonce", json={"program": program, "wallet": account.address})
    assert issued.status_code == 201, issued.text
    body = issued.json()
    signature = account.sign_message(encode_defunct(text=body["message"])).signature.hex()
    return await client.post(
        "/v1/affiliates",
        json={
            "program": program,
            "wallet": account.address,
            "nonce": body["nonce"],
            "signature": signature,
            "parent_code": parent_code,
        },
    )


async def test_register_over_http_and_refusals_are_json(api_client, db_engine):
    make_program(db_engine)
    root_acct = Account.create()
    resp = await api_register(api_client, root_acct)
    assert resp.status_code == 201, resp.text
    root = resp.json()
    assert root["wallet"] == root_acct.address and root["depth"] == 1 and len(root["code"]) == 8
    child = (await api_register(api_client, Account.create(), root["code"])).json()
    assert child["parent_code"] == root["code"] and child["depth"] == 2

    before = row_counts(db_engine)
    too_deep = await api_register(api_client, Account.create(), child["code"])
    assert too_deep.status_code == 409 and too_deep.json()["error"]["code"] == "depth_exceeded"
    dup = await api_register(api_client, root_acct)
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "wallet_registered"
    assert row_counts(db_engine)["affiliate"] == before["affiliate"]

    victim, attacker = Account.create(), Account.create()
    issued = (await api_client.post("/v1/affiliates/nonce", json={"program": "demo", "wallet": victim.address})).json()
    forged = attacker.sign_message(encode_defunct(text=issued["message"])).signature.hex()
    resp = await api_client.post(
        "/v1/affiliates",
        json={"program": "demo", "wallet": victim.address, "nonce": issued["nonce"], "signature": forged},
    )
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_signature"
    bad_wallet = await api_client.post("/v1/affiliates/nonce", json={"program": "demo", "wallet": "0xnope"})
    assert bad_wallet.status_code == 422 and bad_wallet.json()["error"]["code"] == "invalid_wallet"
    no_program = await api_client.post("/v1/affiliates/nonce", json={"program": "nope", "wallet": victim.address})
    assert no_program.status_code == 404 and no_program.json()["error"]["code"] == "program_not_found"


async def test_public_profile_and_tree_hide_wallets_and_money(api_client, db_engine):
    make_program(db_engine)
    root = (await api_register(api_client, Account.create())).json()
    for _ in range(2):
        await api_register(api_client, Account.create(), root["code"])
    profile = await api_client.get(f"/v1/affiliates/demo/{root['code'].lower()}")
    assert profile.status_code == 200
    body = profile.json()
    assert body["direct_referrals"] == 2 and "wallet" not in body
    tree = (await api_client.get(f"/v1/affiliates/demo/{root['code']}/tree?depth=1&limit=2")).json()
    assert tree["nodes"] == 2 and tree["truncated"] is True
    assert all(node["wallet"] is None for node in [tree["root"], *tree["root"]["children"]])
    assert (await api_client.get(f"/v1/affiliates/demo/{root['code']}/tree?depth=99")).status_code == 422  # bounded
    missing = await api_client.get("/v1/affiliates/demo/ABCDEF12")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "affiliate_not_found"


async def test_operator_affiliate_views_suspension_and_ledger(api_client, db_engine):
    make_program(db_engine)
    admin, viewer = make_operator(db_engine, "alice", "admin"), make_operator(db_engine, "victor", "viewer")
    root = (await api_register(api_client, Account.create())).json()
    child = (await api_register(api_client, Account.create(), root["code"])).json()
    user = Account.create().address
    with session_scope(db_engine) as s:
        aff.attribute(s, "demo", user, child["code"], "api")
        com.settle_payment(s, "coinbase_commerce:OPS-1", "demo", user, 100_000_000, "USD")

    detail = (await api_client.get(f"/v1/ops/affiliates/{child['id']}", headers=auth(viewer))).json()
    assert detail["affiliate"]["wallet"] == child["wallet"]
    assert detail["stats"] == {
        "affiliate_id": child["id"],
        "direct_referrals": 0,
        "attributed_users": 1,
        "totals": {"USD": {"accrued": "10000000"}},
    }
    statement = (await api_client.get(f"/v1/ops/affiliates/{child['id']}/commissions", headers=auth(viewer))).json()
    assert [(c["level"], c["amount"], c["status"]) for c in statement["lines"]] == [(1, 10_000_000, "accrued")]
    tree = (await api_client.get(f"/v1/ops/affiliates/{root['id']}/tree", headers=auth(viewer))).json()
    assert tree["root"]["children"][0]["wallet"] == child["wallet"]
    listing = (await api_client.get("/v1/ops/programs/demo/affiliates?limit=1", headers=auth(viewer))).json()
    assert [a["id"] for a in listing["affiliates"]] == [root["id"]] and listing["next_cursor"] == root["id"]
    by_payment = (
        await api_client.get("/v1/ops/commissions?payment_ref=coinbase_commerce:OPS-1", headers=auth(viewer))
    ).json()
    assert [c["affiliate_id"] for c in by_payment] == [child["id"], root["id"]]

    resp = await api_client.post(
        f"/v1/ops/affiliates/{child['id']}/suspend", json={"reason": "fraud review"}, headers=auth(admin)
    )
    assert resp.status_code == 200 and resp.json()["status"] == "suspended"
    log = (
        await api_client.get(f"/v1/ops/audit?target_type=affiliate&target_id={child['id']}", headers=auth(admin))
    ).json()
    assert log[0]["action"] == "affiliate.suspend" and log[0]["before"]["status"] == "active"
    assert log[0]["after"] == {"status": "suspended", "status_reason": "fraud review"}
    assert (await api_client.post("/v1/ops/affiliates/999/suspend", json={}, headers=auth(admin))).status_code == 404

    balances = (
        await api_client.get("/v1/ops/ledger/balances?prefix=liability:affiliate:", headers=auth(viewer))
    ).json()
    assert {(b["account"], b["normal_balance_minor"], b["normal_balance"]) for b in balances} == {
        (f"liability:affiliate:{child['id']}:accrued", "10000000", "10.000000"),
        (f"liability:affiliate:{root['id']}:accrued", "5000000", "5.000000"),
    }
    st = (
        await api_client.get("/v1/ops/ledger/accounts/revenue:fees:demo/statement?asset=USD", headers=auth(viewer))
    ).json()
    assert [(line["tx_id"], line["amount_minor"]) for line in st["lines"]] == [
        ("settle:coinbase_commerce:OPS-1", "-100000000")
    ]
    tx = (
        await api_client.get("/v1/ops/ledger/transactions/settle:coinbase_commerce:OPS-1", headers=auth(viewer))
    ).json()
    assert tx["kind"] == "payment.settle" and len(tx["postings"]) == 6
    assert (await api_client.get("/v1/ops/ledger/transactions/none", headers=auth(viewer))).status_code == 404
    bad_asset = await api_client.get("/v1/ops/ledger/balances?asset=DOGE", headers=auth(viewer))
    assert bad_asset.status_code == 422 and bad_asset.json()["error"]["code"] == "invalid_asset"
    unknown = await api_client.get("/v1/ops/ledger/accounts/asset:nope/statement?asset=USD", headers=auth(viewer))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_account"
    verify = (await api_client.get("/v1/ops/ledger/verify", headers=auth(viewer))).json()
    assert verify["ok"] is True and verify["asset_totals"] == {"USD": "0"}
