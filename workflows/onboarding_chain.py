"""The onboarding flow's transactions: mint the SGE-ID, record the referral, deliver the claim.

Each goes through the relayer under a key derived from the flow and the step's purpose. A revert
that may pass (paused contract, empty claim inventory, program deactivated on chain) is waited out
visibly and retried with backoff; a permanent one (already minted, already claimed, payment id used)
is looked up on chain, and the flow carries on with what the chain shows. A call that would revert
is never sent, so its key stays free for the retry; a *mined* revert spends its key, and the next
attempt uses `<key>:<n>`.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.chain import RELAYER_SEND, ContractCall, SubmitTx, TxOutcome
    from models.onboarding import FlowState, Paid, Rail
    from models.onboarding_io import (
        CHAIN_FACTS,
        CLAIM_DELIVERED,
        SETTLE_ONCHAIN,
        UNDELIVERABLE,
        ChainFacts,
        ChainFactsRequest,
        Delivered,
        SettleOnchain,
        Undeliverable,
    )

from workflows.onboarding_base import CHAIN_READ, CHAIN_SEND, FlowBase, Terminal


class ChainSteps(FlowBase):
    async def send(
        self, purpose: str, label: str, call: ContractCall, state: FlowState, *, gated: bool = False
    ) -> TxOutcome:
        """Send until mined and final, or until it reverts for good. Waits out temporary reverts.
        `gated`: a pre-payment step the relayer refuses while the chain gate is closed."""
        waits = 0
        while True:
            await self.halt_gate()
            if self.s.state != state:
                await self.enter(state)
            attempt = self.s.chain_attempts.get(purpose, 0)
            key = f"{self.fid}:{purpose}" + (f":{attempt}" if attempt else "")
            outcome: TxOutcome = await self.remote(
                RELAYER_SEND, SubmitTx(key=key, label=label, call=call, gated=gated), TxOutcome, **CHAIN_SEND
            )
            if outcome.status == "confirmed":
                if self.s.reason:
                    await self.enter(state)  # clears a "waiting: ..." reason
                return outcome
            if outcome.hash:  # mined and reverted: this key is spent
                self.s.chain_attempts[purpose] = attempt + 1
            if outcome.revert_kind != "temporary":
                return outcome
            await self.enter(state, f"waiting: {outcome.revert_reason} (retrying)")
            t = self.s.timing
            await workflow.sleep(timedelta(seconds=min(t.retry_initial_s * 2**waits, t.retry_max_s)))
            waits += 1
            await self.maybe_continue_as_new()

    async def facts(self, payment_ref: str | None = None) -> ChainFacts:
        return await self.remote(
            CHAIN_FACTS,
            ChainFactsRequest(program_key=self.s.program_key, wallet=self.inp.wallet, payment_ref=payment_ref),
            ChainFacts,
            **CHAIN_READ,
        )

    # --- the steps -----------------------------------------------------------------------------------
    async def mint(self) -> None:
        outcome = await self.send(
            "mint",
            "mint SGE-ID",
            ContractCall(contract="SGEID", function="mint", args=[self.inp.wallet]),
            FlowState.MINTING,
            gated=True,
        )
        if outcome.status == "confirmed":
            transfer = outcome.event("SGEID", "Transfer")
            self.s.token_id = int(transfer.args["tokenId"]) if transfer else None
            self.s.mint_tx = outcome.hash
        else:  # e.g. AlreadyHasToken: another flow of this wallet (another program) minted it
            self.s.token_id = (await self.facts()).token_id
            if self.s.token_id is None:
                raise Terminal(FlowState.FAILED, f"mint reverted: {outcome.revert_reason}")
        await self.record(mint_tx=self.s.mint_tx, token_id=self.s.token_id)

    async def refer(self) -> None:
        assert self.s.referrer is not None
        outcome = await self.send(
            "referral",
            "record referral",
            ContractCall(
                contract="AffiliateRegistry",
                function="registerReferral",
                args=[self.s.program_key, self.inp.wallet, self.s.referrer],
            ),
            FlowState.REFERRING,
            gated=True,
        )
        if outcome.status == "confirmed":
            self.s.referral_tx = outcome.hash
            await self.record(referral_tx=outcome.hash)
        else:
            # Already recorded (an earlier run), or refused: the locked attribution in the books is what
            # pays commissions; the on-chain record is informational, so the flow goes on and says so.
            on_chain = (await self.facts()).referrer
            if on_chain is None or on_chain.lower() != self.s.referrer.lower():
                await self.enter(FlowState.REFERRING, f"referral not recorded on chain: {outcome.revert_reason}")

    async def deliver(self, paid: Paid) -> None:
        """Get the claim to the wallet: done by the contract on the on-chain rail, by the relayer
        otherwise. Ends with the delivery booked, or the payment reversed into suspense."""
        if paid.rail == Rail.ONCHAIN:
            await self.enter(FlowState.SETTLING)
            await self.local(
                SETTLE_ONCHAIN,
                SettleOnchain(flow_id=self.fid, program=self.inp.program, wallet=self.inp.wallet, paid=paid),
            )
            await self.delivered(paid, paid.onchain_tx or "", paid.sge_amount_minor)
            return
        outcome = await self.send(
            f"claim:{paid.payment_ref}",
            "deliver claim",
            ContractCall(
                contract="SGEClaim",
                function="deliverClaim",
                args=[self.s.program_key, self.inp.wallet, paid.payment_ref],
            ),
            FlowState.CLAIMING,
        )
        if outcome.status == "confirmed":
            delivered = outcome.event("SGEClaim", "Claimed")
            await self.delivered(paid, outcome.hash or "", int(delivered.args["amount"]) if delivered else None)
            return
        facts = await self.facts(paid.payment_ref)
        if facts.claim_is_ours and facts.claim is not None:  # delivered by an earlier attempt or run
            await self.delivered(paid, facts.claim.tx_hash or "", None)
            return
        # The wallet's one claim in this program went elsewhere (it claimed on chain meanwhile): this
        # payment can never be delivered. Reverse it and park the money for an operator to refund.
        reason = f"claim undeliverable: {outcome.revert_reason}"
        await self.local(
            UNDELIVERABLE,
            Undeliverable(flow_id=self.fid, program=self.inp.program, wallet=self.inp.wallet, paid=paid, reason=reason),
        )
        if facts.claim is not None and facts.claim.onchain_paid:
            # The wallet paid the claim contract itself: that payment is this flow's (booked now); the
            # one that could not be delivered waits in suspense for its refund.
            self.s.paid = await self.find_onchain()
            await self.enter(FlowState.SETTLING, f"{reason}; paid on chain instead")
            await self.deliver(self.s.paid)
            return
        raise Terminal(FlowState.SUSPENSE, reason)

    async def delivered(self, paid: Paid, claim_tx: str, sge_amount: int | None) -> None:
        self.s.claim_tx = claim_tx
        booked = paid.model_copy(update={"sge_amount_minor": sge_amount or paid.sge_amount_minor})
        await self.local(
            CLAIM_DELIVERED,
            Delivered(
                flow_id=self.fid, program=self.inp.program, wallet=self.inp.wallet, paid=booked, claim_tx=claim_tx
            ),
        )
        self.s.delivered = True
