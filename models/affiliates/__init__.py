"""Affiliates (a per-program tree), wallet-proof nonces, and user attribution.

Registration proves control of the wallet: the server issues a single-use, expiring nonce inside a
message (`issue_nonce`); the wallet signs it (EIP-191 `personal_sign`); `register_affiliate` recovers
the signer and checks it, consumes the nonce and creates the affiliate in one DB transaction. A parent
code attaches the affiliate under its parent when the program's depth allows (root depth 1), and is
refused with `depth_exceeded` otherwise: never silently dropped. Referral codes are 8 upper-case hex
characters from `secrets` (a CSPRNG), unique per program; a collision is retried with a new code.

Attribution: a user's referrer is fixed by their first registration in a program (`attribute`), with
its proof (the code, time and source). Later codes are ignored and reported as such; self-referral,
unknown codes and suspended referrers are refused (nothing is written).

Wallets are stored and compared in EIP-55 checksum form only.

Modules: `records` (tables, error, normalisation, lookups), `registration` (nonces, registering,
suspending), `attribution`, `views` (one affiliate, the downline tree).
"""

from __future__ import annotations

from models.affiliates.attribution import AttributionResult, attribute, attribution_of, referrer_for
from models.affiliates.records import (
    CODE_BYTES,
    Affiliate,
    AffiliateError,
    AffiliateNonce,
    AffiliateStatus,
    Attribution,
    ancestors,
    by_code,
    by_wallet,
    normalize_code,
    normalize_wallet,
    program_by_slug,
)
from models.affiliates.registration import (
    CODE_ATTEMPTS,
    NONCE_TTL,
    NonceIssued,
    issue_nonce,
    new_code,
    nonce_message,
    recover_signer,
    register_affiliate,
    set_status,
)
from models.affiliates.views import MAX_TREE_DEPTH, MAX_TREE_NODES, AffiliateView, Tree, TreeNode, affiliate_view, tree

# Activity names (workflows call these by name).

__all__ = [
    "CODE_ATTEMPTS",
    "CODE_BYTES",
    "MAX_TREE_DEPTH",
    "MAX_TREE_NODES",
    "NONCE_TTL",
    "Affiliate",
    "AffiliateError",
    "AffiliateNonce",
    "AffiliateStatus",
    "AffiliateView",
    "Attribution",
    "AttributionResult",
    "NonceIssued",
    "Tree",
    "TreeNode",
    "affiliate_view",
    "ancestors",
    "attribute",
    "attribution_of",
    "by_code",
    "by_wallet",
    "issue_nonce",
    "new_code",
    "nonce_message",
    "normalize_code",
    "normalize_wallet",
    "program_by_slug",
    "recover_signer",
    "referrer_for",
    "register_affiliate",
    "set_status",
    "tree",
]
