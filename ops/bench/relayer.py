"""Relayer throughput on anvil, next to raw web3 sends of the same transactions in the same run.

Each mode sends N SGE-ID mints to fresh wallets and counts until every one is mined (confirmed),
so both sides do the same chain work:

- raw web3, sequential: estimate gas, sign, eth_sendRawTransaction, wait for the receipt, one by one.
- raw web3, concurrent: C threads doing the same, nonces from one in-process counter.
- relayer, sequential: `submit` then `wait_final`, one by one (outbox rows, DB nonce lock, fees from
  eth_feeHistory, persisted raw bytes).
- relayer, concurrent: C threads doing `submit` + `wait_final`, as C workflows would.

Receipts are polled at the same interval on both sides. The floor (issue 3): concurrent relayer
throughput ≥ 50 % of concurrent raw web3.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy.engine import make_url
from web3 import Web3
from web3.types import TxParams

FLOOR_RATIO = 0.5


@dataclass
class ModeResult:
    mode: str
    transactions: int
    seconds: float
    tx_per_s: float


@dataclass
class BenchReport:
    transactions: int
    concurrency: int
    poll_interval_s: float
    database: str
    results: list[ModeResult]
    ratio_concurrent: float
    floor_ratio: float
    floor_met: bool
    checks: dict[str, Any]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Anvil:
    def __init__(self, binary: str, workdir: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "anvil.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", str(self.port), "--chain-id", "31337"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.post(
                        self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
                    ).status_code
                    == 200
                ):
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("anvil did not start")

    def rpc(self, method: str, params: list) -> Any:
        return httpx.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class _RawSender:
    """The leanest correct sender without a relayer: estimate gas, sign locally with an in-process
    nonce counter, eth_sendRawTransaction, wait for the receipt. Same slimmed web3 middleware as the
    relayer and fees read once, so the difference measured is the relayer's own work (outbox rows,
    DB nonce lock, persisted bytes, fee history)."""

    def __init__(self, w3: Web3, account: LocalAccount, to: str, poll: float):
        self.w3, self.account, self.to, self.poll = w3, account, to, poll
        self.nonce: int = w3.eth.get_transaction_count(account.address, "pending")
        self.lock = threading.Lock()
        base = w3.eth.get_block("latest")["baseFeePerGas"]
        self.fees = {"maxPriorityFeePerGas": 10**8, "maxFeePerGas": 2 * base + 10**8}

    def send(self, data: bytes) -> int:
        tx: dict[str, Any] = {"from": self.account.address, "to": self.to, "data": data, "value": 0, "chainId": 31337}
        tx["gas"] = self.w3.eth.estimate_gas(cast(TxParams, tx)) * 125 // 100
        tx.update(self.fees)
        with self.lock:
            tx["nonce"] = self.nonce
            self.nonce += 1
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=self.poll)
        if receipt["status"] != 1:
            raise RuntimeError("raw send reverted")
        return tx["nonce"]


def _timed(mode: str, n: int, concurrency: int, work) -> ModeResult:
    started = time.perf_counter()
    if concurrency <= 1:
        for i in range(n):
            work(i)
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(work, range(n)))
    seconds = time.perf_counter() - started
    return ModeResult(mode=mode, transactions=n, seconds=round(seconds, 3), tx_per_s=round(n / seconds, 1))


def _send_as(w3: Web3, sender: LocalAccount, to: str, data: bytes) -> None:
    tx: dict[str, Any] = {
        "from": sender.address,
        "to": to,
        "data": data,
        "value": 0,
        "chainId": 31337,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
    }
    tx["gas"] = w3.eth.estimate_gas(cast(TxParams, tx)) * 2
    base = w3.eth.get_block("latest")["baseFeePerGas"]
    tx.update(maxPriorityFeePerGas=10**8, maxFeePerGas=2 * base + 10**8)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    )
    if receipt["status"] != 1:
        raise RuntimeError("setup transaction reverted")


def run(
    *,
    transactions: int = 200,
    concurrency: int = 32,
    poll_interval: float = 0.05,
    database_url: str | None = None,
    anvil_binary: str | None = None,
    progress=print,
) -> BenchReport:
    from contracts.abi import encode_call, mint_identity
    from contracts.deploy import deploy_all
    from contracts.rpc import connect, lean
    from core import migrate
    from core.db import make_engine
    from core.devchain import anvil_accounts
    from core.settings import Settings
    from models.chain import ContractCall, SubmitTx
    from ops.devstack.processes import anvil_binary as default_anvil
    from relayer.engine import Relayer

    workdir = Path(tempfile.mkdtemp(prefix="sge-bench-relayer-"))
    node = _Anvil(anvil_binary or default_anvil(), workdir)
    engine = None
    try:
        w3 = connect([node.url], expected_chain_id=31337)
        db_url = database_url or f"sqlite:///{workdir / 'bench.db'}"
        relayer_key = "0x" + os.urandom(32).hex()
        settings = Settings(
            _env_file=None,
            home=workdir / "home",
            environment="test",
            database_url=db_url,
            eth_rpc_urls=[node.url],
            chain_id=31337,
            relayer_private_key=relayer_key,
            relayer_poll_interval_seconds=poll_interval,
            log_format="console",
            log_level="WARNING",
        )
        engine = make_engine(settings.db_url, pool_size=max(10, concurrency + 4))
        migrate.upgrade(engine)
        deployer = anvil_accounts()[0]
        raw_account = Account.from_key("0x" + os.urandom(32).hex())
        relayer = Relayer(settings, engine)
        manifest = deploy_all(
            w3, deployer, relayer.address, settings.deployments_dir, chain_id=31337, local_chain=True
        ).manifest
        sgeid = manifest.address("SGEID")
        for who in (relayer.address, raw_account.address):
            node.rpc("anvil_setBalance", [who, hex(1000 * 10**18)])
        # The raw sender mints too, so both sides send the very same kind of transaction.
        minter_role = Web3.keccak(text="MINTER_ROLE")
        _send_as(w3, deployer, sgeid, encode_call("SGEID", "grantRole", minter_role, raw_account.address))

        run_id = os.urandom(4).hex()
        results: list[ModeResult] = []
        checks: dict[str, Any] = {}

        def raw_mode(name: str, conc: int) -> None:
            sender = _RawSender(lean(connect([node.url])), raw_account, sgeid, poll_interval)
            wallets = [Account.create().address for _ in range(transactions)]
            progress(f"  {name} ...")
            results.append(_timed(name, transactions, conc, lambda i: sender.send(mint_identity(wallets[i]))))

        def relayer_mode(name: str, conc: int) -> None:
            wallets = [Account.create().address for _ in range(transactions)]
            outcomes: list = [None] * transactions

            def one(i: int) -> None:
                req = SubmitTx(
                    key=f"bench:{run_id}:{name}:{i}",
                    label="bench mint",
                    call=ContractCall(contract="SGEID", function="mint", args=[wallets[i]]),
                )
                relayer.submit(req)
                outcomes[i] = relayer.wait_final(req.key, timeout=300)

            progress(f"  {name} ...")
            results.append(_timed(name, transactions, conc, one))
            nonces = sorted(o.nonce for o in outcomes)
            checks[name] = {
                "all_confirmed": all(o.status == "confirmed" for o in outcomes),
                "consecutive_nonces": nonces == list(range(nonces[0], nonces[0] + transactions)),
            }

        # Interleaved so neither side benefits from a warmer or emptier node.
        raw_mode("raw web3 sequential", 1)
        relayer_mode("relayer sequential", 1)
        raw_mode("raw web3 concurrent", concurrency)
        relayer_mode("relayer concurrent", concurrency)

        by = {r.mode: r for r in results}
        ratio = by["relayer concurrent"].tx_per_s / by["raw web3 concurrent"].tx_per_s
        return BenchReport(
            transactions=transactions,
            concurrency=concurrency,
            poll_interval_s=poll_interval,
            database=make_url(db_url).get_backend_name(),
            results=results,
            ratio_concurrent=round(ratio, 3),
            floor_ratio=FLOOR_RATIO,
            floor_met=ratio >= FLOOR_RATIO and all(all(c.values()) for c in checks.values()),
            checks=checks,
        )
    finally:
        if engine is not None:
            engine.dispose()
        node.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def report_dict(report: BenchReport) -> dict[str, Any]:
    return asdict(report)
