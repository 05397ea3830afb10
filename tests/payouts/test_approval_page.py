"""The payout approval page (/ops/payouts/{id}) in a real headless Chromium: the operator app served over
real HTTP (uvicorn), the dev server with a worker running the real payout activities, anvil with the
contracts, the DB; each approver signs in with their API key and their browser wallet (the test wallet of
tests/helpers/browser, holding the approver's key) signs. Screenshots go to var/screenshots/payouts/."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from models import approval_policy as policy
from ops.devstack.processes import free_port
from tests.helpers.browser import USER_REJECTED, OpenWallet, TestWallet
from tests.helpers.ledger import make_operator
from tests.helpers.surfaces import ServedSurfaces
from tests.helpers.temporal import temporal_address
from tests.payouts.conftest import Payouts, earn

pytestmark = pytest.mark.integration

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "payouts"
WAIT_MS = 60_000  # a liveness guard: each wait returns as soon as the page shows the state


@pytest.fixture
def served(payouts: Payouts, temporal_dev, db_engine):
    settings = payouts.settings.model_copy(  # type: ignore[union-attr]
        update={
            "api_port": free_port(),
            "operator_port": free_port(),
            "temporal_address": temporal_address(temporal_dev.client),
            "temporal_task_queue": payouts.queue,
        }
    )
    with ServedSurfaces(settings, db_engine) as surfaces:
        yield surfaces.operator_url


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def signed_in(open_wallet: OpenWallet, payouts: Payouts, base: str, who: str) -> tuple[Page, TestWallet]:
    """A browser whose wallet holds `who`'s approver key, signed in to the operator pages as `who`."""
    page, wallet = await open_wallet(payouts.signers[who], connected=False)
    await page.goto(f"{base}/ops/login")
    await page.fill("#api_key", payouts.operator_keys[who])
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_contain_text(f"Signed in as {who}")
    return page, wallet


async def batch_page(page: Page, base: str, batch_id: str) -> None:
    await page.click("text=Payouts")  # from the operator home
    await page.click(f"a[href='/ops/payouts/{batch_id}']")
    await expect(page.locator("#state")).to_have_text("awaiting_approval")


async def test_two_approvers_approve_in_the_browser_and_the_batch_pays(payouts, db_engine, served, open_wallet):
    earn(db_engine)
    handle = await payouts.start(created_by="dave")
    await payouts.until(handle, "awaiting_approval")

    page, wallet = await signed_in(open_wallet, payouts, served, "alice")
    await batch_page(page, served, handle.id)
    await expect(page.locator("#approvals")).to_have_text("0 / 2")
    await expect(page.locator("#total")).to_have_text("15.000000")
    await shot(page, "1-awaiting-approval")

    # The approver refuses in the wallet: the page says so and nothing is sent.
    wallet.fail_next(USER_REJECTED, method="eth_signTypedData_v4")
    await page.click("#approve")
    await expect(page.locator("#wallet-status")).to_contain_text("did not sign", timeout=WAIT_MS)
    await expect(page.locator("#wallet-status")).to_contain_text(str(USER_REJECTED))
    await shot(page, "2-wallet-refused")
    status = await payouts.status(handle)
    assert (status.state, [d for d in status.decisions if d.kind == "approve"]) == ("awaiting_approval", [])

    await page.click("#approve")
    await expect(page.locator("#outcome")).to_contain_text("accepted", timeout=WAIT_MS)
    await expect(page.locator("#approvals")).to_have_text("1 / 2")
    await shot(page, "3-one-approval")
    signed = (await wallet.wait_for("eth_signTypedData_v4", count=2)).params
    assert signed[0] == payouts.signers["alice"].address.lower()

    # The creator (dave, an approver too) signs in the browser: the policy refuses, nothing counts.
    page_d, _ = await signed_in(open_wallet, payouts, served, "dave")
    await batch_page(page_d, served, handle.id)
    await page_d.click("#approve")
    await expect(page_d.locator("#outcome")).to_contain_text(policy.CREATOR, timeout=WAIT_MS)
    await expect(page_d.locator("#approvals")).to_have_text("1 / 2")
    await shot(page_d, "4-creator-refused")

    page_b, _ = await signed_in(open_wallet, payouts, served, "bob")
    await batch_page(page_b, served, handle.id)
    await page_b.click("#approve")
    await expect(page_b.locator("#outcome")).to_contain_text("accepted", timeout=WAIT_MS)
    assert (await handle.result()).state == "paid"
    await page_b.goto(f"{served}/ops/payouts/{handle.id}")
    await expect(page_b.locator("#state")).to_have_text("paid")
    await expect(page_b.locator("#approvals")).to_have_text("2 / 2")
    await expect(page_b.locator("#decisions")).to_contain_text(payouts.signers["alice"].address)
    await expect(page_b.locator("#approve")).to_have_count(0)  # nothing left to decide
    await shot(page_b, "5-paid")
    lines = await page_b.locator("#lines tr").all_inner_texts()
    assert len(lines) == 3 and all("paid" in row for row in lines[1:])


