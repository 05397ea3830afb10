"""The on-chain rail of the onboarding flow: the unsigned steps a wallet sends to pay the claim contract
itself (USDC or USDT, with USDT's approve-0 reset), finding that claim once it is final, and booking it."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session
from temporalio import activity

from activities.chain_access import ZERO_ADDRESS, ChainAccess
from activities.onboarding import update_row
from contracts.abi import encode_call, hexstr, program_id, ref_to_bytes32
from contracts.reads import ClaimEvent, call_view, claim_ref_of, find_claims
from core.db import session_scope
from models import commissions
from models.onboarding import Paid, Rail
from models.onboarding_io import (
    FIND_ONCHAIN_CLAIM,
    PREPARE_ONCHAIN,
    SETTLE_ONCHAIN,
    BadToken,
    FindOnchainClaim,
    NotYetOnChain,
    OnchainFeeMismatch,
    OnchainSteps,
    PrepareOnchain,
    SettleOnchain,
    TxStep,
)
from models.programs import get_program


class OnchainRailActivities(ChainAccess):
    @activity.defn(name=PREPARE_ONCHAIN)
    def prepare_onchain(self, req: PrepareOnchain) -> OnchainSteps:
        """The unsigned transactions the user's wallet sends: [approve 0 (USDT reset)], [approve fee], claim."""
        token = self._stablecoin(req.token)
        claim = self.manifest.address("SGEClaim")
        key = program_id(req.program)
        fee = int(self._view("SGEClaim", "feeOf", key, token))
        if fee == 0:
            raise BadToken(f"{req.token} is not accepted by the claim contract for program {req.program!r}")
        with Session(self.engine) as session:
            program = get_program(session, req.program)
        if program is None or fee != int(program.fee_usd_minor):
            raise OnchainFeeMismatch(
                f"the claim contract asks {fee} {req.token} units for {req.program!r}, the program's fee is "
                f"{program.fee_usd_minor if program else '?'}: an admin must sync the program on chain first"
            )
        token_contract = "TestUSDT" if req.token == "USDT" else "TestUSDC"  # ERC-20 ABI; both are standard
        allowance = int(call_view(self.w3, token_contract, token, "allowance", req.wallet, claim)[0])
        balance = int(call_view(self.w3, token_contract, token, "balanceOf", req.wallet)[0])
        ref = ref_to_bytes32(req.payment_ref)
        steps: list[TxStep] = []
        if allowance < fee:
            if allowance > 0 and req.token == "USDT":
                # USDT refuses to change a non-zero allowance to another non-zero value.
                steps.append(
                    TxStep(
                        description="reset USDT allowance to 0",
                        to=token,
                        data=hexstr(encode_call(token_contract, "approve", claim, 0)),
                    )
                )
            steps.append(
                TxStep(
                    description=f"approve {fee} {req.token} units for the claim contract",
                    to=token,
                    data=hexstr(encode_call(token_contract, "approve", claim, fee)),
                )
            )
        steps.append(
            TxStep(
                description="claim: pay the fee and receive SGE",
                to=claim,
                data=hexstr(encode_call("SGEClaim", "claim", key, token, ref)),
            )
        )
        return OnchainSteps(
            token=req.token,
            token_address=token,
            claim_contract=claim,
            fee_minor=fee,
            allowance_minor=allowance,
            balance_minor=balance,
            payment_ref_bytes32=hexstr(ref),
            steps=steps,
        )

    @activity.defn(name=FIND_ONCHAIN_CLAIM)
    def find_onchain_claim(self, req: FindOnchainClaim) -> Paid:
        """The wallet's own claim in this program, final (past the confirmation depth, so a reorg cannot
        take it back). A reported hash is checked, never trusted. Not found yet → a retryable failure:
        Temporal's retry policy is the polling loop."""
        claim_address = self.manifest.address("SGEClaim")
        key = program_id(req.program)
        final_block = self.w3.eth.block_number - self.settings.confirmations + 1
        ref = claim_ref_of(self.w3, claim_address, key, req.wallet, block=max(final_block, 0))
        if ref is None:  # nothing claimed as of the last final block
            raise NotYetOnChain("no final claim on chain for this wallet yet")
        events = find_claims(
            self.w3,
            claim_address,
            req.wallet,
            program_id=key,
            payment_ref=ref,
            from_block=self.manifest.deploy_block,
            to_block=max(final_block, 0),
        )
        found: ClaimEvent | None = events[0] if events else None
        if found is None:
            raise NotYetOnChain("claim not indexed yet")
        if found.token.lower() == ZERO_ADDRESS:
            raise BadToken("this wallet's claim was delivered for an off-chain payment, not paid on chain")
        symbol = self._symbol_of(found.token)
        if symbol is None:
            raise BadToken(f"claim paid in unknown token {found.token}")
        issued = {hexstr(ref_to_bytes32(k)) for k in req.payment_keys}
        activity.logger.info(
            "onchain claim %s carries %s reference",
            found.tx_hash,
            "this flow's" if found.payment_ref in issued else "a foreign",
        )
        return Paid(
            rail=Rail.ONCHAIN,
            payment_ref=f"onchain:{found.tx_hash}:{found.log_index}",
            amount_minor=found.fee,
            asset=symbol,
            onchain_tx=found.tx_hash,
            sge_amount_minor=found.amount,
        )

    @activity.defn(name=SETTLE_ONCHAIN)
    def settle_onchain(self, req: SettleOnchain) -> None:
        """A claim paid on chain: revenue + commissions in one ledger transaction (keyed by its log)."""
        paid = req.paid
        with session_scope(self.engine) as session:
            commissions.settle_payment(
                session, paid.payment_ref, req.program, req.wallet, paid.amount_minor, paid.asset
            )
            update_row(
                session,
                req.flow_id,
                rail=paid.rail,
                payment_ref=paid.payment_ref,
                paid_amount_minor=paid.amount_minor,
                paid_asset=paid.asset,
            )

    # --- delivery ------------------------------------------------------------------------------------

    def all(self) -> list[Callable]:
        return [self.prepare_onchain, self.find_onchain_claim, self.settle_onchain]
