"""Tables, money types and the domain rules (ledger, commissions, affiliates, operators, programs);
the activity and workflow contract types. Imports only `core/`.

Importing this package registers every table on `SQLModel.metadata` (Alembic and tests rely on it).
"""

from models import (  # noqa: F401
    affiliates,
    audit,
    auth_nonces,
    chain,
    commissions,
    documents,
    idempotency,
    kyc,
    ledger,
    onboarding,
    operators,
    payments,
    payouts,
    platform,
    programs,
    recon,
    reports,
    safe_txs,
    subjects,
    suspense,
    treasury,
)