async def test_reject_with_a_reason_voids_the_batch(payouts, db_engine, served, open_wallet):
    earn(db_engine)
    handle = await payouts.start(created_by="dave")
    await payouts.until(handle, "awaiting_approval")

    page, wallet = await signed_in(open_wallet, payouts, served, "carol")
    await batch_page(page, served, handle.id)
    reason = "wrong wallet on line 1"
    await page.fill("#reason", reason)
    await page.click("#reject")
    await expect(page.locator("#outcome")).to_contain_text("Rejection sent", timeout=WAIT_MS)
    sent = await wallet.wait_for("eth_signTypedData_v4")
    assert '"PayoutRejection"' in sent.params[1] and reason in sent.params[1]
    assert (await handle.result()).state == "rejected"

    await page.goto(f"{served}/ops/payouts/{handle.id}")
    await expect(page.locator("#state")).to_have_text("rejected")
    await expect(page.locator("#decisions")).to_contain_text(reason)
    await expect(page.locator("#decisions")).to_contain_text(payouts.signers["carol"].address)
    await expect(page.locator("#reject")).to_have_count(0)
    await shot(page, "6-rejected")
    lines = await page.locator("#lines tr").all_inner_texts()
    assert len(lines) == 3 and not any("paid" in row for row in lines[1:])


async def test_viewers_see_the_batch_without_buttons_and_a_malformed_signature_is_refused(payouts, db_engine, served):
    earn(db_engine)
    handle = await payouts.start(created_by="dave")
    await payouts.until(handle, "awaiting_approval")
    viewer = {"Authorization": f"Bearer {make_operator(db_engine, 'vera', 'viewer')}"}
    approver = {"Authorization": f"Bearer {payouts.operator_keys['alice']}"}
    async with httpx.AsyncClient(base_url=served, timeout=30) as http:
        listed = await http.get("/ops/payouts", headers=viewer)
        assert listed.status_code == 200 and f"/ops/payouts/{handle.id}" in listed.text
        shown = await http.get(f"/ops/payouts/{handle.id}", headers=viewer)
        assert shown.status_code == 200 and "approve-form" not in shown.text and "15.000000" in shown.text
        assert "script-src 'self'" in shown.headers["content-security-policy"]
        assert "approve-form" in (await http.get(f"/ops/payouts/{handle.id}", headers=approver)).text
        bad = await http.post(f"/ops/payouts/{handle.id}/approve", data={"signature": "0x12"}, headers=approver)
        assert bad.status_code == 422 and "signature" in bad.text
        missing = await http.get(f"/ops/payouts/{handle.id}x", headers=viewer)
        assert missing.status_code == 404
    status = await payouts.status(handle)
    assert (status.state, status.decisions) == ("awaiting_approval", [])
