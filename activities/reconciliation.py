"""Reconciliation activities: read the chain (balances at the head, logs of the blocks since the stored
cursor up to the last final block, in chunks), run every check against the books, persist the report;
and turn the halt switch on for a report with an unexplained difference (the workflow decides)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from eth_typing import HexStr
from hexbytes import HexBytes
from sqlalchemy import select
from sqlmodel import Session
from temporalio import activity
from web3 import Web3

from activities.chain_access import ZERO_ADDRESS, ChainAccess
from contracts.abi import address_topic, event_topic
from contracts.reads import call_view, find_claims
from core.columns import utcnow
from core.db import session_scope, table_of
from models import recon, treasury
from models.ledger import LedgerTx
from models.platform import PaymentProvider
from models.recon import report as reports
from models.recon.chain_checks import balance_checks, event_checks
from models.recon.internal import internal_checks
from models.recon.known import known
from models.recon.processor import processor_checks
from models.recon.report import ReportSummary, RunRequest
from models.recon.snapshot import (
    ChainSnapshot,
    ClaimLog,
    LogTransfer,
    MintLog,
    ProcessorCharge,
    ProcessorListing,
)
from payments.charges import provider_client
from payments.interface import PaymentsNotConfigured

_TX = table_of(LedgerTx)


def _addr(topic: Any) -> str:
    return "0x" + HexBytes(topic)[-20:].hex()


class ReconciliationActivities(ChainAccess):
    @activity.defn(name=recon.RUN_RECONCILIATION)
    def run(self, req: RunRequest) -> ReportSummary:
        with session_scope(self.engine) as session:
            done = reports.find_report(session, req.run_key)
            if done is not None:  # a retry after the report was saved
                return reports.summary(done)
        started = utcnow()
        snap = self.snapshot()
        listings = self.processor_listings()
        grace = timedelta(seconds=self.settings.reconciliation_grace_seconds)
        with session_scope(self.engine) as session:
            k = known(session)
            checks = balance_checks(session, snap, k, grace) + event_checks(snap, k, grace)
            checks += processor_checks(session, listings) + internal_checks(session)
            return reports.save_report(session, req, checks, snap, started)

    @activity.defn(name=recon.HALT_FOR_REPORT)
    def halt_for_report(self, report_id: int) -> ReportSummary:
        with session_scope(self.engine) as session:
            return reports.halt_for(session, report_id)

    # --- reading the processors ---------------------------------------------------------------------------
    def processor_listings(self) -> list[ProcessorListing]:
        """Every charge of each configured provider, through the production clients over real HTTP."""
        listings = []
        with httpx.Client(timeout=self.settings.payment_http_timeout_seconds) as http:
            for provider in (PaymentProvider.COINBASE_COMMERCE, PaymentProvider.COINBASE_BUSINESS):
                try:
                    client = provider_client(self.settings, provider, http)
                except PaymentsNotConfigured:
                    continue  # a provider without credentials takes no payments
                charges = [
                    ProcessorCharge(
                        provider=provider.value,
                        provider_ref=c.provider_ref,
                        kind=c.kind.value if c.kind else None,
                        paid_minor=c.paid_minor or 0,
                        paid_currency=c.paid_currency,
                    )
                    for c in client.list(page_size=100)
                ]
                listings.append(ProcessorListing(provider=provider.value, charges=charges))
        return listings

    # --- reading the chain ------------------------------------------------------------------------------
    def snapshot(self) -> ChainSnapshot:
        m, w3 = self.manifest, self.w3
        claim, payout, sge = m.address("SGEClaim"), m.address("AffiliatePayout"), m.address("SGEToken")
        coins = {k.removeprefix("stablecoin."): v for k, v in m.params.items() if k.startswith("stablecoin.")}
        with Session(self.engine) as session:
            cursor = reports.chain_cursor(session)
            relayers = treasury.relayer_addresses(
                session, [a for a in (m.relayer, self.settings.relayer_public_address) if a]
            )
            since = self._last_report_start(session)
            deliveries = self._deliveries_since(session, since)
        head = int(w3.eth.block_number)
        from_block = m.deploy_block if cursor is None else cursor + 1
        to_block = head - self.settings.confirmations + 1
        snap = ChainSnapshot(
            head=head,
            from_block=from_block,
            to_block=to_block,
            claim_contract=claim.lower(),
            payout_contract=payout.lower(),
            treasury=(m.treasury or "").lower(),
            sge_claim_balance=int(call_view(w3, "SGEToken", sge, "balanceOf", claim, block=head)[0]),
            payout_balances={
                s: int(call_view(w3, "TestUSDC", a, "balanceOf", payout, block=head)[0]) for s, a in coins.items()
            },
            relayer_balances={a: int(w3.eth.get_balance(Web3.to_checksum_address(a), head)) for a in relayers},
        )
        step = self.settings.reconciliation_log_chunk_blocks
        for start in range(from_block, to_block + 1, step):
            end = min(start + step - 1, to_block)
            snap.transfers += self._transfers(sge, "SGE", claim, start, end)
            for symbol, token in sorted(coins.items()):
                snap.transfers += self._transfers(token, symbol, payout, start, end)
            snap.claims += [
                ClaimLog(
                    tx_hash=c.tx_hash,
                    block=c.block_number,
                    log_index=c.log_index,
                    wallet=c.wallet,
                    amount=c.amount,
                    token=c.token,
                    fee=c.fee,
                )
                for c in find_claims(w3, claim, from_block=start, to_block=end)
            ]
            snap.mints += self._mints(m.address("SGEID"), start, end)
            if activity.in_activity():
                activity.heartbeat({"block": end})
        snap.delivery_has_claim = {h: self._has_claim(h, claim) for h in deliveries}
        return snap

    def _logs(self, address: str, topics: list[str | None], start: int, end: int) -> list[Any]:
        return list(
            self.w3.eth.get_logs(
                {"address": Web3.to_checksum_address(address), "topics": topics, "fromBlock": start, "toBlock": end}
            )
        )

    def _transfers(self, token: str, asset: str, holder: str, start: int, end: int) -> list[LogTransfer]:
        topic = treasury.TRANSFER_TOPIC
        logs = self._logs(token, [topic, address_topic(holder)], start, end)
        logs += self._logs(token, [topic, None, address_topic(holder)], start, end)
        seen: set[tuple[str, int]] = set()
        found = []
        for log in logs:
            tx_hash = "0x" + bytes(log["transactionHash"]).hex()
            if (tx_hash, int(log["logIndex"])) in seen:  # a transfer to itself matches both queries
                continue
            seen.add((tx_hash, int(log["logIndex"])))
            found.append(
                LogTransfer(
                    asset=asset,
                    tx_hash=tx_hash,
                    block=int(log["blockNumber"]),
                    from_address=_addr(log["topics"][1]),
                    to_address=_addr(log["topics"][2]),
                    amount=int.from_bytes(HexBytes(log["data"]), "big"),
                )
            )
        return found

    def _mints(self, sgeid: str, start: int, end: int) -> list[MintLog]:
        topic = event_topic("SGEID", "Transfer")
        return [
            MintLog(
                tx_hash="0x" + bytes(log["transactionHash"]).hex(),
                block=int(log["blockNumber"]),
                to_address=_addr(log["topics"][2]),
                token_id=int.from_bytes(HexBytes(log["topics"][3]), "big"),
            )
            for log in self._logs(sgeid, [topic, address_topic(ZERO_ADDRESS)], start, end)
            if len(log["topics"]) == 4
        ]

    def _has_claim(self, tx_hash: str, claim: str) -> bool:
        receipt = self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        topic = event_topic("SGEClaim", "Claimed").lower()
        return any(
            str(log["address"]).lower() == claim.lower() and HexBytes(log["topics"][0]).to_0x_hex().lower() == topic
            for log in receipt["logs"]
            if log["topics"]
        )

    @staticmethod
    def _last_report_start(session: Session) -> datetime | None:
        last = reports.latest_report(session)
        return None if last is None else last.started_at

    @staticmethod
    def _deliveries_since(session: Session, since: datetime | None) -> list[str]:
        """Chain hashes of the claim deliveries booked since the last run (each is checked for its log)."""
        query = select(_TX.c.refs).where(_TX.c.kind == "claim.delivery")
        if since is not None:
            query = query.where(_TX.c.created_at >= since)
        return sorted(
            {str(r["chain_tx"]).lower() for (r,) in session.connection().execute(query) if r and r.get("chain_tx")}
        )

    def all(self) -> list[Callable]:
        return [self.run, self.halt_for_report]
