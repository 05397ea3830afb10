"""The links the local stack and `sge demo` print: the app's page, and the Web UI at the configured port."""

from __future__ import annotations

from cli.common import out
from cli.demo import print_report
from core.settings import Settings
from ops.devstack.demo import DEMO_PROGRAM, DemoReport


def test_web_ui_follows_the_configured_port_unless_a_url_is_given(tmp_path):
    moved = Settings(_env_file=None, home=tmp_path, temporal_ui_port=18233, api_port=18000)
    assert moved.temporal_ui_url == "http://127.0.0.1:18233"
    assert moved.app_url == "http://127.0.0.1:18000/app"
    given = Settings(_env_file=None, home=tmp_path, temporal_web_url="https://temporal.example.org/")
    assert given.temporal_ui_url == "https://temporal.example.org"


def test_demo_report_prints_the_app_and_the_web_ui():
    report = DemoReport(
        api="http://127.0.0.1:18000",
        operator="http://127.0.0.1:18001",
        web_ui="http://127.0.0.1:18233/namespaces/default/workflows",
        app=f"http://127.0.0.1:18000/app/{DEMO_PROGRAM}",
    )
    with out.capture() as captured:
        print_report(report)
    text = captured.get()
    assert "http://127.0.0.1:18000/app/demo" in text and "http://127.0.0.1:18233/namespaces" in text
    assert "8233/" not in text.replace("18233/", "")


def test_dev_fund_gives_a_wallet_gas_and_test_stablecoins(anvil, tmp_path):
    """`sge dev fund ADDRESS`: what a person needs to try the app with a wallet extension."""
    from eth_account import Account

    from ops.devstack.demo import fund_wallet
    from tests.helpers.chain import deploy_chain

    chain = deploy_chain(anvil, tmp_path / "deployments")
    settings = Settings(_env_file=None, home=tmp_path, eth_rpc_urls=[anvil.rpc_url], chain_id=anvil.chain_id)
    person = Account.create().address
    sent = fund_wallet(settings, person, eth_wei=10**18, usd_minor=100 * 10**6)
    assert sorted(sent) == ["ETH", "TestUSDC", "TestUSDT"]
    assert chain.w3.eth.get_balance(person) == 10**18
    assert chain.view("TestUSDC", "balanceOf", person) == chain.view("TestUSDT", "balanceOf", person) == 100 * 10**6
